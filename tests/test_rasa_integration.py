"""supportbot's escalation check and handoff queue as rasa-sdk actions (supportbot[rasa])."""
from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa_sdk")

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from supportbot.handoff import Agent, open_queue
from supportbot.integrations import rasa as sb_rasa
from supportbot.integrations.rasa_tracker import tracker_from_rasa

SENDER = "rasa-user-1"
DOMAIN: dict[str, Any] = {"responses": {}, "slots": {}, "actions": list(sb_rasa.OUR_ACTIONS)}


# ---------------------------------------------------------------------------- Rasa events
class Conversation:
    """Builds a Rasa event log the way Rasa's processor writes it (action before its bot event)."""

    def __init__(self, sender: str = SENDER, start: float | None = None):
        self.sender = sender
        self.t = start or time.time() - 600
        self.events: list[dict[str, Any]] = []
        self.slots: dict[str, Any] = {}
        self.paused = False
        self.action("action_session_start")
        self.add({"event": "session_started"})
        self.action("action_listen")

    def add(self, event: dict[str, Any]) -> Conversation:
        self.t += 1.0
        self.events.append({"timestamp": self.t, **event})
        return self

    def action(self, name: str) -> Conversation:
        return self.add({"event": "action", "name": name, "policy": "RulePolicy",
                         "confidence": 1.0})

    def user(self, text: str, intent: str, confidence: float = 0.95,
             entities: list[dict[str, Any]] | None = None) -> Conversation:
        ranking = [{"name": intent, "confidence": confidence}]
        if intent == "nlu_fallback":
            ranking = [{"name": "nlu_fallback", "confidence": 0.7},
                       {"name": "order_status", "confidence": 0.31},
                       {"name": "greet", "confidence": 0.2}]
        parse = {"text": text, "intent": {"name": intent, "confidence": confidence},
                 "entities": entities or [], "intent_ranking": ranking,
                 "message_id": f"m{len(self.events)}"}
        return self.add({"event": "user", "text": text, "parse_data": parse,
                         "input_channel": "rest", "message_id": parse["message_id"],
                         "metadata": {}})

    def bot(self, utter_action: str, text: str) -> Conversation:
        self.action(utter_action)
        self.add({"event": "bot", "text": text,
                  "data": {"elements": None, "quick_replies": None, "buttons": None,
                           "attachment": None, "image": None, "custom": None},
                  "metadata": {"utter_action": utter_action}})
        return self.action("action_listen")

    def apply(self, name: str, events: list[dict[str, Any]],
              dispatcher: CollectingDispatcher) -> Conversation:
        """Log an action's run as Rasa would: the action, its messages, then its events."""
        self.action(name)
        for message in dispatcher.messages:
            meta = {k: v for k, v in message.items()
                    if k not in ("text", "buttons", "elements", "custom", "image", "attachment",
                                 "template", "response") and v}
            if message.get("response"):
                meta["utter_action"] = message["response"]
            self.add({"event": "bot", "text": message.get("text"),
                      "data": {"buttons": message.get("buttons") or None}, "metadata": meta})
        for event in events:
            self.add({k: v for k, v in event.items() if k != "timestamp"})
            if event["event"] == "slot":
                self.slots[event["name"]] = event["value"]
            elif event["event"] == "pause":
                self.paused = True
            elif event["event"] == "resume":
                self.paused = False
        return self

    def tracker(self) -> Tracker:
        latest_user = next((e for e in reversed(self.events) if e["event"] == "user"), None)
        latest_action = next((e["name"] for e in reversed(self.events)
                              if e["event"] == "action"), None)
        return Tracker.from_dict({
            "sender_id": self.sender, "slots": dict(self.slots),
            "latest_message": latest_user["parse_data"] if latest_user else {},
            "events": list(self.events), "paused": self.paused, "followup_action": None,
            "active_loop": {}, "latest_action_name": latest_action,
        })


