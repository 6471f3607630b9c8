"""Per-conversation locks in PostgreSQL: session advisory locks (psycopg 3).

Each thread holds its locks on its own connection. `pg_advisory_lock` waits in the server's
lock queue (first come, first served) under `lock_timeout`; the lock ends with
`pg_advisory_unlock` or with the connection — when a process dies, the server ends its session
and the conversation is free again (that is the expiry). TCP keepalives make a vanished machine
count as dead after about `keepalive_s` seconds.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from supportbot.handoff.postgres import redact_dsn
from supportbot.stores.locks import (
    DEFAULT_LOCK_TIMEOUT_S,
    CrossProcessLockStore,
    LockStoreConfigError,
)

log = logging.getLogger(__name__)


def advisory_key(namespace: str, conversation_id: str) -> int:
    """A signed 64-bit advisory-lock key for a conversation (blake2b of namespace + id)."""
    digest = hashlib.blake2b(f"{namespace}\x00{conversation_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLockStore(CrossProcessLockStore):
    """Conversation locks as PostgreSQL session advisory locks; `namespace` separates bots that
    share a database (URL parameter `namespace=`)."""

    def __init__(self, dsn: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT_S,
                 namespace: str = "supportbot", connect_timeout_s: int = 10,
                 keepalive_s: int = 10) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise LockStoreConfigError("the PostgreSQL lock store needs psycopg 3: "
                                       "pip install 'supportbot[postgres]'") from exc
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        for key in ("timeout", "expiry", "schema", "table_prefix"):
            query.pop(key, None)  # ours (or the queue's), not libpq's
        namespace = query.pop("namespace", namespace)
        self.dsn = urlunsplit(parts._replace(query=urlencode(query)))
        self.namespace = namespace
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._local = threading.local()
        super().__init__(timeout)
        self._conn()  # a wrong URL fails now, not at the first message

    def describe(self) -> str:
        return f"PostgreSQL lock store {redact_dsn(self.dsn)}"

    def _conn(self) -> Any:
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken \
                and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout_s,
                keepalives=1, keepalives_idle=self.keepalive_s,
                keepalives_interval=max(1, self.keepalive_s // 3), keepalives_count=3,
                application_name="supportbot-locks")
        except psycopg.Error as exc:
            raise LockStoreConfigError(f"cannot connect to the PostgreSQL lock store at "
                                       f"{redact_dsn(self.dsn)}: {exc}".strip()) from exc
        self._local.conn, self._local.pid, self._local.lock_timeout = conn, os.getpid(), None
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def _acquire(self, conversation_id: str, deadline: float, wait: float) -> int:
        import psycopg
        from psycopg import errors

        key = advisory_key(self.namespace, conversation_id)
        conn = self._conn()
        ms = max(1, int((deadline - time.monotonic()) * 1000))
        try:
            if self._local.lock_timeout != ms:
                conn.execute(f"SET lock_timeout = {ms}")
                self._local.lock_timeout = ms
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except errors.LockNotAvailable:
            raise self._timeout_error(conversation_id, wait) from None
        except BaseException as exc:
            # interrupted or disconnected: whether the server granted the lock is unknown, so
            # end the session, which releases anything it holds
            self._drop_conn()
            if isinstance(exc, psycopg.Error):
                raise LockStoreConfigError(
                    f"conversation {conversation_id!r}: cannot take its lock in "
                    f"{self.describe()}: {exc}".strip()) from exc
            raise
        return key

    def _release(self, conversation_id: str, key: int) -> None:
        import psycopg

        try:
            row = self._conn().execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()
            released = bool(row and row[0])
        except psycopg.Error:
            released = False
            self._drop_conn()
        if not released:
            log.warning("conversation %r: its PostgreSQL advisory lock was gone before the turn "
                        "ended (the lock store connection dropped)", conversation_id)

    def close(self) -> None:
        """Close this thread's connection (releasing its locks)."""
        self._drop_conn()

    def __repr__(self) -> str:
        return f"PostgresLockStore({redact_dsn(self.dsn)!r}, namespace={self.namespace!r})"
