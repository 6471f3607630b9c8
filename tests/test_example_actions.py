"""The example bot's custom actions (actions/__init__.py) and the forms that run them.

The actions are called directly with hand-built contexts; the domain is checked for every
response the actions and forms send, in all four languages of the bot.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from supportbot.dialogue.actions import (
    ActionContext,
    ActionRegistry,
    ActionResult,
    MessageView,
    load_actions_module,
)
from supportbot.errors import SupportbotError

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("en", "ru", "hy", "ky")
STATUSES = {"processing", "shipped", "delivered", "delayed"}
ACTION_RESPONSES = ("utter_order_found", "utter_order_not_found", "utter_return_created")
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return load_actions_module(ROOT / "actions")


@pytest.fixture(scope="module")
def orders(registry) -> Mapping[str, Any]:
    """The actions module's order table (the ORDERS global its functions read)."""
    return registry["action_lookup_order"].__globals__["ORDERS"]


def context(action: str, language: str = "en", **slots: Any) -> ActionContext:
    return ActionContext(
        conversation_id="test", action=action, slots=dict(slots),
        latest_message=MessageView(text="", intent="", confidence=1.0, language=language),
        events=(), language=language)


def run(registry: ActionRegistry, action: str, language: str = "en", **slots: Any
        ) -> ActionResult:
    result = registry[action](context(action, language, **slots))
    assert isinstance(result, ActionResult)
    return result


def only_reply(result: ActionResult):
    assert len(result.replies) == 1
    return result.replies[0]


# ------------------------------------------------------------------ the fixture
def orders_fixture() -> list[dict]:
    return json.loads((ROOT / "actions" / "orders.json").read_text(encoding="utf-8"))["orders"]


def test_the_order_fixture_is_small_and_complete():
    orders = orders_fixture()
    assert 8 <= len(orders) <= 10
    assert len({o["id"] for o in orders}) == len(orders)
    assert {o["status"] for o in orders} == STATUSES
    for order in orders:
        assert re.fullmatch(r"NW-\d{6}", order["id"])
        assert order["carrier"]
        assert order["tracking_link"].startswith("https://track.example.com/")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", order["expected_delivery"])
        assert 1 <= len(order["items"]) <= 3 and all(order["items"])


