"""Sending account mail over SMTP: the handler of the MAIL machine (models/machines.py).

The standard library's smtplib runs on a worker thread (asyncio.to_thread), one connection
per message, with no transaction open. What the server answers decides what happens next
(RFC 5321 section 4.2.1): a 5xx is permanent (the message is failed, not retried), a 4xx or a
connection that fails is tried again later on the shared backoff. A refused sign-in (535) or
a server without STARTTLS is the operator's settings, not the message: it is retried, so
fixing the settings sends it, and logged as an error each time.

No `[mail] host`: nothing is sent. The message ends `unsent`, a warning is logged, and admins
see it on their users page (server/pages/admin.py), so a missing setting is noticed, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from models.context import Site
from models.engine import GiveUp, Go, Lease, Outcome, Retry
from models.machines import MAIL
from models.mail import WIPED, MailState, OutgoingMail
from models.settings import MailSettings

__all__ = ["MAIL", "build_message", "send"]

log = logging.getLogger("tallystick.mail")

NOT_CONFIGURED = "not sent: no SMTP server is configured (settings [mail] host / TALLYSTICK_MAIL__HOST)"


def build_message(settings: MailSettings, domain: str, mail: OutgoingMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(idstring=mail.id, domain=domain.split(":")[0])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to these
    message.set_content(mail.body)
    return message


def _deliver(settings: MailSettings, message: EmailMessage) -> None:
    """One SMTP session (blocking: runs on a thread)."""
    timeout = settings.timeout_seconds
    client: smtplib.SMTP
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    with client:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password)
        client.send_message(message)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _outcome_of(error: Exception) -> Retry | GiveUp:
    """What a failed try means (see the module docstring)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        text = "; ".join(f"{address}: {code} {reply.decode(errors='replace')}" for address, (code, reply) in error.recipients.items())
        if codes and all(_permanent(code) for code in codes):
            return GiveUp(f"the mail server refused the address: {text}"[:500])
        return Retry(f"the mail server deferred the address: {text}"[:500])
    if isinstance(error, smtplib.SMTPAuthenticationError):
        log.error("the SMTP server refused our sign-in (check [mail] username and password): %s", error.smtp_code)
        return Retry(f"the mail server refused our sign-in ({error.smtp_code}); check [mail] username and password")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        log.error("the SMTP server does not offer what [mail] security asks for: %s", error)
        return Retry(f"the mail server does not support this: {error} (check [mail] security)"[:500])
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        problem = f"the mail server answered {error.smtp_code} {reply}"[:500]
        return GiveUp(problem) if _permanent(error.smtp_code) else Retry(problem)
    return Retry(f"could not reach the mail server: {type(error).__name__}: {error}"[:500])


def _wiped(mail: OutgoingMail) -> dict[str, str]:
    """A message that carried a link (it has an expiry) keeps no copy of it once it is done."""
    return {"body": WIPED} if mail.expires_at is not None else {}


@MAIL.handler(may={MailState.SENT.value, MailState.UNSENT.value})
async def send(site: Site, mail: OutgoingMail, lease: Lease) -> Outcome:
    """One try of a claimed message."""
    settings = site.mail
    if not settings.configured:
        log.warning("mail %s to %s (%s) %s", mail.id, mail.to_address, mail.purpose, NOT_CONFIGURED)
        return GiveUp(NOT_CONFIGURED, state=MailState.UNSENT.value, values=_wiped(mail))
    now = datetime.now(timezone.utc)
    if mail.expires_at is not None and mail.expires_at <= now:
        return GiveUp("not sent: the link in it expired first", state=MailState.UNSENT.value, values=_wiped(mail))
    message = build_message(settings, site.domain, mail)
    try:
        await asyncio.to_thread(_deliver, settings, message)
    except (smtplib.SMTPException, OSError) as error:
        outcome = _outcome_of(error)
        reason = outcome.reason if isinstance(outcome, GiveUp) else outcome.error
        log.info("mail %s to %s: %s", mail.id, mail.to_address, reason)
        if isinstance(outcome, GiveUp) or lease.is_last_try(mail):
            return GiveUp(reason, values=_wiped(mail))
        return outcome
    return Go(MailState.SENT.value, values={"sent_at": datetime.now(timezone.utc), **_wiped(mail)})
