"""The layering the README promises, checked on the source itself so it cannot drift: only
`backend/chain` talks to web3, routes and CLI commands only translate (no SQL, no chain code of
their own), and nothing blocking hides inside `async def`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[1] / "backend"
MODULES = sorted(p for p in BACKEND.rglob("*.py") if "migrations" not in p.parts)

# async functions that do no I/O of their own, with the reason they may be async.
ASYNC_ALLOWED = {
    # plain ASGI middleware (ASGI is async): WebSecurityHeaders and NoStoreOnApi only set response headers, JsonTooLarge
    # only rewrites Starlette's plain-text 413
    ("api/web.py", "__call__"), ("api/web.py", "with_headers"),
    ("api/errors.py", "__call__"), ("api/errors.py", "send_json"),
    ("api/cache_headers.py", "__call__"), ("api/cache_headers.py", "send_no_store"),  # only adds Cache-Control
    ("workers/lifespan.py", "worker_lifespan"),  # starts and stops threads; FastAPI wants async here
    ("api/idempotency.py", "request_fingerprint"),  # awaits the request body only (Starlette's body is async)
}


def _rel(path: Path) -> str:
    return path.relative_to(BACKEND).as_posix()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{_rel(path)} imports {name}"
        for path in paths
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_modules_found():
    assert len(MODULES) > 50


def test_only_the_chain_package_imports_web3():
    outside = [p for p in MODULES if not _rel(p).startswith("chain/")]
    assert _offenders(outside, ("web3",)) == []


def test_only_the_chain_package_holds_a_web3_object():
    """Not imported, yet used: a `Web3` from `chain.client.get_web3` and its `.eth` calls."""
    found = []
    for path in (p for p in MODULES if not _rel(p).startswith("chain/")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and any(alias.name == "get_web3" for alias in node.names):
                found.append(f"{_rel(path)} imports get_web3")
            elif isinstance(node, ast.Attribute) and node.attr == "eth":
                found.append(f"{_rel(path)}:{node.lineno} uses .eth")
    assert found == []


@pytest.mark.parametrize("layer", ["api/routes/", "cli/"])
def test_routes_and_commands_hold_no_sql_and_no_chain_code(layer):
    paths = [p for p in MODULES if _rel(p).startswith(layer)]
    assert paths
    assert _offenders(paths, ("sqlalchemy", "web3", "eth_account")) == []


def test_routes_are_sync_so_blocking_calls_run_in_the_threadpool():
    found = {
        (_rel(path), node.name)
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.AsyncFunctionDef)
    }
    assert found <= ASYNC_ALLOWED, f"async def outside the allow-list: {sorted(found - ASYNC_ALLOWED)}"
