"""rasa-sdk actions that give a Rasa bot supportbot's escalation check and human handoff queue.

Load them in your action server, either with `rasa run actions --actions
supportbot.integrations.rasa` (or `python -m rasa_sdk --actions supportbot.integrations.rasa`)
or by importing them in your own `actions.py`::

    from supportbot.integrations.rasa import *  # noqa: F401,F403

- `action_supportbot_check_escalation`: runs supportbot's `EscalationPolicy` on the conversation
  and the reply the bot just sent; sets `supportbot_handoff` / `supportbot_handoff_reasons` and,
  on a handoff, follows up with `action_supportbot_handoff`.
- `action_supportbot_handoff`: opens a ticket (with the transcript) on supportbot's queue, or
  rejoins the conversation's open one, tells the customer their place in line, and pauses Rasa.
- `action_supportbot_resume`: when the agent has resolved or returned the ticket, resumes Rasa;
  while the ticket is still open it says so and keeps the conversation paused.

Settings come from the environment: `SUPPORTBOT_CONFIG` (a YAML file with supportbot's
`escalation:` and `handoff:` sections; default `./config.yml` when it exists) and
`SUPPORTBOT_QUEUE_URL` (default: `handoff.backend`, else `sqlite:///.supportbot/handoff.db`).
See docs/rasa.md.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

try:
    from rasa_sdk import Action
    from rasa_sdk import Tracker as RasaTracker
    from rasa_sdk.events import ConversationPaused, ConversationResumed, FollowupAction, SlotSet
    from rasa_sdk.executor import CollectingDispatcher
except ImportError as exc:  # pragma: no cover - exercised by a test that hides rasa_sdk
    raise ImportError(
        "supportbot.integrations.rasa needs rasa-sdk, which is not installed: "
        "pip install supportbot[rasa]  (or: pip install \"rasa-sdk>=3.6,<4\")") from exc

from supportbot.dialogue.defaults import BUILTIN_RESPONSES
from supportbot.dialogue.nlg import candidate_variations, render
from supportbot.dialogue.tracker import Tracker as SupportbotTracker
from supportbot.errors import HandoffError, ProjectError, SupportbotError
from supportbot.escalation import Candidate, Decision, EscalationConfig, EscalationPolicy, Reason
from supportbot.handoff import (
    HandoffConfig,
    HandoffQueue,
    Ticket,
    closed_hours_message,
    default_handoff_domain_responses,
    load_handoff_config,
    open_queue,
    queued_message,
    resolve_queue_url,
    ticket_request_from_tracker,
)
from supportbot.integrations.rasa_tracker import (
    HANDOFF_SLOT,
    META_ACTION,
    META_DATA,
    OFFERED_SLOT,
    REASONS_SLOT,
    STATUS_SLOT,
    TICKET_SLOT,
    ReadOptions,
    candidate_for,
    current_turn,
    tracker_from_rasa,
)
from supportbot.nlu.langid import DEFAULT_LANGUAGES
from supportbot.project.types import Response, Source
from supportbot.project.yamlio import read_yaml_file

__all__ = [
    "CHECK_ACTION",
    "CONFIG_ENV",
    "HANDOFF_ACTION",
    "RESUME_ACTION",
    "ActionSupportbotCheckEscalation",
    "ActionSupportbotHandoff",
    "ActionSupportbotResume",
]

log = logging.getLogger(__name__)

CHECK_ACTION = "action_supportbot_check_escalation"
HANDOFF_ACTION = "action_supportbot_handoff"
RESUME_ACTION = "action_supportbot_resume"
OUR_ACTIONS = (CHECK_ACTION, HANDOFF_ACTION, RESUME_ACTION)
CONFIG_ENV = "SUPPORTBOT_CONFIG"
DEFAULT_CONFIG_FILE = "config.yml"

EXPLICIT_REQUEST = Reason("explicit_request", "The customer asked to talk to a person.")


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """Everything the actions read from the environment and the config file."""

    source: str  # the config file read, or "<defaults>"
    escalation: EscalationConfig
    handoff: HandoffConfig
    queue_url: str
    read: ReadOptions

    @cached_property
    def policy(self) -> EscalationPolicy:
        """The escalation policy built from `escalation` (built once)."""
        return EscalationPolicy(self.escalation)


_lock = threading.Lock()
_settings: dict[tuple[Any, ...], Settings] = {}
_queues: dict[str, HandoffQueue] = {}


def load_settings() -> Settings:
    """Read `$SUPPORTBOT_CONFIG` (or ./config.yml) and `$SUPPORTBOT_QUEUE_URL`; cached until the
    file or the variables change."""
    explicit = os.environ.get(CONFIG_ENV)
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if explicit and not path.is_file():
        raise SupportbotError(f"{CONFIG_ENV}={explicit}: no such file; point it at a YAML file "
                              "with `escalation:` and `handoff:` sections, or unset it")
    exists = path.is_file()
    key = (str(path.resolve()), path.stat().st_mtime_ns if exists else None,
           os.environ.get("SUPPORTBOT_QUEUE_URL"))
    with _lock:
        if key not in _settings:
            _settings[key] = _read_settings(path if exists else None)
        return _settings[key]


def _read_settings(path: Path | None) -> Settings:
    raw: Any = {}
    file = str(path) if path else "<defaults>"
    if path is not None:
        raw, problems = read_yaml_file(path, file)
        if any(p.severity == "error" for p in problems):
            raise ProjectError(problems)
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise SupportbotError(f"{file}: expected a mapping with `escalation:` and `handoff:` "
                                  "sections")
    escalation = EscalationConfig.from_mapping(raw.get("escalation"), Source(file))
    handoff = load_handoff_config(raw.get("handoff"), file)
    nlu = raw.get("nlu") if isinstance(raw.get("nlu"), Mapping) else {}
    languages = tuple(str(x) for x in nlu.get("languages") or ()) or DEFAULT_LANGUAGES
    language = str(raw.get("language") or "en")
    return Settings(source=file, escalation=escalation, handoff=handoff,
                    queue_url=resolve_queue_url(None, handoff),
                    read=ReadOptions(escalation, languages, language))


def queue_for(settings: Settings) -> HandoffQueue:
    """The handoff queue at `settings.queue_url`, opened once per process."""
    with _lock:
        queue = _queues.get(settings.queue_url)
        if queue is None:
            queue = _queues[settings.queue_url] = open_queue(settings.queue_url, settings.handoff)
        return queue


# ---------------------------------------------------------------------------- messages
_DEFAULT_RESPONSES: dict[str, Response] = {
    "utter_handoff_confirm": BUILTIN_RESPONSES["utter_handoff_confirm"],
    **default_handoff_domain_responses(),
}


def _say(dispatcher: CollectingDispatcher, domain: Mapping[str, Any] | None, name: str,
         values: Mapping[str, Any], language: str, default_language: str,
         **meta: Any) -> None:
    """Send response `name`: the domain's own (Rasa renders it with `values`) if it defines one,
    else supportbot's default in the customer's language."""
    if name in ((domain or {}).get("responses") or {}):
        dispatcher.utter_message(response=name, **values, **meta)
        return
    response = _DEFAULT_RESPONSES[name]
    options = candidate_variations(response, channel=None, language=language,
                                   default_language=default_language, slots=values)
    if not options:
        return
    reply = render(options[0], values)
    dispatcher.utter_message(text=reply.text,
                             buttons=[{"title": b.title, "payload": b.payload}
                                      for b in reply.buttons],
                             utter_action=name, **meta)


def _tell_status(dispatcher: CollectingDispatcher, domain: Mapping[str, Any] | None,
                 queue: HandoffQueue, ticket: Ticket, settings: Settings, language: str,
                 told: Any = None, quiet: bool = False) -> str:
    """Tell the customer where they stand: place in line and wait, closed hours, or who has the
    chat. Returns the status key (`waiting:2`, `assigned:alice`, `closed`); says nothing when it
    equals `told`, the key told last time, or when `quiet`."""
    default = settings.read.default_language
    hours = settings.handoff.hours()
    if str(ticket.status) == "assigned" and ticket.agent_id:
        key = f"assigned:{ticket.agent_id}"
        try:
            agent = queue.get_agent(ticket.agent_id).display_name
        except HandoffError:
            agent = ticket.agent_id
        name, values = "utter_handoff_agent_joined", {"agent_name": agent}
    elif not hours.is_open():
        key = "closed"
        name, values = closed_hours_message(hours, language)
    else:
        position = queue.position(ticket.id)
        key = f"waiting:{position}"
        name, values = queued_message(position, queue.estimated_wait(ticket.queue, position))
    if key != told and not quiet:
        _say(dispatcher, domain, name, values, language, default, supportbot_ticket=ticket.id)
    return key


def _sync_customer_messages(queue: HandoffQueue, ticket: Ticket,
                            events: list[dict[str, Any]]) -> int:
    """Copy customer messages the ticket has not seen yet (e.g. sent while Rasa was paused)."""
    seen = max((m.timestamp for m in ticket.transcript if m.role == "customer"),
               default=ticket.created_at)
    added = 0
    for event in events:
        text = event.get("text")
        if (event.get("event") == "user" and text and not str(text).startswith("/")
                and float(event.get("timestamp") or 0) > seen):
            queue.add_customer_message(ticket.id, str(text))
            added += 1
    return added


def _deliver_outbox(dispatcher: CollectingDispatcher, domain: Mapping[str, Any] | None,
                    queue: HandoffQueue, conversation_id: str, settings: Settings,
                    language: str) -> int:
    """Send what agents wrote (and "Alice joined") since the last call; returns how many.

    `resolved` / `returned` notices are left to the closing message; `transferred` says nothing.
    """
    pending = queue.pending_outbox(conversation_id)
    for message in pending:
        if message.kind == "message":
            dispatcher.utter_message(text=message.text, supportbot_agent=message.agent_id,
                                     supportbot_ticket=message.ticket_id)
        elif message.kind == "agent_joined":
            _say(dispatcher, domain, "utter_handoff_agent_joined",
                 {"agent_name": message.agent_name or message.agent_id or ""},
                 message.language or language, settings.read.default_language,
                 supportbot_ticket=message.ticket_id)
    queue.mark_delivered([m.id for m in pending])
    return sum(m.kind in ("message", "agent_joined") for m in pending)


def _slot_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


# ---------------------------------------------------------------------------- actions
class _SupportbotAction(Action, metaclass=ABCMeta):
    """Shared plumbing: blocking queue and policy work runs in a worker thread. Abstract, so
    the action server does not register it."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the Rasa domain."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: RasaTracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.run_sync, dispatcher, tracker, domain)

    @abstractmethod
    def run_sync(self, dispatcher: CollectingDispatcher, tracker: RasaTracker,
                 domain: dict[str, Any]) -> list[dict[str, Any]]:
        """The action's work (called in a worker thread)."""


