"""Exception hierarchy and the problem records that validation collects."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding about a project: where it is, what is wrong, and how to fix it."""

    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None
    code: str = "invalid"

    def location(self) -> str:
        if self.file is None:
            return "<project>"
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        text = f"{self.location()}: {self.severity}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class SupportbotError(Exception):
    """Root of every error supportbot raises on purpose."""


class ProjectError(SupportbotError):
    """A bot project cannot be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{len(errors)} error(s) in the bot project"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in errors))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class ModelError(SupportbotError):
    """A trained model archive is missing, corrupt or from an incompatible version."""


class ConversationError(SupportbotError):
    """A conversation id or message is invalid (empty text, too long, unknown id)."""


class HandoffError(SupportbotError):
    """A queue operation is not allowed (unknown ticket, wrong state, agent over its limit)."""


class ActionError(SupportbotError):
    """A custom action cannot be loaded or called (bad module, unknown action, server error)."""


class UnknownTicketError(HandoffError):
    """A ticket (or agent) id the queue does not know."""


class TicketStateError(HandoffError):
    """An operation the ticket's current state does not allow (claim a resolved ticket, open a
    second ticket for a conversation, an agent over its limit)."""


class QueueConfigError(HandoffError):
    """The queue cannot be opened: a bad URL, an unreachable database, a missing driver."""