def run(name: str, conv: Conversation, domain: dict[str, Any] | None = None,
        log: bool = True) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    """Run action `name` on the conversation; log its outcome on it (as Rasa does)."""
    action = {a().name(): a for a in (sb_rasa.ActionSupportbotCheckEscalation,
                                      sb_rasa.ActionSupportbotHandoff,
                                      sb_rasa.ActionSupportbotResume)}[name]()
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, conv.tracker(), domain or DOMAIN))
    if log:
        conv.apply(name, events, dispatcher)
    return events, dispatcher


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


# ---------------------------------------------------------------------------- fixtures
CONFIG = """\
language: en
escalation:
  unresolved:
    consecutive_fallbacks: 2
handoff:
  queues: [default, billing]
"""


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    config = tmp_path / "supportbot.yml"
    config.write_text(CONFIG, encoding="utf-8")
    values = {"SUPPORTBOT_CONFIG": str(config),
              "SUPPORTBOT_QUEUE_URL": f"sqlite:///{tmp_path / 'handoff.db'}"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture()
def queue(env: dict[str, str]):
    return open_queue(env["SUPPORTBOT_QUEUE_URL"])


def handed_off(queue) -> tuple[Conversation, Any]:
    conv = Conversation()
    conv.user("hi", "greet").bot("utter_greet", "Hello! How can I help?")
    conv.user("where is my order NW-100001?", "order_status",
              entities=[{"entity": "order_id", "value": "NW-100001", "start": 15, "end": 24,
                         "extractor": "RegexEntityExtractor"}])
    conv.bot("utter_order_status", "Your order is on its way.")
    conv.user("I want to talk to a real person", "human_handoff", 0.91)
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert events[-1] == {"event": "followup", "timestamp": None, "name": sb_rasa.HANDOFF_ACTION}
    events, _dispatcher = run(sb_rasa.HANDOFF_ACTION, conv)
    ticket = queue.open_ticket_for(SENDER)
    assert ticket is not None
    return conv, ticket


# ---------------------------------------------------------------------------- tests
def test_explicit_request_hands_off_with_reasons_and_transcript(queue):
    conv = Conversation()
    conv.user("hi", "greet").bot("utter_greet", "Hello! How can I help?")
    conv.user("where is my order NW-100001?", "order_status")
    conv.bot("utter_order_status", "Your order is on its way.")
    conv.user("I want to talk to a real person", "human_handoff", 0.91)

    events, dispatcher = run(sb_rasa.CHECK_ACTION, conv)
    assert slots_of(events)["supportbot_handoff"] is True
    assert slots_of(events)["supportbot_handoff_reasons"] == ["explicit_request"]
    assert events[-1]["event"] == "followup"
    assert events[-1]["name"] == "action_supportbot_handoff"
    assert dispatcher.messages == []

    events, dispatcher = run(sb_rasa.HANDOFF_ACTION, conv)
    ticket = queue.open_ticket_for(SENDER)
    assert ticket is not None and str(ticket.status) == "waiting"
    assert [r.code for r in ticket.reasons] == ["explicit_request"]
    assert "intent 'human_handoff'" in ticket.reasons[0].explanation
    customer = [m.text for m in ticket.transcript if m.role == "customer"]
    assert customer == ["hi", "where is my order NW-100001?", "I want to talk to a real person"]
    assert [m.text for m in ticket.transcript if m.role == "bot"] == [
        "Hello! How can I help?", "Your order is on its way."]
    assert ticket.channel == "rest" and ticket.language == "en"
    assert ticket.metadata["source"] == "rasa"

    assert slots_of(events)["supportbot_ticket_id"] == ticket.id
    assert slots_of(events)["supportbot_handoff"] is True
    assert kinds(events)[-1] == "pause"
    (message,) = dispatcher.messages
    # no agent online, no claim history: the unknown-wait variant with the place in line
    assert message["utter_action"] == "utter_handoff_queued_unknown_wait"
    assert "number 1 in the queue" in message["text"]


def test_ordinary_conversation_does_not_hand_off(queue):
    conv = Conversation()
    conv.user("hi", "greet").bot("utter_greet", "Hello! How can I help?")
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    conv.user("how do I return an item?", "faq", 0.9)
    conv.bot("utter_faq/returns", "You can return any item within 30 days.")
    events, dispatcher = run(sb_rasa.CHECK_ACTION, conv)
    conv.user("thanks!", "thank_you").bot("utter_welcome", "You're welcome!")
    events, dispatcher = run(sb_rasa.CHECK_ACTION, conv)

    assert slots_of(events) == {"supportbot_handoff": False, "supportbot_handoff_reasons": [],
                                "supportbot_handoff_offered": False}
    assert "followup" not in kinds(events)
    assert dispatcher.messages == []
    assert queue.list() == []


def test_repeated_fallbacks_hand_off_with_unresolved_streak(queue):
    conv = Conversation()
    conv.user("blorp the quux", "nlu_fallback", 0.7)
    conv.bot("utter_default", "Sorry, I didn't get that. Could you rephrase?")
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert slots_of(events)["supportbot_handoff"] is False
    conv.user("quux blorping again", "nlu_fallback", 0.7)
    conv.bot("utter_please_rephrase", "Hmm, I still don't understand.")  # answers nlu_fallback
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert slots_of(events)["supportbot_handoff_reasons"] == ["unresolved_streak"]
    assert events[-1]["name"] == sb_rasa.HANDOFF_ACTION
    run(sb_rasa.HANDOFF_ACTION, conv)
    ticket = queue.open_ticket_for(SENDER)
    assert [r.code for r in ticket.reasons] == ["unresolved_streak"]
    assert "2 messages in a row" in ticket.reasons[0].explanation


def test_second_handoff_rejoins_the_open_ticket(queue):
    conv, ticket = handed_off(queue)
    # Rasa forgot the pause (e.g. the conversation was restarted); the customer asks again
    conv.events.append({"event": "restart", "timestamp": conv.t + 1})
    conv.t += 2
    conv.slots, conv.paused = {}, False
    conv.action("action_session_start").add({"event": "session_started"})
    conv.action("action_listen").user("hello?? I still need a human", "human_handoff", 0.88)
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert events[-1]["name"] == sb_rasa.HANDOFF_ACTION
    events, dispatcher = run(sb_rasa.HANDOFF_ACTION, conv)

    assert slots_of(events)["supportbot_ticket_id"] == ticket.id
    assert kinds(events)[-1] == "pause"
    assert [t.id for t in queue.list(status="waiting")] == [ticket.id]
    customer = [m.text for m in queue.get(ticket.id).transcript if m.role == "customer"]
    assert customer[-1] == "hello?? I still need a human"
    assert customer.count("I want to talk to a real person") == 1
    assert "number 1 in the queue" in dispatcher.messages[0]["text"]


def test_resume_waits_while_open_and_resumes_after_resolve(queue):
    conv, ticket = handed_off(queue)
    # while paused Rasa still logs what the customer writes
    conv.user("it's order NW-100001, it never arrived", "order_status")

    events, dispatcher = run(sb_rasa.RESUME_ACTION, conv)
    assert kinds(events) == ["slot", "slot", "slot", "pause"]
    assert dispatcher.messages == []  # the handoff already said "number 1 in the queue"
    customer = [m.text for m in queue.get(ticket.id).transcript if m.role == "customer"]
    assert customer[-1] == "it's order NW-100001, it never arrived"
    run(sb_rasa.RESUME_ACTION, conv)  # running it again copies nothing twice
    customer = [m.text for m in queue.get(ticket.id).transcript if m.role == "customer"]
    assert customer.count("it's order NW-100001, it never arrived") == 1

    queue.upsert_agent(Agent("alice", name="Alice"))
    assert queue.claim("alice").id == ticket.id
    queue.agent_send(ticket.id, "alice", "Hi, I'm checking NW-100001 now.")
    events, dispatcher = run(sb_rasa.RESUME_ACTION, conv)
    assert kinds(events)[-1] == "pause"
    # the queue's outbox for this conversation: "Alice joined", then what she wrote
    assert dispatcher.messages[0]["utter_action"] == "utter_handoff_agent_joined"
    assert "Alice" in dispatcher.messages[0]["text"]
    assert dispatcher.messages[1]["text"] == "Hi, I'm checking NW-100001 now."
    assert len(dispatcher.messages) == 2
    assert queue.pending_outbox(SENDER) == []
    _, dispatcher = run(sb_rasa.RESUME_ACTION, conv)  # nothing new: nothing said
    assert dispatcher.messages == []

    queue.resolve(ticket.id, "alice")
    events, dispatcher = run(sb_rasa.RESUME_ACTION, conv)
    assert events[0]["event"] == "resume"
    assert slots_of(events) == {"supportbot_ticket_id": None, "supportbot_handoff": False,
                                "supportbot_handoff_reasons": None,
                                "supportbot_handoff_offered": False,
                                "supportbot_handoff_status": None}
    assert [m["utter_action"] for m in dispatcher.messages] == ["utter_handoff_resolved"]
    assert queue.pending_outbox(SENDER) == []

    # back with the bot: counting starts afresh and a new request opens a new ticket
    conv.user("thanks", "thank_you").bot("utter_welcome", "You're welcome!")
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert slots_of(events)["supportbot_handoff"] is False
    conv.user("operator please", "human_handoff", 0.9)
    run(sb_rasa.CHECK_ACTION, conv)
    events, _ = run(sb_rasa.HANDOFF_ACTION, conv)
    assert slots_of(events)["supportbot_ticket_id"] not in (None, ticket.id)


def test_handoff_straight_from_a_rule_and_in_the_customers_language(queue):
    conv = Conversation()
    conv.user("позовите оператора", "human_handoff", 0.8)
    _events, dispatcher = run(sb_rasa.HANDOFF_ACTION, conv)
    ticket = queue.open_ticket_for(SENDER)
    assert [r.code for r in ticket.reasons] == ["explicit_request"]
    assert ticket.language == "ru"
    assert "очереди" in dispatcher.messages[0]["text"]


def test_a_domain_response_overrides_the_default_message(queue):
    conv = Conversation()
    conv.user("agent", "human_handoff", 0.9)
    domain = {**DOMAIN, "responses": {"utter_handoff_queued_unknown_wait": [
        {"text": "Hang on, you're #{position}."}]}}
    _, dispatcher = run(sb_rasa.HANDOFF_ACTION, conv, domain)
    (message,) = dispatcher.messages
    assert message["response"] == "utter_handoff_queued_unknown_wait"
    assert message["position"] == 1


def test_confirmation_asks_first_then_hands_off_on_yes(queue, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "confirm.yml").write_text(
        "escalation:\n  confirm_before_handoff: true\n", encoding="utf-8")
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "confirm.yml"))
    conv = Conversation()
    for text in ("blorp", "quux quux"):
        conv.user(text, "nlu_fallback", 0.7).bot("utter_default", "Sorry, I didn't get that.")
        events, dispatcher = run(sb_rasa.CHECK_ACTION, conv)
    assert slots_of(events)["supportbot_handoff_offered"] is True
    assert "followup" not in kinds(events)
    assert dispatcher.messages[0]["text"] == "Shall I connect you with a person from our team?"
    conv.action("action_listen").user("yes please", "affirm", 0.97)
    events, _ = run(sb_rasa.CHECK_ACTION, conv)
    assert events[-1]["name"] == sb_rasa.HANDOFF_ACTION
    run(sb_rasa.HANDOFF_ACTION, conv)
    assert [r.code for r in queue.open_ticket_for(SENDER).reasons] == ["unresolved_streak"]


