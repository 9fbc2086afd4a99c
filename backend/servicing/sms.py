"""Text messages (SMS) for a borrower's payment notices, through Twilio's Messages API (or any
gateway that speaks it: `POST {sms_api_url}/2010-04-01/Accounts/{sid}/Messages.json` with
To, From and Body, HTTP Basic auth, 201 with the message's `sid`).

Only the notices where a day counts go by SMS: due soon, overdue, late fee, collections, default.
Investors' notices and the rest stay in-app and e-mail. Each is sent in its own transaction, to the
phone number in the borrower's KYC record (decrypted for this purpose only, and audited); at least
once, like e-mail: a crash between the gateway's answer and the commit sends it again. A refusal of
the message itself (4xx: a bad number, a blocked recipient) is final; a gateway that is down or
rate-limits (5xx, 429, no connection) is retried on later rounds, up to MAX_ATTEMPTS."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from backend.config import Settings
from backend.db.session import session_scope
from backend.errors import LoanchainError
from backend.identity.kyc.service import contact_phone
from backend.servicing.models import ServicingNotice

MAX_ATTEMPTS = 5
SMS_KINDS = ("due_soon", "overdue", "late", "collections", "default")
MAX_BODY = 320  # two SMS segments; the full notice is in-app and in the e-mail


class GatewayRefused(LoanchainError, ValueError):
    """The gateway refused this message for good (its 4xx other than 429)."""

    code = "sms_refused"


def body_of(notice: ServicingNotice) -> str:
    text = f"loanchain: {notice.message}"
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1] + "…"


def _send(settings: Settings, client: httpx.Client, to: str, body: str) -> str:
    """Sends one message; returns the gateway's id for it."""
    url = f"{settings.sms_api_url.rstrip('/')}/2010-04-01/Accounts/{settings.sms_account_sid}/Messages.json"
    auth = (settings.sms_account_sid, settings.sms_auth_token.get_secret_value() if settings.sms_auth_token else "")
    response = client.post(url, data={"To": to, "From": settings.sms_from, "Body": body}, auth=auth)
    if response.status_code == 429 or response.status_code >= 500:
        response.raise_for_status()  # retried on a later round
    if response.status_code >= 400:
        raise GatewayRefused(f"{response.status_code}: {response.text[:300]}")
    return str(response.json().get("sid", ""))


def deliver_sms(settings: Settings, limit: int = 50) -> int:
    """Send what is due; returns how many were sent (0 when no gateway is configured)."""
    if not settings.sms_api_url:
        return 0
    with session_scope(settings) as session:
        due = list(session.scalars(
            select(ServicingNotice.id).where(ServicingNotice.kind.in_(SMS_KINDS), ServicingNotice.sms_sent_at.is_(None),
                                             ServicingNotice.sms_attempts < MAX_ATTEMPTS)
            .order_by(ServicingNotice.id).limit(limit)
        ))  # fmt: skip
    sent = 0
    with httpx.Client(timeout=settings.sms_timeout) as client:
        for notice_id in due:
            with session_scope(settings) as session:
                notice = session.get(ServicingNotice, notice_id)
                to = contact_phone(session, settings, notice.recipient, purpose=f"servicing notice {notice.id} (sms)")
                if to is None:
                    notice.sms_attempts, notice.sms_error = MAX_ATTEMPTS, "no phone number: KYC data missing or erased"
                    continue
                try:
                    notice.sms_id = _send(settings, client, to, body_of(notice))
                except GatewayRefused as exc:
                    notice.sms_attempts, notice.sms_error = MAX_ATTEMPTS, f"refused: {exc}"[:500]
                    continue
                except httpx.HTTPError as exc:
                    notice.sms_attempts += 1
                    notice.sms_error = f"{type(exc).__name__}: {exc}"[:500]
                    continue
                notice.sms_sent_at, notice.sms_error = datetime.now(UTC), None
                sent += 1
    return sent
