"""The interface every handoff queue backend implements."""
from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from supportbot.handoff.models import (
    Agent,
    ClaimRecord,
    OutboxKind,
    OutboxMessage,
    QueueStats,
    Status,
    Ticket,
    TicketRequest,
    TranscriptMessage,
)


@runtime_checkable
class HandoffQueue(Protocol):
    """A durable queue of conversations waiting for, or owned by, human agents.

    Every mutation is one transaction; an illegal transition or unknown id raises HandoffError.
    """

    # ---------------------------------------------------------------- tickets
    def enqueue(self, request: TicketRequest) -> Ticket:
        """Open a waiting ticket. HandoffError if the conversation already has an open one."""

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with its transcript; HandoffError naming the id when unknown."""

    def open_ticket_for(self, conversation_id: str) -> Ticket | None:
        """The conversation's waiting or assigned ticket, if any."""

    def list(self, status: Status | str | None = None, queue: str | None = None,
             agent_id: str | None = None, *, since: float | None = None,
             limit: int | None = None, with_transcript: bool = False) -> builtins.list[Ticket]:
        """Tickets matching every given filter, oldest first (transcripts only when asked)."""

    def claim(self, agent_id: str, ticket_id: str | None = None) -> Ticket | None:
        """Atomically assign the best waiting ticket this agent may take (or the named one)."""

    def add_customer_message(self, ticket_id: str, text: str) -> TranscriptMessage:
        """Append a customer message to an open ticket's transcript."""

    def agent_send(self, ticket_id: str, agent_id: str, text: str) -> OutboxMessage:
        """Append the agent's message to the transcript and to the outbox for delivery."""

    def resolve(self, ticket_id: str, agent_id: str) -> Ticket:
        """The holding agent closes the ticket as resolved."""

    def return_to_bot(self, ticket_id: str, agent_id: str) -> Ticket:
        """The holding agent gives the conversation back to the bot."""

    def transfer(self, ticket_id: str, queue: str | None = None,
                 agent_id: str | None = None) -> Ticket:
        """Back to waiting in `queue`, or straight to `agent_id` when that agent has room."""

    def cancel(self, ticket_id: str) -> Ticket:
        """The customer stopped waiting (or left) before the ticket was resolved."""

    def set_csat(self, ticket_id: str, score: int) -> Ticket:
        """Record a 1-5 satisfaction score on a closed ticket."""

    # ---------------------------------------------------------------- outbox
    def pending_outbox(self, conversation_id: str | None = None, *,
                       due_at: float | None = None) -> builtins.list[OutboxMessage]:
        """Undelivered outbox messages, oldest first; not those given up on. With `due_at`,
        only those whose next retry is due by then."""

    def failed_outbox(self, limit: int = 100) -> builtins.list[OutboxMessage]:
        """Outbox messages given up on after their last retry, newest first."""

    def record_attempt(self, message_id: str, error: str,
                       retry_at: float | None) -> OutboxMessage:
        """A delivery attempt failed: count it and retry at `retry_at`, or give up (None)."""

    def post_notice(self, ticket_id: str, kind: OutboxKind) -> OutboxMessage:
        """Put a bot notice about an open ticket (e.g. `timeout`) on the outbox."""

    def mark_delivered(self, message_ids: Iterable[str]) -> int:
        """Mark outbox messages delivered; returns how many changed."""

    # ---------------------------------------------------------------- agents
    def upsert_agent(self, agent: Agent) -> Agent:
        """Create or replace an agent's profile."""

    def set_online(self, agent_id: str, online: bool) -> Agent:
        """Mark an agent online or offline."""

    def agents(self) -> builtins.list[Agent]:
        """Every known agent, by id."""

    def get_agent(self, agent_id: str) -> Agent:
        """One agent; HandoffError when unknown."""

    # ---------------------------------------------------------------- waiting line
    def position(self, ticket_id: str) -> int:
        """1-based place of a waiting ticket among waiting tickets of its queue."""

    def estimated_wait(self, queue: str, position: int) -> float | None:
        """Expected seconds until a ticket at `position` is claimed; None when unknown."""

    def claim_log(self, queue: str | None = None, *, since: float | None = None,
                  limit: int | None = None) -> builtins.list[ClaimRecord]:
        """Recorded claims, newest first."""

    def stats(self) -> QueueStats:
        """Waiting/assigned counts per queue, agents online, oldest waiting age."""

    def close(self) -> None:
        """Release connections."""
