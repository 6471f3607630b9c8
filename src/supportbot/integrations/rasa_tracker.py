"""Read a Rasa conversation (the event dicts a Rasa action server receives) as a supportbot
`Tracker`, and work out the candidate reply the escalation policy judges.

Needs no rasa-sdk: the input is plain JSON-like dicts. How Rasa events map:

| Rasa event | supportbot event |
|---|---|
| `user` | `UserMessage`: `parse_data` becomes a `Parse` (`nlu_fallback` -> `fallback=True` with the best real intent; a retrieval intent such as `faq` becomes `faq/returns`); the language comes from `parse_data.language` or `metadata.language`, else it is detected from the text |
| `bot` | `BotReply`: `template` is `metadata.utter_action` (else the action that sent it), `action` the latest `action` event; it counts as a fallback when that action or response is one of `escalation.fallback_actions`, or it answered an `nlu_fallback` message |
| `action` | `ActionExecuted` (`action_listen` is skipped) |
| `slot` | `SlotSet`; the ticket slot also gives `HandoffRequested` / `HandoffEnded` |
| `session_started` | `SessionStarted` |
| `restart` | forgets everything before it, as Rasa does |
| `resume` | ends an open handoff (`HandoffEnded`) |
| `active_loop`, `agent`, `reset_slots` | `ActiveLoop`, `AgentMessage`, `SlotSet(None)` for each slot |

`rewind` / `undo` are ignored: the customer did say it, and counting fallbacks needs those turns.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supportbot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    AgentMessage,
    BotReply,
    Event,
    HandoffEnded,
    HandoffRequested,
    SessionStarted,
    SlotSet,
    UserMessage,
)
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation import Candidate, EscalationConfig
from supportbot.escalation.history import matches_any
from supportbot.nlu.langid import DEFAULT_LANGUAGES, detect_language
from supportbot.nlu.parse import Entity, IntentScore, Parse

NLU_FALLBACK = "nlu_fallback"
ACTION_LISTEN = "action_listen"

TICKET_SLOT = "supportbot_ticket_id"
HANDOFF_SLOT = "supportbot_handoff"
REASONS_SLOT = "supportbot_handoff_reasons"
OFFERED_SLOT = "supportbot_handoff_offered"
STATUS_SLOT = "supportbot_handoff_status"  # what the customer was last told about the ticket

# Keys our actions put on the messages they send (Rasa copies them into the bot event's metadata)
META_ACTION = "supportbot_action"
META_DATA = "supportbot_data"


@dataclass(frozen=True)
class ReadOptions:
    """What the conversion needs to know about the bot."""

    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    default_language: str = "en"


def parse_from_rasa(text: str, parse_data: Mapping[str, Any] | None, language: str) -> Parse:
    """A supportbot `Parse` from Rasa's `parse_data` (what the Rasa NLU made of a message)."""
    data = parse_data or {}
    intent = data.get("intent") or {}
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    ranking = tuple(IntentScore(str(r["name"]), float(r.get("confidence") or 0.0))
                    for r in data.get("intent_ranking") or ()
                    if isinstance(r, Mapping) and r.get("name") and r["name"] != NLU_FALLBACK)
    fallback = name == NLU_FALLBACK
    if fallback:  # supportbot keeps the best real intent and says it was not understood
        name, confidence = (ranking[0].name, ranking[0].confidence) if ranking else ("", 0.0)
    name = _retrieval_intent(name, data.get("response_selector"))
    entities = tuple(_entity(e, text) for e in data.get("entities") or ()
                     if isinstance(e, Mapping) and e.get("entity"))
    return Parse(text=text, intent=name, confidence=confidence, ranking=ranking,
                 entities=entities, language=language, fallback=fallback,
                 fallback_reason="low_confidence" if fallback else None,
                 from_payload=text.startswith("/"))


def _retrieval_intent(name: str, selector: Any) -> str:
    """`faq` -> `faq/returns` when Rasa's response selector picked a sub-intent, so that two
    different FAQ questions are not "the same intent" to the loop signal."""
    if not isinstance(selector, Mapping) or "/" in name:
        return name
    for key in (name, "default"):
        picked = selector.get(key)
        if isinstance(picked, Mapping):
            response = picked.get("response") or {}
            full = response.get("intent_response_key") if isinstance(response, Mapping) else None
            if isinstance(full, str) and full.startswith(f"{name}/"):
                return full
    return name


def _entity(raw: Mapping[str, Any], text: str) -> Entity:
    start, end = int(raw.get("start") or 0), int(raw.get("end") or 0)
    value = raw.get("value")
    return Entity(entity=str(raw["entity"]), value=value, start=start, end=end,
                  text=text[start:end] if end > start else str(value),
                  extractor=str(raw.get("extractor") or "rasa"),
                  role=raw.get("role"), group=raw.get("group"))


