"""Imports every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from backend.db.base import Base  # noqa: F401
from backend.db import meta  # noqa: F401
from backend.chain import models as chain_models  # noqa: F401
from backend.identity import models as identity_models  # noqa: F401
from backend.anchoring import models as anchoring_models  # noqa: F401
from backend.audit import models as audit_models  # noqa: F401
from backend.scoring import models as scoring_models  # noqa: F401
from backend.lending import models as lending_models  # noqa: F401
from backend.servicing import models as servicing_models  # noqa: F401
from backend.disclosure import models as disclosure_models  # noqa: F401
from backend import idempotency_keys as idempotency_models  # noqa: F401
