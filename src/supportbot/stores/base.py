"""The tracker store interface."""
from __future__ import annotations

import os
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


DEFAULT_TRACKER_STORE_URL = "sqlite:///.supportbot/conversations.db"  # the CLI's durable default
LIBRARY_TRACKER_STORE_URL = "memory://"
TRACKER_STORE_ENV = "SUPPORTBOT_TRACKER_STORE"


def resolve_tracker_store_url(explicit: str | Path | None = None,
                              default: str = LIBRARY_TRACKER_STORE_URL) -> str:
    """Store URL by precedence: explicit > $SUPPORTBOT_TRACKER_STORE > `default` (in memory
    for a library call, which writes no files it was not asked to; the CLI passes the durable
    SQLite default `DEFAULT_TRACKER_STORE_URL`)."""
    return str(explicit or os.environ.get(TRACKER_STORE_ENV) or default)


def open_tracker_store(url: str | Path | None,
                       default: str = LIBRARY_TRACKER_STORE_URL) -> TrackerStore:
    """`memory://` -> in memory; `sqlite:///path.db` or a path -> SQLite; `None` -> the
    default from `resolve_tracker_store_url`."""
    from supportbot.stores.memory import InMemoryTrackerStore
    from supportbot.stores.sqlite import SQLiteTrackerStore

    url = resolve_tracker_store_url(url, default)
    if str(url) in ("memory://", ":memory:"):
        return InMemoryTrackerStore()
    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteTrackerStore(Path(text[len("sqlite:///"):]))
    if "://" in text:
        raise SupportbotError(
            f"unsupported tracker store url {text!r}: use memory:// or sqlite:///path/to/file.db")
    return SQLiteTrackerStore(Path(text))
