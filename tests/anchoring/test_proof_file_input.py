"""A proof file's hashes and contract address are exactly what they claim to be: `re.match` with
`$` let a value with a trailing newline through (a hash "0x…\\n" passed as well-formed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.anchoring.schemas import ProofFile

HASH = "0x" + "ab" * 32
GOOD = {"doc_hash": HASH, "leaf": HASH, "proof": [HASH], "root": HASH, "contract": "0x" + "12" * 20, "chain_id": 31337}


@pytest.mark.parametrize("field", ["doc_hash", "leaf", "root", "contract"])
@pytest.mark.parametrize("tail", ["\n", "\r\n", " "])
def test_a_proof_field_with_anything_after_its_value_is_refused(field, tail):
    assert ProofFile(**GOOD).model_dump()[field] == GOOD[field]
    with pytest.raises(ValidationError) as refused:
        ProofFile(**(GOOD | {field: GOOD[field] + tail}))
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


def test_a_sibling_hash_with_a_trailing_newline_is_refused():
    with pytest.raises(ValidationError):
        ProofFile(**(GOOD | {"proof": [HASH, HASH + "\n"]}))
