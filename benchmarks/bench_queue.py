"""Handoff queue latency per operation, SQLite and PostgreSQL; prints a table.

    .venv/bin/python benchmarks/bench_queue.py [--tickets 300] [--pg postgresql://postgres@127.0.0.1/test]

Every write is one durable transaction (SQLite: WAL + synchronous=FULL; PostgreSQL: default
synchronous_commit), so the numbers include an fsync per call.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from supportbot.handoff import Agent, TicketRequest, TicketSummary, open_queue
from supportbot.handoff.routing import percentile


def _timed(samples: dict[str, list[float]], name: str, fn: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = fn()
    samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    return result


def run(url: str, tickets: int) -> dict[str, list[float]]:
    queue = open_queue(url)
    for i in range(10):
        queue.upsert_agent(Agent(f"agent{i}", max_concurrent=tickets))
    samples: dict[str, list[float]] = {}
    transcript = [{"role": "customer", "text": f"message {i}", "timestamp": float(i)}
                  for i in range(6)]
    ids = []
    for i in range(tickets):
        request = TicketRequest(f"conv-{i}", language="en", priority=i % 3,
                                reasons=[{"code": "explicit_request"}], transcript=transcript,
                                summary=TicketSummary(intents=("refund",)))
        ids.append(_timed(samples, "enqueue", lambda r=request: queue.enqueue(r)).id)
    for t in ids[:50]:
        _timed(samples, "position", lambda t=t: queue.position(t))
    _timed(samples, "stats", queue.stats)
    claimed = []
    for i in range(tickets):
        claimed.append(_timed(samples, "claim", lambda i=i: queue.claim(f"agent{i % 10}")))
    for t in claimed:
        _timed(samples, "add_customer_message",
               lambda t=t: queue.add_customer_message(t.id, "still there?"))
        _timed(samples, "agent_send", lambda t=t: queue.agent_send(t.id, t.agent_id, "yes"))
        _timed(samples, "get", lambda t=t: queue.get(t.id))
    pending = _timed(samples, "pending_outbox", queue.pending_outbox)
    _timed(samples, "mark_delivered", lambda: queue.mark_delivered(m.id for m in pending))
    for t in claimed:
        _timed(samples, "resolve", lambda t=t: queue.resolve(t.id, t.agent_id))
    _timed(samples, "estimated_wait", lambda: queue.estimated_wait("default", 5))
    queue.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL DSN ('' to skip)")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.tickets)
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            results["postgres"] = run(f"{args.pg}?schema={schema}", args.tickets)
        finally:
            import psycopg

            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print(f"{args.tickets} tickets, latency per call in ms")
    print(f"{'backend':<10}{'operation':<22}{'calls':>7}{'p50':>9}{'p99':>9}{'mean':>9}")
    for backend, samples in results.items():
        for name, values in samples.items():
            print(f"{backend:<10}{name:<22}{len(values):>7}{percentile(values, 50):>9.2f}"
                  f"{percentile(values, 99):>9.2f}{statistics.fmean(values):>9.2f}")


if __name__ == "__main__":
    main()
