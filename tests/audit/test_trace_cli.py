"""`loanchain audit trace` refuses what is not a loan id, a transaction hash or an address with one
line of error and exit 2, as every loan command does, before the database or the node is asked:
an id past what the database holds was a raw OverflowError (SQLite) or DataError (PostgreSQL), a
non-ASCII digit ("²".isdigit() is true) a ValueError, and a malformed hash went to the database and
was echoed back as "neither indexed nor sent by this platform"."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from backend.bounds import DB_ID_MAX
from backend.cli.main import app


@pytest.mark.parametrize(("kind", "ref", "said"), [
    ("loan", "99999999999999999999999", f"a loan id is a whole number from 1 to {DB_ID_MAX}"),
    ("loan", str(DB_ID_MAX + 1), f"a loan id is a whole number from 1 to {DB_ID_MAX}"),
    ("loan", "²", "a loan id is a whole number"),
    ("loan", "0", "a loan id is a whole number"),
    ("loan", "1" * 5000, "a loan id is a whole number"),  # past int()'s digit limit: still one line
    ("tx", "nothex", "not a transaction hash"),
    ("tx", "0x" + "g" * 64, "not a transaction hash"),
    ("tx", "0x" + "ab" * 31, "not a transaction hash"),
    ("tx", "a" * 3000, "not a transaction hash"),
    ("address", "0x123", "not an Ethereum address"),
    ("wallet", "0x123", "trace what: loan, tx or address"),
])  # fmt: skip
def test_bad_input_is_one_line_of_error_and_exit_2(db_settings, use_settings, kind, ref, said):
    use_settings(db_settings)
    result = CliRunner().invoke(app, ["audit", "trace", kind, ref])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], result.output
    assert ref[:100] not in lines[0] or len(ref) < 10  # a long input is not echoed back


def test_the_largest_id_the_database_holds_is_looked_up(db_settings, use_settings):
    use_settings(db_settings)
    result = CliRunner().invoke(app, ["audit", "trace", "loan", str(DB_ID_MAX)])
    # Past the check, to the index and then the node (none here: LoanBook is what says a loan is unknown)
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), repr(result.exception)
    said = " ".join(result.output.split())  # wrapped at the terminal's width (CI's is 80)
    assert f"loan {DB_ID_MAX} is not in the chain index, and the chain could not be read" in said, result.output
