"""Shared fixtures: one Anvil per test session, isolated per test with evm_snapshot/evm_revert,
and databases on SQLite and on the PostgreSQL server at 127.0.0.1:5432."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from backend.chain.compiler import compile_contracts
from backend.chain.node import LocalNode, rpc_call
from backend.chain.signers import dev_account
from backend.config import Settings
from tests.db_template import Templates, real_upgrade

PG_ADMIN_URL = os.environ.get("LOANCHAIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_configure(config) -> None:
    # Here rather than in pyproject.toml, whose every change re-installs the venv under `make`.
    config.addinivalue_line(
        "markers", "real_migrations: runs every Alembic migration (no database cloned from the session's template)"
    )
    # xdist's --dist loadfile would hand out the files with most tests first, which leaves the few
    # long ones (the state machine, the browser journeys, the crash drills) to the end, one worker
    # running them while the other idles: the collection order below is kept instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items) -> None:
    """Files holding a test marked `slow` first (the longest jobs first leave the least idle time at
    the end), then the files with most tests; a file's own order is kept."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(group: list) -> tuple:
        return (not any(i.get_closest_marker("slow") for i in group), -len(group))

    items[:] = [item for group in sorted(files.values(), key=weight) for item in group]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(base: Path, **overrides) -> Settings:
    """Settings pointing every writable path into `base` (never the developer's var/)."""
    values = dict(
        var_dir=base / "var",
        deployments_dir=base / "deployments",
        database_url=f"sqlite:///{base / 'var' / 'test.db'}",
        # Every alert read computes: tests change records in place between reads, which the shared
        # computation shows only within its seconds (its own tests turn it on: tests/audit/test_alert_cache.py).
        monitoring_alerts_cache_seconds=0,
        _env_file=None,
    )
    values.update(overrides)
    return Settings(**values)


def own_database(chain_settings: Settings, tmp_path: Path, database_url: str, **overrides) -> Settings:
    """The session chain's settings with this test's own database (migrated) and var dir, and no
    background workers: the test drives the indexer and outbox itself."""
    from backend.db import migrate

    values = {"database_url": database_url, "var_dir": tmp_path / "var", "run_workers": False}
    settings = chain_settings.model_copy(update=values | overrides)
    migrate.upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loanchain")


@pytest.fixture(scope="session")
def artifacts() -> dict[str, dict]:
    # Compiled into the repo's artifacts/ (a no-op when sources are unchanged).
    return compile_contracts(Settings(_env_file=None)).artifacts


