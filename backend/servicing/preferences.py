"""A wallet's notice preferences: every notice is in the in-app list; e-mail and text messages
carry them too unless the wallet turned that channel off. Notices of money owed late or in default
(`IN_WRITING`) go by e-mail whatever the preference: the lender must give them in writing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import audit
from backend.db.session import get_or_add
from backend.servicing.models import NoticePreference
from backend.servicing.schemas import NoticePreferencesPublic, NoticePreferencesUpdate

IN_WRITING = ("late", "collections", "default", "defaulted", "hardship_plan", "plan_broken")


def preferences_of(db: Session, wallet: str) -> NoticePreferencesPublic:
    row = db.get(NoticePreference, wallet)
    return NoticePreferencesPublic(email=row.email if row else True, sms=row.sms if row else True,
                                   always_by_email=list(IN_WRITING))  # fmt: skip


def set_preferences(db: Session, wallet: str, request: NoticePreferencesUpdate) -> NoticePreferencesPublic:
    row, _ = get_or_add(db, NoticePreference, wallet, lambda: NoticePreference(wallet=wallet), lock=True)
    row.email, row.sms = request.email, request.sms
    db.flush()
    audit.record(db, actor=wallet, action="notices.preferences", subject=f"wallet:{wallet}",
                 payload={"email": request.email, "sms": request.sms})  # fmt: skip
    return preferences_of(db, wallet)


def wants(db: Session, wallet: str, channel: str, kind: str) -> bool:
    """Does `wallet` take notices of `kind` over `channel` ("email" or "sms")?"""
    if channel == "email" and kind in IN_WRITING:
        return True
    row = db.get(NoticePreference, wallet)
    return row is None or bool(getattr(row, channel))
