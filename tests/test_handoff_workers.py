"""Child-process bodies for test_handoff_concurrency (spawned; kept free of pytest imports so each
child starts quickly). This module holds no tests."""
from __future__ import annotations

import signal
import threading

from supportbot.errors import HandoffError
from supportbot.handoff import TicketRequest, open_queue


def claim_until_full(url: str, agent_ids: list[str], start, results) -> None:
    """Each agent (one thread each) claims until refused at its limit or nothing is left."""
    queue = open_queue(url)

    def work(agent_id: str) -> None:
        start.wait(60)
        claimed: list[str] = []
        refused = ""
        while True:
            try:
                ticket = queue.claim(agent_id)
            except HandoffError as exc:
                refused = str(exc)
                break
            if ticket is None:
                break
            claimed.append(ticket.id)
        queue.close()  # this thread's connection
        results.put((agent_id, claimed, refused))

    threads = [threading.Thread(target=work, args=(a,)) for a in agent_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def do_then_hang(url: str, op: str, ticket_id: str | None, done) -> None:
    """Run one mutation, report its result, then wait to be killed with SIGKILL."""
    queue = open_queue(url)
    if op == "enqueue":
        result = queue.enqueue(TicketRequest("killed-conv", language="en")).id
    elif op == "add_customer_message":
        result = queue.add_customer_message(ticket_id, "written just before the crash").text
    else:
        result = queue.agent_send(ticket_id, "a1", "reply just before the crash").id
    done.put(result)  # the call has returned; the parent kills us now
    signal.pause()


def open_at_once(url: str, start, results) -> None:
    """Open the queue (creating a new database) at the same moment as the other children."""
    start.wait(60)
    try:
        queue = open_queue(url)
        queue.close()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")
