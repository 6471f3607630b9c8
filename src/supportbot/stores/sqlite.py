"""SQLite tracker store: the embedded default. WAL mode, fsync on commit."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from supportbot.dialogue.events import Event, event_from_dict
from supportbot.dialogue.tracker import Tracker
from supportbot.stores.base import TrackerStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_conversation ON events (conversation_id, id);
"""


def connect(path: Path, synchronous: str = "FULL", timeout: float = 30) -> sqlite3.Connection:
    """A connection in WAL mode, in autocommit (explicit BEGIN). Switching a fresh database to
    WAL fails at once with "database is locked" when another process opens it at the same
    moment (the busy timeout does not cover it), so that step is retried until `timeout`."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) \
                    or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


class SQLiteTrackerStore(TrackerStore):
    """Events as JSON rows; safe for several processes on one machine."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, "FULL")
            self._local.conn = conn
        return conn

    def load(self, conversation_id: str) -> Tracker:
        rows = self._conn().execute(
            "SELECT data FROM events WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        return Tracker(conversation_id, [event_from_dict(json.loads(r[0])) for r in rows])

    def append(self, conversation_id: str, events: Sequence[Event]) -> None:
        if not events:
            return
        conn = self._conn()
        rows = [(conversation_id, e.type, e.timestamp, json.dumps(e.to_dict(), ensure_ascii=False))
                for e in events]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO events (conversation_id, type, timestamp, data) VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def exists(self, conversation_id: str) -> bool:
        row = self._conn().execute(
            "SELECT 1 FROM events WHERE conversation_id = ? LIMIT 1", (conversation_id,)).fetchone()
        return row is not None

    def conversation_ids(self) -> list[str]:
        rows = self._conn().execute(
            "SELECT conversation_id FROM events GROUP BY conversation_id ORDER BY MIN(id)").fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        return int(self._conn().execute(
            "SELECT COUNT(DISTINCT conversation_id) FROM events").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
