"""Outside business hours: the bot offers email, keeps the address on the ticket, and an agent's
reply goes out by SMTP (checked against a local aiosmtpd server)."""
from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from supportbot import Bot
from supportbot.handoff import Agent
from supportbot.handoff.email import EmailSender, SmtpConfig, find_email
from supportbot.project.endpoints import read_endpoints

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                     policy=default_policy)))
        return "250 OK"


@pytest.fixture()
def smtp_server():
    inbox = Inbox()
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, SmtpConfig(host="127.0.0.1", port=controller.port,
                                from_address="support@shop.example", timeout=5)
    finally:
        controller.stop()


def closed_now() -> dict[str, Any]:
    """Business hours that are closed right now: one hour, starting two hours from now (UTC)."""
    hour = datetime.now(UTC).hour
    span = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    return {"timezone": "UTC", **{day: [span] for day in DAYS}}


def make_bot(trained_bot: Bot, tmp_path: Path, smtp: SmtpConfig | None) -> Bot:
    config = trained_bot.project.config
    project = replace(trained_bot.project, config=replace(
        config, handoff={**config.handoff, "business_hours": closed_now()}))
    return Bot(project, trained_bot.nlu, trained_bot.kb, trained_bot.entities,
               trained_bot.manifest, None, f"sqlite:///{tmp_path / 'q.db'}", smtp=smtp)


def hand_off(bot: Bot, cid: str, text: str = "I want to talk to a real person") -> Any:
    turn = bot.handle(cid, text)
    assert turn.handoff is not None, turn.texts
    return turn


def test_offer_address_and_agent_reply_by_email(trained_bot, tmp_path, smtp_server) -> None:
    inbox, smtp = smtp_server
    bot = make_bot(trained_bot, tmp_path, smtp)
    cid = f"mail-{uuid.uuid4().hex[:8]}"
    turn = hand_off(bot, cid)
    text = " ".join(turn.texts)
    assert "back" in text and "leave your email address" in text
    ticket_id = turn.handoff.ticket_id

    typo = bot.handle(cid, "it is anna@")
    assert typo.action == "handoff_email_invalid" and "email address" in " ".join(typo.texts)
    saved = bot.handle(cid, "sure, it is Anna.K@Mail.Example.com thanks")
    assert saved.action == "handoff_email_saved"
    assert "saved your email address" in " ".join(saved.texts)
    ticket = bot.queue.backend.get(ticket_id)
    assert ticket.metadata["email"] == "Anna.K@mail.example.com"
    assert "sure, it is Anna.K@Mail.Example.com thanks" in [m.text for m in ticket.transcript]
    quiet = bot.handle(cid, "my parcel never arrived")  # later messages just join the ticket
    assert quiet.replies == ()

    bot.queue.backend.upsert_agent(Agent(id="vera", name="Vera", online=True))
    assert bot.queue.claim("vera", ticket_id) is not None
    bot.queue.send(ticket_id, "vera", "Hello! Your parcel left the warehouse today.")
    assert len(inbox.messages) == 1
    rcpt, msg = inbox.messages[0]
    assert rcpt == ["Anna.K@mail.example.com"]
    assert msg["To"] == "Anna.K@mail.example.com"
    assert ticket_id in msg["Subject"]
    assert msg["From"] == msg["Reply-To"] == "support@shop.example"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().strip() == "Hello! Your parcel left the warehouse today."


def test_offer_and_confirmation_in_russian(trained_bot, tmp_path, smtp_server) -> None:
    _, smtp = smtp_server
    bot = make_bot(trained_bot, tmp_path, smtp)
    cid = f"mail-{uuid.uuid4().hex[:8]}"
    turn = hand_off(bot, cid, "соедините меня с оператором, пожалуйста")
    text = " ".join(turn.texts)
    assert "адрес электронной почты" in text and "ответим вам письмом" in text
    saved = bot.handle(cid, "мой адрес ivan@example.ru")
    assert saved.action == "handoff_email_saved"
    assert "Спасибо" in " ".join(saved.texts)
    assert bot.queue.backend.get(turn.handoff.ticket_id).metadata["email"] == "ivan@example.ru"


def test_without_smtp_no_offer_and_no_capture(trained_bot, tmp_path) -> None:
    bot = make_bot(trained_bot, tmp_path, None)
    cid = f"mail-{uuid.uuid4().hex[:8]}"
    turn = hand_off(bot, cid)
    text = " ".join(turn.texts)
    assert "back" in text and "leave your email address" not in text
    later = bot.handle(cid, "anna@example.com")
    assert later.replies == ()
    assert "email" not in bot.queue.backend.get(turn.handoff.ticket_id).metadata


def test_bad_smtp_server_does_not_break_the_agent(trained_bot, tmp_path, caplog) -> None:
    smtp = SmtpConfig(host="127.0.0.1", port=free_port(), from_address="support@shop.example",
                      timeout=1, retries=1, retry_delay=0)
    bot = make_bot(trained_bot, tmp_path, smtp)
    delivered: list[str | None] = []
    bot.outbound = lambda cid, reply: delivered.append(reply.text)
    cid = f"mail-{uuid.uuid4().hex[:8]}"
    ticket_id = hand_off(bot, cid).handoff.ticket_id
    bot.handle(cid, "anna@example.com")
    bot.queue.backend.upsert_agent(Agent(id="vera", name="Vera", online=True))
    bot.queue.claim("vera", ticket_id)
    with caplog.at_level(logging.WARNING, logger="supportbot.handoff.email"):
        bot.queue.send(ticket_id, "vera", "We are on it.")
    assert "We are on it." in delivered
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(ticket_id in m and "NOT sent after 2 attempts" in m for m in errors), errors


def test_open_hours_make_no_email_offer(bot, smtp_server) -> None:
    _, smtp = smtp_server
    with_mail = bot.with_stores(queue=bot.queue.backend, smtp=smtp)
    turn = hand_off(with_mail, f"mail-{uuid.uuid4().hex[:8]}")
    assert "leave your email address" not in " ".join(turn.texts)


def test_find_email_and_sender_retry(smtp_server) -> None:
    assert find_email("write to a.b+c@Example.ORG, please") == "a.b+c@example.org"
    assert find_email("anna@") is None and find_email("a..b@x.com") is None
    inbox, smtp = smtp_server
    calls: list[float] = []
    sender = EmailSender(replace(smtp, port=free_port(), retries=2, retry_delay=0.5),
                         sleep=calls.append)
    assert sender.send("x@example.com", "T1", "hi") is False
    assert calls == [0.5, 0.5]
    assert EmailSender(smtp).send("x@example.com", "T2", "hi") is True
    assert inbox.messages[0][1]["Subject"] == "Re: your support request [T2]"


def test_endpoints_email_section(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    (tmp_path / "endpoints.yml").write_text(
        'email:\n  host: smtp.example.com\n  port: 587\n  username: bot\n'
        '  password: "${SMTP_PASSWORD}"\n  from: support@example.com\n  starttls: true\n'
        '  timeout: 5\n', encoding="utf-8")
    config = read_endpoints(tmp_path).email
    assert config == SmtpConfig(host="smtp.example.com", port=587, username="bot",
                                password="s3cret", from_address="support@example.com",
                                starttls=True, timeout=5.0)
    assert "s3cret" not in repr(config)
    (tmp_path / "endpoints.yml").write_text("smtp:\n  port: 25\n", encoding="utf-8")
    with pytest.raises(Exception, match="host"):
        read_endpoints(tmp_path)
