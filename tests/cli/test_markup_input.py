"""What the CLI prints is shown as typed, never read as Rich markup or emoji codes: a message that
repeats the user's input ("[/x]" used to crash the command with MarkupError, "[bold]" vanished) and
stored text (a borrower's note, a file name) in lines and tables alike. SQLite and PostgreSQL."""

from __future__ import annotations

from eth_account import Account
from typer.testing import CliRunner

from backend.cli.main import app
from backend.config import get_settings
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import client_for, identity_settings, minted_bearer
from tests.servicing.loan_rows import index_active_loan, stub_chain_clock

MARKUP = "[/x] [bold]urgent[/bold] :cd:"


def _run(monkeypatch, settings, *commands: list[str]) -> list:
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        return [runner.invoke(app, command) for command in commands]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_an_error_repeating_the_input_is_one_line_with_the_input_as_typed(tmp_path, database_url, monkeypatch):
    settings = identity_settings(tmp_path, database_url)
    closing, opening, period = _run(monkeypatch, settings, ["loan", "list", "--borrower", "[/x]"],
                                    ["loan", "list", "--borrower", "[bold]0x12"],
                                    ["disclosure", "flows", "--period", "[/x]"])  # fmt: skip
    expected = ((closing, "error: borrower: '[/x]' is not an Ethereum address"),
                (opening, "error: borrower: '[bold]0x12' is not an Ethereum address"),
                (period, "error: period: '[/x]' is not a month written YYYY-MM (1970 to 9998)"))  # fmt: skip
    for result, line in expected:
        assert result.exit_code == 2, result.output  # a MarkupError traceback would be 1
        assert result.stderr.splitlines() == [line]


def test_stored_text_is_printed_as_typed(tmp_path, database_url, monkeypatch):
    stub_chain_clock(monkeypatch)
    settings = identity_settings(tmp_path, database_url)
    borrower = Account.from_key("0x" + "b8" * 32)
    loan_id = index_active_loan(settings, borrower.address)
    asked = client_for(settings).post(f"/api/v1/loans/{loan_id}/hardship", json={"note": MARKUP},
                                      headers=minted_bearer(settings, borrower))  # fmt: skip
    assert asked.status_code == 201, asked.text
    monkeypatch.chdir(tmp_path)  # a short relative name: the whole of it fits the table's column
    names = ("[bold]a.txt", ":cd:b.txt")  # no "/" in a file name: a tag that opens, and an emoji code
    for name in names:
        (tmp_path / name).write_text(f"the document {name}")
    queue, anchored = _run(monkeypatch, settings, ["servicing", "collections"], ["anchor", "add", *names])
    assert queue.exit_code == 0, queue.output
    assert f"loan {loan_id}, last action: hardship: {MARKUP}" in queue.stdout.splitlines()
    assert anchored.exit_code == 0, anchored.output
    cells = [line.split("│")[1].strip() for line in anchored.stdout.splitlines() if line.count("│") == 5]
    assert set(names) <= set(cells), anchored.stdout


def test_only_lines_styled_on_purpose_are_read_as_markup():
    """The CLI's consoles print text as it is; a print with a markup tag in its source must say
    markup=True (else the tag shows), and no command builds a console of its own with markup on."""
    import ast
    from pathlib import Path

    from backend.cli import output

    assert (output.console._markup, output.err_console._markup) == (False, False)
    assert (output.console._emoji, output.err_console._emoji) == (False, False)
    unmarked, consoles = [], []
    for path in sorted((Path(output.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if isinstance(node.func, ast.Name) and node.func.id == "Console":
                if not (isinstance(keywords.get("markup"), ast.Constant) and keywords["markup"].value is False):
                    consoles.append(f"{path.name}:{node.lineno}")
            if isinstance(node.func, ast.Attribute) and node.func.attr == "print":
                tagged = any(isinstance(c, ast.Constant) and isinstance(c.value, str) and "[/]" in c.value
                             for arg in node.args for c in ast.walk(arg))  # fmt: skip
                if tagged and not (isinstance(keywords.get("markup"), ast.Constant) and keywords["markup"].value is True):
                    unmarked.append(f"{path.name}:{node.lineno}")
    assert unmarked == [] and consoles == []
