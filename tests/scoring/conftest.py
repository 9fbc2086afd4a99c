"""Fixtures for the scoring tests: the shipped scorer, a sample application, a throwaway SQLite
database with the decisions table, and an API client wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.scoring.dataset import TRAINING_CSV
from backend.scoring.models import CreditDecision
from backend.scoring.scorer import Scorer, get_scorer
from tests.conftest import make_settings

SAMPLE = {
    "amount": 3000,
    "term_months": 24,
    "purpose": "used_car",
    "monthly_income_band": "2000_to_3500",
    "monthly_debt_payments": 200,
    "employment_length": "4_to_7y",
    "housing": "own",
    "existing_loans_with_us": 0,
    "checking_account": "200_plus_or_salary",
    "savings": "500_to_1000",
    "credit_history": "all_repaid_here",
    "property": "real_estate",
    "other_instalment_plans": "none",
    "guarantor": "none",
}

RISKY = {
    **SAMPLE,
    "amount": 9000,
    "term_months": 48,
    "purpose": "education",
    "checking_account": "none",
    "savings": "under_100",
    "credit_history": "critical_or_credit_elsewhere",
    "employment_length": "under_1y",
    "property": "none",
    "other_instalment_plans": "bank",
    "housing": "free",
    "monthly_income_band": "1000_to_2000",
}


@pytest.fixture(scope="session")
def scorer() -> Scorer:
    return get_scorer()


@pytest.fixture(scope="session")
def training_csv() -> Path:
    return TRAINING_CSV


@pytest.fixture
def application() -> dict:
    return dict(SAMPLE)


@pytest.fixture
def risky_application() -> dict:
    return dict(RISKY)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Where the decision-salt key lives (under tmp_path/var/keys)."""
    return make_settings(tmp_path)


@pytest.fixture
def db_factory(tmp_path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'scoring.db'}")
    # The decisions, the indexed loans a decision proof looks up (and the offers that made them, whose
    # asset decimals read their principal), and `meta`, where the salt key's source (the blind-index
    # key) has its fingerprint checked.
    from backend.db.meta import MetaEntry
    from backend.lending.models import LoanOffer

    CreditDecision.metadata.create_all(engine, tables=[CreditDecision.__table__, LoanRow.__table__, MetaEntry.__table__,
                                                       LoanOffer.__table__])  # fmt: skip
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def api(db_factory):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from backend.api.deps import Principal, get_db, optional_principal, score_rate_limit
    from backend.api.errors import install_error_handlers
    from backend.api.routes.score import router
    from backend.identity.roles import Role

    def session() -> Iterator[Session]:
        db = db_factory()
        try:
            yield db
            db.commit()
        finally:
            db.close()

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.dependency_overrides[get_db] = session
    # Who may call which endpoint is the role matrix's test (tests/api/test_role_matrix.py);
    # here an underwriter, who may both score and read decisions.
    underwriter = Principal("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", frozenset({Role.UNDERWRITER}))
    app.dependency_overrides[optional_principal] = lambda: underwriter
    app.dependency_overrides[score_rate_limit] = lambda: None  # tested in tests/lending (it needs the database)
    with TestClient(app) as client:
        yield client
