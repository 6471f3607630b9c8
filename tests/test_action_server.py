"""Custom actions on a Rasa action server: endpoints.yml, the request JSON, reply parsing, errors.

Most tests talk to a real rasa-sdk server running tests/fixtures/projects/rasa3_form_actions
(see action_server_fixture.py); the rest use a tiny recording HTTP server on loopback.
"""
from __future__ import annotations

import json
import logging
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from action_server_fixture import (  # noqa: F401 - `action_server` is a pytest fixture
    FORM_ACTIONS_PROJECT,
    RunningActionServer,
    action_server,
    free_port,
)

from supportbot.dialogue.action_server import (
    PAUSE_REASON,
    ActionServerClient,
    form_validation_tracker,
    parse_action_response,
    rasa_domain,
    rasa_events,
    rasa_tracker_state,
)
from supportbot.dialogue.actions import ActionReply, ActionResult
from supportbot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    AgentMessage,
    BotReply,
    HandoffEnded,
    HandoffRequested,
    SessionStarted,
    SlotSet,
    UserMessage,
)
from supportbot.dialogue.tracker import Tracker
from supportbot.errors import ActionError, ProjectError
from supportbot.nlu.parse import Entity, IntentScore, Parse
from supportbot.project.endpoints import (
    ActionEndpoint,
    action_endpoint_from_url,
    read_endpoints,
)
from supportbot.project.types import (
    Button,
    Domain,
    EntityDef,
    FormDef,
    IntentDef,
    Response,
    ResponseCondition,
    ResponseVariation,
    SlotDef,
    SlotMapping,
)

# ------------------------------------------------------------------ the fixture project's domain

FORM_CONDITION = {"active_loop": "ticket_form"}
DOMAIN = Domain(
    intents={name: IntentDef(name) for name in ("greet", "open_ticket", "inform", "stop")},
    entities={"email": EntityDef("email"), "order_number": EntityDef("order_number")},
    slots={
        "email": SlotDef("email", type="text", influence_conversation=False, mappings=(
            SlotMapping("from_entity", entity="email", conditions=(FORM_CONDITION,)),
            SlotMapping("from_text", conditions=({**FORM_CONDITION,
                                                  "requested_slot": "email"},)))),
        "order_number": SlotDef("order_number", type="text", influence_conversation=False,
                                mappings=(SlotMapping("from_entity", entity="order_number"),)),
        "ticket_number": SlotDef("ticket_number", type="text", influence_conversation=False,
                                 mappings=(SlotMapping("custom"),)),
    },
    responses={
        "utter_ask_email": Response("utter_ask_email",
                                    (ResponseVariation(text="What is your email address?"),)),
        "utter_ticket_created": Response("utter_ticket_created", (ResponseVariation(
            text="Ticket {ticket_number} is open. We will write to {email}."),)),
    },
    actions=("validate_ticket_form", "action_create_ticket", "action_reject_me", "action_crash",
             "action_slow", "action_rich_reply", "action_many_events", "action_echo_tracker"),
    forms={"ticket_form": FormDef("ticket_form", required_slots=("email", "order_number"))},
)


def user(text: str, intent: str, *, entities: tuple[Entity, ...] = (), channel: str = "rest",
         fallback: bool = False, confidence: float = 0.93) -> UserMessage:
    """A user message as the NLU would have parsed it."""
    ranking = (IntentScore(intent, confidence), IntentScore("greet", 1 - confidence))
    parse = Parse(text=text, intent=intent, confidence=confidence, ranking=ranking,
                  entities=entities, fallback=fallback,
                  fallback_reason="low_confidence" if fallback else None)
    return UserMessage(text=text, parse=parse, channel=channel)


