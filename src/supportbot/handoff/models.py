"""Immutable records of the handoff queue: tickets, requests, agents, messages, statistics."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from supportbot.errors import HandoffError
from supportbot.textnorm import normalize_text

Role = Literal["customer", "bot", "agent", "system"]
ROLES: tuple[str, ...] = ("customer", "bot", "agent", "system")


class Status(StrEnum):
    """Where a ticket is in its life: waiting -> assigned -> resolved | returned | cancelled."""

    WAITING = "waiting"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    RETURNED = "returned"  # the agent gave the conversation back to the bot
    CANCELLED = "cancelled"  # the customer stopped waiting

    @property
    def is_open(self) -> bool:
        return self in (Status.WAITING, Status.ASSIGNED)


OPEN_STATUSES: tuple[Status, ...] = (Status.WAITING, Status.ASSIGNED)


@dataclass(frozen=True)
class Reason:
    """Why a conversation was escalated: a stable code plus a sentence a person understands."""

    code: str
    explanation: str = ""

    @classmethod
    def coerce(cls, value: Any) -> Reason:
        """Accept a Reason, a `{code, explanation}` dict or any object with those attributes."""
        if isinstance(value, Reason):
            return value
        if isinstance(value, Mapping):
            code, explanation = value.get("code"), value.get("explanation", "")
        else:
            code = getattr(value, "code", None)
            explanation = getattr(value, "explanation", "")
        if not isinstance(code, str) or not code:
            raise HandoffError(f"handoff reason {value!r} has no `code`; "
                               "pass {'code': 'explicit_request', 'explanation': '...'}")
        return cls(code, str(explanation or ""))

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "explanation": self.explanation}


def _reasons(values: Iterable[Any]) -> tuple[Reason, ...]:
    return tuple(Reason.coerce(v) for v in values)


@dataclass(frozen=True)
class TranscriptMessage:
    """One line of the conversation as the agent sees it."""

    role: Role
    text: str
    timestamp: float
    agent_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise HandoffError(f"transcript role {self.role!r} is not one of {', '.join(ROLES)}")
        if isinstance(self.text, str):  # stored as every backend can store it
            object.__setattr__(self, "text", normalize_text(self.text))

    @classmethod
    def coerce(cls, value: Any) -> TranscriptMessage:
        """Accept a TranscriptMessage or a `{role, text, timestamp, agent_id?}` dict."""
        if isinstance(value, TranscriptMessage):
            return value
        if isinstance(value, Mapping):
            return cls(value["role"], str(value["text"]), float(value["timestamp"]),
                       value.get("agent_id"))
        raise HandoffError(f"transcript entry {value!r} is neither a TranscriptMessage nor a dict")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "text": self.text, "timestamp": self.timestamp}
        if self.agent_id:
            out["agent_id"] = self.agent_id
        return out


@dataclass(frozen=True)
class TicketSummary:
    """What an agent reads in ten seconds before answering."""

    intents: tuple[str, ...] = ()
    slots: Mapping[str, Any] = field(default_factory=dict)
    kb_answers: tuple[str, ...] = ()  # FAQ entry ids already answered by the bot
    last_customer_messages: tuple[str, ...] = ()  # at most 3, oldest first
    reasons: tuple[Reason, ...] = ()
    language: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", _reasons(self.reasons))
        object.__setattr__(self, "last_customer_messages", tuple(self.last_customer_messages)[-3:])

    def render(self, width: int = 100) -> str:
        """A few short lines: reasons, language, intents, slots, FAQ answers, last messages."""
        lines: list[str] = []
        if self.reasons:
            lines.append("Why: " + "; ".join(
                f"{r.code} ({r.explanation})" if r.explanation else r.code for r in self.reasons))
        if self.language:
            lines.append(f"Language: {self.language}")
        if self.intents:
            lines.append("Asked about: " + ", ".join(self.intents))
        if self.slots:
            lines.append("Known: " + ", ".join(f"{k}={v}" for k, v in self.slots.items()))
        if self.kb_answers:
            lines.append("FAQ answers already given: " + ", ".join(self.kb_answers))
        if self.last_customer_messages:
            lines.append("Last messages:")
            lines.extend("  > " + _clip(m, width - 4) for m in self.last_customer_messages)
        return "\n".join(_clip(line, width) if not line.startswith("  > ") else line
                         for line in lines) or "(no context)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "intents": list(self.intents),
            "slots": dict(self.slots),
            "kb_answers": list(self.kb_answers),
            "last_customer_messages": list(self.last_customer_messages),
            "reasons": [r.to_dict() for r in self.reasons],
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TicketSummary:
        return cls(
            intents=tuple(data.get("intents", ())),
            slots=dict(data.get("slots", {})),
            kb_answers=tuple(data.get("kb_answers", ())),
            last_customer_messages=tuple(data.get("last_customer_messages", ())),
            reasons=_reasons(data.get("reasons", ())),
            language=data.get("language"),
        )


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def normalize_language(language: str | None) -> str | None:
    """Lower-case language code, `None` for empty."""
    if not language:
        return None
    return language.strip().lower() or None


@dataclass(frozen=True)
class TicketRequest:
    """What the bot hands over when it escalates a conversation."""

    conversation_id: str
    channel: str = "default"
    customer_id: str | None = None
    language: str | None = None
    reasons: tuple[Reason, ...] = ()
    priority: int = 0
    queue: str = "default"
    transcript: tuple[TranscriptMessage, ...] = ()
    summary: TicketSummary = TicketSummary()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.conversation_id:
            raise HandoffError("a ticket request needs a non-empty conversation_id")
        if not self.queue:
            raise HandoffError("a ticket request needs a queue name (use 'default')")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise HandoffError(f"ticket priority must be an integer, got {self.priority!r}")
        object.__setattr__(self, "reasons", _reasons(self.reasons))
        object.__setattr__(self, "transcript",
                           tuple(TranscriptMessage.coerce(m) for m in self.transcript))
        object.__setattr__(self, "language", normalize_language(self.language))
        last = tuple(normalize_text(m) if isinstance(m, str) else m
                     for m in self.summary.last_customer_messages)
        if last != self.summary.last_customer_messages:
            object.__setattr__(self, "summary", replace(self.summary,
                                                        last_customer_messages=last))
        if (self.reasons and not self.summary.reasons) or (self.language
                                                           and not self.summary.language):
            object.__setattr__(self, "summary", replace(
                self.summary, reasons=self.summary.reasons or self.reasons,
                language=self.summary.language or self.language))


@dataclass(frozen=True)
class Ticket:
    """A conversation handed to people, as stored in the queue. Times are UNIX seconds.

    `resolved_at` is when the ticket closed (resolved, returned or cancelled); `waiting_since` is when
    it last entered the waiting state (enqueue or transfer).
    """

    id: str
    conversation_id: str
    channel: str
    customer_id: str | None
    language: str | None
    reasons: tuple[Reason, ...]
    priority: int
    queue: str
    status: Status
    agent_id: str | None
    created_at: float
    updated_at: float
    waiting_since: float | None = None
    assigned_at: float | None = None
    resolved_at: float | None = None
    sla_due_at: float | None = None
    transcript: tuple[TranscriptMessage, ...] = ()
    summary: TicketSummary = TicketSummary()
    csat: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def waited(self, now: float) -> float | None:
        """Seconds spent in the current wait, or None when not waiting."""
        if self.status != Status.WAITING or self.waiting_since is None:
            return None
        return max(0.0, now - self.waiting_since)

    def sla_breached(self, now: float) -> bool:
        """Still waiting for a first agent after its SLA deadline."""
        return (self.status == Status.WAITING and self.sla_due_at is not None
                and now > self.sla_due_at)


@dataclass(frozen=True)
class Agent:
    """A person who works the queue. Empty `skills` = every queue; empty `languages` = any."""

    id: str
    name: str = ""
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    max_concurrent: int = 3
    online: bool = True

    def __post_init__(self) -> None:
        if not self.id:
            raise HandoffError("an agent needs a non-empty id")
        if isinstance(self.max_concurrent, bool) or not isinstance(self.max_concurrent, int) \
                or self.max_concurrent < 1:
            raise HandoffError(f"agent {self.id!r}: max_concurrent must be an integer >= 1, "
                               f"got {self.max_concurrent!r}")
        object.__setattr__(self, "skills", tuple(self.skills))
        object.__setattr__(self, "languages",
                           tuple(lang for lang in map(normalize_language, self.languages) if lang))

    @property
    def display_name(self) -> str:
        return self.name or self.id

    def serves_queue(self, queue: str) -> bool:
        return not self.skills or queue in self.skills

    def speaks(self, language: str | None) -> bool:
        return not self.languages or not language or language in self.languages

    def refusal(self, ticket: Ticket) -> str | None:
        """Why this agent may not take `ticket` (skills or language), or None if it may."""
        if not self.serves_queue(ticket.queue):
            return (f"agent {self.id!r} does not work queue {ticket.queue!r} "
                    f"(skills: {', '.join(self.skills)})")
        if not self.speaks(ticket.language):
            return (f"agent {self.id!r} does not speak {ticket.language!r} "
                    f"(languages: {', '.join(self.languages)})")
        return None


OutboxKind = Literal["message", "agent_joined", "transferred", "resolved", "returned",
                     "timeout"]

OUTBOX_TEMPLATES: Mapping[str, str] = {
    "agent_joined": "utter_handoff_agent_joined",
    "resolved": "utter_handoff_resolved",
    "returned": "utter_handoff_resolved",
    "timeout": "utter_handoff_timeout",
}


@dataclass(frozen=True)
class OutboxMessage:
    """Something to deliver to the customer's channel because of what an agent did.

    `kind == "message"` carries the agent's text; other kinds are notices the bot renders in the
    customer's language from `template` (e.g. `utter_handoff_agent_joined` with `{agent_name}`).
    """

    id: str
    ticket_id: str
    conversation_id: str
    channel: str
    kind: OutboxKind
    text: str
    agent_id: str | None
    agent_name: str | None
    language: str | None
    created_at: float
    delivered_at: float | None = None
    attempts: int = 0
    next_attempt_at: float | None = None
    last_error: str | None = None
    failed_at: float | None = None

    @property
    def template(self) -> str | None:
        """Response name to render for a notice; None for agent messages and silent notices."""
        return OUTBOX_TEMPLATES.get(self.kind)


@dataclass(frozen=True)
class ClaimRecord:
    """One claim of a waiting ticket: how long it waited, from which place, with how many agents."""

    ticket_id: str
    queue: str
    agent_id: str
    claimed_at: float
    waited_s: float
    position: int  # place in line when it started waiting
    agents_online: int  # online agents who could serve the queue at claim time


@dataclass(frozen=True)
class QueueCounts:
    """Load on one queue."""

    waiting: int = 0
    assigned: int = 0
    agents_online: int = 0
    oldest_waiting_s: float | None = None


@dataclass(frozen=True)
class QueueStats:
    """A snapshot of every queue that has tickets or agents."""

    queues: Mapping[str, QueueCounts]
    agents_online: int
    at: float

    @property
    def waiting(self) -> int:
        return sum(q.waiting for q in self.queues.values())

    @property
    def assigned(self) -> int:
        return sum(q.assigned for q in self.queues.values())

    @property
    def oldest_waiting_s(self) -> float | None:
        ages = [q.oldest_waiting_s for q in self.queues.values() if q.oldest_waiting_s is not None]
        return max(ages) if ages else None
