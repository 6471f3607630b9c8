"""Running custom actions on a Rasa-compatible action server (rasa-sdk or any other language).

One action call is one HTTP POST of Rasa's request JSON to the webhook:

    {"next_action": "action_create_ticket", "sender_id": "...", "version": "3.6.21",
     "tracker": {...Rasa tracker state...}, "domain": {...Rasa domain dict...}}

The server answers `{"events": [...], "responses": [...]}`, which becomes an `ActionResult`.
HTTP 400 with `{"error", "action_name"}` is rasa-sdk's `ActionExecutionRejection`
(`ActionResult(reject=True)`); every other failure raises `ActionError` naming the action and the
server's URL (never its token).

    client = ActionServerClient(read_endpoints(project_root).action_endpoint)
    result = client.run("action_create_ticket", tracker, project.domain)
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Self

import requests

from supportbot.dialogue.actions import ActionReply, ActionResult
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
from supportbot.errors import ActionError
from supportbot.nlu.parse import Parse
from supportbot.project.endpoints import ActionEndpoint
from supportbot.project.types import (
    Button,
    Domain,
    EntityDef,
    IntentDef,
    Response,
    SlotDef,
    SlotMapping,
)

log = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"
"""The Rasa version whose action-server protocol this client speaks (sent as `version`)."""
REQUESTED_SLOT = "requested_slot"
ACTION_LISTEN = "action_listen"
PAUSE_REASON = "the action server paused the conversation (ConversationPaused)"

_MESSAGE_KEYS = frozenset({"text", "image", "buttons", "elements", "custom", "json_message",
                           "template", "response", "attachment", "quick_replies", "channel",
                           "recipient_id"})
"""Keys of a rasa-sdk response that are not template variables."""
_VARIATION_EXTRAS = frozenset({"quick_replies", "button_type", "attachment", "elements", "id"})
"""Response-variation keys the domain reader keeps in `ResponseVariation.metadata`."""


# ------------------------------------------------------------------ the client


class ActionServerClient:
    """Calls actions on one action server, synchronously, over one reused `requests.Session`.

    A `requests.Session` is not guaranteed to be thread-safe: use one client per thread (or
    pass each its own `session`).
    """

    def __init__(self, endpoint: ActionEndpoint, session: requests.Session | None = None):
        self.endpoint = endpoint
        self._session = session if session is not None else requests.Session()
        self._owns_session = session is None
        self._domain_cache: tuple[Domain, dict[str, Any]] | None = None

    def run(self, action: str, tracker: Tracker, domain: Domain, *,
            latest_input_channel: str | None = None) -> ActionResult:
        """Run `action` on the server for this conversation and return what it did.

        `latest_input_channel` defaults to the channel of the latest user message. Raises
        `ActionError` when the server cannot be reached, times out, fails, does not know the
        action or answers something that is not Rasa's response format.
        """
        body = self._request_body(action, tracker, domain, latest_input_channel)
        response = self._post(action, body)
        return self._result(action, response, domain)

    def close(self) -> None:
        """Close the HTTP session (only when this client created it)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ActionServerClient({self.endpoint!r})"

    # -------------------------------------------------------------- steps of one call
    def _request_body(self, action: str, tracker: Tracker, domain: Domain,
                      channel: str | None) -> bytes:
        """The request JSON, encoded (values JSON cannot carry are sent as text)."""
        if self._domain_cache is None or self._domain_cache[0] is not domain:
            self._domain_cache = (domain, rasa_domain(domain))
        payload = {
            "next_action": action,
            "sender_id": tracker.conversation_id,
            "tracker": rasa_tracker_state(tracker, domain, latest_input_channel=channel),
            "domain": self._domain_cache[1],
            "version": RASA_VERSION,
        }
        return json.dumps(payload, default=str, ensure_ascii=False).encode("utf-8")

    def _post(self, action: str, body: bytes) -> requests.Response:
        """POST the body; connection problems and timeouts become `ActionError`."""
        ep = self.endpoint
        params = dict(ep.params)
        if ep.token:
            params[ep.token_name] = ep.token
        headers = {"Content-Type": "application/json", **ep.headers}
        where = f"the action server at {ep.display_url}"
        try:
            return self._session.post(
                ep.url, data=body, params=params, headers=headers, timeout=ep.timeout,
                auth=ep.basic_auth, verify=ep.cafile if ep.cafile else True)
        except requests.Timeout:
            error = ActionError(f"action {action!r}: {where} did not answer within "
                                f"{ep.timeout:g} s")
        except requests.ConnectionError as exc:
            error = ActionError(f"action {action!r}: cannot connect to {where} "
                                f"({self._redact(_short_reason(exc))}); is it running?")
        except requests.RequestException as exc:
            error = ActionError(f"action {action!r}: request to {where} failed "
                                f"({self._redact(_short_reason(exc))})")
        # raised outside `except`, without a cause: the cause's text would carry the token
        raise error

    def _result(self, action: str, response: requests.Response, domain: Domain) -> ActionResult:
        """Rasa's status codes and response JSON -> ActionResult, or `ActionError`."""
        where = f"the action server at {self.endpoint.display_url}"
        status = response.status_code
        data = _json_or_none(response)
        detail = self._redact(_error_text(data, response))
        if status == 200:
            if data is None and response.content.strip() not in (b"", b"null"):
                raise ActionError(f"action {action!r}: {where} answered with invalid JSON "
                                  f"({_snippet(response.text)!r})")
            if data is not None and not isinstance(data, Mapping):
                raise ActionError(f"action {action!r}: {where} answered with JSON that is not "
                                  "an object with `events` and `responses`")
            return parse_action_response(data or {}, action, domain)
        if status == 400 and isinstance(data, Mapping) and "action_name" in data:
            log.info("action %r rejected to run: %s", action, detail)
            return ActionResult(reject=True)
        if status == 404:
            raise ActionError(f"action {action!r} is not on {where} ({detail}); register it "
                              "in the server's actions module, or remove it from the domain")
        if status in (401, 403):
            raise ActionError(f"action {action!r}: {where} refused the request (HTTP {status}: "
                              f"{detail}); check `token` in endpoints.yml")
        if status == 449:
            raise ActionError(f"action {action!r}: {where} asked for the domain (HTTP 449)")
        raise ActionError(f"action {action!r} failed on {where} (HTTP {status}: {detail})")

    def _redact(self, text: str) -> str:
        """`text` with the token (and basic-auth password) replaced by ***."""
        for secret in (self.endpoint.token, (self.endpoint.basic_auth or ("", ""))[1]):
            if secret:
                text = text.replace(secret, "***")
        return text


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(data: Any, response: requests.Response) -> str:
    """The server's `error` field (rasa-sdk's shape), else the start of the body."""
    if isinstance(data, Mapping) and data.get("error"):
        return _snippet(str(data["error"]))
    return _snippet(response.text) or response.reason or "no details"


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _short_reason(exc: Exception) -> str:
    """One line about a requests exception, without the URL it tried."""
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", None) or inner
    text = str(reason)
    if "[Errno" in text:  # "<...>: Failed to establish ...: [Errno 111] ..." / "(... [Errno -2] x)"
        text = text[text.index("[Errno"):]
        if text.endswith(")") and text.count(")") > text.count("("):
            text = text[:-1]
    return _snippet(text, 120)


