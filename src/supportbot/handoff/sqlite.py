"""SQLite handoff queue: the embedded default, safe for several processes on one machine.

WAL journal, `synchronous=FULL` (a returned call is on disk), `BEGIN IMMEDIATE` for every write so
read-then-write steps such as a claim are atomic across processes, and a busy timeout so writers
queue up instead of failing.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from supportbot.errors import QueueConfigError
from supportbot.handoff.sqlqueue import DDL, Db, SqlQueue
from supportbot.stores.sqlite import connect

_TABLES = {
    "meta": "handoff_meta", "tickets": "handoff_tickets", "messages": "handoff_messages",
    "outbox": "handoff_outbox", "agents": "handoff_agents", "claims": "handoff_claims",
    "ix": "handoff_", "pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL",
}


class _SqliteDb:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount


class SQLiteQueue(SqlQueue):
    """Handoff queue in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: str | Path, *, sla_seconds: Mapping[str, float] | None = None,
                 wait_window: int = 20, clock: Callable[[], float] | None = None,
                 busy_timeout_s: float = 30.0):
        kwargs: dict[str, Any] = {"sla_seconds": sla_seconds, "wait_window": wait_window}
        if clock is not None:
            kwargs["clock"] = clock
        super().__init__(_TABLES, **kwargs)
        if str(path) == ":memory:":
            raise QueueConfigError("SQLiteQueue needs a file path (an in-memory database is not "
                               "shared between connections); use a temporary file instead")
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueConfigError(f"cannot create the folder for queue database {self.path}: {exc}") \
                from exc
        self._local = threading.local()
        with self._transaction(write=True) as db:
            for statement in DDL:
                db.run(self._q(statement))
            self.migrate(db)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            # WAL with a retry: two processes opening a new queue file at once (see connect)
            conn = connect(self.path, "FULL", self.busy_timeout_s)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        except sqlite3.Error as exc:
            raise QueueConfigError(f"cannot open queue database {self.path}: {exc}") from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Db]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise QueueConfigError(f"queue database {self.path} stayed locked for "
                               f"{self.busy_timeout_s:.0f}s ({exc}); another process holds a long "
                               "write, try again or raise busy_timeout_s") from exc
        try:
            yield _SqliteDb(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _is_integrity_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r})"
