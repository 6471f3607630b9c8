"""Several processes on one queue: atomic claims, limits, and durability after SIGKILL."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from test_handoff_workers import (  # on sys.path via pytest
    claim_until_full,
    do_then_hang,
    open_at_once,
)

from supportbot.handoff import Agent, Status, TicketRequest, open_queue

psycopg = pytest.importorskip("psycopg")

AGENTS = 10  # two agent threads in each of PROCESSES processes
PROCESSES = 5
LIMIT = 3
TICKETS = 40


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    errors = []
    for user in ("postgres", "root"):
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn
        except psycopg.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {'; '.join(errors)}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/handoff.db"
        return
    dsn = request.getfixturevalue("pg_dsn")
    schema = f"sbtest_{uuid.uuid4().hex[:12]}"
    yield f"{dsn}?schema={schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ------------------------------------------------------------------ tests
def test_concurrent_claims_from_many_processes(queue_url: str) -> None:
    queue = open_queue(queue_url)
    for i in range(AGENTS):
        queue.upsert_agent(Agent(f"agent{i}", max_concurrent=LIMIT))
    tickets = {queue.enqueue(TicketRequest(f"conv{i}", priority=i % 3)).id for i in range(TICKETS)}
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    groups = [[f"agent{i}" for i in range(p, AGENTS, PROCESSES)] for p in range(PROCESSES)]
    procs = [ctx.Process(target=claim_until_full, args=(queue_url, g, start, results))
             for g in groups]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in range(AGENTS)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    claimed = [tid for _, ids, _ in outcomes for tid in ids]
    assert len(claimed) == len(set(claimed)), "a ticket was given to two agents"
    assert set(claimed) <= tickets
    assert len(claimed) == AGENTS * LIMIT  # enough tickets for everyone to fill up
    for agent_id, ids, refused in outcomes:
        assert len(ids) == LIMIT, (agent_id, ids)
        assert "limit is 3" in refused
    # the database agrees with what each process was told
    owner = {tid: agent_id for agent_id, ids, _ in outcomes for tid in ids}
    assigned = queue.list(status=Status.ASSIGNED)
    assert {t.id: t.agent_id for t in assigned} == owner
    assert Counter(t.agent_id for t in assigned) == {f"agent{i}": LIMIT for i in range(AGENTS)}
    waiting = queue.list(status=Status.WAITING)
    assert len(waiting) == TICKETS - AGENTS * LIMIT
    # highest priorities went first: nothing left waiting outranks a claimed ticket
    best_left = max(t.priority for t in waiting)
    assert all(t.priority >= best_left for t in assigned)
    queue.close()


@pytest.mark.parametrize("op", ["enqueue", "add_customer_message", "agent_send"])
def test_nothing_is_lost_when_a_process_is_killed(queue_url: str, op: str) -> None:
    setup = open_queue(queue_url)
    ticket_id = None
    if op != "enqueue":
        setup.upsert_agent(Agent("a1"))
        ticket_id = setup.enqueue(TicketRequest("killed-conv")).id
        if op == "agent_send":
            setup.claim("a1")
    setup.close()
    ctx = mp.get_context("spawn")
    done = ctx.Queue()
    child = ctx.Process(target=do_then_hang, args=(queue_url, op, ticket_id, done))
    child.start()
    result = done.get(timeout=60)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL

    reopened = open_queue(queue_url)
    if op == "enqueue":
        ticket = reopened.get(result)
        assert ticket.status == Status.WAITING and ticket.conversation_id == "killed-conv"
        assert reopened.position(ticket.id) == 1
    elif op == "add_customer_message":
        texts = [m.text for m in reopened.get(ticket_id).transcript]
        assert texts[-1] == result
    else:
        assert [m.text for m in reopened.get(ticket_id).transcript][-1] == \
            "reply just before the crash"
        assert result in {m.id for m in reopened.pending_outbox("killed-conv")}
    # and the queue still works normally afterwards
    assert reopened.stats().waiting == (1 if op != "agent_send" else 0)
    reopened.close()


def test_processes_opening_a_new_sqlite_queue_at_once_all_succeed(tmp_path):
    # switching a new database to WAL fails at once with "database is locked" while another
    # process creates it (the busy timeout does not cover it); seen in CI before the retry
    ctx = mp.get_context("spawn")
    for round_ in range(3):  # a race: each round has a chance to hit it
        url = f"sqlite:///{tmp_path}/fresh-{round_}/handoff.db"
        start, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=open_at_once, args=(url, start, results))
                 for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        assert outcomes == ["ok"] * PROCESSES, outcomes
