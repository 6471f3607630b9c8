"""The one path for messages that do not answer a customer's turn.

Every agent action (claim, reply, resolve, return, transfer) and every queue notice (a ticket
waited too long) writes an outbox row in the same transaction as the queue change. The
dispatcher then, for each row in order:

1. records it in the conversation log, once (the events carry the row's id): the agent's
   message, "Anna joined", the end of the handoff with the CSAT question;
2. sends it through the conversation's output adapter (`bot.outbound`: a server's channels, or
   the library caller's callback) and, for an agent reply to a customer who left an email
   address outside business hours, by email;
3. marks it delivered, or counts the failed attempt and retries later with backoff, giving up
   visibly (`failed_outbox()`) after the last attempt.

Without an output adapter the conversation log is the delivery (REST, web chat and library
callers read it), so a recorded row is delivered. A process that only records (the CLI, with
channels living in the server) leaves rows pending for the process that sends them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supportbot.dialogue.events import AgentMessage, BotReply, Event, HandoffEnded
from supportbot.dialogue.nlg import Reply
from supportbot.handoff.email import EMAIL_METADATA_KEY, EmailSender
from supportbot.handoff.models import OutboxMessage
from supportbot.project.types import Button

if TYPE_CHECKING:
    from supportbot.dialogue.conversation_log import ConversationLog
    from supportbot.dialogue.render import Renderer
    from supportbot.dialogue.tracker import Tracker
    from supportbot.handoff import HandoffConfig, HandoffQueue

log = logging.getLogger(__name__)

ASK_CSAT_ACTION = "ask_csat"
# what the bot does for each kind of row: (response, action name) in order
_NOTICES: dict[str, tuple[tuple[str, str], ...]] = {
    "agent_joined": (("utter_handoff_agent_joined", "handoff_agent_joined"),),
    "resolved": (("utter_handoff_resolved", "handoff_ended"),
                 ("utter_ask_csat", ASK_CSAT_ACTION)),
    "returned": (("utter_handoff_resolved", "handoff_ended"),),
    "timeout": (("utter_handoff_timeout", "handoff_timeout"),),
}


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed delivery again: `first_delay` seconds, doubling up to `max_delay`;
    after `max_attempts` failed attempts the row is given up on."""

    first_delay: float = 5.0
    max_delay: float = 600.0
    max_attempts: int = 8

    def retry_at(self, failed_before: int, now: float) -> float | None:
        """When to retry after the attempt that just failed; None = give up."""
        if failed_before + 1 >= self.max_attempts:
            return None
        return now + min(self.max_delay, self.first_delay * 2 ** failed_before)


@dataclass(frozen=True)
class Prepared:
    """A recorded outbox row and the messages it sends."""

    message: OutboxMessage
    replies: tuple[Reply, ...]


@dataclass
class DispatchReport:
    """What one dispatch did."""

    recorded: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        self.recorded += other.recorded
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.failed += other.failed
        self.errors.extend(other.errors)


