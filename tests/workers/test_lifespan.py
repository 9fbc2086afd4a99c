"""The API process runs the background workers as threads unless run_workers is false."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.api.main import create_app
from backend.config import get_settings
from backend.db import migrate
from backend.workers.registry import WORKERS
from tests.conftest import free_port, make_settings


@pytest.mark.parametrize("run_workers", [True, False])
def test_api_lifespan_starts_and_stops_the_workers(tmp_path, run_workers):
    port = free_port()  # nothing listens: the workers just retry until stopped
    settings = make_settings(tmp_path, rpc_url=f"http://127.0.0.1:{port}", run_workers=run_workers)
    migrate.upgrade(settings)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app):
        workers = app.state.background_workers
        if run_workers:
            assert sorted(workers.alive()) == sorted(f"worker-{name}" for name in WORKERS)
            assert {"worker-indexer", "worker-outbox"} <= set(workers.alive())
        else:
            assert workers is None
    if run_workers:
        assert workers.alive() == []
