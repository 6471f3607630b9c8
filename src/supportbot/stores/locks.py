"""Per-conversation locks: messages of one conversation are handled one at a time."""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class InProcessLockStore:
    """Locks for one process. Several server processes need a shared lock store (Redis, later)."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    @contextmanager
    def lock(self, conversation_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks[conversation_id]
        with lock:
            yield
