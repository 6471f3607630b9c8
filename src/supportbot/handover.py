"""The bot's side of a human handoff: open tickets, stay silent while a person owns the
conversation, relay agent messages, and take the conversation back (with a CSAT question)."""
from __future__ import annotations

import atexit
import builtins
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from supportbot.dialogue.events import Event, HandoffEnded, HandoffRequested
from supportbot.dialogue.nlg import Reply
from supportbot.errors import (
    ConversationError,
    HandoffError,
    TicketStateError,
    UnknownTicketError,
)
from supportbot.handoff import (
    HandoffConfig,
    HandoffQueue,
    Status,
    Ticket,
    TicketRequest,
    closed_hours_message,
    compute_metrics,
    is_cancel_request,
    open_queue,
    queued_message,
    ticket_request_from_tracker,
)
from supportbot.handoff.config import QUEUE_URL_ENV
from supportbot.handoff.email import (
    EMAIL_METADATA_KEY,
    EmailSender,
    SmtpConfig,
    find_email,
    looks_like_email_attempt,
    set_ticket_metadata,
)
from supportbot.handoff.metrics import HandoffMetrics
from supportbot.outbox import (
    ASK_CSAT_ACTION,
    DispatchReport,
    OutboxDispatcher,
    RetryPolicy,
    reply_event,
)
from supportbot.textnorm import normalize_text

if TYPE_CHECKING:
    from supportbot.bot import HandoffInfo
    from supportbot.dialogue.conversation_log import ConversationLog
    from supportbot.dialogue.render import Renderer
    from supportbot.dialogue.tracker import Tracker
    from supportbot.escalation import Decision
    from supportbot.nlu.parse import Parse

log = logging.getLogger(__name__)
_CSAT_DIGIT = re.compile(r"^\s*([1-5])\s*(?:/\s*5)?\s*[.!]?\s*$")
WAITING_ACTION = "human_owned"
EMAIL_OFFER_ACTION = "handoff_email_offer"
EMAIL_SAVED_ACTION = "handoff_email_saved"
EMAIL_INVALID_ACTION = "handoff_email_invalid"


def library_queue_url(explicit: str | None) -> str:
    """The queue a library `Bot` uses: the argument, else $SUPPORTBOT_QUEUE_URL, else a
    temporary SQLite database (removed at exit). A model's packed `handoff.backend` is never
    used: where transcripts go is the operator's choice, not the model file's."""
    url = explicit or os.environ.get(QUEUE_URL_ENV)
    if url:
        return url
    folder = tempfile.mkdtemp(prefix="supportbot-queue-")
    atexit.register(shutil.rmtree, folder, True)
    log.warning("no queue given (queue= or $%s): handoff tickets are kept in a temporary "
                "database that is removed at exit", QUEUE_URL_ENV)
    return f"sqlite:///{folder}/handoff.db"


