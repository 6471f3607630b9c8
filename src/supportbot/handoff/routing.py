"""Pure routing arithmetic shared by every backend: wait estimates and percentiles."""
from __future__ import annotations

import math
from collections.abc import Sequence

from supportbot.handoff.models import ClaimRecord


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def estimate_wait(recent: Sequence[ClaimRecord], position: int, agents_online: int) -> float | None:
    """Seconds a ticket at `position` can expect to wait, or None when there is no basis.

    Each recent claim says how long one place in line took with the agents online then:
    `waited * agents_then / position_then`. The median of that, scaled to this position and to the
    agents online now, is the estimate. No online agent, or no claim history -> None (unknown).
    """
    if agents_online <= 0 or not recent or position < 1:
        return None
    per_place = percentile(
        [r.waited_s * max(1, r.agents_online) / max(1, r.position) for r in recent], 50)
    assert per_place is not None
    return per_place * position / agents_online


def wait_minutes(seconds: float) -> int:
    """Minutes to show a customer: rounded up, at least 1."""
    return max(1, math.ceil(seconds / 60.0))