def tracker_from_rasa(conversation_id: str, events: Iterable[Mapping[str, Any]],
                      options: ReadOptions | None = None) -> Tracker:
    """The whole Rasa event log as a supportbot Tracker (see the module docstring)."""
    options = options or ReadOptions()
    config = options.escalation
    out: list[Event] = []
    last_action: str | None = None
    answered: Parse | None = None  # what the bot's replies since the last user message answer
    language = options.default_language
    open_ticket: str | None = None
    slots: dict[str, Any] = {}

    for raw in events:
        kind = raw.get("event")
        ts = float(raw.get("timestamp") or time.time())
        if kind == "restart":
            out, last_action, answered, open_ticket, slots = [], None, None, None, {}
        elif kind == "session_started":
            out.append(SessionStarted(timestamp=ts))
        elif kind == "user":
            text = str(raw.get("text") or "")
            parse_data = raw.get("parse_data") or {}
            metadata = dict(raw.get("metadata") or {})
            given = parse_data.get("language") or metadata.get("language")
            if isinstance(given, str) and given:
                language = given
            elif text and not text.startswith("/"):
                language = detect_language(text, options.languages, default=language)
            answered = parse_from_rasa(text, parse_data, language)
            out.append(UserMessage(text=text, parse=answered,
                                   channel=str(raw.get("input_channel") or "default"),
                                   metadata=metadata, timestamp=ts))
            last_action = None
        elif kind == "action":
            name = raw.get("name")
            if name and name != ACTION_LISTEN:
                last_action = str(name)
                out.append(ActionExecuted(name=last_action, reason=str(raw.get("policy") or ""),
                                          timestamp=ts))
        elif kind == "bot":
            out.append(_bot_reply(raw, last_action, answered, config, ts))
        elif kind == "slot":
            name, value = str(raw.get("name")), raw.get("value")
            slots[name] = value
            out.append(SlotSet(name=name, value=value, timestamp=ts))
            if name == TICKET_SLOT:
                if value and value != open_ticket:
                    if open_ticket:
                        out.append(HandoffEnded(ticket_id=open_ticket, outcome="replaced",
                                                timestamp=ts))
                    reasons = tuple({"code": str(c), "explanation": ""}
                                    for c in slots.get(REASONS_SLOT) or ())
                    out.append(HandoffRequested(ticket_id=str(value), reasons=reasons,
                                                timestamp=ts))
                    open_ticket = str(value)
                elif not value and open_ticket:
                    out.append(HandoffEnded(ticket_id=open_ticket, outcome="returned",
                                            timestamp=ts))
                    open_ticket = None
        elif kind == "resume" and open_ticket:
            out.append(HandoffEnded(ticket_id=open_ticket, outcome="returned", timestamp=ts))
            open_ticket = None
        elif kind == "reset_slots":
            for name in list(slots):
                slots[name] = None
                out.append(SlotSet(name=name, value=None, timestamp=ts))
        elif kind == "active_loop":
            out.append(ActiveLoop(name=raw.get("name"), timestamp=ts))
        elif kind == "agent" and raw.get("text"):
            data = _mapping(raw.get("data"))
            out.append(AgentMessage(agent_id=str(data.get("agent_id") or "agent"),
                                    text=str(raw["text"]), timestamp=ts))
    return Tracker(conversation_id, out)


def _bot_reply(raw: Mapping[str, Any], action: str | None, answered: Parse | None,
               config: EscalationConfig, ts: float) -> BotReply:
    metadata = _mapping(raw.get("metadata"))
    data = _mapping(raw.get("data"))
    template = metadata.get("utter_action") or metadata.get("template_name") or action
    action = str(metadata.get(META_ACTION) or action or "")
    fallback = (action in config.fallback_actions or template in config.fallback_actions
                or (answered is not None and answered.fallback
                    and action not in config.clarify_actions))
    extra = _mapping(metadata.get(META_DATA))
    buttons = tuple({"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                    for b in data.get("buttons") or () if isinstance(b, Mapping))
    return BotReply(text=raw.get("text"), buttons=buttons, template=template or None,
                    action=action or None, reason="rasa", data={"fallback": fallback, **extra},
                    timestamp=ts)


@dataclass(frozen=True)
class CurrentTurn:
    """The conversation split at the customer's latest message, as the policy wants it."""

    tracker: Tracker  # ends with this turn's UserMessage (plus non-reply events after it)
    parse: Parse | None  # None: the customer has not said anything yet
    replies: tuple[BotReply, ...]  # what the bot sent after that message
    actions: tuple[str, ...]  # actions that ran after that message


def current_turn(tracker: Tracker) -> CurrentTurn:
    """Split `tracker` at its latest UserMessage."""
    events = tracker.events
    index = next((i for i in range(len(events) - 1, -1, -1)
                  if isinstance(events[i], UserMessage)), None)
    if index is None:
        return CurrentTurn(tracker, None, (), ())
    after = events[index + 1:]
    message = events[index]
    assert isinstance(message, UserMessage)
    kept = events[:index + 1] + [e for e in after if not isinstance(e, BotReply)]
    return CurrentTurn(
        Tracker(tracker.conversation_id, kept), message.parse,
        tuple(e for e in after if isinstance(e, BotReply)),
        tuple(e.name for e in after if isinstance(e, ActionExecuted)))


def candidate_for(turn: CurrentTurn, config: EscalationConfig,
                  ignore_actions: Sequence[str] = ()) -> Candidate:
    """The reply the policy judges: what the bot said since the customer's latest message.

    The main reply is the first one that is not small talk (`smalltalk_templates`); the turn is
    a fallback when any reply is. When the bot has not replied yet (the check runs straight after
    the message), the candidate is what the NLU implies: a fallback for `nlu_fallback`,
    otherwise an answer to the intent with no known response (so `repeated_reply` cannot fire).
    """
    parse = turn.parse
    intent = parse.intent if parse else None
    replies = [r for r in turn.replies if r.action not in ignore_actions]
    if replies:
        main = next((r for r in replies
                     if not matches_any(r.template, config.smalltalk_templates)), replies[0])
        return Candidate(action=main.action or "rasa", template=main.template, text=main.text,
                         intent=intent,
                         is_fallback=any(r.data.get("fallback") is True for r in replies))
    actions = [a for a in turn.actions if a not in ignore_actions]
    action = actions[-1] if actions else "none"
    return Candidate(action=action, template=None, intent=intent,
                     is_fallback=bool(parse and parse.fallback)
                     or action in config.fallback_actions)


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (Rasa events may omit or null fields)."""
    return value if isinstance(value, Mapping) else {}
