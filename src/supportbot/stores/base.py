"""The tracker store interface."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from supportbot.dialogue.events import Event
from supportbot.dialogue.tracker import Tracker
from supportbot.errors import SupportbotError


class TrackerStore(ABC):
    """Append-only storage of conversation events. Appends are durable once the call returns."""

    @abstractmethod
    def load(self, conversation_id: str) -> Tracker:
        """The conversation's tracker; an empty one when the id has never been seen."""

    @abstractmethod
    def append(self, conversation_id: str, events: Sequence[Event]) -> None:
        """Add events to the end of the conversation's log, atomically."""

    @abstractmethod
    def exists(self, conversation_id: str) -> bool: ...

    @abstractmethod
    def conversation_ids(self) -> list[str]: ...

    def count(self) -> int:
        return len(self.conversation_ids())

    def close(self) -> None:
        """Release connections; the default does nothing."""


def open_tracker_store(url: str | Path | None) -> TrackerStore:
    """`None`/`memory://` -> in memory; `sqlite:///path.db` or a path -> SQLite."""
    from supportbot.stores.memory import InMemoryTrackerStore
    from supportbot.stores.sqlite import SQLiteTrackerStore

    if url is None or str(url) in ("memory://", ":memory:"):
        return InMemoryTrackerStore()
    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteTrackerStore(Path(text[len("sqlite:///"):]))
    if "://" in text:
        raise SupportbotError(
            f"unsupported tracker store url {text!r}: use memory:// or sqlite:///path/to/file.db")
    return SQLiteTrackerStore(Path(text))
