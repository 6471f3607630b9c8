"""The queue logic, written once in portable SQL; SQLite and PostgreSQL supply connections and locks.

SQL here uses `?` placeholders and `{tickets}`-style table names; a backend's `_transaction`
yields a `Db` that runs it in its own dialect.
"""
from __future__ import annotations

import builtins
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, Self

from supportbot.errors import HandoffError, TicketStateError, UnknownTicketError
from supportbot.handoff.models import (
    Agent,
    ClaimRecord,
    OutboxKind,
    OutboxMessage,
    QueueCounts,
    QueueStats,
    Reason,
    Status,
    Ticket,
    TicketRequest,
    TicketSummary,
    TranscriptMessage,
)
from supportbot.handoff.routing import estimate_wait
from supportbot.textnorm import fix_surrogates, normalize_text

SCHEMA_VERSION = 2

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {tickets} (
        seq {pk},
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        customer_id TEXT,
        language TEXT,
        reasons TEXT NOT NULL,
        priority INTEGER NOT NULL,
        queue TEXT NOT NULL,
        status TEXT NOT NULL,
        agent_id TEXT,
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL,
        waiting_since {real},
        queued_position INTEGER,
        assigned_at {real},
        resolved_at {real},
        sla_due_at {real},
        summary TEXT NOT NULL,
        csat INTEGER,
        metadata TEXT NOT NULL)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS {ix}one_open_ticket ON {tickets} (conversation_id)
        WHERE status IN ('waiting', 'assigned')""",
    """CREATE INDEX IF NOT EXISTS {ix}tickets_line ON {tickets} (status, queue, priority, seq)""",
    """CREATE INDEX IF NOT EXISTS {ix}tickets_agent ON {tickets} (agent_id, status)""",
    """CREATE TABLE IF NOT EXISTS {messages} (
        seq {pk},
        ticket_id TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        timestamp {real} NOT NULL,
        agent_id TEXT)""",
    """CREATE INDEX IF NOT EXISTS {ix}messages_ticket ON {messages} (ticket_id, seq)""",
    """CREATE TABLE IF NOT EXISTS {outbox} (
        seq {pk},
        id TEXT NOT NULL UNIQUE,
        ticket_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        agent_id TEXT,
        agent_name TEXT,
        language TEXT,
        created_at {real} NOT NULL,
        delivered_at {real})""",
    """CREATE INDEX IF NOT EXISTS {ix}outbox_pending ON {outbox} (delivered_at, conversation_id)""",
    """CREATE TABLE IF NOT EXISTS {agents} (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        skills TEXT NOT NULL,
        languages TEXT NOT NULL,
        max_concurrent INTEGER NOT NULL,
        online INTEGER NOT NULL,
        updated_at {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {claims} (
        seq {pk},
        ticket_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        claimed_at {real} NOT NULL,
        waited_s {real} NOT NULL,
        position INTEGER NOT NULL,
        agents_online INTEGER NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS {ix}claims_queue ON {claims} (queue, seq)""",
    """INSERT INTO {meta} (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING""",
)

# Schema changes after version 1, applied in order by `migrate` (in the creating transaction).
MIGRATIONS: Mapping[int, tuple[str, ...]] = {
    # the outbox keeps its delivery attempts: retry with backoff, give up visibly
    2: ("ALTER TABLE {outbox} ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE {outbox} ADD COLUMN next_attempt_at {real}",
        "ALTER TABLE {outbox} ADD COLUMN last_error TEXT",
        "ALTER TABLE {outbox} ADD COLUMN failed_at {real}"),
}

_TICKET_COLS = ("id, conversation_id, channel, customer_id, language, reasons, priority, queue, "
                "status, agent_id, created_at, updated_at, waiting_since, assigned_at, resolved_at, "
                "sla_due_at, summary, csat, metadata, seq, queued_position")
_OUTBOX_COLS = ("id, ticket_id, conversation_id, channel, kind, text, agent_id, agent_name, "
                "language, created_at, delivered_at")
_OUTBOX_READ_COLS = _OUTBOX_COLS + ", attempts, next_attempt_at, last_error, failed_at"
_AGENT_COLS = "id, name, skills, languages, max_concurrent, online"
_CLAIM_COLS = "ticket_id, queue, agent_id, claimed_at, waited_s, position, agents_online"
_CHUNK = 500


class Db(Protocol):
    """One open transaction of a backend."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...


def _json(value: Any) -> str:
    # json escapes NUL and other controls; a lone surrogate would stay raw and fail to encode
    return fix_surrogates(json.dumps(value, ensure_ascii=False, default=str))


def _marks(values: Sequence[Any]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise HandoffError(f"unknown ticket status {value!r}; use one of "
                           f"{', '.join(s.value for s in Status)}") from None


class SqlQueue(ABC):
    """HandoffQueue over SQL tables; subclasses provide transactions and row locks."""

    for_update: str = ""  # row lock suffix for SELECT of one row
    skip_locked: str = ""  # suffix that makes concurrent claimers skip each other's rows

    def __init__(self, tables: Mapping[str, str], *, sla_seconds: Mapping[str, float] | None = None,
                 wait_window: int = 20, clock: Callable[[], float] = time.time):
        self._names = dict(tables)
        self._sql_cache: dict[str, str] = {}
        self.sla_seconds = dict(sla_seconds or {})
        self.wait_window = wait_window
        self.clock = clock

    def migrate(self, db: Db) -> None:
        """Bring tables created by an older version up to `SCHEMA_VERSION` (backends call this
        right after the DDL, in the same transaction)."""
        row = db.one(self._q("SELECT value FROM {meta} WHERE key = 'schema_version'"))
        version = int(row[0]) if row is not None else 1
        for target in sorted(v for v in MIGRATIONS if v > version):
            for statement in MIGRATIONS[target]:
                db.run(self._q(statement))
            db.run(self._q("UPDATE {meta} SET value = ? WHERE key = 'schema_version'"),
                   (str(target),))

    # ---------------------------------------------------------------- backend hooks
    @abstractmethod
    def _transaction(self, write: bool) -> AbstractContextManager[Db]:
        """A transaction; `write` ones hold whatever lock makes read-then-write atomic."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def _is_integrity_error(self, exc: BaseException) -> bool:
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _q(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = self._sql_cache[sql] = sql.format(**self._names)
        return cached

    def _sla_due(self, queue: str, created_at: float) -> float | None:
        seconds = self.sla_seconds.get(queue, self.sla_seconds.get("default"))
        return None if seconds is None else created_at + float(seconds)

    # ---------------------------------------------------------------- row helpers
    def _ticket(self, db: Db, ticket_id: str, *, lock: bool = False,
                transcript: bool = True) -> Ticket:
        row = db.one(self._q(f"SELECT {_TICKET_COLS} FROM {{tickets}} WHERE id = ?"
                             + (self.for_update if lock else "")), (ticket_id,))
        if row is None:
            raise UnknownTicketError(f"unknown ticket {ticket_id!r}; `supportbot queue list` shows the "
                               "tickets in this queue")
        ticket = self._row_to_ticket(row)
        if transcript:
            ticket = _with_transcript(ticket, self._transcripts(db, [ticket.id])[ticket.id])
        return ticket

    @staticmethod
    def _row_to_ticket(row: Sequence[Any]) -> Ticket:
        return Ticket(
            id=row[0], conversation_id=row[1], channel=row[2], customer_id=row[3],
            language=row[4], reasons=tuple(Reason.coerce(r) for r in json.loads(row[5])),
            priority=int(row[6]), queue=row[7], status=Status(row[8]), agent_id=row[9],
            created_at=row[10], updated_at=row[11], waiting_since=row[12], assigned_at=row[13],
            resolved_at=row[14], sla_due_at=row[15],
            summary=TicketSummary.from_dict(json.loads(row[16])),
            csat=row[17], metadata=json.loads(row[18]),
        )

    def _transcripts(self, db: Db, ticket_ids: Sequence[str]) -> dict[str, list[TranscriptMessage]]:
        out: dict[str, list[TranscriptMessage]] = {tid: [] for tid in ticket_ids}
        for start in range(0, len(ticket_ids), _CHUNK):
            chunk = list(ticket_ids[start:start + _CHUNK])
            for tid, role, text, ts, agent in db.rows(self._q(
                    "SELECT ticket_id, role, text, timestamp, agent_id FROM {messages} "
                    f"WHERE ticket_id IN {_marks(chunk)} ORDER BY seq"), chunk):
                out[tid].append(TranscriptMessage(role, text, ts, agent))
        return out

    def _seq(self, db: Db, ticket_id: str) -> tuple[int, int]:
        row = db.one(self._q("SELECT seq, priority FROM {tickets} WHERE id = ?"), (ticket_id,))
        assert row is not None
        return int(row[0]), int(row[1])

    def _add_message(self, db: Db, ticket_id: str, role: str, text: str, now: float,
                     agent_id: str | None = None) -> TranscriptMessage:
        # every transcript line is stored normalized (no NUL, no surrogates: PostgreSQL
        # rejects them), whichever backend and whoever calls
        message = TranscriptMessage(role, normalize_text(text), now, agent_id)  # type: ignore[arg-type]
        db.run(self._q("INSERT INTO {messages} (ticket_id, role, text, timestamp, agent_id) "
                       "VALUES (?, ?, ?, ?, ?)"), (ticket_id, role, message.text, now, agent_id))
        return message

    def _add_outbox(self, db: Db, ticket: Ticket, kind: OutboxKind, text: str, now: float,
                    agent: Agent | None) -> OutboxMessage:
        text = normalize_text(text)
        message = OutboxMessage(
            id=uuid.uuid4().hex, ticket_id=ticket.id, conversation_id=ticket.conversation_id,
            channel=ticket.channel, kind=kind, text=text,
            agent_id=agent.id if agent else None, agent_name=agent.display_name if agent else None,
            language=ticket.language, created_at=now)
        db.run(self._q(f"INSERT INTO {{outbox}} ({_OUTBOX_COLS}) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
               (message.id, message.ticket_id, message.conversation_id, message.channel, kind,
                text, message.agent_id, message.agent_name, message.language, now, None))
        return message

    def _agent(self, db: Db, agent_id: str, *, lock: bool = False) -> Agent:
        row = db.one(self._q(f"SELECT {_AGENT_COLS} FROM {{agents}} WHERE id = ?"
                             + (self.for_update if lock else "")), (agent_id,))
        if row is None:
            raise UnknownTicketError(f"unknown agent {agent_id!r}; register it first with upsert_agent() "
                               f"or `supportbot queue agent {agent_id}`")
        return _row_to_agent(row)

    def _all_agents(self, db: Db) -> list[Agent]:
        return [_row_to_agent(r) for r in db.rows(self._q(
            f"SELECT {_AGENT_COLS} FROM {{agents}} ORDER BY id"))]

    def _held(self, db: Db, agent_id: str) -> int:
        row = db.one(self._q("SELECT COUNT(*) FROM {tickets} WHERE agent_id = ? AND status = ?"),
                     (agent_id, Status.ASSIGNED.value))
        return int(row[0]) if row else 0

    def _check_room(self, db: Db, agent: Agent) -> None:
        held = self._held(db, agent.id)
        if held >= agent.max_concurrent:
            raise TicketStateError(f"agent {agent.id!r} already holds {held} open ticket(s), its limit "
                               f"is {agent.max_concurrent}; resolve or transfer one first")

    def _agents_online_for(self, db: Db, queue: str) -> int:
        return sum(1 for a in self._all_agents(db) if a.online and a.serves_queue(queue))

    def _ahead(self, db: Db, queue: str, priority: int, seq: int | None) -> int:
        """Waiting tickets in `queue` that rank before a ticket with this priority and seq."""
        if seq is None:  # a new ticket: everything of equal or higher priority is older
            row = db.one(self._q("SELECT COUNT(*) FROM {tickets} WHERE status = 'waiting' "
                                 "AND queue = ? AND priority >= ?"), (queue, priority))
        else:
            row = db.one(self._q(
                "SELECT COUNT(*) FROM {tickets} WHERE status = 'waiting' AND queue = ? "
                "AND (priority > ? OR (priority = ? AND seq < ?))"),
                (queue, priority, priority, seq))
        return int(row[0]) if row else 0

    @staticmethod
    def _require_open(ticket: Ticket, action: str) -> None:
        if not ticket.is_open:
            raise TicketStateError(f"cannot {action} ticket {ticket.id}: it is already "
                               f"{ticket.status.value}")

    @staticmethod
    def _require_holder(ticket: Ticket, agent_id: str, action: str) -> None:
        if ticket.status != Status.ASSIGNED:
            raise TicketStateError(f"cannot {action} ticket {ticket.id}: it is {ticket.status.value}, "
                               "not assigned to an agent")
        if ticket.agent_id != agent_id:
            raise TicketStateError(f"agent {agent_id!r} cannot {action} ticket {ticket.id}: it is "
                               f"assigned to {ticket.agent_id!r}")

    # ---------------------------------------------------------------- tickets
    def enqueue(self, request: TicketRequest) -> Ticket:
        """Open a waiting ticket. HandoffError if the conversation already has an open one."""
        now = self.clock()
        try:
            with self._transaction(write=True) as db:
                existing = db.one(self._q(
                    "SELECT id, status FROM {tickets} WHERE conversation_id = ? "
                    "AND status IN ('waiting', 'assigned')"), (request.conversation_id,))
                if existing:
                    raise TicketStateError(
                        f"conversation {request.conversation_id!r} already has open ticket "
                        f"{existing[0]} ({existing[1]}); add messages to it instead "
                        "(open_ticket_for / add_customer_message)")
                position = self._ahead(db, request.queue, request.priority, None) + 1
                ticket_id = _new_id()
                db.run(self._q(
                    "INSERT INTO {tickets} (id, conversation_id, channel, customer_id, language, "
                    "reasons, priority, queue, status, agent_id, created_at, updated_at, "
                    "waiting_since, queued_position, sla_due_at, summary, metadata) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (ticket_id, request.conversation_id, request.channel, request.customer_id,
                     request.language, _json([r.to_dict() for r in request.reasons]),
                     request.priority, request.queue, Status.WAITING.value, None, now, now, now,
                     position, self._sla_due(request.queue, now),
                     _json(request.summary.to_dict()), _json(dict(request.metadata))))
                for m in request.transcript:
                    self._add_message(db, ticket_id, m.role, m.text, m.timestamp, m.agent_id)
                return self._ticket(db, ticket_id)
        except HandoffError:
            raise
        except Exception as exc:
            if self._is_integrity_error(exc):
                raise TicketStateError(f"conversation {request.conversation_id!r} already has an "
                                       "open ticket (created concurrently); use "
                                       "open_ticket_for()") from exc
            raise

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with its transcript; HandoffError naming the id when unknown."""
        with self._transaction(write=False) as db:
            return self._ticket(db, ticket_id)

    def open_ticket_for(self, conversation_id: str) -> Ticket | None:
        """The conversation's waiting or assigned ticket, if any."""
        with self._transaction(write=False) as db:
            row = db.one(self._q("SELECT id FROM {tickets} WHERE conversation_id = ? "
                                 "AND status IN ('waiting', 'assigned')"), (conversation_id,))
            return self._ticket(db, row[0]) if row else None

    def list(self, status: Status | str | None = None, queue: str | None = None,
             agent_id: str | None = None, *, since: float | None = None,
             limit: int | None = None, with_transcript: bool = False) -> builtins.list[Ticket]:
        """Tickets matching every given filter, oldest first (transcripts only when asked)."""
        where: builtins.list[str] = ["1 = 1"]
        params: builtins.list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(_status(status).value)
        if queue is not None:
            where.append("queue = ?")
            params.append(queue)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        sql = f"SELECT {_TICKET_COLS} FROM {{tickets}} WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._transaction(write=False) as db:
            tickets = [self._row_to_ticket(r) for r in db.rows(self._q(sql), params)]
            if with_transcript and tickets:
                texts = self._transcripts(db, [t.id for t in tickets])
                tickets = [_with_transcript(t, texts[t.id]) for t in tickets]
        return tickets

    def claim(self, agent_id: str, ticket_id: str | None = None) -> Ticket | None:
        """Atomically assign the best waiting ticket this agent may take (or the named one).

        Best = highest priority, then the one that entered the line first, among tickets whose queue
        the agent works and whose language it speaks. Returns None when nothing fits; raises
        HandoffError for an unknown agent, an agent at its limit, or a named ticket it cannot take.
        """
        now = self.clock()
        with self._transaction(write=True) as db:
            agent = self._agent(db, agent_id, lock=True)
            self._check_room(db, agent)
            if ticket_id is not None:
                ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
                if ticket.status != Status.WAITING:
                    raise TicketStateError(f"cannot claim ticket {ticket.id}: it is "
                                       f"{ticket.status.value}, not waiting")
                refusal = agent.refusal(ticket)
                if refusal:
                    raise TicketStateError(f"cannot claim ticket {ticket.id}: {refusal}")
            else:
                where: builtins.list[str] = ["status = 'waiting'"]
                params: builtins.list[Any] = []
                if agent.skills:
                    where.append(f"queue IN {_marks(agent.skills)}")
                    params.extend(agent.skills)
                if agent.languages:
                    where.append(f"(language IS NULL OR language IN {_marks(agent.languages)})")
                    params.extend(agent.languages)
                row = db.one(self._q(
                    f"SELECT id FROM {{tickets}} WHERE {' AND '.join(where)} "
                    "ORDER BY priority DESC, seq ASC LIMIT 1" + self.skip_locked), params)
                if row is None:
                    return None
                ticket = self._ticket(db, row[0], transcript=False)
            waiting_since = ticket.waiting_since if ticket.waiting_since is not None else now
            row = db.one(self._q("SELECT queued_position FROM {tickets} WHERE id = ?"),
                         (ticket.id,))
            position = int(row[0]) if row and row[0] else 1
            db.run(self._q("UPDATE {tickets} SET status = ?, agent_id = ?, assigned_at = ?, "
                           "updated_at = ? WHERE id = ?"),
                   (Status.ASSIGNED.value, agent.id, now, now, ticket.id))
            db.run(self._q(f"INSERT INTO {{claims}} ({_CLAIM_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                   (ticket.id, ticket.queue, agent.id, now, max(0.0, now - waiting_since),
                    position, max(1, self._agents_online_for(db, ticket.queue))))
            self._add_message(db, ticket.id, "system", f"{agent.display_name} joined", now)
            self._add_outbox(db, ticket, "agent_joined", "", now, agent)
            return self._ticket(db, ticket.id)

    def add_customer_message(self, ticket_id: str, text: str) -> TranscriptMessage:
        """Append a customer message to an open ticket's transcript (normalized text;
        HandoffError when nothing visible is left)."""
        text = normalize_text(text) if isinstance(text, str) else text
        if not isinstance(text, str) or not text:
            raise HandoffError(f"cannot add an empty customer message to ticket {ticket_id}")
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            self._require_open(ticket, "add a customer message to")
            message = self._add_message(db, ticket.id, "customer", text, now)
            db.run(self._q("UPDATE {tickets} SET updated_at = ? WHERE id = ?"), (now, ticket.id))
            return message

    def agent_send(self, ticket_id: str, agent_id: str, text: str) -> OutboxMessage:
        """Append the agent's message to the transcript and to the outbox for delivery
        (normalized text; HandoffError when nothing visible is left)."""
        text = normalize_text(text) if isinstance(text, str) else text
        if not isinstance(text, str) or not text:
            raise HandoffError(f"agent {agent_id!r}: cannot send an empty message on ticket "
                               f"{ticket_id}")
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            self._require_holder(ticket, agent_id, "send on")
            agent = self._agent(db, agent_id)
            self._add_message(db, ticket.id, "agent", text, now, agent.id)
            db.run(self._q("UPDATE {tickets} SET updated_at = ? WHERE id = ?"), (now, ticket.id))
            return self._add_outbox(db, ticket, "message", text, now, agent)

    def _close_by_agent(self, ticket_id: str, agent_id: str, status: Status) -> Ticket:
        action = "resolve" if status == Status.RESOLVED else "return to the bot"
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            self._require_holder(ticket, agent_id, action)
            agent = self._agent(db, agent_id)
            db.run(self._q("UPDATE {tickets} SET status = ?, resolved_at = ?, updated_at = ? "
                           "WHERE id = ?"), (status.value, now, now, ticket.id))
            verb = "resolved" if status == Status.RESOLVED else "returned to the bot"
            self._add_message(db, ticket.id, "system", f"{agent.display_name} {verb}", now)
            self._add_outbox(db, ticket, status.value, "", now, agent)  # type: ignore[arg-type]
            return self._ticket(db, ticket.id)

    def resolve(self, ticket_id: str, agent_id: str) -> Ticket:
        """The holding agent closes the ticket as resolved."""
        return self._close_by_agent(ticket_id, agent_id, Status.RESOLVED)

    def return_to_bot(self, ticket_id: str, agent_id: str) -> Ticket:
        """The holding agent gives the conversation back to the bot."""
        return self._close_by_agent(ticket_id, agent_id, Status.RETURNED)

    def transfer(self, ticket_id: str, queue: str | None = None,
                 agent_id: str | None = None, *,
                 known_queues: Iterable[str] | None = None) -> Ticket:
        """Back to waiting in `queue`, or straight to `agent_id` when that agent is online and has room.

        A ticket sent back to waiting keeps its original place among tickets of equal priority.
        `known_queues`: when given, a `queue` outside it is refused (a mistyped name would strand
        the ticket where no agent looks).
        """
        if queue is None and agent_id is None:
            raise HandoffError(f"transfer of ticket {ticket_id} needs a queue or an agent")
        if queue is not None and not queue:
            raise HandoffError(f"transfer of ticket {ticket_id}: queue name is empty")
        if queue is not None and known_queues is not None:
            known = sorted(set(known_queues))
            if queue not in known:
                raise HandoffError(f"transfer of ticket {ticket_id}: there is no queue {queue!r} "
                                   f"(queues: {', '.join(known)}); add it to handoff.queues in "
                                   "config.yml or pick one of these")
        now = self.clock()
        with self._transaction(write=True) as db:
            target = self._agent(db, agent_id, lock=True) if agent_id is not None else None
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            self._require_open(ticket, "transfer")
            new_queue = queue or ticket.queue
            sla_due = self._sla_due(new_queue, ticket.created_at)
            if target is not None:
                if ticket.agent_id == target.id and ticket.status == Status.ASSIGNED:
                    raise TicketStateError(f"ticket {ticket.id} is already assigned to {target.id!r}")
                if not target.online:
                    raise TicketStateError(f"cannot transfer ticket {ticket.id} to {target.id!r}: "
                                       "the agent is offline")
                self._check_room(db, target)
                db.run(self._q("UPDATE {tickets} SET status = ?, agent_id = ?, assigned_at = ?, "
                               "queue = ?, sla_due_at = ?, updated_at = ? WHERE id = ?"),
                       (Status.ASSIGNED.value, target.id, now, new_queue, sla_due, now, ticket.id))
                self._add_message(db, ticket.id, "system",
                                  f"transferred to {target.display_name}", now)
                self._add_outbox(db, ticket, "agent_joined", "", now, target)
            else:
                if ticket.status == Status.WAITING and new_queue == ticket.queue:
                    raise TicketStateError(f"ticket {ticket.id} is already waiting in queue "
                                       f"{new_queue!r}")
                seq, priority = self._seq(db, ticket.id)
                position = self._ahead(db, new_queue, priority, seq) + 1
                db.run(self._q("UPDATE {tickets} SET status = ?, agent_id = NULL, "
                               "assigned_at = NULL, queue = ?, waiting_since = ?, "
                               "queued_position = ?, sla_due_at = ?, updated_at = ? WHERE id = ?"),
                       (Status.WAITING.value, new_queue, now, position, sla_due, now, ticket.id))
                self._add_message(db, ticket.id, "system", f"transferred to queue {new_queue}", now)
                if ticket.status == Status.ASSIGNED:
                    self._add_outbox(db, ticket, "transferred", "", now, None)
            return self._ticket(db, ticket.id)

    def cancel(self, ticket_id: str) -> Ticket:
        """The customer stopped waiting (or left) before the ticket was resolved."""
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            self._require_open(ticket, "cancel")
            db.run(self._q("UPDATE {tickets} SET status = ?, resolved_at = ?, updated_at = ? "
                           "WHERE id = ?"), (Status.CANCELLED.value, now, now, ticket.id))
            self._add_message(db, ticket.id, "system", "the customer cancelled", now)
            return self._ticket(db, ticket.id)

    def set_csat(self, ticket_id: str, score: int) -> Ticket:
        """Record a 1-5 satisfaction score on a resolved or returned ticket."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise HandoffError(f"CSAT score for ticket {ticket_id} must be an integer from 1 to 5, "
                               f"got {score!r}")
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, lock=True, transcript=False)
            if ticket.status not in (Status.RESOLVED, Status.RETURNED):
                raise TicketStateError(f"cannot rate ticket {ticket.id}: it is {ticket.status.value}; "
                                   "only resolved or returned tickets take a CSAT score")
            db.run(self._q("UPDATE {tickets} SET csat = ?, updated_at = ? WHERE id = ?"),
                   (score, now, ticket.id))
            return self._ticket(db, ticket.id)

    # ---------------------------------------------------------------- outbox
    def pending_outbox(self, conversation_id: str | None = None, *,
                       due_at: float | None = None) -> builtins.list[OutboxMessage]:
        """Undelivered outbox messages, oldest first; not those given up on. With `due_at`,
        only those whose next retry is due by then."""
        sql = f"SELECT {_OUTBOX_READ_COLS} FROM {{outbox}} WHERE delivered_at IS NULL " \
              "AND failed_at IS NULL"
        params: list[Any] = []
        if conversation_id is not None:
            sql += " AND conversation_id = ?"
            params.append(conversation_id)
        if due_at is not None:
            sql += " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            params.append(due_at)
        with self._transaction(write=False) as db:
            rows = db.rows(self._q(sql + " ORDER BY seq"), params)
        return [OutboxMessage(*r) for r in rows]

    def failed_outbox(self, limit: int = 100) -> builtins.list[OutboxMessage]:
        """Outbox messages given up on after their last retry, newest first."""
        with self._transaction(write=False) as db:
            rows = db.rows(self._q(f"SELECT {_OUTBOX_READ_COLS} FROM {{outbox}} "
                                   "WHERE failed_at IS NOT NULL ORDER BY seq DESC LIMIT ?"),
                           (limit,))
        return [OutboxMessage(*r) for r in rows]

    def record_attempt(self, message_id: str, error: str,
                       retry_at: float | None) -> OutboxMessage:
        """A delivery attempt failed: count it and retry at `retry_at`, or give up (None)."""
        now = self.clock()
        with self._transaction(write=True) as db:
            changed = db.run(self._q(
                "UPDATE {outbox} SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, failed_at = ? WHERE id = ? AND delivered_at IS NULL"),
                (normalize_text(error)[:500], retry_at, now if retry_at is None else None,
                 message_id))
            if not changed:
                raise UnknownTicketError(f"no undelivered outbox message {message_id!r}")
            row = db.one(self._q(f"SELECT {_OUTBOX_READ_COLS} FROM {{outbox}} WHERE id = ?"),
                         (message_id,))
        assert row is not None
        return OutboxMessage(*row)

    def post_notice(self, ticket_id: str, kind: OutboxKind) -> OutboxMessage:
        """Put a bot notice about an open ticket (e.g. `timeout`) on the outbox."""
        now = self.clock()
        with self._transaction(write=True) as db:
            ticket = self._ticket(db, ticket_id, transcript=False)
            return self._add_outbox(db, ticket, kind, "", now, None)

    def mark_delivered(self, message_ids: Iterable[str]) -> int:
        """Mark outbox messages delivered; returns how many changed."""
        ids = list(message_ids)
        if not ids:
            return 0
        now, changed = self.clock(), 0
        with self._transaction(write=True) as db:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                changed += db.run(self._q(
                    f"UPDATE {{outbox}} SET delivered_at = ? WHERE id IN {_marks(chunk)} "
                    "AND delivered_at IS NULL"), [now, *chunk])
        return changed

    # ---------------------------------------------------------------- agents
    def upsert_agent(self, agent: Agent) -> Agent:
        """Create or replace an agent's profile."""
        with self._transaction(write=True) as db:
            db.run(self._q(
                f"INSERT INTO {{agents}} ({_AGENT_COLS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, skills = excluded.skills, "
                "languages = excluded.languages, max_concurrent = excluded.max_concurrent, "
                "online = excluded.online, updated_at = excluded.updated_at"),
                (agent.id, agent.name, _json(list(agent.skills)), _json(list(agent.languages)),
                 agent.max_concurrent, int(agent.online), self.clock()))
        return agent

    def set_online(self, agent_id: str, online: bool) -> Agent:
        """Mark an agent online or offline."""
        with self._transaction(write=True) as db:
            changed = db.run(self._q("UPDATE {agents} SET online = ?, updated_at = ? WHERE id = ?"),
                             (int(online), self.clock(), agent_id))
            if not changed:
                self._agent(db, agent_id)  # raises the unknown-agent error
            return self._agent(db, agent_id)

    def agents(self) -> builtins.list[Agent]:
        """Every known agent, by id."""
        with self._transaction(write=False) as db:
            return self._all_agents(db)

    def get_agent(self, agent_id: str) -> Agent:
        """One agent; HandoffError when unknown."""
        with self._transaction(write=False) as db:
            return self._agent(db, agent_id)

    # ---------------------------------------------------------------- waiting line
    def position(self, ticket_id: str) -> int:
        """1-based place of a waiting ticket among the waiting tickets of its queue."""
        with self._transaction(write=False) as db:
            ticket = self._ticket(db, ticket_id, transcript=False)
            if ticket.status != Status.WAITING:
                raise TicketStateError(f"ticket {ticket.id} has no place in line: it is "
                                   f"{ticket.status.value}")
            seq, priority = self._seq(db, ticket.id)
            return self._ahead(db, ticket.queue, priority, seq) + 1

    def estimated_wait(self, queue: str, position: int) -> float | None:
        """Expected seconds until a ticket at `position` is claimed; None when unknown.

        Uses the last `wait_window` claims in the queue and the online agents who serve it
        (see `routing.estimate_wait`).
        """
        recent = self.claim_log(queue, limit=self.wait_window)
        with self._transaction(write=False) as db:
            online = self._agents_online_for(db, queue)
        return estimate_wait(recent, position, online)

    def claim_log(self, queue: str | None = None, *, since: float | None = None,
                  limit: int | None = None) -> builtins.list[ClaimRecord]:
        """Recorded claims, newest first."""
        where: builtins.list[str] = ["1 = 1"]
        params: builtins.list[Any] = []
        if queue is not None:
            where.append("queue = ?")
            params.append(queue)
        if since is not None:
            where.append("claimed_at >= ?")
            params.append(since)
        sql = f"SELECT {_CLAIM_COLS} FROM {{claims}} WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._transaction(write=False) as db:
            rows = db.rows(self._q(sql), params)
        return [ClaimRecord(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6])) for r in rows]

    def stats(self) -> QueueStats:
        """Waiting/assigned counts per queue, agents online, oldest waiting age."""
        now = self.clock()
        with self._transaction(write=False) as db:
            rows = db.rows(self._q(
                "SELECT queue, status, COUNT(*), MIN(waiting_since) FROM {tickets} "
                "WHERE status IN ('waiting', 'assigned') GROUP BY queue, status"))
            agents = self._all_agents(db)
        counts: dict[str, dict[str, Any]] = {}
        for queue, status, count, oldest in rows:
            entry = counts.setdefault(queue, {"waiting": 0, "assigned": 0, "oldest": None})
            entry[status] = int(count)
            if status == Status.WAITING.value and oldest is not None:
                entry["oldest"] = max(0.0, now - oldest)
        for agent in agents:
            for skill in agent.skills:
                counts.setdefault(skill, {"waiting": 0, "assigned": 0, "oldest": None})
        online = [a for a in agents if a.online]
        queues = {
            name: QueueCounts(waiting=c["waiting"], assigned=c["assigned"],
                              agents_online=sum(1 for a in online if a.serves_queue(name)),
                              oldest_waiting_s=c["oldest"])
            for name, c in sorted(counts.items())
        }
        return QueueStats(queues=queues, agents_online=len(online), at=now)


def _row_to_agent(row: Sequence[Any]) -> Agent:
    return Agent(id=row[0], name=row[1], skills=tuple(json.loads(row[2])),
                 languages=tuple(json.loads(row[3])), max_concurrent=int(row[4]),
                 online=bool(row[5]))


def _with_transcript(ticket: Ticket, messages: Sequence[TranscriptMessage]) -> Ticket:
    from dataclasses import replace

    return replace(ticket, transcript=tuple(messages))