class BotQueue:
    """`bot.queue`: the agents' desk. Every agent action changes the queue (which puts what
    the customer must hear on its durable outbox) and then dispatches the outbox: the one path
    by which agent messages and ticket notices reach the conversation log and the channel."""

    def __init__(self, log: ConversationLog, renderer: Renderer, config: HandoffConfig,
                 queue: HandoffQueue | str | None, smtp: SmtpConfig | None = None,
                 retry: RetryPolicy | None = None):
        self.log = log
        self.smtp = smtp
        self.email = EmailSender(smtp) if smtp is not None else None
        self.renderer = renderer
        self.config = config
        self._queue = queue if queue is not None and not isinstance(queue, str) else None
        self._url = queue if isinstance(queue, str) else None
        self.dispatcher = OutboxDispatcher(lambda: self.backend, log, renderer, config,
                                           self.email, retry)

    def open(self) -> HandoffQueue:
        """Open the queue now (raises QueueConfigError for a bad URL or database)."""
        return self.backend

    @property
    def backend(self) -> HandoffQueue:
        """The underlying queue, opened on first use."""
        if self._queue is None:
            self._queue = open_queue(library_queue_url(self._url), self.config)
        return self._queue

    # ------------------------------------------------------------------ agent operations
    def list(self, status: str | None = None, queue: str | None = None) -> list[Ticket]:
        return self.backend.list(status=status, queue=queue)

    def stats(self) -> Any:
        return self.backend.stats()

    def claim(self, agent_id: str, ticket_id: str | None = None) -> Ticket | None:
        """Give `agent_id` its best waiting ticket (or `ticket_id`); the customer is told."""
        ticket = self.backend.claim(agent_id, ticket_id)  # the queue serialises claims
        if ticket is not None:
            self.dispatch(ticket.conversation_id)
        return ticket

    def send(self, ticket_id: str, agent_id: str, text: str) -> None:
        """An agent's message to the customer, through the conversation's channel (and by
        email when the customer left an address outside business hours).

        The text is normalized like customer text (`supportbot.textnorm.normalize_text`);
        HandoffError when nothing visible is left."""
        if not isinstance(text, str):
            raise HandoffError(f"agent message must be a string, got {type(text).__name__}")
        text = normalize_text(text)
        if not text:
            raise HandoffError("agent message is empty (or only invisible characters)")
        message = self.backend.agent_send(ticket_id, agent_id, text)
        self.dispatch(message.conversation_id)

    def resolve(self, ticket_id: str, agent_id: str) -> Ticket:
        """Close the ticket; the conversation returns to the bot, which asks for a 1-5 score."""
        return self._end(ticket_id, lambda: self.backend.resolve(ticket_id, agent_id))

    def return_to_bot(self, ticket_id: str, agent_id: str) -> Ticket:
        return self._end(ticket_id, lambda: self.backend.return_to_bot(ticket_id, agent_id))

    def transfer(self, ticket_id: str, queue: str | None = None,
                 agent_id: str | None = None) -> Ticket:
        ticket = self.backend.transfer(ticket_id, queue=queue, agent_id=agent_id)
        self.dispatch(ticket.conversation_id)
        return ticket

    def dispatch(self, conversation_id: str | None = None, *,
                 now: float | None = None) -> DispatchReport:
        """Deliver the outbox: one conversation's pending messages, or every message whose
        (re)try is due. Agent operations call it; a server calls it periodically so messages
        written by other processes (`supportbot queue send`) and failed deliveries go out."""
        return self.dispatcher.dispatch(conversation_id, now=now)

    def metrics(self, since: float | None = None) -> HandoffMetrics:
        """Containment, escalations by reason, time to claim, handle time, CSAT."""
        return compute_metrics(self.backend, total_conversations=self.log.count(),
                               since=since)

    def check_timeouts(self) -> builtins.list[str]:
        """Apologise to customers whose ticket waited longer than `claim_timeout` (once each);
        returns their conversation ids. Call it periodically (a server does)."""
        now = time.time()
        told: builtins.list[str] = []
        pending = {(m.ticket_id, m.kind) for m in self.backend.pending_outbox()}
        for ticket in self.backend.list(status="waiting"):
            if now - ticket.created_at < self.config.claim_timeout:
                continue
            if (ticket.id, "timeout") in pending:
                continue
            tracker = self.log.store.load(ticket.conversation_id)
            if any(r.template == "utter_handoff_timeout" and r.data.get("ticket_id") == ticket.id
                   for r in tracker.bot_replies(session_only=False)):
                continue
            self.backend.post_notice(ticket.id, "timeout")
            self.dispatch(ticket.conversation_id)
            told.append(ticket.conversation_id)
        return told

    # ------------------------------------------------------------------ internals
    def _end(self, ticket_id: str, close: Callable[[], Ticket]) -> Ticket:
        """Close the ticket and record the end under the conversation's lock, so a customer
        turn in between cannot log the end a second time; send after releasing it."""
        conversation_id = self.backend.get(ticket_id).conversation_id
        with self.log.locked(conversation_id) as tracker:
            ticket = close()
            prepared = self.dispatcher.record_and_store(tracker)
        self.dispatcher.send(prepared)
        return ticket


