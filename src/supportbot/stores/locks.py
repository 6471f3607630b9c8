"""Per-conversation locks: messages of one conversation are handled one at a time.

`Bot.handle` holds the conversation's lock from loading its tracker to appending the turn's
events (the queue writes of the turn happen inside it), and the agents' side (`bot.queue`)
takes the same lock for its appends, so every process sharing the conversation state sees
one turn after another.

Lock stores:

- `InProcessLockStore` — threads of one process (`memory://`).
- `SQLiteLockStore` — processes on one machine sharing a SQLite tracker database: a lease row
  per held conversation in a `conversation_locks` table of that database. A holder refreshes
  its leases in the background; a lease that is not refreshed for `expiry` seconds (its process
  died) is taken over by the next process that wants the conversation.
- `PostgresLockStore` (stores/postgres_locks.py) — processes on any machine: session advisory
  locks, released by the server when the holder's connection ends.

Every cross-process store keeps an in-process lock in front, so threads of one process queue
locally and only one of them waits on the shared store.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from supportbot.errors import ConversationError, SupportbotError

log = logging.getLogger(__name__)

LOCK_STORE_ENV = "SUPPORTBOT_LOCK_STORE"
DEFAULT_LOCK_TIMEOUT_S = 60.0
DEFAULT_LOCK_EXPIRY_S = 30.0


class LockTimeoutError(ConversationError):
    """A conversation's lock was not free within the wait timeout."""


class LockStoreConfigError(SupportbotError):
    """A lock store URL or setting is invalid."""


class LockStore:
    """Hands out one holder at a time per conversation id.

    `lock(conversation_id, timeout)` is a context manager; it raises `LockTimeoutError`
    (naming the conversation and the wait) when the lock is not free within `timeout`
    seconds (default: the store's `timeout`).
    """

    timeout: float = DEFAULT_LOCK_TIMEOUT_S

    @contextmanager
    def lock(self, conversation_id: str, timeout: float | None = None) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover

    def close(self) -> None:
        """Release connections and background threads; the default does nothing."""

    def describe(self) -> str:
        """Where the locks live, for error messages."""
        return type(self).__name__

    def _timeout_error(self, conversation_id: str, waited: float, holder: str | None = None
                       ) -> LockTimeoutError:
        who = f" (held by {holder})" if holder else ""
        return LockTimeoutError(
            f"conversation {conversation_id!r} is busy: its lock{who} was not free after "
            f"{waited:.1f} s ({self.describe()}). Another thread or process is still handling "
            f"a message of this conversation; retry, or raise the lock timeout")


class InProcessLockStore(LockStore):
    """Locks for the threads of one process."""

    def __init__(self, timeout: float = DEFAULT_LOCK_TIMEOUT_S, name: str | None = None) -> None:
        self.timeout = timeout
        self._name = name or "in-process lock store"
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def lock(self, conversation_id: str, timeout: float | None = None) -> Iterator[None]:
        wait = self.timeout if timeout is None else timeout
        with self._guard:  # reference-counted, so idle conversations leave no entry behind
            lock, users = self._locks.get(conversation_id, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[conversation_id] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=max(wait, 0.0)):
                raise self._timeout_error(conversation_id, wait)
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[conversation_id]
                if users <= 1:
                    del self._locks[conversation_id]
                else:
                    self._locks[conversation_id] = (lock, users - 1)

    def describe(self) -> str:
        return self._name


class CrossProcessLockStore(LockStore):
    """Base of the shared lock stores: the in-process lock, then `_acquire`/`_release`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local_locks = InProcessLockStore(timeout, name=self.describe())

    @contextmanager
    def lock(self, conversation_id: str, timeout: float | None = None) -> Iterator[None]:
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._local_locks.lock(conversation_id, wait):
            token = self._acquire(conversation_id, deadline, wait)
            try:
                yield
            finally:
                self._release(conversation_id, token)

    def _acquire(self, conversation_id: str, deadline: float, wait: float) -> Any:
        raise NotImplementedError

    def _release(self, conversation_id: str, token: Any) -> None:
        raise NotImplementedError


_LOCK_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversation_locks (
    conversation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    next_owner TEXT,
    reserved_until REAL NOT NULL DEFAULT 0
)
"""
_RESERVE_S = 1.0  # how long a waiter's claim on the next turn lasts without a new poll


