"""The server's periodic work: queue claim timeouts, SLA breaches and business-hours changes."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.server")


@dataclass
class BackgroundStats:
    """What the background loop has done (shown by `GET /status`)."""

    runs: int = 0
    last_run_at: float | None = None
    errors: int = 0
    timeouts_notified: int = 0
    outbox_delivered: int = 0
    outbox_retrying: int = 0
    outbox_failed: int = 0
    sla_breaches: int = 0
    business_hours_open: bool | None = None
    business_hours_changed_at: float | None = None
    _breached: set[str] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class BackgroundTasks:
    """Runs `tick` every `interval` seconds in a worker thread, never on the event loop.

    Each tick: `bot.queue.dispatch()` (delivers outbox messages other processes wrote, e.g.
    `supportbot queue send`, and retries failed deliveries), `bot.queue.check_timeouts()` (apologises to customers whose ticket waited past
    `claim_timeout`), logs each waiting ticket that passes its SLA (once per ticket), and logs
    when the business hours open or close. A failing tick is logged and the loop goes on.
    """

    def __init__(self, runtime: BotRuntime, interval: float):
        self.runtime = runtime
        self.interval = interval
        self.stats = BackgroundStats()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._loop(), name="supportbot-background")

    async def stop(self) -> None:
        """Stop after the tick in progress (if any) ends."""
        self._stop.set()
        if self._task is not None:
            try:
                await self._task
            finally:
                self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # keep the loop alive; the log has the trace
                self.stats.errors += 1
                log.exception("background check failed")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    def tick(self, now: float | None = None) -> None:
        """One round of checks (synchronous; the loop runs it in a thread). `now`: the time
        SLA deadlines are judged against (default: the clock)."""
        bot = self.runtime.bot
        now = time.time() if now is None else now
        sent = bot.queue.dispatch(now=now)  # other processes' agent messages, due retries
        self.stats.outbox_delivered += sent.delivered
        self.stats.outbox_retrying = sent.retrying
        self.stats.outbox_failed += sent.failed
        told = bot.queue.check_timeouts()
        if told:
            self.stats.timeouts_notified += len(told)
            log.info("queue timeout notice sent to %d conversation(s): %s", len(told),
                     ", ".join(told))
        waiting = bot.queue.list(status="waiting")
        still_waiting = {t.id for t in waiting}
        for ticket in waiting:
            if ticket.sla_breached(now) and ticket.id not in self.stats._breached:
                self.stats._breached.add(ticket.id)
                self.stats.sla_breaches += 1
                log.warning("SLA breached: ticket %s (queue %s, priority %s) waiting %d s",
                            ticket.id, ticket.queue, ticket.priority,
                            int(now - ticket.created_at))
        self.stats._breached &= still_waiting
        is_open = bot.queue.config.hours().is_open()
        if self.stats.business_hours_open is not None and is_open != self.stats.business_hours_open:
            self.stats.business_hours_changed_at = now
            log.info("business hours: the human queue is now %s", "open" if is_open else "closed")
        self.stats.business_hours_open = is_open
        self.stats.runs += 1
        self.stats.last_run_at = now
