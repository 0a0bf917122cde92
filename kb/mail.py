"""Digest email: Jinja2 templates (HTML autoescaped) -> multipart message with unsubscribe headers -> SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kb.config import Settings, SmtpSettings
from kb.digest import Digest


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message; nothing was recorded as sent."""


def safe_url(url: str | None) -> str:
    """Only web and mail links go into an href: a feed must not smuggle in `javascript:`."""
    if url and urlsplit(url).scheme.lower() in ("http", "https", "mailto"):
        return url
    return "#"


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("kb", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    return env


def subject_for(digest: Digest, period: str) -> str:
    n = digest.n_items
    what = f"{n} new item{'s' if n != 1 else ''}" if n else "toolkit changes"
    return f"Knowledge Hub digest ({digest.list_name}), {period}: {what}"


ONE_CLICK_PATH = "/unsubscribe"
# `kb app` runs the one-click server (kb/unsubscribe.py) on Streamlit's port + 1 unless told otherwise.
ONE_CLICK_PORT_OFFSET = 1


def unsubscribe_url(settings: Settings, list_name: str, token: str) -> str:
    """The app's home page with the token in the query: Streamlit serves pages, not a route like `/unsubscribe`."""
    return f"{settings.public_url.rstrip('/')}/?{urlencode({'unsubscribe': token, 'list': list_name})}"


def one_click_url(settings: Settings, list_name: str, token: str) -> str:
    """List-Unsubscribe's web URL (RFC 8058): the one-click server `kb app` runs, as reached from outside.

    `[app] unsubscribe_url` when set. Else: a public URL with its own port is Streamlit itself, so the server is
    on the next port; one without (a proxy) is expected to route ONE_CLICK_PATH to it (docs/operations.md).
    """
    base = settings.app.unsubscribe_url
    if not base:
        parts = urlsplit(settings.public_url)
        if parts.port:
            base = f"{parts.scheme}://{parts.hostname}:{parts.port + ONE_CLICK_PORT_OFFSET}{ONE_CLICK_PATH}"
        else:
            base = settings.public_url.rstrip("/") + ONE_CLICK_PATH
    return f"{base.rstrip('/')}?{urlencode({'list': list_name, 'token': token})}"


def render(digest: Digest, subject: str, public_url: str, unsubscribe: str | None = None) -> tuple[str, str]:
    """(plain text, HTML) of a digest."""
    ctx = {"digest": digest, "subject": subject, "public_url": public_url, "unsubscribe_url": unsubscribe}
    env = _env()
    return env.get_template("digest.txt").render(ctx), env.get_template("digest.html").render(ctx)


def build_message(digest: Digest, period: str, recipient: str, token: str, settings: Settings) -> EmailMessage:
    """One recipient's copy: their own unsubscribe token in the link and in List-Unsubscribe."""
    subject = subject_for(digest, period)
    link = unsubscribe_url(settings, digest.list_name, token)
    text, html = render(digest, subject, settings.public_url, link)
    sender_addr = parseaddr(settings.smtp.sender)[1] or "hub@example.org"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.smtp.sender
    msg["To"] = recipient
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender_addr.rsplit("@", 1)[-1])
    msg["List-Id"] = f"{digest.list_name} <{quote(digest.list_name, safe='')}.{sender_addr.rsplit('@', 1)[-1]}>"
    mailto = f"mailto:{sender_addr}?subject={quote(f'unsubscribe {digest.list_name} {token}')}"
    msg["List-Unsubscribe"] = f"<{mailto}>, <{one_click_url(settings, digest.list_name, token)}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


class SmtpConnection:
    """One SMTP session for a list's messages: none, STARTTLS or implicit TLS, login when configured."""

    def __init__(self, smtp: SmtpSettings):
        self.cfg = smtp
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        cfg = self.cfg
        try:
            if cfg.security == "ssl":
                client = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
            if cfg.user:
                client.login(cfg.user, cfg.password.reveal() if cfg.password else "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"cannot send through SMTP {cfg.host}:{cfg.port} ({cfg.security}): {exc or type(exc).__name__}; "
                "check [smtp] in kb.toml and KB_SMTP_USER / KB_SMTP_PASSWORD"
            ) from None
        self.client = client
        return self

    def send(self, msg: EmailMessage) -> None:
        """Returns only when the server accepted the message for its recipient."""
        try:
            refused = self.client.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP server refused the message to {msg['To']}: {exc or type(exc).__name__}") from None
        if refused:
            raise MailError(f"SMTP server refused recipient(s): {', '.join(refused)}")

    def __exit__(self, *exc) -> None:
        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):
            pass  # the messages were accepted or not before this; a lost goodbye changes neither