class SQLiteLockStore(CrossProcessLockStore):
    """Leases in a `conversation_locks` table of a SQLite database (by default the tracker's).

    Taking a lock inserts (conversation id, owner, expires_at) under `BEGIN IMMEDIATE`, unless
    an unexpired row of another owner is there; then it retries with backoff until `timeout`.
    A background thread extends the holder's leases every `expiry / 3` seconds, so long turns
    keep their lock; a process that dies stops extending them and its leases are taken over
    `expiry` seconds later at most. A waiter reserves the next turn, so processes take turns
    instead of the fastest one taking the lock again and again. Releasing deletes the row (or
    leaves it free for the waiter that reserved it).
    """

    def __init__(self, path: Path | str, *, expiry: float = DEFAULT_LOCK_EXPIRY_S,
                 timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        if expiry <= 0:
            raise LockStoreConfigError(f"lock expiry must be positive, got {expiry}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.expiry = float(expiry)
        super().__init__(timeout)
        self._local = threading.local()
        self._prefix = f"{socket.gethostname()}:{os.getpid()}:"
        self._held: dict[str, str] = {}  # conversation id -> owner token, for the refresher
        self._held_guard = threading.Lock()
        self._refresher: threading.Thread | None = None
        self._refresher_pid: int | None = None
        self._stop = threading.Event()
        self._conn().execute(_LOCK_SCHEMA)

    def describe(self) -> str:
        return f"SQLite lock store {self.path} (leases expire after {self.expiry:g} s)"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            from supportbot.stores.sqlite import connect

            # a lease needs no fsync: after a power loss no process holds anything
            conn = connect(self.path, "NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _acquire(self, conversation_id: str, deadline: float, wait: float) -> str:
        owner = self._prefix + uuid.uuid4().hex[:12]
        delay = 0.001
        while True:
            holder = self._try(conversation_id, owner)
            if holder is None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout_error(conversation_id, wait, holder)
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 1.6, 0.025)
        with self._held_guard:
            self._held[conversation_id] = owner
            self._ensure_refresher()
        return owner

    def _try(self, conversation_id: str, owner: str) -> str | None:
        """Take the lease if it is free or expired and no other waiter has reserved the next
        turn: None; else the current holder. A waiter that finds the lease held reserves the
        next turn (for `_RESERVE_S` seconds, renewed by each poll), so a process that sends
        message after message cannot starve another one that polls."""
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT owner, expires_at, next_owner, reserved_until FROM conversation_locks "
                "WHERE conversation_id = ?", (conversation_id,)).fetchone()
            held = row is not None and bool(row[0]) and row[1] > now
            reserved = row is not None and row[2] is not None and row[3] > now
            if held or (reserved and row[2] != owner):
                if not reserved or row[2] == owner:
                    conn.execute("UPDATE conversation_locks SET next_owner = ?, "
                                 "reserved_until = ? WHERE conversation_id = ?",
                                 (owner, now + _RESERVE_S, conversation_id))
                conn.execute("COMMIT")
                return str(row[0] if held else row[2])
            conn.execute(
                "INSERT OR REPLACE INTO conversation_locks (conversation_id, owner, acquired_at, "
                "expires_at, next_owner, reserved_until) VALUES (?, ?, ?, ?, NULL, 0)",
                (conversation_id, owner, now, now + self.expiry))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if row is not None and row[0] and row[1] <= now:
            log.warning("conversation %r: took over the lock of %s, which expired %.1f s ago "
                        "(its process died or stalled)", conversation_id, row[0], now - row[1])
        return None

    def _release(self, conversation_id: str, owner: str) -> None:
        with self._held_guard:
            self._held.pop(conversation_id, None)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # a row with a waiter's reservation stays (free) for that waiter; else it goes
            kept = conn.execute(
                "UPDATE conversation_locks SET owner = '', expires_at = 0 WHERE "
                "conversation_id = ? AND owner = ? AND next_owner IS NOT NULL "
                "AND reserved_until > ?", (conversation_id, owner, time.time())).rowcount
            deleted = 0 if kept else conn.execute(
                "DELETE FROM conversation_locks WHERE conversation_id = ? AND owner = ?",
                (conversation_id, owner)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not kept and not deleted:
            log.warning("conversation %r: the lock had expired and was taken over before this "
                        "turn ended (was the process stalled for more than %g s?)",
                        conversation_id, self.expiry)

    # ------------------------------------------------------------------ lease refresh
    def _ensure_refresher(self) -> None:
        """Start the lease refresher unless it runs (called holding `_held_guard`). It stops
        once this process holds no lease, so idle stores keep no thread."""
        if self._refresher is not None and self._refresher_pid == os.getpid():
            return
        self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                           name=f"supportbot-lock-refresh-{self.path.name}")
        self._refresher_pid = os.getpid()
        self._refresher.start()

    def _refresh_loop(self) -> None:
        interval = self.expiry / 3
        while not self._stop.wait(interval):
            with self._held_guard:
                held = list(self._held.items())
                if not held:
                    self._refresher = None
                    return
            try:
                self.refresh(held)
            except Exception as exc:  # noqa: BLE001 - keep trying: refreshes must not stop
                log.warning("could not extend conversation lock leases in %s: %s",
                            self.path, exc)
        with self._held_guard:
            self._refresher = None

    def refresh(self, held: list[tuple[str, str]] | None = None) -> None:
        """Extend the leases this process holds (the background thread calls it)."""
        if held is None:
            with self._held_guard:
                held = list(self._held.items())
        until = time.time() + self.expiry
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "UPDATE conversation_locks SET expires_at = ? "
                "WHERE conversation_id = ? AND owner = ?",
                [(until, cid, owner) for cid, owner in held])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._stop.set()
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def __repr__(self) -> str:
        return f"SQLiteLockStore({str(self.path)!r}, expiry={self.expiry:g})"