# ------------------------------------------------------------------ reply parsing


def parse_action_response(data: Mapping[str, Any], action: str,
                          domain: Domain | None = None) -> ActionResult:
    """Rasa's action-server reply (`{"events": [...], "responses": [...]}`) -> ActionResult.

    Events, in order: `slot` sets a slot, `reset_slots` resets every domain slot to its
    initial value, `followup` names the next action, `active_loop` (and the older `form`)
    activates a form (a null name deactivates it: `form=""`), `restart` resets slots and the
    form, `pause` asks for a human (`handoff`), `bot` adds a reply. Other events are logged
    and ignored. Raises `ActionError` when the shape is not Rasa's.
    """
    events = data.get("events") or []
    messages = data.get("responses") or []
    if not isinstance(events, list) or not isinstance(messages, list):
        raise ActionError(f"action {action!r}: `events` and `responses` in the action server's "
                          "answer must be lists")
    replies = [reply for m in messages if (reply := _reply(m, action)) is not None]
    slots: dict[str, Any] = {}
    result = ActionResult()
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("event"), str):
            raise ActionError(f"action {action!r} returned a malformed event {event!r} "
                              "(expected an object with an `event` name)")
        result = _apply_event(event, action, domain, slots, replies, result)
    return replace(result, replies=tuple(replies), slots=slots)


