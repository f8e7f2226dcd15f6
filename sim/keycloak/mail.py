"""The "update your account" email that ``execute-actions-email`` sends, over real SMTP."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

__all__ = ["ActionEmail", "MailNotSent", "compose_actions_email", "send_email"]

ACTION_NAMES = {
    "UPDATE_PASSWORD": "Update Password",
    "VERIFY_EMAIL": "Verify Email",
    "UPDATE_PROFILE": "Update Profile",
    "CONFIGURE_TOTP": "Configure OTP",
    "TERMS_AND_CONDITIONS": "Terms and Conditions",
}
SMTP_TIMEOUT_SECONDS = 10.0


class MailNotSent(Exception):
    pass


@dataclass(frozen=True)
class ActionEmail:
    """One execute-actions email, as recorded by the fake whether or not SMTP took it."""

    realm: str
    user_id: str
    to: str
    actions: tuple[str, ...]
    link: str
    sent_at: float
    delivered: bool
    error: str | None = None


def _lifespan_text(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def compose_actions_email(*, realm_name: str, sender: str, to: str, actions: list[str], link: str,
                          lifespan_seconds: int) -> EmailMessage:
    names = ", ".join(ACTION_NAMES.get(action, action) for action in actions)
    expiry = _lifespan_text(lifespan_seconds)
    message = EmailMessage()
    message["Subject"] = "Update Your Account"
    message["From"] = sender
    message["To"] = to
    message.set_content(
        f"Your administrator has just requested that you update your {realm_name} account by performing the "
        f"following action(s): {names}. Click on the link below to start this process.\n\n{link}\n\n"
        f"This link will expire within {expiry}.\n\nIf you are unaware that your administrator has requested "
        "this, just ignore this message and nothing will be changed.\n"
    )
    message.add_alternative(
        f"<html><body><p>Your administrator has just requested that you update your {html.escape(realm_name)} "
        f"account by performing the following action(s): {html.escape(names)}. Click on the link below to start "
        f'this process.</p><p><a href="{html.escape(link)}">Link to account update</a></p>'
        f"<p>This link will expire within {expiry}.</p><p>If you are unaware that your administrator has "
        "requested this, just ignore this message and nothing will be changed.</p></body></html>",
        subtype="html",
    )
    return message


async def send_email(message: EmailMessage, host: str | None, port: int | None) -> None:
    if host is None or port is None:
        raise MailNotSent("no SMTP server configured")
    try:
        await aiosmtplib.send(message, hostname=host, port=port, timeout=SMTP_TIMEOUT_SECONDS, start_tls=False,
                              use_tls=False)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailNotSent(f"{type(exc).__name__}: {exc}") from exc
