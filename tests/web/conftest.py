"""Browser fixtures: the API (with its background workers) served by uvicorn on a free port, and
Debian's chromium driven by Playwright, with a test wallet injected as `window.ethereum`.

The wallet is an EIP-1193 provider that forwards every request to Anvil, whose unlocked dev
accounts sign for real (`personal_sign`, `eth_signTypedData_v4`, `eth_sendTransaction`); only
the account-picking UI of a real wallet extension is missing."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.sync_api import expect

from backend.chain.client import get_web3
from backend.chain.indexer import index_status
from backend.config import Settings, get_settings
from backend.db import migrate
from tests.conftest import free_port
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import GENEROUS

# Playwright's `expect` waits 5 s by default; on two busy cores (two xdist workers, the state
# machine beside a browser journey) a sign-in can take longer. Waiting longer asserts the same.
expect.set_options(timeout=20_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

PROVIDER = """
window.ethereum = {
  isLoanchainTestWallet: true,
  request: async ({ method, params }) => {
    const reply = JSON.parse(await window.__walletRpc(method, JSON.stringify(params ?? [])));
    if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.result;
  },
};
"""


@dataclass
class Wallet:
    """The account the injected wallet currently exposes (switch it like a user would)."""

    address: str


@dataclass
class Server:
    url: str
    settings: Settings


@pytest.fixture
def ui_settings(chain_settings, deployment, world, snapshot, tmp_path) -> Settings:  # noqa: F811
    port = free_port()
    settings = chain_settings.model_copy(update=dict(
        database_url=f"sqlite:///{tmp_path / 'ui.db'}", var_dir=tmp_path / "var", api_port=port,
        siwe_domains=[f"127.0.0.1:{port}"], outbox_poll_interval=0.2, indexer_poll_interval=0.3,
        admin_wallets=[world.admin.address], anchor_batch_interval=0.5, servicing_interval=0.5, market_keeper_interval=0.5,
        mandate_keeper_interval=0.5,
        **(GENEROUS | {"run_workers": True}),
    ))  # fmt: skip
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def server(ui_settings) -> Iterator[Server]:
    from backend.api.main import create_app

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: ui_settings
    config = uvicorn.Config(app, host="127.0.0.1", port=ui_settings.api_port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{ui_settings.api_port}"
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    # The API's indexer first catches up on the session chain's whole history, contending for the
    # database and the GIL: a page signing in meanwhile can take longer than an expect's 5 s. (It
    # had the time while a chromium launched for each test; the browser is shared now.)
    deadline = time.monotonic() + 120
    while (index_status(ui_settings).lag or 0) > 0 or index_status(ui_settings).indexed is None:
        assert time.monotonic() < deadline, "the API's indexer did not catch up"
        time.sleep(0.1)
    yield Server(url, ui_settings)
    uv.should_exit = True
    thread.join(timeout=120)
    # Its workers must be stopped before the chain is reverted: one still sending would land a
    # transaction in the next test's chain.
    workers = getattr(app.state, "background_workers", None)
    assert not thread.is_alive() and not (workers and workers.alive()), "the API or its workers did not stop"


@pytest.fixture
def wallet(world) -> Wallet:  # noqa: F811
    return Wallet(world.investors[-1].address)


@pytest.fixture(scope="module")
def browser():
    """One chromium per test file (launching it took a second or two a test); each test still
    gets a context of its own: no cookies, storage or page shared."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, server, wallet, tmp_path):
    w3 = get_web3(server.settings)

    def rpc(method: str, params_json: str) -> str:
        params = json.loads(params_json)
        if method in ("eth_requestAccounts", "eth_accounts"):
            return json.dumps({"result": [wallet.address.lower()]})  # as wallets do: lower case
        reply = w3.provider.make_request(method, params)
        return json.dumps({"result": reply.get("result"), "error": reply.get("error")})

    context = browser.new_context()
    context.expose_function("__walletRpc", rpc)
    context.add_init_script(PROVIDER)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url)
    try:
        yield page
    finally:
        try:
            page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        finally:
            context.close()


__all__ = ["Wallet"]