def _apply_event(event: Mapping[str, Any], action: str, domain: Domain | None,
                 slots: dict[str, Any], replies: list[ActionReply],
                 result: ActionResult) -> ActionResult:
    """Fold one Rasa event into the slots / replies / result built so far."""
    kind = event["event"]
    if kind == "slot":
        name = event.get("name")
        if not isinstance(name, str) or not name:
            raise ActionError(f"action {action!r} returned a `slot` event without a name")
        slots[name] = event.get("value")
    elif kind == "followup":
        name = event.get("name")
        if isinstance(name, str) and name:
            result = replace(result, followup=name)
    elif kind in ("active_loop", "form"):
        name = event.get("name")
        result = replace(result, form=name if isinstance(name, str) and name else "")
    elif kind in ("reset_slots", "restart"):
        slots.clear()
        slots.update(_initial_slots(domain))
        if kind == "restart":
            result = replace(result, form="")
            log.info("action %r restarted the conversation: slots reset, form ended", action)
    elif kind == "pause":
        result = replace(result, handoff=PAUSE_REASON)
    elif kind == "bot":
        reply = _bot_event_reply(event)
        if reply is not None:
            replies.append(reply)
    else:
        log.info("action %r returned a %r event, which supportbot ignores", action, kind)
    return result


def _initial_slots(domain: Domain | None) -> dict[str, Any]:
    """Every domain slot at its initial value (Rasa's `AllSlotsReset`)."""
    values = {name: slot.initial_value for name, slot in (domain.slots if domain else {}).items()}
    values.setdefault(REQUESTED_SLOT, None)
    return values


def _reply(message: Any, action: str) -> ActionReply | None:
    """One rasa-sdk `dispatcher.utter_message(...)` -> ActionReply (None when it is empty)."""
    if not isinstance(message, Mapping):
        raise ActionError(f"action {action!r} returned a response that is not an object: "
                          f"{message!r}")
    response = message.get("response") or message.get("template") or None
    custom = message.get("custom") or message.get("json_message") or None
    values = {k: v for k, v in message.items() if k not in _MESSAGE_KEYS and v is not None}
    for key in ("attachment", "elements", "quick_replies"):
        if message.get(key):
            log.info("action %r: response key %r is not supported and was dropped", action, key)
    reply = ActionReply(text=_opt_text(message.get("text")), response=_opt_text(response),
                        values=values, buttons=_buttons(message.get("buttons")),
                        image=_opt_text(message.get("image")),
                        custom=dict(custom) if isinstance(custom, Mapping) else None)
    if not (reply.text or reply.response or reply.buttons or reply.image or reply.custom):
        log.info("action %r sent an empty response; skipped", action)
        return None
    return reply


def _bot_event_reply(event: Mapping[str, Any]) -> ActionReply | None:
    """A `bot` event (BotUttered returned as an event) -> ActionReply."""
    data = _mapping_or_empty(event.get("data"))
    metadata = _mapping_or_empty(event.get("metadata"))
    custom = data.get("custom")
    text = _opt_text(event.get("text"))
    reply = ActionReply(text=text,
                        response=None if text else _opt_text(metadata.get("utter_action")),
                        buttons=_buttons(data.get("buttons")), image=_opt_text(data.get("image")),
                        custom=dict(custom) if isinstance(custom, Mapping) and custom else None)
    if not (reply.text or reply.response or reply.buttons or reply.image or reply.custom):
        return None
    return reply