def _decide(tracker: RasaTracker, settings: Settings
            ) -> tuple[Decision, Candidate | None, SupportbotTracker]:
    """The escalation decision for the Rasa conversation, the candidate judged, and the
    conversation as a supportbot tracker."""
    converted = tracker_from_rasa(tracker.sender_id, tracker.events, settings.read)
    turn = current_turn(converted)
    if turn.parse is None:
        return (Decision(queue=settings.escalation.default_queue,
                         signals={"skipped": "no customer message yet"}), None, converted)
    candidate = candidate_for(turn, settings.escalation, ignore_actions=OUR_ACTIONS)
    return settings.policy.check(turn.tracker, turn.parse, candidate), candidate, converted


class ActionSupportbotCheckEscalation(_SupportbotAction):
    """Should this conversation go to a person? Run it after the bot's reply (or straight after
    the customer's message). Hands off with `action_supportbot_handoff` when the policy says so;
    asks "Shall I connect you with a person?" first when the config wants confirmation."""

    def name(self) -> str:
        return CHECK_ACTION

    def run_sync(self, dispatcher: CollectingDispatcher, tracker: RasaTracker,
                 domain: dict[str, Any]) -> list[dict[str, Any]]:
        settings = load_settings()
        decision, candidate, converted = _decide(tracker, settings)
        log.info("supportbot escalation: conversation=%s decision=%s", tracker.sender_id,
                 decision.to_dict())
        events: list[dict[str, Any]] = [
            SlotSet(HANDOFF_SLOT, decision.handoff),
            SlotSet(REASONS_SLOT, list(decision.codes)),
            SlotSet(OFFERED_SLOT, decision.ask_confirmation),
        ]
        if decision.handoff:
            events.append(FollowupAction(HANDOFF_ACTION))
        elif decision.ask_confirmation:
            _say(dispatcher, domain, "utter_handoff_confirm", {},
                 converted.language or settings.read.default_language,
                 settings.read.default_language,
                 **{META_ACTION: settings.escalation.confirmation.action,
                    META_DATA: {"fallback": bool(candidate and candidate.is_fallback),
                                **decision.confirmation_data()}})
        return events