class HandoffFlow:
    """What `Bot.handle` does around handoffs."""

    def __init__(self, queue: BotQueue, renderer: Renderer):
        self.queue = queue
        self.renderer = renderer

    def owner(self, tracker: Tracker, add: Callable[[Event], None]) -> Ticket | None:
        """The open ticket that owns the conversation, if any.

        The queue is the one source of truth for "a person owns this conversation"; the
        conversation log follows it: a ticket closed elsewhere (an agent in another process)
        gets its HandoffEnded, an open ticket the log does not know (conversation state lost
        or kept elsewhere) gets its HandoffRequested.
        """
        ticket = self.queue.backend.open_ticket_for(tracker.conversation_id)
        logged = tracker.open_ticket_id
        if logged is not None and (ticket is None or ticket.id != logged):
            add(HandoffEnded(ticket_id=logged, outcome=self._outcome(logged)))
        if ticket is not None and tracker.open_ticket_id != ticket.id:
            add(HandoffRequested(ticket_id=ticket.id,
                                 reasons=tuple(r.to_dict() for r in ticket.reasons),
                                 queue=ticket.queue, priority=ticket.priority))
        return ticket

    def _outcome(self, ticket_id: str) -> str:
        try:
            return self.queue.backend.get(ticket_id).status.value
        except UnknownTicketError:  # e.g. the queue database was replaced
            return "lost"

    def while_owned(self, ticket: Ticket, tracker: Tracker, parse: Parse, channel: str,
                    add: Callable[[Event], None]) -> tuple[list[Reply], str, str]:
        """A customer message while a person owns the conversation: bot stays quiet."""
        status = ticket.status
        if status is Status.WAITING and is_cancel_request(parse.text):
            self.queue.backend.cancel(ticket.id)
            add(HandoffEnded(ticket_id=ticket.id, outcome="cancelled"))
            reply = self._say("utter_handoff_cancelled", {}, tracker, parse.language, channel,
                              "handoff_cancelled", "customer stopped waiting", add)
            return [reply] if reply else [], "handoff_cancelled", "customer stopped waiting"
        self.queue.backend.add_customer_message(ticket.id, parse.text)
        email_step = self._email_address(ticket, tracker, parse, channel, add)
        if email_step is not None:
            return email_step
        if (status is Status.WAITING and parse.intent == "handoff_keep_waiting"
                and parse.from_payload):
            position = self.queue.backend.position(ticket.id)
            wait = self.queue.backend.estimated_wait(ticket.queue, position)
            name, values = queued_message(position, wait)
            reply = self._say(name, values, tracker, parse.language, channel, "handoff_waiting",
                              "customer keeps waiting", add)
            return [reply] if reply else [], "handoff_waiting", "customer keeps waiting"
        return [], WAITING_ACTION, f"ticket {ticket.id} is {status.value}; message added to it"

    def _email_address(self, ticket: Ticket, tracker: Tracker, parse: Parse, channel: str,
                       add: Callable[[Event], None]) -> tuple[list[Reply], str, str] | None:
        """After the email offer: keep an address found in the message on the ticket and confirm;
        ask again (once) when the message holds a broken address."""
        if (ticket.status is not Status.WAITING or self.queue.email is None
                or ticket.metadata.get(EMAIL_METADATA_KEY)):
            return None
        replies = [r for r in tracker.bot_replies(session_only=False)
                   if r.data.get("ticket_id") == ticket.id]
        if not any(r.action == EMAIL_OFFER_ACTION for r in replies):
            return None
        address = find_email(parse.text)
        if address is not None:
            set_ticket_metadata(self.queue.backend, ticket.id, {EMAIL_METADATA_KEY: address})
            why = f"customer left an email address for ticket {ticket.id}"
            reply = self._say("utter_handoff_email_saved", {}, tracker, parse.language, channel,
                              EMAIL_SAVED_ACTION, why, add, {"ticket_id": ticket.id})
            return ([reply] if reply else []), EMAIL_SAVED_ACTION, why
        if (looks_like_email_attempt(parse.text)
                and not any(r.action == EMAIL_INVALID_ACTION for r in replies)):
            why = f"the email address for ticket {ticket.id} looks incomplete; asking once more"
            reply = self._say("utter_handoff_email_invalid", {}, tracker, parse.language, channel,
                              EMAIL_INVALID_ACTION, why, add, {"ticket_id": ticket.id})
            return ([reply] if reply else []), EMAIL_INVALID_ACTION, why
        return None

    def start(self, decision: Decision, tracker: Tracker, parse: Parse, channel: str,
              customer_id: str, add: Callable[[Event], None]) -> tuple[list[Reply], Ticket]:
        request = ticket_request_from_tracker(
            tracker, decision.reason_dicts(), queue=decision.queue, priority=decision.priority,
            channel=channel, customer_id=customer_id, language=parse.language)
        ticket = self._enqueue_or_rejoin(request, parse.text)
        add(HandoffRequested(ticket_id=ticket.id, reasons=decision.reason_dicts(),
                             queue=ticket.queue, priority=ticket.priority))
        hours = self.queue.config.hours()
        if not hours.is_open():
            name, values = closed_hours_message(hours, parse.language)
        else:
            position = self.queue.backend.position(ticket.id)
            name, values = queued_message(position,
                                          self.queue.backend.estimated_wait(ticket.queue, position))
        why = "; ".join(r["explanation"] for r in decision.reason_dicts())
        reply = self._say(name, values, tracker, parse.language, channel, "handoff", why, add,
                          {"ticket_id": ticket.id})
        replies = [reply] if reply else []
        if (name == "utter_handoff_closed_hours" and self.queue.email is not None
                and not ticket.metadata.get(EMAIL_METADATA_KEY)):
            offer = self._say("utter_handoff_email_offer", {}, tracker, parse.language, channel,
                              EMAIL_OFFER_ACTION, "outside business hours: offering email", add,
                              {"ticket_id": ticket.id})
            if offer is not None:
                replies.append(offer)
        return replies, ticket

    def _enqueue_or_rejoin(self, request: TicketRequest, text: str) -> Ticket:
        """Open a ticket, or rejoin the conversation's open one.

        A ticket outlives conversation state kept in memory: after a restart the tracker may
        not know that a person already owns the conversation. Rather than fail, the customer's
        message goes onto that ticket and the conversation follows it again.
        """
        backend = self.queue.backend
        try:
            return backend.enqueue(request)
        except TicketStateError:
            ticket = backend.open_ticket_for(request.conversation_id)
            if ticket is None:  # resolved in between: open a new one
                return backend.enqueue(request)
            backend.add_customer_message(ticket.id, text)
            return backend.get(ticket.id)

    def csat_answer(self, tracker: Tracker, parse: Parse, channel: str,
                    add: Callable[[Event], None]) -> list[Reply] | None:
        """A 1-5 score right after the bot asked for one: store it on the ticket."""
        last = tracker.latest_reply
        if last is None or last.action != ASK_CSAT_ACTION:
            return None
        score: int | None = None
        if parse.from_payload and parse.intent == "csat":
            values = [e.value for e in parse.entities if e.entity == "score"]
            score = int(values[0]) if values and str(values[0]).isdigit() else None
        else:
            match = _CSAT_DIGIT.match(parse.text)
            score = int(match.group(1)) if match else None
        if score is None or not 1 <= score <= 5:
            return None
        self.queue.backend.set_csat(last.data["ticket_id"], score)
        reply = self._say("utter_csat_thanks", {}, tracker, parse.language, channel, "csat",
                          f"customer rated the help {score}/5", add)
        return [reply] if reply else []

    def info(self, ticket: Ticket) -> HandoffInfo:
        from supportbot.bot import HandoffInfo

        position = (self.queue.backend.position(ticket.id) if ticket.status is Status.WAITING
                    else None)
        wait = (self.queue.backend.estimated_wait(ticket.queue, position)
                if position is not None else None)
        return HandoffInfo(ticket_id=ticket.id, status=ticket.status.value, queue=ticket.queue,
                           priority=ticket.priority,
                           reasons=tuple(r.to_dict() for r in ticket.reasons),
                           position=position, estimated_wait_seconds=wait)

    def _say(self, name: str, values: dict[str, Any], tracker: Tracker, language: str,
             channel: str, action: str, reason: str, add: Callable[[Event], None],
             data: dict[str, Any] | None = None) -> Reply | None:
        reply = self.renderer.response(name, tracker, language, channel, values)
        if reply is None:
            raise ConversationError(f"response {name!r} is not defined")
        add(reply_event(reply, name, action, reason, data))
        return reply
