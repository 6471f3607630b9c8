"""Forms and custom actions end to end through `Bot.handle`: a Rasa 3 project whose form is
validated and submitted by a real rasa-sdk action server, and Rasa 2.x form layouts with
YAML validation and Python actions."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from action_server_fixture import action_server  # noqa: F401  (session fixture)

import supportbot
from supportbot import ActionRegistry, ActionResult, Bot
from supportbot.dialogue.events import ActiveLoop, SlotSet

FIXTURES = Path(__file__).parent / "fixtures" / "projects"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def rasa3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return supportbot.train(FIXTURES / "rasa3_form_actions", tmp_path_factory.mktemp("m3"))


@pytest.fixture(scope="module")
def rasa2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return supportbot.train(FIXTURES / "rasa_2x_form", tmp_path_factory.mktemp("m2"))


def talk(bot: Bot, cid: str, *messages: str):
    return [bot.handle(cid, m) for m in messages]


def slot_events(bot: Bot, cid: str) -> list[tuple[str, object]]:
    return [(e.name, e.value) for e in bot.tracker(cid).events if isinstance(e, SlotSet)]


# ------------------------------------------------------------------ Rasa 3 + action server
def test_rasa3_form_is_validated_and_submitted_by_the_action_server(
        rasa3_model, action_server, tmp_path):  # noqa: F811
    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}",
                   action_endpoint=action_server.endpoint())
    start, bad, good, order = talk(bot, "c1", "I want to open a ticket", "not an email",
                                   "anna@example.com", "AB1234")
    assert start.texts == ["What is your email address?"]
    assert bot.tracker("c1").active_form is None or start.action == "ticket_form"
    # validate_ticket_form (rasa-sdk) rejects the value with its own message; the form asks again
    assert any("is not an email address" in t for t in bad.texts)
    assert bad.texts[-1] == "What is your email address?"
    assert good.texts == ["What is the order number (like AB1234)?"]
    # the submit rule runs action_create_ticket on the server, which sets a slot and replies
    assert any("Ticket T-AB1234 is open. We will write to anna@example.com." in t
               for t in order.texts)
    tracker = bot.tracker("c1")
    assert tracker.active_form is None
    assert tracker.slots["ticket_number"] == "T-AB1234"
    assert ("requested_slot", "email") in slot_events(bot, "c1")
    loops = [e.name for e in tracker.events if isinstance(e, ActiveLoop)]
    assert loops == ["ticket_form", None]
    assert all(t.handoff is None for t in (start, bad, good, order))


def test_rasa3_projects_own_stop_rule_leaves_the_form(rasa3_model, action_server,  # noqa: F811
                                                      tmp_path):
    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}",
                   action_endpoint=action_server.endpoint())
    talk(bot, "c2", "open a support ticket")
    stop = bot.handle("c2", "stop")
    assert stop.texts == ["OK, I stopped."]
    assert bot.tracker("c2").active_form is None


def test_a_failing_action_apologises_and_counts_towards_escalation(rasa3_model, tmp_path):
    registry = ActionRegistry()

    @registry.action("action_create_ticket")
    def broken(ctx):
        raise RuntimeError("database down")

    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}", actions=registry)
    turns = talk(bot, "c3", "I want to open a ticket", "anna@example.com", "AB1234")
    assert turns[-1].handoff is None
    assert any("something went wrong" in t for t in turns[-1].texts)
    failed = [r for r in bot.tracker("c3").bot_replies() if r.action == "action_failed"]
    assert failed and failed[0].data["fallback"] is True
    assert failed[0].data["failed_action"] == "action_create_ticket"


def test_python_action_wins_over_the_server_and_may_hand_off(rasa3_model, tmp_path):
    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}")

    @bot.action("action_create_ticket")
    def escalate(ctx):
        assert ctx.slots["email"] == "anna@example.com" and ctx.active_form is None
        return ActionResult(handoff="orders over 1000 EUR need a person")

    turns = talk(bot, "c4", "I want to open a ticket", "anna@example.com", "AB1234")
    assert turns[-1].handoff is not None
    assert [r["code"] for r in turns[-1].handoff.reasons] == ["action_request"]


def test_a_slow_python_action_times_out_without_breaking_the_turn(rasa3_model, tmp_path):
    import time

    registry = ActionRegistry()

    @registry.action("action_create_ticket")
    def slow(ctx):
        time.sleep(2)
        return "too late"

    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}", actions=registry)
    bot.actions.timeout = 0.2
    turns = talk(bot, "c5", "I want to open a ticket", "anna@example.com", "AB1234")
    assert "too late" not in turns[-1].texts
    assert any("something went wrong" in t for t in turns[-1].texts)


def test_async_python_actions_run(rasa3_model, tmp_path):
    registry = ActionRegistry()

    @registry.action("action_create_ticket")
    async def create(ctx):
        return ActionResult.say(response="utter_ticket_created",
                                slots={"ticket_number": "T-9"})

    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}", actions=registry)
    turns = talk(bot, "c6", "I want to open a ticket", "anna@example.com", "AB1234")
    assert turns[-1].texts == ["Ticket T-9 is open. We will write to anna@example.com."]


# ------------------------------------------------------------------ Rasa 2.x forms
def test_rasa2_forms_load_without_warnings():
    project = supportbot.load_project(FIXTURES / "rasa_2x_form")
    form_warnings = [p for p in project.warnings if "form" in p.message]
    assert form_warnings == []
    assert project.domain.forms["sales_form"].required_slots == ("job_function", "company",
                                                                  "budget")


def test_rasa2_form_runs_with_form_level_mappings_and_python_actions(rasa2_model, tmp_path):
    registry = ActionRegistry()

    @registry.action("action_ask_company")
    def ask_company(ctx):
        return "Which company do you work for?"

    @registry.action("action_submit_sales_form")
    def submit(ctx):
        return f"Thanks, {ctx.slot('company')}! Sales will contact you."

    bot = Bot.load(rasa2_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}", actions=registry)
    start, job, company, budget = talk(bot, "s1", "I want to talk to sales",
                                       "I am a developer", "Initech", "about 5000")
    assert start.texts == ["What is your job?"]
    assert job.texts == ["Which company do you work for?"]
    assert company.texts == ["What budget do you have in mind?"]
    assert budget.texts == ["Thanks, Initech! Sales will contact you."]
    slots = bot.tracker("s1").slots
    assert slots["company"] == "Initech" and slots["budget"] == 5000.0
    assert bot.tracker("s1").active_form is None


def test_yaml_validation_re_asks_with_the_reason_then_fills(rasa2_model, tmp_path):
    bot = Bot.load(rasa2_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}")
    start, bad, good = talk(bot, "s2", "sign me up for the newsletter", "my email is anna",
                            "anna@example.com")
    assert start.texts == ["What is your email address?"]
    assert bad.texts == ["That does not look like an email address.",
                         "What is your email address?"]
    assert good.texts == ["Done, anna@example.com will get the newsletter."]


def test_the_same_slot_failing_twice_offers_a_person_then_hands_off(rasa2_model, tmp_path):
    bot = Bot.load(rasa2_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}")
    turns = talk(bot, "s3", "sign me up for the newsletter", "my email is anna",
                 "my email is still anna", "my email is anna!!")
    assert turns[1].handoff is None and turns[2].handoff is None
    buttons = [b.payload for r in turns[2].replies for b in r.buttons]
    assert "/human_handoff" in buttons  # the second failure: a way to a person
    assert turns[3].handoff is not None
    assert [r["code"] for r in turns[3].handoff.reasons] == ["form_validation"]


def test_python_form_validator_rejects_with_its_own_message(rasa3_model, tmp_path):
    registry = ActionRegistry()

    @registry.action("validate_ticket_form")
    def validate(ctx):
        email = ctx.slots.get("email")
        if email is not None and not str(email).endswith("@example.com"):
            return ActionResult.say("Please use your @example.com address.",
                                    slots={"email": None})
        return ActionResult()

    @registry.action("action_create_ticket")
    def create(ctx):
        return ActionResult.say(response="utter_ticket_created", slots={"ticket_number": "T-1"})

    bot = Bot.load(rasa3_model, tracker_store="memory://",
                   queue=f"sqlite:///{tmp_path / 'q.db'}", actions=registry)
    _, other, good = talk(bot, "c7", "I want to open a ticket", "anna@gmail.com",
                              "anna@example.com")
    assert other.texts == ["Please use your @example.com address.",
                           "What is your email address?"]
    assert bot.tracker("c7").slots.get("email") is None or good.texts
    assert good.texts == ["What is the order number (like AB1234)?"]