def test_conversion_reads_rasa_events():
    conv = Conversation()
    conv.user("how do I return this?", "faq", 0.9)
    conv.events[-1]["parse_data"]["response_selector"] = {
        "all_retrieval_intents": ["faq"],
        "default": {"response": {"intent_response_key": "faq/returns",
                                 "utter_action": "utter_faq/returns"}}}
    conv.bot("utter_faq/returns", "Within 30 days.")
    conv.add({"event": "slot", "name": "order_id", "value": "NW-1"})
    tracker = tracker_from_rasa(SENDER, conv.events)
    message = tracker.latest_message
    assert message.parse.intent == "faq/returns" and message.channel == "rest"
    reply = tracker.latest_reply
    assert (reply.template, reply.action, reply.data["fallback"]) == (
        "utter_faq/returns", "utter_faq/returns", False)
    assert tracker.slots == {"order_id": "NW-1"}


def test_import_without_rasa_sdk_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "rasa_sdk", None)
    monkeypatch.delitem(sys.modules, "supportbot.integrations.rasa")
    with pytest.raises(ImportError, match=r"pip install supportbot\[rasa\]"):
        importlib.import_module("supportbot.integrations.rasa")


def test_nothing_else_in_supportbot_imports_the_integration():
    src = Path(sb_rasa.__file__).resolve().parents[1]
    offenders = [str(p) for p in src.rglob("*.py")
                 if "integrations" not in p.parts
                 and "supportbot.integrations" in p.read_text(encoding="utf-8")]
    assert offenders == []