def form_asking_for_email(answer: str) -> Tracker:
    """The ticket form is active, asked for the email, and the customer answered `answer`."""
    email = (Entity("email", answer, 0, len(answer), answer, "regex"),) if "@" in answer else ()
    return Tracker("conv-1", [
        SessionStarted(),
        user("I want to open a ticket", "open_ticket"),
        ActionExecuted("ticket_form"),
        ActiveLoop("ticket_form"),
        SlotSet("requested_slot", "email"),
        BotReply(text="What is your email address?", template="utter_ask_email",
                 action="ticket_form"),
        user(answer, "inform", entities=email),
    ])


@pytest.fixture()
def client(action_server: RunningActionServer) -> Iterator[ActionServerClient]:  # noqa: F811
    with ActionServerClient(action_server.endpoint()) as c:
        yield c


# ------------------------------------------------------------------ endpoints.yml


def write_endpoints(tmp_path: Path, text: str) -> Path:
    (tmp_path / "endpoints.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_fixture_project_endpoints():
    endpoints = read_endpoints(FORM_ACTIONS_PROJECT)
    assert endpoints.action_endpoint == ActionEndpoint(url="http://127.0.0.1:5055/webhook")
    assert endpoints.action_endpoint.timeout == 10.0
    assert endpoints.action_endpoint.token is None
    assert endpoints.tracker_store is None and endpoints.lock_store is None


def test_missing_endpoints_file_sets_nothing(tmp_path):
    assert read_endpoints(tmp_path).action_endpoint is None
    assert read_endpoints(tmp_path / "nowhere").tracker_store is None


def test_endpoints_expand_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONS_HOST", "actions.internal")
    monkeypatch.setenv("ACTIONS_TOKEN", "s3cret")
    monkeypatch.setenv("ACTIONS_TIMEOUT", "2.5")
    root = write_endpoints(tmp_path, """\
        action_endpoint:
          url: "http://${ACTIONS_HOST}:5055/webhook"
          token: ${ACTIONS_TOKEN}
          timeout: ${ACTIONS_TIMEOUT}
          headers: {X-Team: support}
        tracker_store:
          type: redis
          url: ${ACTIONS_HOST}
          port: 6379
        lock_store:
          type: in_memory
        """)
    endpoints = read_endpoints(root)
    action = endpoints.action_endpoint
    assert action.url == "http://actions.internal:5055/webhook"
    assert action.token == "s3cret" and action.timeout == 2.5
    assert action.headers == {"X-Team": "support"}
    assert endpoints.tracker_store == {"type": "redis", "url": "actions.internal", "port": 6379}
    assert endpoints.lock_store == {"type": "in_memory"}
    assert "s3cret" not in repr(action) and "s3cret" not in repr(endpoints.action_endpoint)


def test_endpoints_unset_variable_names_file_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    root = write_endpoints(tmp_path, """\
        action_endpoint:
          url: http://localhost:5055/webhook
          token: ${NOT_SET_ANYWHERE}
        """)
    with pytest.raises(ProjectError) as info:
        read_endpoints(root)
    [problem] = info.value.errors
    assert (problem.file, problem.line) == ("endpoints.yml", 3)
    assert "NOT_SET_ANYWHERE" in problem.message


@pytest.mark.parametrize(("text", "line", "words"), [
    ("action_endpoint:\n  url: localhost:5055\n", 2, "http://"),
    ("action_endpoint:\n  url: http://localhost:5055/webhook\n  timeout: -1\n", 3, "positive"),
    ("action_endpoint:\n  url: http://localhost:5055/webhook\n  timeout: soon\n", 3, "positive"),
    ("action_endpoint:\n  token: abc\n", 1, "no `url`"),
    ("action_endpoint:\n- http://localhost:5055/webhook\n", 1, "mapping"),
    ("action_endpoint:\n  url: http://localhost:5055/webhook\n  headers: [a, b]\n", 3,
     "headers"),
    ("tracker_store: sqlite\n", 1, "mapping"),
    ("action_endpoint:\n  url: [http://a\n", 3, "YAML"),  # the parser notices at the end
    ("- action_endpoint\n", 1, "mapping"),
])
def test_endpoints_errors(tmp_path, text, line, words):
    root = write_endpoints(tmp_path, text)
    with pytest.raises(ProjectError) as info:
        read_endpoints(root)
    problem = info.value.errors[0]
    assert problem.file == "endpoints.yml"
    assert problem.line == line, problem
    assert words in str(problem)


def test_endpoints_unknown_key_is_a_warning(tmp_path):
    root = write_endpoints(tmp_path, """\
        action_endpoint:
          url: http://localhost:5055/webhook
          tiemout: 3
        """)
    endpoints = read_endpoints(root)
    assert endpoints.action_endpoint.timeout == 10.0
    [warning] = endpoints.problems
    assert warning.severity == "warning" and warning.line == 3 and "tiemout" in warning.message


def test_action_endpoint_from_url():
    endpoint = action_endpoint_from_url("https://bot.example.com/webhook", token="t", timeout=3)
    assert (endpoint.url, endpoint.token, endpoint.timeout) == (
        "https://bot.example.com/webhook", "t", 3.0)
    with pytest.raises(ActionError, match="http"):
        action_endpoint_from_url("ftp://example.com")
    with pytest.raises(ActionError, match="timeout"):
        action_endpoint_from_url("http://localhost:5055/webhook", timeout=0)


# ------------------------------------------------------------------ against rasa-sdk


def test_validation_action_rejects_invalid_email(client):
    tracker = form_validation_tracker(form_asking_for_email("not an email"), "ticket_form",
                                      {"email": "not an email"})
    result = client.run("validate_ticket_form", tracker, DOMAIN)
    assert result.slots == {"email": None}
    assert [r.text for r in result.replies] == ["'not an email' is not an email address."]
    assert not result.reject and result.form is None


def test_validation_action_accepts_and_normalises(client):
    tracker = form_validation_tracker(form_asking_for_email("Anna@Example.COM"), "ticket_form",
                                      {"email": "Anna@Example.COM"})
    result = client.run("validate_ticket_form", tracker, DOMAIN)
    assert result.slots == {"email": "anna@example.com"}
    assert result.replies == ()


def test_validation_action_sees_only_the_trailing_candidates(client):
    """rasa-sdk validates the `slot` events at the end of the tracker: the order number is
    validated, the email set earlier in the conversation is not touched."""
    base = form_asking_for_email("anna@example.com")
    base.append(SlotSet("email", "anna@example.com"))
    base.append(SlotSet("requested_slot", "order_number"))
    base.append(user("ab12345", "inform"))
    tracker = form_validation_tracker(base, "ticket_form", {"order_number": "ab12345"},
                                      requested_slot="order_number")
    result = client.run("validate_ticket_form", tracker, DOMAIN)
    assert result.slots == {"order_number": "AB12345"}

    tracker = form_validation_tracker(base, "ticket_form", {"order_number": "12"})
    result = client.run("validate_ticket_form", tracker, DOMAIN)
    assert result.slots == {"order_number": None}
    assert result.replies == (ActionReply(response="utter_ask_order_number"),)


def test_custom_action_sets_slot_and_replies(client):
    tracker = Tracker("conv-2", [user("open a ticket", "open_ticket"),
                                 SlotSet("email", "anna@example.com"),
                                 SlotSet("order_number", "AB1234")])
    result = client.run("action_create_ticket", tracker, DOMAIN)
    assert result.slots == {"ticket_number": "T-AB1234"}
    assert result.replies == (
        ActionReply(text="Creating a ticket for order AB1234.",
                    buttons=(Button("Track it", "/track_ticket"),)),
        ActionReply(response="utter_ticket_created", values={"ticket_number": "T-AB1234"}),
    )
    assert result.followup is None and result.handoff is None and not result.reject


def test_image_and_custom_replies(client):
    result = client.run("action_rich_reply", Tracker("conv-3"), DOMAIN)
    assert result.replies == (ActionReply(image="https://example.com/parcel.png"),
                              ActionReply(custom={"blocks": [{"type": "divider"}]}))


def test_events_become_slots_form_followup_and_handoff(client, caplog):
    tracker = Tracker("conv-4", [ActiveLoop("ticket_form"), SlotSet("email", "a@b.cd")])
    with caplog.at_level(logging.INFO, logger="supportbot.dialogue.action_server"):
        result = client.run("action_many_events", tracker, DOMAIN)
    # SlotSet(email), then AllSlotsReset (every slot back to its initial value), then order
    assert result.slots == {"email": None, "order_number": "ZZ0001", "ticket_number": None,
                            "requested_slot": None}
    assert result.form == ""
    assert result.followup == "utter_greet"
    assert result.handoff == PAUSE_REASON
    assert "'reminder' event" in caplog.text


def test_rejection_is_a_result_not_an_error(client):
    assert client.run("action_reject_me", Tracker("conv-5"), DOMAIN) == ActionResult(reject=True)


def test_exception_in_action_is_an_action_error(client, action_server):  # noqa: F811
    with pytest.raises(ActionError) as info:
        client.run("action_crash", Tracker("conv-6"), DOMAIN)
    message = str(info.value)
    assert "action_crash" in message and "HTTP 500" in message
    assert "ticket database is down" in message
    assert action_server.url in message


def test_unknown_action_is_an_action_error(client):
    with pytest.raises(ActionError, match="'action_nowhere' is not on the action server"):
        client.run("action_nowhere", Tracker("conv-7"), DOMAIN)


def test_server_down_fails_fast():
    port = free_port()
    endpoint = ActionEndpoint(url=f"http://127.0.0.1:{port}/webhook", token="s3cret-token")
    start = time.monotonic()
    with pytest.raises(ActionError) as info:
        ActionServerClient(endpoint).run("action_create_ticket", Tracker("conv-8"), DOMAIN)
    assert time.monotonic() - start < 5  # refused at once; generous for a loaded machine
    message = str(info.value)
    assert "cannot connect" in message and f"127.0.0.1:{port}/webhook" in message
    assert "s3cret-token" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_timeout_is_honoured(action_server):  # noqa: F811
    client = ActionServerClient(action_server.endpoint(timeout=0.5))
    start = time.monotonic()
    with pytest.raises(ActionError, match="did not answer within 0.5 s"):
        client.run("action_slow", Tracker("conv-9"), DOMAIN)
    assert time.monotonic() - start < 4  # the action sleeps 5 s


def test_rasa_sdk_reads_the_tracker(client):
    """What rasa-sdk's `Tracker.from_dict` makes of the state we send."""
    tracker = form_asking_for_email("anna@example.com")
    result = client.run("action_echo_tracker", tracker, DOMAIN)
    [reply] = result.replies
    seen = reply.custom
    assert seen["sender_id"] == "conv-1"
    assert seen["slots"] == {"email": None, "order_number": None, "ticket_number": None,
                             "requested_slot": "email", "session_started_metadata": None}
    assert seen["requested_slot"] == "email"
    assert seen["active_loop"] == "ticket_form"
    assert seen["intent"] == "inform"
    assert seen["text"] == "anna@example.com"
    assert seen["emails"] == ["anna@example.com"]
    assert seen["input_channel"] == "rest"
    assert seen["latest_action"] == "action_listen"
    assert seen["paused"] is False
    assert seen["event_kinds"] == ["session_started", "action", "user", "action", "active_loop",
                                   "slot", "bot", "action", "user"]
    assert seen["slots_to_validate"] == {}
    assert seen["forms"] == {"ticket_form": {"required_slots": ["email", "order_number"]}}
    assert seen["responses"] == ["utter_ask_email", "utter_ticket_created"]


def test_rasa_sdk_sees_fallback_and_pause(client):
    tracker = Tracker("conv-10", [
        user("blah", "open_ticket", fallback=True, confidence=0.2),
        HandoffRequested(ticket_id="T1", reasons=({"code": "explicit", "explanation": "x"},)),
    ])
    seen = client.run("action_echo_tracker", tracker, DOMAIN).replies[0].custom
    assert seen["intent"] == "open_ticket"  # rasa-sdk skips the nlu_fallback we put first
    assert seen["paused"] is True
    assert seen["active_loop"] is None and seen["requested_slot"] is None


# ------------------------------------------------------------------ protocol details (recorder)


class Recorder:
    """A loopback HTTP server that records requests and answers with a canned response."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes = b'{"events": [], "responses": []}'
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                recorder.requests.append({
                    "path": self.path, "headers": dict(self.headers),
                    "body": json.loads(self.rfile.read(length))})
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()
                self.wfile.write(recorder.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


def test_request_shape_and_token(recorder):
    endpoint = ActionEndpoint(url=recorder.url, token="s3cret", params={"team": "a"},
                              headers={"X-Team": "support"})
    result = ActionServerClient(endpoint).run("action_create_ticket",
                                              form_asking_for_email("a@b.cd"), DOMAIN)
    assert result == ActionResult()
    [request] = recorder.requests
    query = parse_qs(urlsplit(request["path"]).query)
    assert query == {"token": ["s3cret"], "team": ["a"]}
    assert request["headers"]["X-Team"] == "support"
    body = request["body"]
    assert set(body) == {"next_action", "sender_id", "tracker", "domain", "version"}
    assert body["next_action"] == "action_create_ticket" and body["sender_id"] == "conv-1"
    assert set(body["tracker"]) >= {
        "sender_id", "slots", "latest_message", "latest_event_time", "followup_action", "paused",
        "events", "latest_input_channel", "active_loop", "latest_action_name", "latest_action"}
    assert body["tracker"]["active_loop"] == {"name": "ticket_form"}
    assert body["tracker"]["latest_action"] == {"action_name": "action_listen"}
    assert body["tracker"]["latest_message"]["intent"] == {"name": "inform", "confidence": 0.93}
    assert set(body["domain"]) >= {"intents", "entities", "slots", "responses", "actions",
                                   "forms", "session_config", "config"}


@pytest.mark.parametrize(("status", "body", "words"), [
    (200, b"<html>oops</html>", "invalid JSON"),
    (200, b"[1, 2]", "not an object"),
    (200, b'{"events": {"event": "slot"}}', "must be lists"),
    (200, b'{"events": [{"name": "x"}]}', "malformed event"),
    (400, b'{"error": "Invalid body request"}', "HTTP 400"),
    (401, b"forbidden", "token"),
    (404, b"not found", "is not on the action server"),
    (502, b"bad gateway", "HTTP 502"),
])
def test_bad_answers_are_action_errors(recorder, status, body, words):
    recorder.status, recorder.body = status, body
    with pytest.raises(ActionError, match=words) as info:
        ActionServerClient(ActionEndpoint(url=recorder.url, token="s3cret")).run(
            "action_x", Tracker("c"), DOMAIN)
    assert "action_x" in str(info.value) and "s3cret" not in str(info.value)


def test_empty_200_answer_is_an_empty_result(recorder):
    recorder.body = b"null"
    client = ActionServerClient(ActionEndpoint(url=recorder.url))
    assert client.run("action_x", Tracker("c"), DOMAIN) == ActionResult()


# ------------------------------------------------------------------ pure conversions


def test_parse_legacy_and_bot_events():
    result = parse_action_response({
        "events": [{"event": "form", "name": "ticket_form"},
                   {"event": "bot", "text": "Hi", "data": {"buttons": [
                       {"title": "Docs", "url": "https://x.example", "type": "web_url"}]}},
                   {"event": "slot", "name": "requested_slot", "value": "email"}],
        "responses": [{"template": "utter_greet", "name": "Anna", "text": None}],
    }, "action_x", DOMAIN)
    assert result.form == "ticket_form"
    assert result.slots == {"requested_slot": "email"}
    assert result.replies == (ActionReply(response="utter_greet", values={"name": "Anna"}),
                              ActionReply(text="Hi",
                                          buttons=(Button("Docs", "https://x.example"),)))
    deactivated = parse_action_response({"events": [{"event": "active_loop", "name": None}]},
                                        "a", DOMAIN)
    assert deactivated.form == ""


def test_rasa_events_mapping():
    events = rasa_events([
        SessionStarted(timestamp=1.0),
        user("hi", "greet"),
        BotReply(text="Hello", buttons=({"title": "A", "payload": "/a"},),
                 template="utter_greet"),
        BotReply(text=None, action="form_invalid", data={"invalid_slot": "email"}),  # no message
        HandoffRequested(ticket_id="T1"),
        AgentMessage(agent_id="ag1", text="Hi, Anna here"),
        HandoffEnded(ticket_id="T1", outcome="resolved"),
    ])
    assert [e["event"] for e in events] == ["session_started", "action", "user", "bot", "pause",
                                           "agent", "resume"]
    assert events[1]["name"] == "action_listen"
    assert events[2]["parse_data"]["intent"]["name"] == "greet"
    assert events[2]["input_channel"] == "rest"
    assert events[3]["data"]["buttons"] == [{"title": "A", "payload": "/a"}]
    assert events[3]["metadata"] == {"utter_action": "utter_greet"}


def test_rasa_tracker_state_without_messages():
    state = rasa_tracker_state(Tracker("empty"), DOMAIN)
    assert state["latest_message"]["intent"] == {} and state["events"] == []
    assert state["active_loop"] == {} and state["latest_action_name"] is None
    assert state["latest_input_channel"] == "default" and state["latest_event_time"] is None


def test_rasa_domain_shape():
    domain = Domain(
        intents={"greet": IntentDef("greet"),
                 "inform": IntentDef("inform", use_entities=("city",))},
        entities={"city": EntityDef("city", roles=("from", "to"))},
        slots={"score": SlotDef("score", type="float", initial_value=0.5),
               "tier": SlotDef("tier", type="categorical", values=("gold", "silver"))},
        responses={"utter_greet": Response("utter_greet", (
            ResponseVariation(text="Hi {name}", buttons=(Button("Yes", "/affirm"),),
                              channel="slack",
                              condition=(ResponseCondition("logged_in", True),),
                              metadata={"quick_replies": [1], "rasa": "x"}),))},
        forms={"f": FormDef("f", ("tier",), ignored_intents=("greet",))},
    )
    data = rasa_domain(domain)
    assert data["intents"] == ["greet", {"inform": {"use_entities": ["city"]}}]
    assert data["entities"] == [{"city": {"roles": ["from", "to"]}}]
    assert data["slots"]["score"] == {"type": "float", "initial_value": 0.5,
                                      "influence_conversation": True, "mappings": [],
                                      "max_value": 1.0, "min_value": 0.0}
    assert data["slots"]["tier"]["values"] == ["gold", "silver"]
    assert data["responses"]["utter_greet"] == [{
        "text": "Hi {name}", "buttons": [{"title": "Yes", "payload": "/affirm"}],
        "channel": "slack", "condition": [{"type": "slot", "name": "logged_in", "value": True}],
        "quick_replies": [1], "metadata": {"rasa": "x"}}]
    assert data["forms"] == {"f": {"required_slots": ["tier"], "ignored_intents": ["greet"]}}
    assert data["session_config"] == {"session_expiration_time": 60.0,
                                      "carry_over_slots_to_new_session": True}
    json.dumps(data)  # plain JSON
