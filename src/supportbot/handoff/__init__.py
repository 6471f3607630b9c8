"""The human handoff queue: tickets, agents, routing, business hours, messages and metrics.

Open a queue with `open_queue("sqlite:///.supportbot/handoff.db")` (or a postgresql:// URL); see
docs/handoff.md.
"""
from __future__ import annotations

from supportbot.handoff.base import HandoffQueue
from supportbot.handoff.cancel import is_cancel_request
from supportbot.handoff.config import (
    DEFAULT_QUEUE_URL,
    AgentDefaults,
    BusinessHoursConfig,
    HandoffConfig,
    load_handoff_config,
    resolve_queue_url,
    validate_handoff_section,
)
from supportbot.handoff.factory import open_queue
from supportbot.handoff.hours import BusinessHours, ScheduleError, format_next_open
from supportbot.handoff.metrics import HandoffMetrics, compute_metrics
from supportbot.handoff.models import (
    Agent,
    ClaimRecord,
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
from supportbot.handoff.responses import (
    HANDOFF_RESPONSE_NAMES,
    closed_hours_message,
    default_handoff_domain_responses,
    default_handoff_responses,
    queued_message,
)
from supportbot.handoff.routing import estimate_wait, wait_minutes
from supportbot.handoff.sqlite import SQLiteQueue
from supportbot.handoff.summary import (
    summary_from_tracker,
    ticket_request_from_tracker,
    transcript_from_tracker,
)

__all__ = [
    "DEFAULT_QUEUE_URL", "HANDOFF_RESPONSE_NAMES", "Agent", "AgentDefaults", "BusinessHours",
    "BusinessHoursConfig", "ClaimRecord", "HandoffConfig", "HandoffMetrics", "HandoffQueue",
    "OutboxMessage", "QueueCounts", "QueueStats", "Reason", "SQLiteQueue", "ScheduleError",
    "Status", "Ticket", "TicketRequest", "TicketSummary", "TranscriptMessage",
    "closed_hours_message", "compute_metrics", "default_handoff_domain_responses",
    "default_handoff_responses", "estimate_wait", "format_next_open", "is_cancel_request",
    "load_handoff_config", "open_queue", "queued_message", "resolve_queue_url",
    "summary_from_tracker", "ticket_request_from_tracker", "transcript_from_tracker",
    "validate_handoff_section", "wait_minutes",
]
