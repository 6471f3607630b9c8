"""A conversation's state, derived from its event log."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from supportbot.dialogue.events import (
    ActiveLoop,
    BotReply,
    Event,
    HandoffEnded,
    HandoffRequested,
    SessionStarted,
    SlotSet,
    UserMessage,
)


@dataclass
class Tracker:
    """Events of one conversation, oldest first. State (slots, open handoff...) is derived."""

    conversation_id: str
    events: list[Event] = field(default_factory=list)

    def append(self, event: Event) -> None:
        self.events.append(event)

    # ------------------------------------------------------------ derived state
    def session_events(self) -> list[Event]:
        """Events since the most recent SessionStarted (the whole log if there is none)."""
        for i in range(len(self.events) - 1, -1, -1):
            if isinstance(self.events[i], SessionStarted):
                return self.events[i:]
        return list(self.events)

    @property
    def slots(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for ev in self.events:
            if isinstance(ev, SlotSet):
                values[ev.name] = ev.value
        return values

    @property
    def active_form(self) -> str | None:
        """The form (Rasa: active loop) running now, if any (forms end with their session)."""
        active: str | None = None
        for ev in self.session_events():
            if isinstance(ev, ActiveLoop):
                active = ev.name
        return active

    @property
    def requested_slot(self) -> str | None:
        """The slot the active form asked for last."""
        value = self.slots.get("requested_slot")
        return value if isinstance(value, str) and self.active_form else None

    def user_messages(self, session_only: bool = True) -> list[UserMessage]:
        src = self.session_events() if session_only else self.events
        return [e for e in src if isinstance(e, UserMessage)]

    def bot_replies(self, session_only: bool = True) -> list[BotReply]:
        src = self.session_events() if session_only else self.events
        return [e for e in src if isinstance(e, BotReply)]

    @property
    def latest_message(self) -> UserMessage | None:
        for ev in reversed(self.events):
            if isinstance(ev, UserMessage):
                return ev
        return None

    @property
    def latest_reply(self) -> BotReply | None:
        for ev in reversed(self.events):
            if isinstance(ev, BotReply):
                return ev
        return None

    @property
    def open_ticket_id(self) -> str | None:
        """The ticket that currently owns the conversation, if a handoff is in progress."""
        ticket: str | None = None
        for ev in self.events:
            if isinstance(ev, HandoffRequested) and ev.ticket_id:
                ticket = ev.ticket_id
            elif isinstance(ev, HandoffEnded) and ev.ticket_id == ticket:
                ticket = None
        return ticket

    @property
    def language(self) -> str | None:
        """Language of the latest user message."""
        latest = self.latest_message
        return latest.parse.language if latest else None

    def turns(self) -> Iterator[tuple[UserMessage, list[BotReply]]]:
        """(user message, bot replies that followed it) pairs of the current session."""
        current: UserMessage | None = None
        replies: list[BotReply] = []
        for ev in self.session_events():
            if isinstance(ev, UserMessage):
                if current is not None:
                    yield current, replies
                current, replies = ev, []
            elif isinstance(ev, BotReply) and current is not None:
                replies.append(ev)
        if current is not None:
            yield current, replies
