"""E-mail delivery of servicing notices over SMTP (stdlib smtplib).

Each notice is sent in its own transaction, oldest first, to the address in the recipient's
(borrower's or investor's) KYC record (decrypted for this purpose only, and audited). Delivery is at least once: a crash between
the server's acceptance and the commit sends the notice again, with the same Message-ID, which
mail clients fold. A failure is retried on later rounds, up to MAX_ATTEMPTS; a recipient whose KYC
data was erased is not written to (the notice stays in-app)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import select

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.kyc.service import contact_email
from backend.servicing.models import ServicingNotice

MAX_ATTEMPTS = 5
SUBJECTS = {
    "due_soon": "Your installment is due soon",
    "overdue": "Your installment is overdue",
    "late": "Late fee charged on your loan",
    "collections": "Your loan is more than 30 days late",
    "default": "Your loan can be declared in default",
    "not_funded": "Your loan was not funded in time",
    "refund_due": "A loan you funded was cancelled: take your money back",
    "loan_late": "A loan you hold is more than 30 days late",
    "loan_defaulted": "A loan you hold was declared in default",
    "loan_repaid": "A loan you hold is repaid in full",
    "loan_match": "A new loan matches your standing instruction",
}


def _message(settings: Settings, notice: ServicingNotice, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"] = settings.smtp_from, to
    mail["Subject"] = f"loanchain: {SUBJECTS.get(notice.kind, 'About your loan')} (loan {notice.loan_id})"
    # Deterministic: the notice row's own id, so a re-send after a crash is the same message.
    mail["Message-ID"] = f"<notice-{notice.id}@loanchain>"
    mail.set_content(f"{notice.message}\n\nSee every notice, and act from your own wallet, on the loanchain web page.\n")
    return mail


def _send(settings: Settings, mail: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(mail)


def deliver_notices(settings: Settings, limit: int = 50) -> int:
    """Send what is due; returns how many were sent (0 when no SMTP host is configured)."""
    if not settings.smtp_host:
        return 0
    with session_scope(settings) as session:
        due = list(session.scalars(
            select(ServicingNotice.id).where(ServicingNotice.emailed_at.is_(None),
                                             ServicingNotice.email_attempts < MAX_ATTEMPTS)
            .order_by(ServicingNotice.id).limit(limit)
        ))  # fmt: skip
    sent = 0
    for notice_id in due:
        with session_scope(settings) as session:
            notice = session.get(ServicingNotice, notice_id)
            to = contact_email(session, settings, notice.recipient, purpose=f"servicing notice {notice.id}")
            if to is None:
                notice.email_attempts, notice.email_error = MAX_ATTEMPTS, "no contact address: KYC data missing or erased"
                continue
            try:
                _send(settings, _message(settings, notice, to))
            except (smtplib.SMTPException, OSError) as exc:
                notice.email_attempts += 1
                notice.email_error = f"{type(exc).__name__}: {exc}"[:500]
                continue
            notice.emailed_at, notice.email_error = datetime.now(UTC), None
            sent += 1
    return sent
