"""The units of the API's numbers, named in the OpenAPI document. The API's schemas type every amount
of money and every integer time with one of these, whose unit is appended to the field's own words in
its description: an `amount` in whole tokens (an application, an offer) and one in base units
(everything that moves on chain) sit side by side in the API, as do ISO datetimes and block times in
seconds, and a client must not take one for the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

BASE_UNITS = "base units of the loan token: 10^decimals to a token, decimals from GET /api/v1/chain"
WHOLE_TOKENS = "whole tokens of the loan token, not base units"
UNIX_SECONDS = "Unix seconds (UTC)"


def _names_unit(unit: str) -> Callable[[dict[str, Any]], None]:
    def describe(schema: dict[str, Any]) -> None:
        words = schema.get("description")
        schema["description"] = f"{words} ({unit})" if words else unit[0].upper() + unit[1:]

    return describe


BaseUnits = Annotated[int, Field(json_schema_extra=_names_unit(BASE_UNITS))]
MaybeBaseUnits = Annotated[int | None, Field(json_schema_extra=_names_unit(BASE_UNITS))]
WholeTokens = Annotated[int, Field(json_schema_extra=_names_unit(WHOLE_TOKENS))]
MaybeWholeTokens = Annotated[int | None, Field(json_schema_extra=_names_unit(WHOLE_TOKENS))]
UnixSeconds = Annotated[int, Field(json_schema_extra=_names_unit(UNIX_SECONDS))]
MaybeUnixSeconds = Annotated[int | None, Field(json_schema_extra=_names_unit(UNIX_SECONDS))]
