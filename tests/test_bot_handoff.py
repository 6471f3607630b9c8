"""The human part of a conversation through `Bot.handle` and `bot.queue`."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import uuid
from pathlib import Path

from supportbot.handoff import Agent


def hand_off(bot, conversation_id):
    turn = bot.handle(conversation_id, "I want to talk to a real person")
    assert turn.handoff is not None
    return turn.handoff.ticket_id


def test_ticket_carries_transcript_summary_and_context(bot, conversation_id):
    bot.handle(conversation_id, "where is my order NW-123456?")
    ticket_id = hand_off(bot, conversation_id)
    ticket = bot.queue.backend.get(ticket_id)
    assert ticket.conversation_id == conversation_id
    assert ticket.language == "en"
    texts = [m.text for m in ticket.transcript]
    assert "where is my order NW-123456?" in texts
    assert ticket.summary.slots.get("order_id")
    assert "order_status" in ticket.summary.intents
    assert ticket.summary.last_customer_messages[-1] == "I want to talk to a real person"
    assert ticket.sla_due_at is not None and ticket.sla_due_at > ticket.created_at


def test_bot_is_silent_while_a_person_owns_the_conversation(bot, conversation_id):
    ticket_id = hand_off(bot, conversation_id)
    turn = bot.handle(conversation_id, "hello? what's the delivery cost?", channel="telegram")
    assert turn.replies == ()
    assert turn.handoff.ticket_id == ticket_id
    transcript = [m.text for m in bot.queue.backend.get(ticket_id).transcript]
    assert "hello? what's the delivery cost?" in transcript


def test_agent_messages_reach_the_customer_and_resolve_returns_to_the_bot_with_csat(
        bot, conversation_id):
    delivered: list[tuple[str, str | None]] = []
    bot.outbound = lambda cid, reply: delivered.append((cid, reply.text))
    bot.queue.backend.upsert_agent(Agent(id="anna", name="Anna", online=True))
    ticket_id = hand_off(bot, conversation_id)
    claimed = bot.queue.claim("anna")
    assert claimed is not None and claimed.id == ticket_id
    bot.queue.send(ticket_id, "anna", "Hi, I'm Anna. Let me check that for you.")
    assert (conversation_id, "Hi, I'm Anna. Let me check that for you.") in delivered
    quiet = bot.handle(conversation_id, "thank you Anna")
    assert quiet.replies == () and quiet.handoff.status == "assigned"

    bot.queue.resolve(ticket_id, "anna")
    tracker = bot.tracker(conversation_id)
    assert tracker.open_ticket_id is None
    assert tracker.latest_reply.action == "ask_csat"
    rated = bot.handle(conversation_id, '/csat{"score": 5}')
    assert rated.action == "csat"
    assert bot.queue.backend.get(ticket_id).csat == 5
    back = bot.handle(conversation_id, "how much is delivery?")
    assert back.handoff is None and back.replies  # the bot answers again


def test_customer_can_cancel_waiting(bot, conversation_id):
    ticket_id = hand_off(bot, conversation_id)
    turn = bot.handle(conversation_id, "/end")
    assert turn.action == "handoff_cancelled"
    assert turn.texts
    assert str(bot.queue.backend.get(ticket_id).status) == "cancelled"
    assert bot.handle(conversation_id, "where is my order?").replies


def test_metrics_count_escalations_and_containment(bot):
    for i in range(3):
        bot.handle(f"ok-{i}", "how much is delivery?")
    hand_off(bot, "needs-human")
    metrics = bot.queue.metrics()
    assert metrics.total_conversations == 4
    assert abs(metrics.containment_rate - 0.75) < 1e-9


def _chat_then_wait(model: str, store: str, queue: str, conversation_id: str, ready) -> None:
    from supportbot import Bot

    bot = Bot.load(model, tracker_store=store, queue=queue)
    bot.handle(conversation_id, "where is my order NW-123456?")
    bot.handle(conversation_id, "I want to talk to a real person")
    bot.handle(conversation_id, "it was supposed to arrive on monday")
    ready.set()  # every handle() above has returned: the messages are acknowledged
    signal.pause()


def test_sigkill_mid_conversation_loses_no_ticket_and_no_acknowledged_message(
        example_model, tmp_path: Path):
    from supportbot import Bot

    store = f"sqlite:///{tmp_path / 'conversations.db'}"
    queue = f"sqlite:///{tmp_path / 'handoff.db'}"
    conversation_id = f"kill-{uuid.uuid4().hex[:6]}"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_chat_then_wait,
                        args=(str(example_model), store, queue, conversation_id, ready))
    child.start()
    assert ready.wait(timeout=180), "child did not finish its conversation"
    os.kill(child.pid, signal.SIGKILL)
    child.join()

    restarted = Bot.load(example_model, tracker_store=store, queue=queue)
    tracker = restarted.tracker(conversation_id)
    user_texts = [m.text for m in tracker.user_messages(session_only=False)]
    assert user_texts == ["where is my order NW-123456?", "I want to talk to a real person",
                          "it was supposed to arrive on monday"]
    ticket = restarted.queue.backend.open_ticket_for(conversation_id)
    assert ticket is not None and tracker.open_ticket_id == ticket.id
    assert "it was supposed to arrive on monday" in [m.text for m in ticket.transcript]


def test_lost_conversation_state_rejoins_the_open_ticket(example_model, tmp_path: Path):
    """An in-memory tracker store forgets a conversation on restart while its ticket lives on:
    the queue is the one source of truth, so the next message goes onto that ticket and the
    bot stays quiet; the log follows the queue."""
    from supportbot import Bot

    queue = f"sqlite:///{tmp_path / 'handoff.db'}"
    conversation_id = f"rejoin-{uuid.uuid4().hex[:6]}"
    before = Bot.load(example_model, tracker_store="memory://", queue=queue)
    first = before.handle(conversation_id, "I want to talk to a real person")
    assert first.handoff is not None

    after = Bot.load(example_model, tracker_store="memory://", queue=queue)
    turn = after.handle(conversation_id, "can I speak to a human agent please")
    assert turn.action == "human_owned" and turn.replies == ()
    assert turn.handoff is not None and turn.handoff.ticket_id == first.handoff.ticket_id
    assert after.tracker(conversation_id).open_ticket_id == first.handoff.ticket_id
    ticket = after.queue.backend.open_ticket_for(conversation_id)
    assert ticket is not None and ticket.id == first.handoff.ticket_id
    assert "can I speak to a human agent please" in [m.text for m in ticket.transcript]
    # the conversation follows the ticket again: the bot stays quiet, messages go onto it
    quiet = after.handle(conversation_id, "my order number is NW-123456")
    assert quiet.replies == ()
    transcript = [m.text for m in after.queue.backend.get(ticket.id).transcript]
    assert "my order number is NW-123456" in transcript


def test_library_defaults_write_nothing_and_ignore_the_models_queue_backend(
        example_model, tmp_path: Path, monkeypatch):
    from supportbot import Bot

    monkeypatch.delenv("SUPPORTBOT_TRACKER_STORE")
    monkeypatch.delenv("SUPPORTBOT_QUEUE_URL")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    bot = Bot.load(example_model)  # its packed config.yml names sqlite:///.supportbot/...
    turn = bot.handle("lib-defaults", "I want to talk to a real person")
    assert turn.handoff is not None
    assert list(work.iterdir()) == []  # no .supportbot/ in the current directory


def test_operator_state_survives_a_restart(example_model, tmp_path: Path,
                                                       monkeypatch):
    from supportbot import Bot
    from supportbot.stores.base import resolve_tracker_store_url

    monkeypatch.delenv("SUPPORTBOT_TRACKER_STORE")
    assert resolve_tracker_store_url(None) == "memory://"  # a library call writes no files
    monkeypatch.setenv("SUPPORTBOT_TRACKER_STORE", f"sqlite:///{tmp_path / 'conversations.db'}")
    conversation_id = f"restart-{uuid.uuid4().hex[:6]}"
    Bot.load(example_model).handle(conversation_id, "where is my order NW-123456?")
    restarted = Bot.load(example_model)  # a new process would build it the same way
    texts = [m.text for m in restarted.tracker(conversation_id).user_messages(session_only=False)]
    assert texts == ["where is my order NW-123456?"]
