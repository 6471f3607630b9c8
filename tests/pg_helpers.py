"""The local PostgreSQL the queue and lock tests use (127.0.0.1:5432, database `test`)."""
from __future__ import annotations


def local_postgres_dsn() -> str | None:
    """A DSN that connects (as `postgres` or `root`, trust auth), or None when none answers."""
    try:
        import psycopg
    except ImportError:
        return None
    for user in ("postgres", "root"):
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn
        except psycopg.Error:
            continue
    return None
