"""Conversation stores: where trackers (event logs) live, and per-conversation locks."""
from supportbot.stores.base import TrackerStore, open_tracker_store
from supportbot.stores.memory import InMemoryTrackerStore
from supportbot.stores.sqlite import SQLiteTrackerStore

__all__ = ["InMemoryTrackerStore", "SQLiteTrackerStore", "TrackerStore", "open_tracker_store"]
