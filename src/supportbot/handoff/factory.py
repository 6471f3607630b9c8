"""Pick a queue backend from a URL or path."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from supportbot.errors import QueueConfigError
from supportbot.handoff.config import HandoffConfig
from supportbot.handoff.sqlqueue import SqlQueue


def sqlite_path(url_or_path: str, base_dir: str | Path | None = None) -> Path:
    """The file behind `sqlite:///rel.db`, `sqlite:////abs.db` or a bare path; relative paths are
    resolved against `base_dir` (default: the current directory)."""
    raw = url_or_path.removeprefix("sqlite://")
    if url_or_path.startswith("sqlite://"):
        if not raw.startswith("/"):
            raise QueueConfigError(f"queue URL {url_or_path!r}: write sqlite:///relative.db or "
                               "sqlite:////absolute/path.db")
        raw = raw[1:]  # sqlite:///x -> x (relative); sqlite:////x -> /x (absolute)
    if not raw:
        raise QueueConfigError(f"queue URL {url_or_path!r} names no database file")
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def open_queue(url_or_path: str | Path, config: HandoffConfig | None = None, *,
               base_dir: str | Path | None = None,
               clock: Callable[[], float] | None = None) -> SqlQueue:
    """Open the queue at `sqlite:///path.db`, a bare path, or `postgresql://...`.

    PostgreSQL URLs may carry `schema=` and `table_prefix=` query parameters (removed before
    connecting). SLA and wait-estimate settings come from `config` (defaults when None).
    """
    url = str(url_or_path)
    config = config or HandoffConfig()
    kwargs: dict[str, Any] = {"sla_seconds": config.sla, "wait_window": config.wait_estimate_window}
    if clock is not None:
        kwargs["clock"] = clock
    if url.startswith(("postgresql://", "postgres://")):
        from supportbot.handoff.postgres import PostgresQueue

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        for key in ("schema", "table_prefix"):
            if key in query:
                kwargs[key] = query.pop(key)
        dsn = urlunsplit(parts._replace(query=urlencode(query)))
        return PostgresQueue(dsn, **kwargs)
    if "://" in url and not url.startswith("sqlite://"):
        raise QueueConfigError(f"queue URL {url!r} is not supported; use sqlite:///path.db, a file path "
                           "or postgresql://user@host/db")
    from supportbot.handoff.sqlite import SQLiteQueue

    return SQLiteQueue(sqlite_path(url, base_dir), **kwargs)