@pytest.fixture(scope="session")
def chain_settings(session_dir, artifacts) -> Settings:
    port = free_port()
    return make_settings(session_dir, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def anvil(chain_settings) -> Iterator[LocalNode]:
    node = LocalNode(chain_settings, kind="anvil", workdir=chain_settings.chain_dir)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil, chain_settings) -> Web3:
    return Web3(Web3.HTTPProvider(chain_settings.rpc_url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def deployment(anvil, chain_settings):
    """Every contract deployed and wired once per session (see backend/chain/deploy_plan.py)."""
    from backend.chain.deploy import deploy_all

    return deploy_all(chain_settings)


@pytest.fixture(scope="session")
def contracts(deployment, w3, artifacts):
    """name -> web3 Contract for every deployed contract."""
    return {
        name: w3.eth.contract(address=entry["address"], abi=artifacts[name]["abi"])
        for name, entry in deployment.manifest["contracts"].items()
    }


def take_snapshots(url: str) -> tuple[str, str]:
    """Two snapshots of one state for `quiet_revert`: the first, taken first, survives a revert to the
    second (a revert may drop the snapshots taken after it, never those before)."""
    spare = rpc_call(url, "evm_snapshot")
    return rpc_call(url, "evm_snapshot"), spare


def _settle(url: str) -> None:
    """Wait out every block still being mined. Anvil mines under one lock, which its revert does not
    take, and an `evm_mine` waits its turn on it: two of ours with no block between them mean nothing
    else was queued (a block producer holding transactions taken from the pool before the drop mines
    them one block at a time)."""
    for _ in range(100):
        rpc_call(url, "evm_mine")
        first = rpc_call(url, "eth_blockNumber")
        rpc_call(url, "evm_mine")
        if int(rpc_call(url, "eth_blockNumber"), 16) == int(first, 16) + 1:
            return


def quiet_revert(url: str, snap: str, spare: str) -> None:
    """evm_revert with nothing being mined meanwhile. Anvil mines in the background, and a block
    mined while a revert runs leaves the chain with a hole (the revert's block numbers gone, the new
    block on top, its writes on the reverted state): every later test that indexes the session chain
    then fails on a missing block. A test's background workers or browser wallet may still have sent
    something as it ends, so mining stops, the pool is emptied and blocks still being mined are waited
    out; then the spare snapshot of the same state is reverted to as well, after waiting again, which
    takes away a block that landed in the first revert (a head merely unchanged for a moment was no
    proof that nothing was being mined: `tests/chain/test_quiet_revert.py`)."""
    rpc_call(url, "evm_setAutomine", [False])
    try:
        for each in (snap, spare):
            rpc_call(url, "anvil_dropAllTransactions")
            _settle(url)
            assert rpc_call(url, "evm_revert", [each]) is True
        rpc_call(url, "anvil_dropAllTransactions")  # what arrived after the revert belongs to no test
    finally:
        rpc_call(url, "evm_setAutomine", [True])
    head = rpc_call(url, "eth_getBlockByNumber", ["latest", False])
    below = rpc_call(url, "eth_getBlockByNumber", [hex(max(int(head["number"], 16) - 1, 0)), False])
    assert below is not None and (head["number"] == "0x0" or below["hash"] == head["parentHash"]), "a hole under the head"


@pytest.fixture
def snapshot(anvil, chain_settings) -> Iterator[None]:
    """Reverts the chain to where it was before the test, its clock kept with the wall clock."""
    url = chain_settings.rpc_url
    snap, spare = take_snapshots(url)
    # A revert takes Anvil's clock back to the snapshot's block time; a live chain's follows the
    # wall clock, which `audit verify` holds entry times against (an entry is not after its anchor).
    latest = int(rpc_call(chain_settings.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    rpc_call(chain_settings.rpc_url, "evm_setTime", [max(int(time.time()), latest)])
    rpc_call(chain_settings.rpc_url, "evm_mine")  # so the latest block, what tests read as "now", has that time
    yield
    quiet_revert(url, snap, spare)


@pytest.fixture(scope="session")
def accounts():
    """Anvil's public dev accounts (index 0 = platform deployer/admin, 1 = underwriter)."""
    return [dev_account(i) for i in range(10)]


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def db_templates(tmp_path_factory) -> Iterator[Templates]:
    """migrate.upgrade of an empty database to head clones a template migrated once per session
    (see tests/db_template.py); tests marked `real_migrations` run every migration."""
    from backend.db import migrate

    templates = Templates(tmp_path_factory.mktemp("db-template"), PG_ADMIN_URL)
    migrate.upgrade = templates.upgrade
    yield templates
    migrate.upgrade = real_upgrade
    templates.drop()


@pytest.fixture(autouse=True)
def _real_migrations(request, db_templates) -> Iterator[None]:
    if request.node.get_closest_marker("real_migrations") is None:
        yield
        return
    db_templates.enabled = False
    yield
    db_templates.enabled = True



@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped after the session."""
    from sqlalchemy import create_engine, text

    name = f"loanchain_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # fail loudly: CI must exercise PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for these tests: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from backend.db.session import _engine

    _engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Run the test once on SQLite and once on PostgreSQL (a fresh database each time: empty under
    `real_migrations`, else cloned from the migrated template on PostgreSQL, and on SQLite a path
    migrate.upgrade copies the template to)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    from sqlalchemy import create_engine, text

    pg_root = request.getfixturevalue("postgres_url")
    name = f"{pg_root.rsplit('/', 1)[1]}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    request.addfinalizer(lambda: _drop_database(admin, name))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    templates = request.getfixturevalue("db_templates")
    if templates.enabled and request.node.get_closest_marker("real_migrations") is None:
        # Created as a clone of the migrated template: migrate.upgrade then has nothing to do.
        templates.create_pg_clone(name, make_settings(tmp_path / "pg-template", database_url=url))
        request.addfinalizer(lambda: _was_upgraded(templates, name))
        return url
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return url


def _was_upgraded(templates, name: str) -> None:
    # A test that never upgrades its database expected it empty, as it was before the template:
    # such a test must be marked `real_migrations` to get an empty one again.
    if name in templates.pristine:
        templates.pristine.discard(name)
        pytest.fail("this test never ran migrate.upgrade on its PostgreSQL database: mark it real_migrations")


def _drop_database(admin, name: str) -> None:
    from sqlalchemy import text

    from backend.db.session import _engine

    _engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


# tests/brownie runs under `brownie test` from its own venv (see Makefile `brownie-test`).
collect_ignore = ["brownie"]
