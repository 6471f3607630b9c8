"""Conversations as the bot and the agents' queue share them: the tracker store, the
per-conversation lock, and delivery of messages that do not answer a `handle` call."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from supportbot.dialogue.events import Event
from supportbot.dialogue.nlg import Reply
from supportbot.dialogue.tracker import Tracker
from supportbot.stores import TrackerStore
from supportbot.stores.locks import LockStore, open_lock_store

Outbound = Callable[[str, Reply], None]


class ConversationLog:
    """Append-only conversation logs with one writer per conversation at a time."""

    def __init__(self, store: TrackerStore, locks: LockStore | str | None = None):
        """`locks`: a LockStore or lock store URL; by default the one that fits `store` (see
        `stores.locks.open_lock_store`: a SQLite tracker database also holds the locks, so
        processes sharing it take turns)."""
        self.store = store
        self.locks = locks if isinstance(locks, LockStore) else open_lock_store(locks, store)
        self.outbound: Outbound | None = None

    @contextmanager
    def locked(self, conversation_id: str) -> Iterator[Tracker]:
        """Hold the conversation's lock and yield its tracker."""
        with self.locks.lock(conversation_id):
            yield self.store.load(conversation_id)

    def append(self, conversation_id: str, events: Sequence[Event]) -> None:
        """Append events under the conversation's lock."""
        with self.locks.lock(conversation_id):
            self.store.append(conversation_id, list(events))

    def deliver(self, conversation_id: str, reply: Reply) -> None:
        """Hand a message to the channel (agent messages, notices); no-op without a channel."""
        if self.outbound is not None:
            self.outbound(conversation_id, reply)

    def count(self) -> int:
        return self.store.count()
