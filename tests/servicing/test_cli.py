"""`loanchain servicing run|aging|collections` run the same pass and views as the worker and API."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from backend.cli.main import app
from backend.config import get_settings
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


def test_servicing_commands(servicing_settings, world, monkeypatch):
    settings = servicing_settings
    loan_id, start = world.active_loan()
    index(settings)
    world.chain.mine_at(start + 70 * DAY)
    runner = CliRunner()
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    try:
        point_get_settings_at(monkeypatch, settings)
        ran = runner.invoke(app, ["servicing", "run", "--json"])
        plan = client.post(f"/api/v1/servicing/collections/{loan_id}/plans", headers=staff,
                           json={"installment_amount": 50_000_000, "period_days": 30, "periods": 3}).json()  # fmt: skip
        aging = runner.invoke(app, ["servicing", "aging", "--json"])
        queue = runner.invoke(app, ["servicing", "collections", "--json"])
        table = runner.invoke(app, ["servicing", "collections"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["loans"] == 1 and report["buckets"] == {"late_31_120": 1} and report["notices_created"] == 1 + len(world.investors)
    assert report["investor_notices"] == len(world.investors)  # loan_late to each note holder
    assert json.loads(aging.stdout) == client.get("/api/v1/servicing/aging", headers=staff).json()
    assert json.loads(queue.stdout) == client.get("/api/v1/servicing/collections", headers=staff).json()
    assert json.loads(queue.stdout)[0]["days_past_due"] == 40
    assert json.loads(queue.stdout)[0]["plan"]["id"] == plan["id"]  # the queue's items carry their open plan
    assert table.exit_code == 0 and "late_31_120" in table.stdout
    assert (f"loan {loan_id}, hardship plan {plan['id']} proposed: 3 payments of 50,000,000 every 30 days, proposed by "
            f"{plan['proposed_by']}") in " ".join(table.stdout.split())  # the console wraps long lines


def test_servicing_run_by_hand_does_what_the_worker_does_after_a_pass(servicing_settings, world, monkeypatch):
    """With the workers off, `servicing run` still issues the release letter of a loan paid off."""
    settings, book = servicing_settings, world.book
    paid, _ = world.active_loan()
    now = world.w3.eth.get_block("latest")["timestamp"]
    world.repay(paid, book.functions.amountDue(paid).call()[1], at=now)  # paid off in that second
    index(settings)
    try:
        point_get_settings_at(monkeypatch, settings)
        ran = CliRunner().invoke(app, ["servicing", "run", "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["releases_issued"] == 1 and report["emails_sent"] == 0 and report["monthly_report_published"] is False
    assert client_for(settings).get(f"/api/v1/loans/{paid}/release", headers=minted_bearer(settings, world.borrower)).status_code == 200


def test_servicing_run_by_hand_refuses_while_the_worker_holds_its_lock(servicing_settings, monkeypatch):
    """Review-servicing H2: `servicing run` took no lock, so its delivery could run beside the worker's."""
    from backend.workers.lock import make_lock

    lock = make_lock(servicing_settings, "servicing")
    assert lock.acquire()
    try:
        point_get_settings_at(monkeypatch, servicing_settings)
        ran = CliRunner().invoke(app, ["servicing", "run", "--json"])
    finally:
        lock.release()
        monkeypatch.undo()
        get_settings.cache_clear()
    assert ran.exit_code != 0 and "servicing worker is running elsewhere" in ran.output
