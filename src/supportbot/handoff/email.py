"""Continuing a handoff by email outside business hours: the SMTP settings (the `email:` section
of `endpoints.yml`), finding an address in a customer's message, keeping it on the ticket, and
sending an agent's reply with a bounded retry. Only the standard library is used."""
from __future__ import annotations

import logging
import re
import smtplib
import ssl as ssl_module
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

log = logging.getLogger(__name__)

EMAIL_METADATA_KEY = "email"
DEFAULT_SUBJECT = "Re: your support request [{ticket_id}]"
DEFAULT_SMTP_TIMEOUT = 10.0

EMAIL_RE = re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
                      r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
                      r"(?![\w-])")


def find_email(text: str) -> str | None:
    """The first plausible email address in `text` (lower-cased domain), or None."""
    match = EMAIL_RE.search(text or "")
    if match is None:
        return None
    local, _, domain = match.group(1).rpartition("@")
    if ".." in local or local.endswith("."):
        return None
    return f"{local}@{domain.lower()}"


def looks_like_email_attempt(text: str) -> bool:
    """An '@' with letters around it but no valid address: worth asking again."""
    return find_email(text) is None and re.search(r"\S@|@\S", text or "") is not None


@dataclass(frozen=True)
class SmtpConfig:
    """Where agents' replies to email tickets are sent from.

    `from_address` is the shop's address (From and Reply-To). `starttls` upgrades a plain
    connection; `ssl` connects with TLS from the start (port 465). A failed send is tried
    `retries` more times, `retry_delay` seconds apart."""

    host: str
    from_address: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = DEFAULT_SMTP_TIMEOUT
    retries: int = 2
    retry_delay: float = 1.0
    subject: str = DEFAULT_SUBJECT

    def __repr__(self) -> str:  # never print the password
        auth = f", username={self.username!r}, password=***" if self.username else ""
        tls = ", ssl" if self.ssl else ", starttls" if self.starttls else ""
        return (f"SmtpConfig(host={self.host!r}, port={self.port}, "
                f"from_address={self.from_address!r}{auth}{tls})")


class EmailSender:
    """Sends plain-text emails through one SMTP server; never raises on delivery problems."""

    def __init__(self, config: SmtpConfig, *, sleep: Any = time.sleep):
        self.config = config
        self._sleep = sleep

    def message(self, to: str, ticket_id: str, text: str) -> EmailMessage:
        c = self.config
        msg = EmailMessage()
        msg["From"] = c.from_address
        msg["To"] = to
        msg["Reply-To"] = c.from_address
        msg["Subject"] = c.subject.replace("{ticket_id}", ticket_id)
        msg["Message-ID"] = make_msgid(domain=c.from_address.rpartition("@")[2] or None)
        msg["X-Supportbot-Ticket"] = ticket_id
        msg.set_content(text)
        return msg

    def _send_once(self, msg: EmailMessage) -> None:
        c = self.config
        smtp: smtplib.SMTP
        if c.ssl:
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                    context=ssl_module.create_default_context())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        with smtp:
            if c.starttls and not c.ssl:
                smtp.starttls(context=ssl_module.create_default_context())
            if c.username:
                smtp.login(c.username, c.password or "")
            smtp.send_message(msg)

    def send(self, to: str, ticket_id: str, text: str) -> bool:
        """Send `text` to `to`; True when the server accepted it. Failures are logged."""
        msg = self.message(to, ticket_id, text)
        attempts = 1 + max(0, self.config.retries)
        for attempt in range(1, attempts + 1):
            try:
                self._send_once(msg)
            except (OSError, smtplib.SMTPException) as exc:
                if attempt < attempts:
                    log.warning("email for ticket %s to %s via %s:%d failed (attempt %d of %d): "
                                "%s; retrying", ticket_id, to, self.config.host, self.config.port,
                                attempt, attempts, exc)
                    self._sleep(self.config.retry_delay)
                    continue
                log.error("email for ticket %s to %s via %s:%d NOT sent after %d attempts: %s: "
                          "%s (the agent's message is still in the chat)", ticket_id, to,
                          self.config.host, self.config.port, attempts, type(exc).__name__, exc)
                return False
            log.info("email for ticket %s sent to %s", ticket_id, to)
            return True
        return False


def set_ticket_metadata(backend: Any, ticket_id: str, updates: Mapping[str, Any]) -> None:
    """Merge `updates` into a ticket's metadata.

    Uses the queue's `update_metadata(ticket_id, updates)` when it has one; otherwise, for the
    SQL queues (SQLite, PostgreSQL), one write transaction with the ticket row locked."""
    update = getattr(backend, "update_metadata", None)
    if callable(update):
        update(ticket_id, dict(updates))
        return
    from supportbot.handoff.sqlqueue import SqlQueue, _json

    if not isinstance(backend, SqlQueue):
        raise TypeError(f"{type(backend).__name__} cannot store ticket metadata "
                        "(it needs an update_metadata(ticket_id, updates) method)")
    with backend._transaction(True) as db:
        ticket = backend._ticket(db, ticket_id, lock=True, transcript=False)
        merged = {**dict(ticket.metadata), **dict(updates)}
        db.run(backend._q("UPDATE {tickets} SET metadata = ?, updated_at = ? WHERE id = ?"),
               (_json(merged), backend.clock(), ticket_id))