class ActionSupportbotHandoff(_SupportbotAction):
    """Open a ticket with the transcript (or rejoin the open one), tell the customer their
    place in line, and pause Rasa while a person owns the conversation."""

    def name(self) -> str:
        return HANDOFF_ACTION

    def run_sync(self, dispatcher: CollectingDispatcher, tracker: RasaTracker,
                 domain: dict[str, Any]) -> list[dict[str, Any]]:
        settings = load_settings()
        queue = queue_for(settings)
        decision, _, converted = _decide(tracker, settings)
        language = converted.language or settings.read.default_language
        ticket = queue.open_ticket_for(tracker.sender_id)
        if ticket is not None:
            _sync_customer_messages(queue, ticket, list(tracker.events))
            ticket = queue.get(ticket.id)
            log.info("supportbot handoff: conversation=%s rejoins ticket %s", tracker.sender_id,
                     ticket.id)
        else:
            ticket = self._enqueue(queue, tracker, converted, decision, language)
        told = _tell_status(dispatcher, domain, queue, ticket, settings, language)
        return [
            SlotSet(STATUS_SLOT, told),
            SlotSet(HANDOFF_SLOT, True),
            SlotSet(REASONS_SLOT, [r.code for r in ticket.reasons]),
            SlotSet(OFFERED_SLOT, False),
            SlotSet(TICKET_SLOT, ticket.id),
            ConversationPaused(),
        ]

    @staticmethod
    def _enqueue(queue: HandoffQueue, tracker: RasaTracker, converted: SupportbotTracker,
                 decision: Decision,
                 language: str) -> Ticket:
        if decision.handoff or decision.ask_confirmation:
            reasons, name, priority = decision.reasons, decision.queue, decision.priority
        else:  # run straight from a rule, e.g. on the handoff intent
            codes = _slot_list(tracker.get_slot(REASONS_SLOT))
            reasons = tuple(Reason(c, "") for c in codes) or (EXPLICIT_REQUEST,)
            name, priority = decision.queue, decision.priority
        latest = tracker.latest_message or {}
        request = ticket_request_from_tracker(
            converted, [r.to_dict() for r in reasons], queue=name, priority=priority,
            customer_id=getattr(tracker, "user_id", None), language=language,
            metadata={"source": "rasa", "input_channel": tracker.get_latest_input_channel(),
                      "message_id": latest.get("message_id")})
        try:
            ticket = queue.enqueue(request)
        except HandoffError:  # another process opened one in between: rejoin it
            existing = queue.open_ticket_for(tracker.sender_id)
            if existing is None:
                raise
            ticket = existing
        log.info("supportbot handoff: conversation=%s ticket=%s queue=%s reasons=%s",
                 tracker.sender_id, ticket.id, ticket.queue, ",".join(r.code for r in reasons))
        return ticket


