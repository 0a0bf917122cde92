"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message, and the kb.toml lines that point at it."""

from __future__ import annotations

import email
import email.policy

from aiosmtpd.controller import Controller


class Sink:
    """An SMTP handler that keeps every message it accepts, and every envelope recipient."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.rcpts: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append(msg)
        self.rcpts += envelope.rcpt_tos
        return "250 OK"


def start_smtp(port: int) -> tuple[Controller, Sink]:
    """The server on `port`, started: stop it with `ctl.stop()`; what it received is in the Sink."""
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    return ctl, sink


def smtp_toml(port: int) -> str:
    """kb.toml's [kb] and [smtp] tables for a Hub that mails through the sink on `port`."""
    return f"""[kb]
public_url = "https://hub.example.org"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "Knowledge Hub <hub@example.org>"
timeout = 5
"""
