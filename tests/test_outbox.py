"""One outbound path: every agent action goes through the queue's durable outbox, which the
dispatcher records in the conversation log once, sends through the output adapter, marks
delivered, and retries with backoff when the channel fails."""
from __future__ import annotations

import sqlite3
import time

from supportbot.dialogue.events import AgentMessage
from supportbot.handoff import Agent
from supportbot.handoff.sqlite import SQLiteQueue
from supportbot.outbox import RetryPolicy


def _handed_off(bot, conversation_id: str) -> str:
    bot.queue.backend.upsert_agent(Agent(id="anna", name="Anna", online=True))
    turn = bot.handle(conversation_id, "I want to talk to a real person")
    assert turn.handoff is not None
    return turn.handoff.ticket_id


def test_claim_send_resolve_deliver_each_message_once_and_nothing_stays_pending(
        bot, conversation_id):
    delivered: list[str | None] = []
    bot.outbound = lambda cid, reply: delivered.append(reply.text) if cid == conversation_id \
        else None
    ticket_id = _handed_off(bot, conversation_id)
    bot.queue.claim("anna", ticket_id)
    bot.queue.send(ticket_id, "anna", "Hi, I'm Anna.")
    bot.queue.resolve(ticket_id, "anna")

    # agent joined, the agent's message, "back with the bot", the CSAT question
    assert len(delivered) == 4, delivered
    assert "Anna" in (delivered[0] or "") and delivered[1] == "Hi, I'm Anna."
    assert bot.queue.backend.pending_outbox(conversation_id) == []
    tracker = bot.tracker(conversation_id)
    assert [e.text for e in tracker.events if isinstance(e, AgentMessage)] == ["Hi, I'm Anna."]
    assert tracker.latest_reply.action == "ask_csat"
    assert bot.handle(conversation_id, "5").action == "csat"


def test_a_failing_channel_is_retried_later_without_duplicates_in_the_log(bot, conversation_id):
    ticket_id = _handed_off(bot, conversation_id)
    bot.queue.claim("anna", ticket_id)
    calls: list[str | None] = []

    def broken(cid, reply):
        calls.append(reply.text)
        raise ConnectionError("platform down")

    bot.outbound = broken
    bot.queue.dispatcher.retry = RetryPolicy(first_delay=30, max_attempts=3)
    bot.queue.send(ticket_id, "anna", "Are you still there?")
    pending = bot.queue.backend.pending_outbox(conversation_id)
    assert [m.text for m in pending] == ["Are you still there?"]
    assert pending[0].attempts == 1 and "platform down" in (pending[0].last_error or "")
    assert pending[0].next_attempt_at is not None and pending[0].next_attempt_at > time.time()
    # not due yet: a periodic dispatch leaves it alone
    assert bot.queue.dispatch().delivered == 0

    fixed: list[str | None] = []
    bot.outbound = lambda cid, reply: fixed.append(reply.text)
    report = bot.queue.dispatch(now=time.time() + 60)
    assert report.delivered == 1 and fixed == ["Are you still there?"]
    assert bot.queue.backend.pending_outbox(conversation_id) == []
    agent_lines = [e for e in bot.tracker(conversation_id).events if isinstance(e, AgentMessage)]
    assert [e.text for e in agent_lines] == ["Are you still there?"]  # recorded once


def test_delivery_is_given_up_visibly_after_the_last_attempt(bot, conversation_id):
    ticket_id = _handed_off(bot, conversation_id)
    bot.queue.claim("anna", ticket_id)

    def broken(cid, reply):
        raise ConnectionError("gone")

    bot.outbound = broken
    bot.queue.dispatcher.retry = RetryPolicy(first_delay=1, max_attempts=2)
    bot.queue.send(ticket_id, "anna", "Hello?")
    report = bot.queue.dispatch(now=time.time() + 10)
    assert report.failed == 1
    assert bot.queue.backend.pending_outbox(conversation_id) == []
    failed = bot.queue.backend.failed_outbox()
    assert failed[0].text == "Hello?" and failed[0].attempts == 2


def test_messages_written_by_another_process_reach_the_log_and_the_csat_follows(
        bot, conversation_id):
    """`supportbot queue send/resolve` change the queue only; the bot's dispatch (a server's
    background loop, or the conversation's next turn) records and delivers them."""
    ticket_id = _handed_off(bot, conversation_id)
    other = bot.queue.backend  # stands for the CLI's own connection to the same queue
    other.claim("anna", ticket_id)
    other.agent_send(ticket_id, "anna", "Your refund is on its way.")
    other.resolve(ticket_id, "anna")
    assert len(bot.queue.backend.pending_outbox(conversation_id)) == 3

    turn = bot.handle(conversation_id, "4")  # the next turn records them first
    tracker = bot.tracker(conversation_id)
    assert "Your refund is on its way." in [e.text for e in tracker.events
                                             if isinstance(e, AgentMessage)]
    assert turn.action == "csat" and bot.queue.backend.get(ticket_id).csat == 4
    assert bot.queue.backend.pending_outbox(conversation_id) == []


def test_a_version_1_queue_database_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the outbox as version 1 created it
        db.execute("CREATE TABLE handoff_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO handoff_meta VALUES ('schema_version', '1')")
        db.execute("""CREATE TABLE handoff_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE, ticket_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
            channel TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, agent_id TEXT,
            agent_name TEXT, language TEXT, created_at REAL NOT NULL, delivered_at REAL)""")
        db.execute("INSERT INTO handoff_outbox (id, ticket_id, conversation_id, channel, kind, "
                   "text, created_at) VALUES ('m1', 't1', 'c1', 'rest', 'message', 'hi', 1.0)")
    queue = SQLiteQueue(str(path))
    try:
        [old] = queue.pending_outbox("c1")
        assert old.text == "hi" and old.attempts == 0
        assert queue.record_attempt("m1", "boom", None).failed_at is not None
    finally:
        queue.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM handoff_meta").fetchone() == ("2",)
