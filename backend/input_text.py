"""The strings the platform takes in, as shared annotated types: every request body's text field is
one of these (or has a pattern of its own). A control character is bad input, a 422 naming the
field before any service runs: PostgreSQL refuses a NUL byte in text (a 500 from the driver, after
a rate limit had counted the request), and an escape sequence rewrites what a terminal or a log
shows. The API holds path and query strings to the same rule (backend/api/deps.py
`refuse_control_characters`); tests/api/test_bad_input.py checks every model the routes take in."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

LINE_BREAKS = "\n\t"  # what a person's note may hold besides printable text


def has_control_characters(value: str, allowed: str = "") -> bool:
    """C0 (NUL included), DEL and C1: Unicode's category Cc."""
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in value)


def refused_control_characters(allowed: str = "") -> PydanticCustomError:
    words = "must not contain control characters" + (" other than line breaks and tabs" if allowed else "")
    return PydanticCustomError("string_control_characters", words)


def _one_line(value: str) -> str:
    if has_control_characters(value):
        raise refused_control_characters()
    return value


def _note(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")  # a textarea's line breaks, whichever system sent them
    if has_control_characters(value, LINE_BREAKS):
        raise refused_control_characters(LINE_BREAKS)
    return value


def _exact_lines(value: str) -> str:
    if has_control_characters(value, LINE_BREAKS + "\r"):
        raise refused_control_characters(LINE_BREAKS)
    return value


# Ids, tokens, signatures, codes, contact details: one line of printable text.
OneLine = Annotated[str, AfterValidator(_one_line)]
# Text that must stay exactly as sent, lines and all (a signed sign-in message).
ExactLines = Annotated[str, AfterValidator(_exact_lines)]
# What a person writes as a note: stripped, so `min_length` counts what is written, not blanks.
Note = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_note)]
