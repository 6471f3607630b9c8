"""Build a ticket's transcript and ten-second summary from a conversation tracker."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from supportbot.dialogue.events import AgentMessage, BotReply, UserMessage
from supportbot.dialogue.tracker import Tracker
from supportbot.handoff.models import Reason, TicketRequest, TicketSummary, TranscriptMessage


def transcript_from_tracker(tracker: Tracker, session_only: bool = True
                            ) -> tuple[TranscriptMessage, ...]:
    """Customer, bot and agent messages in order (the current session by default)."""
    events = tracker.session_events() if session_only else tracker.events
    out: list[TranscriptMessage] = []
    for ev in events:
        if isinstance(ev, UserMessage):
            out.append(TranscriptMessage("customer", ev.text, ev.timestamp))
        elif isinstance(ev, BotReply) and ev.text:
            out.append(TranscriptMessage("bot", ev.text, ev.timestamp))
        elif isinstance(ev, AgentMessage):
            out.append(TranscriptMessage("agent", ev.text, ev.timestamp, ev.agent_id))
    return tuple(out)


def summary_from_tracker(tracker: Tracker, reasons: Iterable[Any] = (),
                         language: str | None = None) -> TicketSummary:
    """Intents seen, slots set, FAQ answers given and the last 3 customer messages of the session."""
    users = tracker.user_messages()
    intents: dict[str, None] = {}
    for message in users:
        intents.setdefault("nlu_fallback" if message.parse.fallback else message.parse.intent, None)
    kb: dict[str, None] = {}
    for reply in tracker.bot_replies():
        if reply.template and reply.template.startswith("kb:"):
            kb.setdefault(reply.template[3:], None)
    slots = {k: v for k, v in tracker.slots.items() if v is not None}
    return TicketSummary(
        intents=tuple(intents), slots=slots, kb_answers=tuple(kb),
        last_customer_messages=tuple(m.text for m in users[-3:]),
        reasons=tuple(Reason.coerce(r) for r in reasons),
        language=language or tracker.language,
    )


def ticket_request_from_tracker(tracker: Tracker, reasons: Iterable[Any] = (), *,
                                queue: str = "default", priority: int = 0,
                                channel: str | None = None, customer_id: str | None = None,
                                language: str | None = None,
                                metadata: Mapping[str, Any] | None = None) -> TicketRequest:
    """A TicketRequest carrying the session transcript and summary; channel and language default
    to those of the latest customer message."""
    reasons = tuple(Reason.coerce(r) for r in reasons)
    latest = tracker.latest_message
    language = language or tracker.language
    return TicketRequest(
        conversation_id=tracker.conversation_id,
        channel=channel or (latest.channel if latest else "default"),
        customer_id=customer_id, language=language, reasons=reasons, priority=priority,
        queue=queue, transcript=transcript_from_tracker(tracker),
        summary=summary_from_tracker(tracker, reasons, language),
        metadata=dict(metadata or {}),
    )
