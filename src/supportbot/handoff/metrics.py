"""Handoff metrics: escalation reasons, time to claim, handle time, CSAT, containment."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from supportbot.errors import HandoffError
from supportbot.handoff.base import HandoffQueue
from supportbot.handoff.models import Status
from supportbot.handoff.routing import percentile


@dataclass(frozen=True)
class HandoffMetrics:
    """Figures for a period. Times are seconds; None where there is nothing to measure."""

    total_conversations: int
    escalated_conversations: int
    tickets: int
    containment_rate: float | None  # share of conversations the bot finished without a person
    escalations_by_reason: Mapping[str, int] = field(default_factory=dict)
    tickets_by_status: Mapping[str, int] = field(default_factory=dict)
    time_to_claim_p50: float | None = None
    time_to_claim_p90: float | None = None
    handle_time_p50: float | None = None
    handle_time_p90: float | None = None
    csat_average: float | None = None
    csat_count: int = 0

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a printed table."""

        def fmt(value: float | None, unit: str = "s") -> str:
            return "-" if value is None else f"{value:.1f}{unit}"

        rows = [
            ("conversations", str(self.total_conversations)),
            ("escalated conversations", str(self.escalated_conversations)),
            ("containment rate", "-" if self.containment_rate is None
             else f"{self.containment_rate:.1%}"),
            ("tickets", str(self.tickets)),
            ("time to claim p50 / p90",
             f"{fmt(self.time_to_claim_p50)} / {fmt(self.time_to_claim_p90)}"),
            ("handle time p50 / p90", f"{fmt(self.handle_time_p50)} / {fmt(self.handle_time_p90)}"),
            ("CSAT average (count)", f"{fmt(self.csat_average, '')} ({self.csat_count})"),
        ]
        rows += [(f"status {k}", str(v)) for k, v in self.tickets_by_status.items()]
        rows += [(f"reason {k}", str(v)) for k, v in self.escalations_by_reason.items()]
        return rows


def compute_metrics(queue: HandoffQueue, total_conversations: int, *,
                    since: float | None = None) -> HandoffMetrics:
    """Metrics over tickets created since `since` (all when None).

    `total_conversations` is how many conversations the bot had in the same period (the queue only
    knows the escalated ones); containment = 1 - escalated / total.
    """
    if total_conversations < 0:
        raise HandoffError(f"total_conversations must be >= 0, got {total_conversations}")
    tickets = queue.list(since=since)
    reasons: Counter[str] = Counter()
    for ticket in tickets:
        for code in {r.code for r in ticket.reasons}:
            reasons[code] += 1
    statuses = Counter(t.status.value for t in tickets)
    escalated = len({t.conversation_id for t in tickets})
    claims = [c.waited_s for c in queue.claim_log(since=since)]
    handle = [t.resolved_at - t.assigned_at for t in tickets
              if t.status in (Status.RESOLVED, Status.RETURNED)
              and t.assigned_at is not None and t.resolved_at is not None]
    scores = [t.csat for t in tickets if t.csat is not None]
    containment = None
    if total_conversations:
        containment = max(0.0, 1.0 - escalated / total_conversations)
    return HandoffMetrics(
        total_conversations=total_conversations, escalated_conversations=escalated,
        tickets=len(tickets), containment_rate=containment,
        escalations_by_reason=dict(reasons.most_common()),
        tickets_by_status={s.value: statuses.get(s.value, 0) for s in Status},
        time_to_claim_p50=percentile(claims, 50), time_to_claim_p90=percentile(claims, 90),
        handle_time_p50=percentile(handle, 50), handle_time_p90=percentile(handle, 90),
        csat_average=sum(scores) / len(scores) if scores else None, csat_count=len(scores),
    )
