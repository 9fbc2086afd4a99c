"""Text messages (SMS) for a borrower's payment notices, through Twilio's Messages API (or any
gateway that speaks it: `POST {sms_api_url}/2010-04-01/Accounts/{sid}/Messages.json` with
To, From and Body, HTTP Basic auth, 201 with the message's `sid`).

Only the notices where a day counts go by SMS: due soon, overdue, late fee, collections, default.
Investors' notices and the rest stay in-app and e-mail. Delivered as every channel is (see
`channels`), to the phone number in the borrower's KYC record: a refusal of the message itself
(4xx: a bad number, a blocked recipient) is final; a gateway that is down or rate-limits (5xx, 429,
no connection) is retried on later rounds. A failure is kept on the notice as the HTTP status and the
gateway's numeric error code only: its message quotes the number ("The 'To' number +44… is not
valid"), which must not sit in clear beside the notice.

Contact is kept within bounds (review-servicing M3): no text from 21:00 to 08:00 in the borrower's
time zone (`quiet_hours.py`: from the KYC address country, UTC when unknown; deferred to the morning,
no attempt counted), at most TEXTS_PER_WEEK texts about one loan in any 7 days (one over it is not
sent: it stays in-app, and is e-mailed if owed in writing), and none while a hardship request or a
dispute waits for staff, or a hardship plan is kept (`plans.paused`)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from backend.config import Settings
from backend.identity.kyc.service import contact_phone_and_country
from backend.servicing import channels
from backend.servicing.channels import (
    MAX_ATTEMPTS,
    Channel,
    DeliveryDeferred,
    DeliveryFailed,
    DeliveryRefused,
    deliver,
    stale_reminder,
)
from backend.servicing.models import ServicingNotice, ServicingState
from backend.servicing.plans import paused
from backend.servicing.quiet_hours import QUIET_FROM, QUIET_UNTIL, next_allowed

SMS_KINDS = ("due_soon", "overdue", "late", "collections", "default")
MAX_BODY = 320  # two SMS segments; the full notice is in-app and in the e-mail
TEXTS_PER_WEEK = 3  # texts a recipient gets about one loan in any 7 days; the rest stay in-app and by e-mail
WEEK = 7 * 86_400


def _paused(session: Session, settings: Settings, notice: ServicingNotice) -> str | None:
    """No texts while the loan's hardship request or dispute waits for staff, or a plan is kept (`plans.paused`,
    judged at the last servicing pass's chain time); the notice stays in-app, and by e-mail if owed
    in writing. Nor a reminder retried after its installment was paid (`stale_reminder`)."""
    state = session.get(ServicingState, notice.loan_id)
    if state is None:
        return stale_reminder(session, settings, notice)
    return paused(session, settings, notice.loan_id, state.as_of) or stale_reminder(session, settings, notice)


SMS = Channel("sms", sent_at="sms_sent_at", attempts="sms_attempts", error="sms_error", retry_at="sms_retry_at",
              contact=contact_phone_and_country, kinds=SMS_KINDS, provider_id="sms_id", held=_paused)  # fmt: skip

__all__ = ["MAX_ATTEMPTS", "MAX_BODY", "SMS_KINDS", "body_of", "deliver_sms"]


def body_of(notice: ServicingNotice) -> str:
    text = f"loanchain: {notice.message}"
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1] + "…"


def failure_reason(response: httpx.Response) -> str:
    """`<status>` and, when the gateway gives one, `code <n>` (Twilio's error code): never its text."""
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    return f"{response.status_code} code {code}" if isinstance(code, int) else str(response.status_code)


def _send(settings: Settings, client: httpx.Client, to: str, body: str) -> str | None:
    """Sends one message; returns the gateway's id for it (None if its answer names none). Any 2xx
    means the gateway took the message, whatever its body: read as anything else, it would be
    sent again after every lease, with no count and past the weekly cap."""
    url = f"{settings.sms_api_url.rstrip('/')}/2010-04-01/Accounts/{settings.sms_account_sid}/Messages.json"
    auth = (settings.sms_account_sid, settings.sms_auth_token.get_secret_value() if settings.sms_auth_token else "")
    try:
        response = client.post(url, data={"To": to, "From": settings.sms_from, "Body": body}, auth=auth)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(type(exc).__name__) from exc  # its text may carry the request, number included
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryFailed(failure_reason(response))  # retried on a later round
    if response.status_code >= 400:
        raise DeliveryRefused(f"refused: {failure_reason(response)}")
    if not response.is_success:  # 1xx, 3xx: a gateway URL that is not the Messages API's (redirects are not followed)
        raise DeliveryFailed(f"unexpected answer: {response.status_code}")
    return _sid_of(response)


def _sid_of(response: httpx.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    sid = answer.get("sid") if isinstance(answer, dict) else None
    return str(sid)[:64] if sid else None  # the column's width


def deliver_sms(settings: Settings, limit: int = 50) -> int:
    """Send what is due; returns how many were sent (0 when no gateway is configured)."""
    if not settings.sms_api_url:
        return 0
    with httpx.Client(timeout=settings.sms_timeout) as client:

        def send(notice: ServicingNotice, to: tuple[str, str]) -> str | None:
            phone, country = to
            now = channels.wall_clock()
            if (until := next_allowed(now, country)) is not None:
                raise DeliveryDeferred(f"deferred: quiet hours ({QUIET_FROM}:00-{QUIET_UNTIL:02d}:00 in the recipient's "
                                       "time zone)", until=until)  # fmt: skip
            if texts_in_week(object_session(notice), notice, now) >= TEXTS_PER_WEEK:
                raise DeliveryRefused(f"not sent: {TEXTS_PER_WEEK} texts about this loan in 7 days already")
            return _send(settings, client, phone, body_of(notice))

        return deliver(settings, SMS, send, limit)


def texts_in_week(session: Session, notice: ServicingNotice, now: int) -> int:
    """Texts sent to the notice's recipient about its loan in the 7 days to `now` (wall clock)."""
    since = datetime.fromtimestamp(now - WEEK, UTC)
    return session.scalar(select(func.count()).select_from(ServicingNotice).where(
        ServicingNotice.loan_id == notice.loan_id, ServicingNotice.recipient == notice.recipient,
        ServicingNotice.sms_sent_at >= since)) or 0  # fmt: skip