def _mapping_or_empty(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _buttons(value: Any) -> tuple[Button, ...]:
    """Rasa button dicts -> Buttons (a `url` button keeps its URL as the payload)."""
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if isinstance(item, Mapping) and item.get("title") is not None:
            payload = item.get("payload", item.get("url", ""))
            out.append(Button(title=str(item["title"]), payload=str(payload or "")))
    return tuple(out)


def _opt_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


# ------------------------------------------------------------------ tracker -> Rasa JSON


def rasa_tracker_state(tracker: Tracker, domain: Domain, *,
                       latest_input_channel: str | None = None,
                       followup_action: str | None = None) -> dict[str, Any]:
    """The tracker as Rasa sends it to an action server (`tracker.current_state(ALL)`).

    `slots` has every domain slot (at its initial value when never set), `requested_slot` and
    any other slot the conversation set; `events` are Rasa event dicts, with an
    `action_listen` before each user message as in a Rasa tracker.
    """
    events = rasa_events(tracker.events)
    latest = tracker.latest_message
    channel = latest_input_channel or (latest.channel if latest else None) or "default"
    action_names = [e["name"] for e in events if e["event"] == "action"]
    latest_action = action_names[-1] if action_names else None
    form = tracker.active_form
    return {
        "sender_id": tracker.conversation_id,
        "slots": _slot_values(tracker, domain),
        "latest_message": _latest_message(latest),
        "latest_event_time": tracker.events[-1].timestamp if tracker.events else None,
        "followup_action": followup_action,
        "paused": tracker.open_ticket_id is not None,
        "events": events,
        "latest_input_channel": channel,
        "active_loop": {"name": form} if form else {},
        "latest_action": {"action_name": latest_action} if latest_action else {},
        "latest_action_name": latest_action,
    }


def _slot_values(tracker: Tracker, domain: Domain) -> dict[str, Any]:
    values = {name: slot.initial_value for name, slot in domain.slots.items()}
    values.setdefault(REQUESTED_SLOT, None)
    values.setdefault("session_started_metadata", None)
    values.update(tracker.slots)
    return values


def _latest_message(message: UserMessage | None) -> dict[str, Any]:
    if message is None:
        return {"intent": {}, "entities": [], "text": None, "message_id": None, "metadata": {}}
    return _parse_data(message.parse, message)


def _parse_data(parse: Parse, message: UserMessage) -> dict[str, Any]:
    """Rasa's `parse_data`: text, intent, entities, intent_ranking (nlu_fallback first when
    the message was not understood, as Rasa's FallbackClassifier does), metadata."""
    data = parse.to_rasa()
    ranking = data["intent_ranking"]
    if parse.fallback and not (ranking and ranking[0]["name"] == "nlu_fallback"):
        data["intent_ranking"] = [dict(data["intent"]), *ranking]
    if not ranking and not parse.fallback:
        data["intent_ranking"] = [dict(data["intent"])]
    data["message_id"] = None
    data["metadata"] = dict(message.metadata)
    return data


def rasa_events(events: Iterable[Event]) -> list[dict[str, Any]]:
    """supportbot events -> Rasa event dicts (handoff events as `pause` / `resume`)."""
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, UserMessage) and not (
                out and out[-1]["event"] == "action" and out[-1]["name"] == ACTION_LISTEN):
            out.append(_action_event(ACTION_LISTEN, event.timestamp))
        converted = _rasa_event(event)
        if converted is not None:
            out.append(converted)
    return out


def _action_event(name: str, timestamp: float) -> dict[str, Any]:
    return {"event": "action", "timestamp": timestamp, "name": name, "policy": None,
            "confidence": None, "action_text": None, "hide_rule_turn": False}


def _rasa_event(event: Event) -> dict[str, Any] | None:
    """One event in Rasa's JSON shape, or None for events Rasa has no equivalent of."""
    ts = event.timestamp
    if isinstance(event, SessionStarted):
        return {"event": "session_started", "timestamp": ts}
    if isinstance(event, UserMessage):
        return {"event": "user", "timestamp": ts, "text": event.text,
                "parse_data": _parse_data(event.parse, event), "input_channel": event.channel,
                "message_id": None, "metadata": dict(event.metadata)}
    if isinstance(event, BotReply):
        data = _bot_data(event)
        if not (event.text or data["buttons"] or data["image"] or data["custom"]):
            return None  # a bookkeeping record (e.g. a form's invalid-value marker), not a message
        return {"event": "bot", "timestamp": ts, "text": event.text,
                "data": data,
                "metadata": {"utter_action": event.template} if event.template else {}}
    if isinstance(event, ActionExecuted):
        return _action_event(event.name, ts)
    if isinstance(event, SlotSet):
        return {"event": "slot", "timestamp": ts, "name": event.name, "value": event.value}
    if isinstance(event, ActiveLoop):
        return {"event": "active_loop", "timestamp": ts, "name": event.name}
    if isinstance(event, HandoffRequested):
        return {"event": "pause", "timestamp": ts}
    if isinstance(event, HandoffEnded):
        return {"event": "resume", "timestamp": ts}
    if isinstance(event, AgentMessage):
        return {"event": "agent", "timestamp": ts, "text": event.text,
                "data": {"agent_id": event.agent_id}}
    return None


def _bot_data(event: BotReply) -> dict[str, Any]:
    """BotUttered `data`: buttons, image, custom (the keys Rasa's output channels read)."""
    data = event.data or {}
    return {"elements": data.get("elements"), "quick_replies": data.get("quick_replies"),
            "buttons": [dict(b) for b in event.buttons] or None,
            "attachment": data.get("attachment"), "image": data.get("image"),
            "custom": data.get("custom")}


