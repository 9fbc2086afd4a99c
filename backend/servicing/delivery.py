"""E-mail delivery of servicing notices over SMTP (stdlib smtplib), to the borrower or investor
it is for, as every channel delivers (see `channels`). A re-send after a crash carries the same
Message-ID, which mail clients fold. A recipient whose KYC data was erased is not written to (the
notice stays in-app). A failure is kept on the notice as its class and SMTP code only: smtplib's
messages repeat the recipient's address, which must not sit in clear beside the notice. Reminders
are held while a hardship request or dispute waits for staff, as texts are (`_held`)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.kyc.service import contact_email
from backend.servicing.channels import MAX_ATTEMPTS, REMINDERS, Channel, DeliveryFailed, deliver, stale_reminder
from backend.servicing.collections import paused
from backend.servicing.models import ServicingNotice, ServicingState
from backend.servicing.preferences import IN_WRITING

__all__ = ["MAX_ATTEMPTS", "SUBJECTS", "deliver_notices"]
SUBJECTS = {
    "due_soon": "Your installment is due soon",
    "overdue": "Your installment is overdue",
    "late": "Late fee charged on your loan",
    "collections": "Your loan is more than 30 days late",
    "default": "Your loan can be declared in default",
    "defaulted": "Your loan was declared in default",
    "loan_funded": "Your loan is fully funded",
    "paid_out": "Your loan was paid out",
    "not_funded": "Your loan was not funded in time",
    "not_disbursed": "Your loan could not be paid out and is cancelled",
    "refund_due": "A loan you funded was cancelled: take your money back",
    "loan_late": "A loan you hold is more than 30 days late",
    "loan_defaulted": "A loan you hold was declared in default",
    "loan_repaid": "A loan you hold is repaid in full",
    "loan_match": "A new loan matches your standing instruction",
    "mandate_funded": "The platform funded a loan for you under your mandate",
    "autopay_short": "Autopay could not pay your installment",
    "autopay_ending": "Autopay on your loan ends soon",
    "mandate_ending": "Your funding mandate ends soon",
    "bid_at_risk": "A loan you bid for is past due",
    "listing_sold": "Your notes on offer sold out",
    "bid_filled": "Your bid for notes is filled",
    "released": "Nothing more is owed on your loan: your release letter",
}


def _message(settings: Settings, notice: ServicingNotice, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"] = settings.smtp_from, to
    about = f" (loan {notice.loan_id})" if notice.loan_id else ""  # 0: a notice about no one loan
    mail["Subject"] = f"loanchain: {SUBJECTS.get(notice.kind, 'About your loan')}{about}"
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


def _held(session: Session, settings: Settings, notice: ServicingNotice) -> str | None:
    """A reminder (due soon, overdue) is not e-mailed while the loan's hardship request or dispute
    waits for staff (`collections.paused`, judged at the last servicing pass's chain time), as it is
    not texted: one created before the request and still retried would otherwise go out during the
    pause. It stays in-app. Notices owed in writing go. Nor a reminder retried after its installment
    was paid (`stale_reminder`)."""
    if notice.kind in REMINDERS and notice.recipient == notice.borrower:
        state = session.get(ServicingState, notice.loan_id)
        why = paused(session, settings, notice.loan_id, state.as_of) if state is not None else None
        if why:
            return why
    return stale_reminder(session, settings, notice)


EMAIL = Channel("email", sent_at="emailed_at", attempts="email_attempts", error="email_error", retry_at="email_retry_at",
                contact=contact_email, held=_held)


def failure_reason(exc: smtplib.SMTPException | OSError) -> str:
    """What went wrong, without the address: the exception class and the server's reply codes."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):  # its text maps each address to its reply
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return f"{name}: {', '.join(codes)}" if codes else name
    if isinstance(exc, smtplib.SMTPResponseException):  # sender or data refused: the reply's text may quote an address
        return f"{name}: {exc.smtp_code}"
    return f"{name}: errno {exc.errno}" if isinstance(exc, OSError) and exc.errno else name


def deliver_notices(settings: Settings, limit: int = 50) -> int:
    """Send what is due; returns how many were sent (0 when no SMTP host is configured)."""
    if not settings.smtp_host:
        return 0

    def send(notice: ServicingNotice, to: str) -> None:
        try:
            _send(settings, _message(settings, notice, to))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(failure_reason(exc)) from exc

    return deliver(settings, EMAIL, send, limit)


def undelivered_in_writing(session: Session, limit: int = 20) -> tuple[int, list[int]]:
    """Notices that must go in writing (`IN_WRITING`) and were given up on by e-mail (refused, no
    address, or MAX_ATTEMPTS failures over about three days): (how many, the first `limit` ids), for
    `/health` to raise, so a person sends them another way."""
    where = (ServicingNotice.kind.in_(IN_WRITING), ServicingNotice.emailed_at.is_(None),
             ServicingNotice.email_attempts >= MAX_ATTEMPTS)  # fmt: skip
    count = session.scalar(select(func.count()).select_from(ServicingNotice).where(*where)) or 0
    return count, list(session.scalars(select(ServicingNotice.id).where(*where).order_by(ServicingNotice.id).limit(limit)))
