"""Conversation events: the tracker is an append-only log of these.

Events are immutable and round-trip through plain JSON dicts (`to_dict` / `event_from_dict`),
which is how every tracker store persists them.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from supportbot.nlu.parse import Parse


def now() -> float:
    return time.time()


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"
    timestamp: float = field(default_factory=now, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type
        return data


@dataclass(frozen=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_started"


@dataclass(frozen=True)
class UserMessage(Event):
    """A customer message with what the NLU made of it."""

    type: ClassVar[str] = "user"
    text: str
    parse: Parse
    channel: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["parse"] = self.parse.to_dict()
        return data


@dataclass(frozen=True)
class BotReply(Event):
    """One message the bot sent and why.

    `template` identifies the content for repeat detection: a response name (`utter_greet`) or
    `kb:<entry id>`; `reason` is a short human-readable explanation (rule name, scores...).
    """

    type: ClassVar[str] = "bot"
    text: str | None
    buttons: tuple[dict[str, str], ...] = ()
    template: str | None = None
    action: str | None = None
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # custom payload, image, kb tags, scores

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["buttons"] = [dict(b) for b in self.buttons]
        return data


@dataclass(frozen=True)
class ActionExecuted(Event):
    """The policy chose an action (a response, a KB answer, a fallback, a handoff)."""

    type: ClassVar[str] = "action"
    name: str
    reason: str = ""


@dataclass(frozen=True)
class SlotSet(Event):
    type: ClassVar[str] = "slot"
    name: str
    value: Any


@dataclass(frozen=True)
class ActiveLoop(Event):
    """A form became active (`name`) or stopped being active (`name` None), as Rasa's
    `active_loop` event. The slot a form asks for is the `requested_slot` slot."""

    type: ClassVar[str] = "active_loop"
    name: str | None


@dataclass(frozen=True)
class HandoffRequested(Event):
    """The escalation policy decided to hand the conversation to a person."""

    type: ClassVar[str] = "handoff_requested"
    ticket_id: str | None
    reasons: tuple[dict[str, str], ...] = ()  # {code, explanation}
    queue: str = "default"
    priority: int = 0


@dataclass(frozen=True)
class HandoffEnded(Event):
    """The human part ended: `outcome` is resolved | cancelled | returned."""

    type: ClassVar[str] = "handoff_ended"
    ticket_id: str
    outcome: str


@dataclass(frozen=True)
class AgentMessage(Event):
    type: ClassVar[str] = "agent"
    agent_id: str
    text: str
    outbox_id: str = ""  # the queue's outbox row this message was recorded from


_EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (SessionStarted, UserMessage, BotReply, ActionExecuted, SlotSet, ActiveLoop,
                HandoffRequested, HandoffEnded, AgentMessage)
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its `to_dict` form."""
    data = dict(data)
    kind = data.pop("type")
    cls = _EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    if cls is UserMessage:
        data["parse"] = Parse.from_dict(data["parse"])
    if cls is BotReply:
        data["buttons"] = tuple(data.get("buttons", ()))
    if cls is HandoffRequested:
        data["reasons"] = tuple(data.get("reasons", ()))
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