def form_validation_tracker(tracker: Tracker, form: str, candidates: Mapping[str, Any],
                            requested_slot: str | None = None) -> Tracker:
    """A copy of `tracker` as Rasa's form sends it to `validate_<form>`.

    rasa-sdk's `FormValidationAction` validates the `slot` events at the very end of the
    tracker (`Tracker.slots_to_validate`), so the candidates go last, after
    `SlotSet(requested_slot)` and `ActionExecuted(form)`, like Rasa's temporary tracker.
    """
    extra: list[Event] = []
    if requested_slot is not None:
        extra.append(SlotSet(REQUESTED_SLOT, requested_slot))
    extra.append(ActionExecuted(form))
    extra.extend(SlotSet(name, value) for name, value in candidates.items())
    return Tracker(tracker.conversation_id, [*tracker.events, *extra])


# ------------------------------------------------------------------ domain -> Rasa JSON


def rasa_domain(domain: Domain) -> dict[str, Any]:
    """The domain as Rasa's `Domain.as_dict()` sends it to an action server."""
    return {
        "version": "3.1",
        "config": {"store_entities_as_slots": domain.store_entities_as_slots},
        "session_config": {
            "session_expiration_time": domain.session_config.session_expiration_time,
            "carry_over_slots_to_new_session":
                domain.session_config.carry_over_slots_to_new_session,
        },
        "intents": [_intent(i) for i in domain.intents.values()],
        "entities": [_entity(e) for e in domain.entities.values()],
        "slots": {name: _slot(slot) for name, slot in domain.slots.items()},
        "responses": {name: _response(r) for name, r in domain.responses.items()},
        "actions": list(domain.actions),
        "forms": {name: {"required_slots": list(f.required_slots),
                         **({"ignored_intents": list(f.ignored_intents)}
                            if f.ignored_intents else {})}
                  for name, f in domain.forms.items()},
        "e2e_actions": [],
    }


def _intent(intent: IntentDef) -> str | dict[str, Any]:
    if intent.use_entities is not None:
        return {intent.name: {"use_entities": list(intent.use_entities)}}
    if intent.ignore_entities:
        return {intent.name: {"ignore_entities": list(intent.ignore_entities)}}
    return intent.name


def _entity(entity: EntityDef) -> str | dict[str, Any]:
    options: dict[str, Any] = {}
    if entity.roles:
        options["roles"] = list(entity.roles)
    if entity.groups:
        options["groups"] = list(entity.groups)
    if not entity.influence_conversation:
        options["influence_conversation"] = False
    return {entity.name: options} if options else entity.name


def _slot(slot: SlotDef) -> dict[str, Any]:
    data: dict[str, Any] = {"type": slot.type, "initial_value": slot.initial_value,
                            "influence_conversation": slot.influence_conversation,
                            "mappings": [_mapping(m) for m in slot.mappings]}
    if slot.type == "categorical":
        data["values"] = list(slot.values)
    if slot.type == "float":
        data["max_value"] = 1.0 if slot.max_value is None else slot.max_value
        data["min_value"] = 0.0 if slot.min_value is None else slot.min_value
    return data


def _mapping(mapping: SlotMapping) -> dict[str, Any]:
    data: dict[str, Any] = {"type": mapping.type}
    for key in ("entity", "role", "group"):
        if getattr(mapping, key) is not None:
            data[key] = getattr(mapping, key)
    if mapping.intent:
        data["intent"] = list(mapping.intent)
    if mapping.not_intent:
        data["not_intent"] = list(mapping.not_intent)
    if mapping.value is not None:
        data["value"] = mapping.value
    if mapping.conditions:
        data["conditions"] = [dict(c) for c in mapping.conditions]
    return data


def _response(response: Response) -> list[dict[str, Any]]:
    out = []
    for v in response.variations:
        item: dict[str, Any] = {}
        if v.text is not None:
            item["text"] = v.text
        if v.buttons:
            item["buttons"] = [{"title": b.title, "payload": b.payload} for b in v.buttons]
        if v.image:
            item["image"] = v.image
        if v.custom is not None:
            item["custom"] = dict(v.custom)
        if v.channel:
            item["channel"] = v.channel
        if v.condition:
            item["condition"] = [{"type": c.type, "name": c.name, "value": c.value}
                                 for c in v.condition]
        metadata = {k: val for k, val in v.metadata.items() if k not in _VARIATION_EXTRAS}
        item.update({k: val for k, val in v.metadata.items() if k in _VARIATION_EXTRAS})
        if metadata:
            item["metadata"] = metadata
        out.append(item)
    return out
