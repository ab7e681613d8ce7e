"""The messages accounts receive by mail, in plain words: a link to verify an address, a link
to choose a new password, and notices of a changed password or address.

Each is queued in the caller's transaction (models/mail.py) and sent by the MAIL machine. A
link's secret exists in clear only in the queued message (see models/mail.py).
"""

from __future__ import annotations

from urllib.parse import quote

from .actors import User
from .context import Site
from .email_links import LinkPurpose, new_link
from .mail import OutgoingMail, queue_mail

__all__ = ["queue_address_changed", "queue_password_changed", "queue_reset", "queue_verification", "VERIFY_PATH", "RESET_PATH"]

VERIFY_PATH = "/verify-email"  # the pages that open the links (server/pages/passwords.py)
RESET_PATH = "/reset-password"


def _link(site: Site, path: str, secret: str) -> str:
    return f"{site.base_url}{path}?token={quote(secret)}"


def _duration(seconds: int) -> str:
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return "1 day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


async def queue_verification(site: Site, user: User) -> OutgoingMail:
    """A link that proves the account's current address is theirs."""
    lifetime = site.accounts.verify_link_seconds
    secret, link = await new_link(user, LinkPurpose.VERIFY_EMAIL, lifetime)
    body = (
        f"Hello {user.username},\n\n"
        f"please confirm that {user.email} is your address on {site.domain} by opening this link:\n\n"
        f"{_link(site, VERIFY_PATH, secret)}\n\n"
        f"The link works once, for {_duration(lifetime)}. If you did not sign up, ignore this message:\n"
        "the address will stay unconfirmed.\n"
    )
    return await queue_mail(
        user.email, f"Confirm your address on {site.domain}", body, purpose=LinkPurpose.VERIFY_EMAIL.value,
        user=user, expires_at=link.expires_at,
    )


async def queue_reset(site: Site, user: User) -> OutgoingMail:
    """A link to choose a new password without the old one."""
    lifetime = site.accounts.reset_link_seconds
    secret, link = await new_link(user, LinkPurpose.RESET_PASSWORD, lifetime)
    body = (
        f"Hello {user.username},\n\n"
        f"someone (we hope you) asked to reset the password of your account on {site.domain}.\n"
        f"Choose a new password here:\n\n{_link(site, RESET_PATH, secret)}\n\n"
        f"The link works once, for {_duration(lifetime)}. If you did not ask, ignore this message:\n"
        "your password stays as it is.\n"
    )
    return await queue_mail(
        user.email, f"Reset your password on {site.domain}", body, purpose=LinkPurpose.RESET_PASSWORD.value,
        user=user, expires_at=link.expires_at,
    )


async def queue_password_changed(site: Site, user: User, how: str) -> OutgoingMail:
    """Tell the owner their password changed, so a change they did not make is noticed."""
    body = (
        f"Hello {user.username},\n\n"
        f"the password of your account on {site.domain} was changed ({how}).\n"
        "Other browsers and apps signed in to your account were signed out.\n\n"
        "If this was not you, reset your password now from the sign-in page and tell an administrator.\n"
    )
    return await queue_mail(user.email, f"Your password on {site.domain} was changed", body, purpose="password-changed", user=user)


async def queue_address_changed(site: Site, user: User, old_address: str) -> OutgoingMail:
    """Tell the old address that the account now uses another one."""
    body = (
        f"Hello {user.username},\n\n"
        f"the email address of your account on {site.domain} was changed from this one to another address.\n\n"
        "If this was not you, sign in, change your password, and tell an administrator.\n"
    )
    return await queue_mail(old_address, f"Your address on {site.domain} was changed", body, purpose="email-changed", user=user)