class OutboxDispatcher:
    """Records, sends and marks delivered the queue's outbox rows (see the module docstring)."""

    def __init__(self, backend: Callable[[], HandoffQueue], log: ConversationLog,
                 renderer: Renderer, config: HandoffConfig, email: EmailSender | None = None,
                 retry: RetryPolicy | None = None):
        self._backend = backend
        self.log = log
        self.renderer = renderer
        self.config = config
        self.email = email
        self.retry = retry or RetryPolicy()
        # True in a process that must not send (the CLI: the server's channels send)
        self.record_only = False

    # ------------------------------------------------------------------ entry points
    def dispatch(self, conversation_id: str | None = None, *,
                 now: float | None = None) -> DispatchReport:
        """Record and send pending rows (of one conversation, or all whose retry is due)."""
        due = None if conversation_id is not None else (time.time() if now is None else now)
        rows = self._backend().pending_outbox(conversation_id, due_at=due)
        report = DispatchReport()
        for cid in dict.fromkeys(r.conversation_id for r in rows):
            with self.log.locked(cid) as tracker:
                prepared = self.record_and_store(tracker)
            report.add(self.send(prepared))
        return report

    def record_and_store(self, tracker: Tracker) -> list[Prepared]:
        """`record` for a caller that holds the conversation's lock but no turn: the new
        events go straight to the tracker store."""
        added: list[Event] = []
        prepared = self.record(tracker, _appender(tracker, added))
        self.log.store.append(tracker.conversation_id, added)
        return prepared

    def record(self, tracker: Tracker, add: Callable[[Event], None]) -> list[Prepared]:
        """Record the conversation's pending rows through `add` (the caller holds the
        conversation's lock and stores what `add` collects); rows recorded before are not
        recorded again. Returns what to send."""
        rows = self._backend().pending_outbox(tracker.conversation_id)
        if not rows:
            return []
        recorded = _recorded_by_row(tracker)
        prepared: list[Prepared] = []
        for row in rows:
            if row.id in recorded:
                prepared.append(Prepared(row, tuple(recorded[row.id])))
            else:
                prepared.append(Prepared(row, tuple(self._record_row(row, tracker, add))))
        return prepared

    def send(self, prepared: Sequence[Prepared]) -> DispatchReport:
        """Send recorded rows in order; a conversation's later rows wait for a failed one."""
        report = DispatchReport(recorded=len(prepared))
        if self.record_only:
            return report
        output = self.log.outbound
        blocked: set[str] = set()
        for item in prepared:
            row = item.message
            if row.conversation_id in blocked:
                continue
            try:
                if output is not None:
                    for reply in item.replies:
                        output(row.conversation_id, reply)
            except Exception as exc:  # noqa: BLE001 - any channel failure is retried
                blocked.add(row.conversation_id)
                self._failed(row, exc, report)
                continue
            self._backend().mark_delivered([row.id])
            report.delivered += 1
            if row.kind == "message":
                self._email(row)
        return report

    # ------------------------------------------------------------------ internals
    def _record_row(self, row: OutboxMessage, tracker: Tracker,
                    add: Callable[[Event], None]) -> list[Reply]:
        marker = {"outbox_id": row.id, "ticket_id": row.ticket_id}
        if row.kind == "message":
            add(AgentMessage(agent_id=row.agent_id or "", text=row.text, outbox_id=row.id))
            return [Reply(row.text)]
        if row.kind in ("resolved", "returned") and tracker.open_ticket_id == row.ticket_id:
            add(HandoffEnded(ticket_id=row.ticket_id, outcome=row.kind))
        replies: list[Reply] = []
        for response, action in _NOTICES.get(row.kind, ()):
            if action == ASK_CSAT_ACTION and not self.config.ask_csat:
                continue
            values = {"agent_name": row.agent_name or row.agent_id or ""}
            reply = self.renderer.response(response, tracker, tracker.language or row.language,
                                           row.channel, values)
            if reply is None:
                continue
            add(reply_event(reply, response, action, _why(row), marker))
            replies.append(reply)
        return replies

    def _failed(self, row: OutboxMessage, exc: Exception, report: DispatchReport) -> None:
        error = f"{type(exc).__name__}: {exc}"
        retry_at = self.retry.retry_at(row.attempts, time.time())
        self._backend().record_attempt(row.id, error, retry_at)
        report.errors.append(error)
        if retry_at is None:
            report.failed += 1
            log.error("outbox message %s (%s) for conversation %s given up after %d attempts: "
                      "%s", row.id, row.kind, row.conversation_id, row.attempts + 1, error)
        else:
            report.retrying += 1
            log.warning("outbox message %s (%s) for conversation %s not delivered (%s); "
                        "retrying in %.0f s", row.id, row.kind, row.conversation_id, error,
                        retry_at - time.time())

    def _email(self, row: OutboxMessage) -> None:
        """Also email an agent's reply when the customer left an address; never raises (the
        chat message is delivered)."""
        if self.email is None:
            return
        try:
            ticket = self._backend().get(row.ticket_id)
            address = ticket.metadata.get(EMAIL_METADATA_KEY)
            if isinstance(address, str) and address:
                self.email.send(address, ticket.id, row.text)
        except Exception:
            log.exception("email for ticket %s failed", row.ticket_id)


def reply_event(reply: Reply, template: str, action: str, reason: str,
                data: dict[str, Any] | None = None) -> BotReply:
    """The log event for a reply the bot sends."""
    return BotReply(text=reply.text,
                    buttons=tuple({"title": b.title, "payload": b.payload} for b in reply.buttons),
                    template=template, action=action, reason=reason, data=data or {})



def _appender(tracker: Tracker, added: list[Event]) -> Callable[[Event], None]:
    def add(event: Event) -> None:
        tracker.append(event)  # later notices see earlier ones (no repeated variation)
        added.append(event)

    return add


def _recorded_by_row(tracker: Tracker) -> dict[str, list[Reply]]:
    """Outbox rows already in the log, with the messages they sent."""
    out: dict[str, list[Reply]] = {}
    for event in tracker.events:
        if isinstance(event, AgentMessage) and event.outbox_id:
            out.setdefault(event.outbox_id, []).append(Reply(event.text))
        elif isinstance(event, BotReply) and event.data.get("outbox_id"):
            out.setdefault(str(event.data["outbox_id"]), []).append(Reply(
                event.text, tuple(Button(str(b.get("title", "")), str(b.get("payload", "")))
                                  for b in event.buttons)))
    return out


def _why(row: OutboxMessage) -> str:
    if row.kind == "agent_joined":
        return f"agent {row.agent_id} took ticket {row.ticket_id}"
    if row.kind == "timeout":
        return f"ticket {row.ticket_id} waited past the claim timeout"
    if row.kind == "resolved":
        return f"ticket {row.ticket_id} resolved by {row.agent_id}"
    return f"ticket {row.ticket_id} {row.kind}"
