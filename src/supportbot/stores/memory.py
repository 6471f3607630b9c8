"""In-process tracker store, for tests and throwaway bots."""
from __future__ import annotations

import threading
from collections.abc import Sequence

from supportbot.dialogue.events import Event
from supportbot.dialogue.tracker import Tracker
from supportbot.stores.base import TrackerStore


class InMemoryTrackerStore(TrackerStore):
    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        self._lock = threading.Lock()

    def load(self, conversation_id: str) -> Tracker:
        with self._lock:
            return Tracker(conversation_id, list(self._events.get(conversation_id, [])))

    def append(self, conversation_id: str, events: Sequence[Event]) -> None:
        with self._lock:
            self._events.setdefault(conversation_id, []).extend(events)

    def exists(self, conversation_id: str) -> bool:
        return conversation_id in self._events

    def conversation_ids(self) -> list[str]:
        return list(self._events)
