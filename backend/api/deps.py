"""Every FastAPI dependency is wired here, once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from backend.config import Settings, get_settings
from backend.db.session import session_factory


def get_db(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back on error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
