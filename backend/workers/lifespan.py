"""FastAPI lifespan: the API process runs the background workers as threads unless
LOANCHAIN_RUN_WORKERS=false. With several API processes each starts them, and the locks
leave exactly one active instance of each worker; the others stand by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from backend.config import get_settings
from backend.workers.threads import BackgroundWorkers


@asynccontextmanager
async def worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.dependency_overrides.get(get_settings, get_settings)()
    workers = BackgroundWorkers(settings) if settings.run_workers else None
    if workers:
        workers.start()
    app.state.background_workers = workers
    try:
        yield
    finally:
        if workers:
            await run_in_threadpool(workers.stop)