class ActionSupportbotResume(_SupportbotAction):
    """Give the conversation back to the bot once the agent resolved or returned the ticket.

    Call it from outside (Rasa's `POST /conversations/<id>/execute`, which runs while the
    conversation is paused) when a ticket closes or an agent wrote, or from a rule. It first
    delivers what agents wrote (the queue's outbox for this conversation). While the ticket is
    still open it copies the customer's newer messages onto the ticket, tells the customer where
    they stand when that changed (a new place in line; not right after agent messages), and
    keeps the conversation paused. So it is safe to call every few seconds.
    """

    def name(self) -> str:
        return RESUME_ACTION

    def run_sync(self, dispatcher: CollectingDispatcher, tracker: RasaTracker,
                 domain: dict[str, Any]) -> list[dict[str, Any]]:
        settings = load_settings()
        queue = queue_for(settings)
        converted = tracker_from_rasa(tracker.sender_id, tracker.events, settings.read)
        language = converted.language or settings.read.default_language
        ticket_id = tracker.get_slot(TICKET_SLOT)
        ticket: Ticket | None = None
        if ticket_id:
            try:
                ticket = queue.get(str(ticket_id))
            except HandoffError:
                log.warning("supportbot resume: ticket %s of conversation %s is not in the queue",
                            ticket_id, tracker.sender_id)
        if ticket is None or not ticket.is_open:
            ticket = queue.open_ticket_for(tracker.sender_id) or ticket
        delivered = _deliver_outbox(dispatcher, domain, queue, tracker.sender_id, settings,
                                    language)
        if ticket is not None and ticket.is_open:
            _sync_customer_messages(queue, ticket, list(tracker.events))
            told = _tell_status(dispatcher, domain, queue, ticket, settings, language,
                                told=tracker.get_slot(STATUS_SLOT), quiet=delivered > 0)
            return [SlotSet(TICKET_SLOT, ticket.id), SlotSet(HANDOFF_SLOT, True),
                    SlotSet(STATUS_SLOT, told), ConversationPaused()]
        if ticket is not None:
            name = ("utter_handoff_cancelled" if str(ticket.status) == "cancelled"
                    else "utter_handoff_resolved")
            _say(dispatcher, domain, name, {}, language, settings.read.default_language,
                 supportbot_ticket=ticket.id)
        return [
            ConversationResumed(),
            SlotSet(TICKET_SLOT, None),
            SlotSet(HANDOFF_SLOT, False),
            SlotSet(REASONS_SLOT, None),
            SlotSet(OFFERED_SLOT, False),
            SlotSet(STATUS_SLOT, None),
        ]