# ---------------------------------------------------------------------------- action server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_rasa_sdk_action_server_runs_the_check(env, tmp_path: Path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "supportbot.integrations.rasa",
         "-p", str(port)],
        cwd=tmp_path, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10):
                    break
            except OSError:  # URLError, refused, reset or timed out: not up yet
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("action server did not start:\n"
                                + (tmp_path / "server.log").read_text())
                time.sleep(0.3)
        actions = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/actions", timeout=10).read())
        assert {a["name"] for a in actions} == set(sb_rasa.OUR_ACTIONS)

        conv = Conversation(sender="server-user")
        conv.user("hi", "greet").bot("utter_greet", "Hello!")
        conv.user("can I speak to a human please", "human_handoff", 0.9)
        state = conv.tracker().current_state()
        reply = _post(f"http://127.0.0.1:{port}/webhook", {
            "next_action": sb_rasa.CHECK_ACTION, "sender_id": "server-user",
            "tracker": state, "domain": DOMAIN, "version": "3.6.0"})
        events = reply["events"]
        assert slots_of(events) == {"supportbot_handoff": True,
                                    "supportbot_handoff_reasons": ["explicit_request"],
                                    "supportbot_handoff_offered": False}
        assert events[-1]["event"] == "followup"
        assert events[-1]["name"] == sb_rasa.HANDOFF_ACTION
        assert reply["responses"] == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_resume_tells_a_new_place_in_line_once(queue):
    _, ticket = handed_off(queue)
    second = Conversation(sender="rasa-user-2")
    second.user("I need an operator", "human_handoff", 0.9)
    _, dispatcher = run(sb_rasa.HANDOFF_ACTION, second)
    assert "number 2 in the queue" in dispatcher.messages[0]["text"]
    queue.upsert_agent(Agent("bob", name="Bob"))
    assert queue.claim("bob").id == ticket.id
    _, dispatcher = run(sb_rasa.RESUME_ACTION, second)
    assert "number 1 in the queue" in dispatcher.messages[0]["text"]
    _, dispatcher = run(sb_rasa.RESUME_ACTION, second)
    assert dispatcher.messages == []