# ---------------------------------------------------------------------- choosing a store
def _float_option(options: dict[str, str], key: str, url: str) -> float | None:
    if key not in options:
        return None
    try:
        value = float(options.pop(key))
    except ValueError:
        raise LockStoreConfigError(f"lock store url {url!r}: {key}= must be a number of "
                                   "seconds") from None
    if value <= 0:
        raise LockStoreConfigError(f"lock store url {url!r}: {key}= must be positive")
    return value


def open_lock_store(url: str | None = None, tracker_store: Any = None) -> LockStore:
    """The lock store at `url`, else $SUPPORTBOT_LOCK_STORE, else the one that fits the
    tracker store: a SQLite tracker gets leases in its own database, anything else in-process
    locks.

    URLs: `memory://` (in-process), `sqlite:///path.db` (relative) or `sqlite:////abs.db`,
    `postgresql://user@host/db`. Query parameters: `timeout=` (seconds to wait for a busy
    conversation, default 60), `expiry=` (SQLite: seconds after which a lease its process no
    longer refreshes is taken over, default 30).
    """
    from supportbot.stores.sqlite import SQLiteTrackerStore

    url = url or os.environ.get(LOCK_STORE_ENV) or None
    if url is None:
        if isinstance(tracker_store, SQLiteTrackerStore):
            return SQLiteLockStore(tracker_store.path)
        return InProcessLockStore()
    text = str(url)
    parts = urlsplit(text)
    options = dict(parse_qsl(parts.query))
    timeout = _float_option(options, "timeout", text)
    expiry = _float_option(options, "expiry", text)
    kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if text.split("?", 1)[0] in ("memory://", ":memory:"):
        return InProcessLockStore(**kwargs)
    if parts.scheme in ("postgresql", "postgres"):
        from supportbot.stores.postgres_locks import PostgresLockStore

        if expiry is not None:
            raise LockStoreConfigError(
                f"lock store url {text!r}: expiry= does not apply to PostgreSQL, whose advisory "
                "locks end with the holder's connection")
        return PostgresLockStore(text, **kwargs)
    if parts.scheme == "sqlite":
        raw = text.split("?", 1)[0][len("sqlite:///"):]
        if not text.startswith("sqlite:///") or not raw:
            raise LockStoreConfigError(f"lock store url {text!r}: write sqlite:///relative.db "
                                       "or sqlite:////absolute/path.db")
        if expiry is not None:
            kwargs["expiry"] = expiry
        return SQLiteLockStore(Path(raw), **kwargs)
    raise LockStoreConfigError(
        f"unsupported lock store url {text!r}: use memory://, sqlite:///path/to/file.db or "
        "postgresql://user@host/db")
