"""Agent sign-in tokens, stored hashed (scrypt + per-token salt) in a small table next to the
handoff queue's own tables (`handoff_agent_tokens`, or `<schema>.<prefix>agent_tokens` in
PostgreSQL). The queue's schema is not changed: the table is created on first use.

A token looks like `sbat_<key id>_<secret>`; the key id finds the row, the secret is checked
against its scrypt hash in constant time. The plain token is shown once, when it is made.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from supportbot.errors import HandoffError
from supportbot.handoff.sqlqueue import SqlQueue

TOKEN_PREFIX = "sbat_"
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}
_CACHE_SECONDS = 10.0  # a revoked token stops working within this time


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT).hex()


class AgentTokens:
    """Make, check and revoke agent tokens for one queue (a SQLite or PostgreSQL `SqlQueue`)."""

    def __init__(self, queue: Any):
        if not isinstance(queue, SqlQueue):
            raise HandoffError("agent tokens need a SQL handoff queue (SQLite or PostgreSQL)")
        self.queue = queue
        agents = queue._names["agents"]  # handoff_agents / schema.prefix_agents
        self.table = agents.removesuffix("agents") + "agent_tokens"
        self._ready = False
        self._cache: dict[str, tuple[str, float]] = {}  # sha256(token) -> (agent id, until)
        self._lock = threading.Lock()

    def _ensure(self) -> None:
        if self._ready:
            return
        with self.queue._transaction(write=True) as db:
            db.run(f"CREATE TABLE IF NOT EXISTS {self.table} (key_id TEXT PRIMARY KEY, "
                   "agent_id TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL, "
                   "created_at DOUBLE PRECISION NOT NULL)")
        self._ready = True

    def issue(self, agent_id: str) -> str:
        """A new token for `agent_id` (replacing its earlier ones); the only time it is shown."""
        self.queue.get_agent(agent_id)  # raises for an unknown agent
        self._ensure()
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        with self.queue._transaction(write=True) as db:
            db.run(f"DELETE FROM {self.table} WHERE agent_id = ?", (agent_id,))
            db.run(f"INSERT INTO {self.table} (key_id, agent_id, salt, hash, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", (key_id, agent_id, salt.hex(), _hash(secret, salt),
                                              time.time()))
        self._forget(agent_id)
        return f"{TOKEN_PREFIX}{key_id}_{secret}"

    def revoke(self, agent_id: str) -> int:
        """Remove the agent's tokens; returns how many were removed."""
        self._ensure()
        with self.queue._transaction(write=True) as db:
            removed = db.run(f"DELETE FROM {self.table} WHERE agent_id = ?", (agent_id,))
        self._forget(agent_id)
        return removed

    def has_token(self) -> set[str]:
        """The ids of agents that have a token."""
        self._ensure()
        with self.queue._transaction(write=False) as db:
            return {row[0] for row in db.rows(f"SELECT agent_id FROM {self.table}")}

    def verify(self, token: str | None) -> str | None:
        """The agent id a token belongs to, or None."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        key_id, _, secret = token[len(TOKEN_PREFIX):].partition("_")
        if not key_id or not secret:
            return None
        self._ensure()
        with self.queue._transaction(write=False) as db:
            row = db.one(f"SELECT agent_id, salt, hash FROM {self.table} WHERE key_id = ?",
                         (key_id,))
        if row is None:
            return None
        agent_id, salt, stored = row
        if not hmac.compare_digest(_hash(secret, bytes.fromhex(salt)), stored):
            return None
        with self._lock:
            self._cache[digest] = (agent_id, now + _CACHE_SECONDS)
        return str(agent_id)

    def _forget(self, agent_id: str) -> None:
        with self._lock:
            for key in [k for k, (a, _) in self._cache.items() if a == agent_id]:
                del self._cache[key]
