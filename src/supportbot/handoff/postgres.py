"""PostgreSQL handoff queue for several server processes or machines (psycopg 3).

Rows are locked with `SELECT ... FOR UPDATE`; claims use `FOR UPDATE SKIP LOCKED` so concurrent
agents never wait on, or take, each other's ticket. Tables are created on first use in `schema`
with names starting with `table_prefix`.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from supportbot.errors import QueueConfigError
from supportbot.handoff.sqlqueue import DDL, Db, SqlQueue

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def _ident(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise QueueConfigError(f"PostgreSQL {what} {value!r} must be lower-case letters, digits and "
                           "underscores, starting with a letter or underscore")
    return value


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by `***`."""
    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password=)\S+", r"\1***", dsn)


class _PgDb:
    def __init__(self, cursor: Any):
        self.cursor = cursor

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql.replace("?", "%s"), tuple(params))
        return self.cursor.fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.cursor.execute(sql.replace("?", "%s"), tuple(params))
        return self.cursor.fetchone()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(sql.replace("?", "%s"), tuple(params))
        return self.cursor.rowcount


class PostgresQueue(SqlQueue):
    """Handoff queue in PostgreSQL; `schema` and `table_prefix` let several bots (or tests) share
    one database."""

    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, dsn: str, *, schema: str = "public", table_prefix: str = "handoff_",
                 sla_seconds: Mapping[str, float] | None = None, wait_window: int = 20,
                 clock: Callable[[], float] | None = None, connect_timeout_s: int = 10):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise QueueConfigError("the PostgreSQL queue needs psycopg 3: "
                               "pip install 'supportbot[postgres]'") from exc
        self.schema = _ident(schema, "schema name")
        self.table_prefix = _ident(table_prefix, "table prefix") if table_prefix else ""
        names: dict[str, str] = {
            key: f"{self.schema}.{self.table_prefix}{key}"
            for key in ("meta", "tickets", "messages", "outbox", "agents", "claims")
        }
        names.update(ix=self.table_prefix, pk="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION")
        kwargs: dict[str, Any] = {"sla_seconds": sla_seconds, "wait_window": wait_window}
        if clock is not None:
            kwargs["clock"] = clock
        super().__init__(names, **kwargs)
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        with self._transaction(write=True) as db:
            db.run("SELECT pg_advisory_xact_lock(hashtext(?))",
                   (f"supportbot.handoff.{self.schema}.{self.table_prefix}",))
            db.run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            for statement in DDL:
                db.run(self._q(statement))
            self.migrate(db)

    def _conn(self) -> Any:
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken \
                and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = psycopg.connect(self.dsn, autocommit=True,
                                   connect_timeout=self.connect_timeout_s)
        except psycopg.Error as exc:
            raise QueueConfigError(f"cannot connect to the PostgreSQL queue at "
                               f"{redact_dsn(self.dsn)}: {exc}".strip()) from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Db]:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cursor:
            if not write:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _PgDb(cursor)

    def _is_integrity_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.IntegrityError)

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def __repr__(self) -> str:
        return f"PostgresQueue({redact_dsn(self.dsn)!r}, schema={self.schema!r})"