def test_orders_are_read_once_and_read_only(registry, orders, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("the order file was read again")

    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    result = run(registry, "action_lookup_order", order_id="NW-123456")
    assert only_reply(result).response == "utter_order_found"
    with pytest.raises(TypeError):
        orders["NW-000001"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        orders["NW-123456"]["status"] = "delivered"  # type: ignore[index]


# ------------------------------------------------------------------ action_lookup_order
def test_lookup_finds_an_order(registry):
    result = run(registry, "action_lookup_order", order_id="NW-123456")
    reply = only_reply(result)
    assert reply.response == "utter_order_found"
    assert reply.values == {
        "order_id": "NW-123456", "order_state": "shipped", "carrier": "DHL",
        "tracking_link": "https://track.example.com/dhl/JJD0140123456",
        "expected_date": "12 June 2025"}
    assert result.slots["order_id"] == "NW-123456"
    assert result.form is None and not result.reject and result.handoff is None


@pytest.mark.parametrize("typed", ["NW-123456", "nw123456", "nw-123456", "NW123456",
                                   " NW 123456 ", "123456", "Nw-123456\n"])
def test_lookup_normalises_the_order_number(registry, typed):
    reply = only_reply(run(registry, "action_lookup_order", order_id=typed))
    assert reply.response == "utter_order_found"
    assert reply.values["order_id"] == "NW-123456"


@pytest.mark.parametrize("typed, shown", [("NW-999999", "NW-999999"), ("nw999999", "NW-999999"),
                                          ("12345678", "NW-12345678"),
                                          ("no idea  sorry", "no idea sorry")])
def test_lookup_of_an_unknown_order_says_so_and_clears_the_number(registry, typed, shown):
    result = run(registry, "action_lookup_order", order_id=typed)
    reply = only_reply(result)
    assert reply.response == "utter_order_not_found"
    assert reply.values == {"order_id": shown}
    assert "order_id" in result.slots and result.slots["order_id"] is None
    for slot in ("order_state", "carrier", "tracking_link", "expected_date"):
        assert result.slots[slot] is None


def test_lookup_without_a_number_starts_the_form(registry):
    result = run(registry, "action_lookup_order")
    assert result.form == "order_status_form" and not result.replies


@pytest.mark.parametrize("language, shipped, date", [
    ("en", "shipped", "12 June 2025"),
    ("ru", "отправлен", "12 июня 2025"),
    ("hy", "ուղարկված է", "2025 թ. հունիսի 12"),
    ("ky", "жөнөтүлгөн", "12.06.2025"),
    ("de", "shipped", "12 June 2025"),  # no texts in German: English
])
def test_lookup_localises_the_status_and_date(registry, language, shipped, date):
    reply = only_reply(run(registry, "action_lookup_order", language, order_id="NW-123456"))
    assert reply.values["order_state"] == shipped
    assert reply.values["expected_date"] == date
    assert reply.values["carrier"] == "DHL"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_has_its_own_word_in_every_language(registry, language):
    by_status = {o["status"]: o["id"] for o in orders_fixture()}
    words = {status: only_reply(run(registry, "action_lookup_order", language,
                                    order_id=order_id)).values["order_state"]
             for status, order_id in by_status.items()}
    assert len(set(words.values())) == len(STATUSES)
    if language != "en":
        assert not set(words.values()) & STATUSES  # translated, not the English word
    script = {"ru": "[а-яё]", "ky": "[а-яёңөү]", "hy": "[\u0531-\u0587]"}.get(language)
    if script:
        assert all(re.search(script, word) for word in words.values())


# ------------------------------------------------------------------ action_create_return
RETURN = {"order_id": "nw111222", "return_item": "milk frother", "return_reason": "Damaged"}


def test_return_is_created_with_a_label_and_clears_the_answers(registry):
    result = run(registry, "action_create_return", **RETURN)
    reply = only_reply(result)
    assert reply.response == "utter_return_created"
    label = reply.values["return_label"]
    assert re.fullmatch(r"RL-111222-[0-9A-F]{4}", label)
    assert reply.values["order_id"] == "NW-111222"
    assert reply.values["return_item"] == "Milk frother"  # the order's own name for it
    assert result.slots["return_item"] is None and result.slots["return_reason"] is None
    assert "return_item" in result.slots and "return_reason" in result.slots
    assert result.slots["order_id"] == "NW-111222"
    assert result.slots["return_label"] == label


def test_return_label_is_deterministic(registry):
    def label(language: str = "en", **slots: Any) -> str:
        result = run(registry, "action_create_return", language, **{**RETURN, **slots})
        return only_reply(result).values["return_label"]

    first = label()
    assert label() == first
    assert label("ru") == first  # the customer's language plays no part
    assert label(order_id="NW-111222", return_reason="  damaged ") == first
    assert label(return_reason="Wrong size") != first
    assert label(return_item="Coffee grinder") != first
    assert label(order_id="NW-123456", return_item="Trail running shoes").startswith(
        "RL-123456-")


def test_return_keeps_an_item_it_cannot_match_as_typed(registry):
    reply = only_reply(run(registry, "action_create_return", order_id="NW-111222",
                           return_item="кофемолка", return_reason="Повреждён"))
    assert reply.values["return_item"] == "кофемолка"
    # "cup" would match one item, "e" several: several keep the customer's words
    reply = only_reply(run(registry, "action_create_return", order_id="NW-111222",
                           return_item="e", return_reason="Damaged"))
    assert reply.values["return_item"] == "e"


def test_return_for_an_unknown_order_says_so_and_clears_the_answers(registry):
    result = run(registry, "action_create_return", "hy", order_id="NW-000000",
                 return_item="shoes", return_reason="Wrong size")
    reply = only_reply(result)
    assert reply.response == "utter_order_not_found"
    assert reply.values == {"order_id": "NW-000000"}
    assert result.slots == {"order_id": None, "return_item": None, "return_reason": None}


def test_return_without_its_answers_starts_the_form(registry):
    result = run(registry, "action_create_return", order_id="NW-111222")
    assert result.form == "return_form" and not result.replies


# ------------------------------------------------------------------ the domain
def load_domain() -> dict[str, Any]:
    """Forms, slots and responses as plain data: from the project loader when the project
    loads, else straight from domain.yml."""
    try:
        from supportbot.project import load_project

        domain = load_project(ROOT).domain
    except (SupportbotError, ImportError):  # the project does not load: read the YAML itself
        data = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
        responses = {
            name: [{"language": v.get("language"), "text": v.get("text", ""),
                    "buttons": [b["payload"] for b in v.get("buttons", [])]}
                   for v in variations]
            for name, variations in data["responses"].items()}
        forms = {name: {"required_slots": list(spec["required_slots"]),
                        "validation": spec.get("validation", {})}
                 for name, spec in data["forms"].items()}
        return {"responses": responses, "forms": forms, "slots": set(data["slots"]),
                "actions": list(data.get("actions", []))}
    responses = {
        name: [{"language": v.language, "text": v.text or "",
                "buttons": [b.payload for b in v.buttons]} for v in response.variations]
        for name, response in domain.responses.items()}
    forms = {name: {"required_slots": list(form.required_slots),
                    "validation": {slot: {"regex": check.regex, "response": check.response}
                                   for slot, check in form.validation.items()}}
             for name, form in domain.forms.items()}
    return {"responses": responses, "forms": forms, "slots": set(domain.slots),
            "actions": list(domain.actions)}


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    return load_domain()


def ask_response(domain: Mapping[str, Any], form: str, slot: str) -> str:
    for name in (f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"):
        if name in domain["responses"]:
            return name
    raise AssertionError(f"form {form!r} has no response to ask for {slot!r}")


def used_responses(domain: Mapping[str, Any]) -> set[str]:
    names = set(ACTION_RESPONSES)
    for form, spec in domain["forms"].items():
        for slot in spec["required_slots"]:
            names.add(ask_response(domain, form, slot))
        for check in spec["validation"].values():
            names.add(check.get("response") or "utter_invalid_order_id")
    return names


def test_forms_and_actions_are_declared(domain):
    assert domain["forms"]["order_status_form"]["required_slots"] == ["order_id"]
    assert domain["forms"]["return_form"]["required_slots"] == [
        "order_id", "return_item", "return_reason"]
    assert {"action_lookup_order", "action_create_return"} <= set(domain["actions"])
    assert ask_response(domain, "order_status_form", "order_id") == "utter_ask_order_id"
    assert ask_response(domain, "return_form", "order_id") == "utter_ask_return_form_order_id"
    assert "utter_order_status" in domain["responses"]  # kept for when the form does not run


def test_every_response_the_forms_and_actions_use_speaks_all_four_languages(domain):
    names = used_responses(domain)
    assert {"utter_invalid_order_id", "utter_ask_return_item", "utter_ask_return_reason"} <= names
    for name in sorted(names):
        variations = domain["responses"].get(name)
        assert variations, f"{name} is not in domain.yml"
        languages = {v["language"] or "en" for v in variations}
        assert languages >= set(LANGUAGES), f"{name}: missing {set(LANGUAGES) - languages}"
        for v in variations:
            assert v["text"].strip(), f"{name} has an empty variation"


def test_placeholders_are_filled_by_the_action_or_earlier_slots(registry, domain):
    values = {
        "utter_order_found": only_reply(run(registry, "action_lookup_order",
                                            order_id="NW-123456")).values,
        "utter_order_not_found": only_reply(run(registry, "action_lookup_order",
                                                order_id="NW-999999")).values,
        "utter_return_created": only_reply(run(registry, "action_create_return",
                                               **RETURN)).values,
    }
    for name, given in values.items():
        for v in domain["responses"][name]:
            assert set(PLACEHOLDER.findall(v["text"])) <= set(given), (name, v["text"])
    # a form's question may only use slots the form has filled before it asks
    for form, spec in domain["forms"].items():
        required = spec["required_slots"]
        for i, slot in enumerate(required):
            for v in domain["responses"][ask_response(domain, form, slot)]:
                assert set(PLACEHOLDER.findall(v["text"])) <= set(required[:i]), v["text"]


def test_order_number_validation_accepts_the_formats_customers_type(domain):
    for form in ("order_status_form", "return_form"):
        check = domain["forms"][form]["validation"]["order_id"]
        assert check["response"] == "utter_invalid_order_id"
        pattern = re.compile(check["regex"])
        for good in ("NW-123456", "NW123456", "nw-123456", "nw123456", "123456", "1234567",
                     "12345678", *(o["id"] for o in orders_fixture())):
            assert pattern.fullmatch(good), (form, good)
        for bad in ("hello", "NW-12345", "NW-1234567", "12345", "123456789", "NW-12345a",
                    "my order", ""):
            assert not pattern.fullmatch(bad), (form, bad)


def test_buttons_send_plain_text_where_the_form_takes_text(domain):
    for v in domain["responses"]["utter_ask_return_reason"]:
        assert len(v["buttons"]) == 4
        assert not any(payload.startswith("/") for payload in v["buttons"])
    for v in domain["responses"]["utter_order_not_found"]:
        assert "/human_handoff" in v["buttons"]
        assert any(not payload.startswith("/") for payload in v["buttons"]), v


def test_rules_start_the_forms_and_run_the_actions():
    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]

    def steps(rule: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return [next(iter(step.items())) for step in rule["steps"]]

    for intent, form, action in (("order_status", "order_status_form", "action_lookup_order"),
                                 ("return_item", "return_form", "action_create_return")):
        start = [r for r in rules if steps(r)[:1] == [("intent", intent)]]
        assert len(start) == 1
        assert steps(start[0]) == [("intent", intent), ("action", form), ("active_loop", form)]
        submit = [r for r in rules if ("action", action) in steps(r)]
        assert len(submit) == 1
        assert submit[0]["condition"] == [{"active_loop": form}]
        assert steps(submit[0]) == [("action", form), ("active_loop", None),
                                    ("slot_was_set", [{"requested_slot": None}]),
                                    ("action", action)]
