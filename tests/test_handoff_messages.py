"""Default handoff messages in four languages, cancel words, and summaries built from a tracker."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from supportbot.dialogue.events import BotReply, SessionStarted, SlotSet, UserMessage
from supportbot.dialogue.nlg import candidate_variations, render
from supportbot.dialogue.tracker import Tracker
from supportbot.handoff import (
    HANDOFF_RESPONSE_NAMES,
    BusinessHours,
    closed_hours_message,
    default_handoff_domain_responses,
    default_handoff_responses,
    is_cancel_request,
    queued_message,
    summary_from_tracker,
    ticket_request_from_tracker,
)
from supportbot.nlu.parse import Parse

LANGS = ("en", "ru", "hy", "ky")
SCRIPT = {"en": r"[A-Za-z]", "ru": r"[А-Яа-яЁё]", "hy": r"[\u0531-\u0587]", "ky": r"[А-Яа-яӨөҮүҢң]"}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def test_every_message_exists_once_per_language_in_its_script() -> None:
    responses = default_handoff_responses()
    assert set(responses) == set(HANDOFF_RESPONSE_NAMES)
    for name, variations in responses.items():
        assert sorted(v["language"] for v in variations) == sorted(LANGS), name
        for v in variations:
            letters = re.findall(r"[^\W\d_]", PLACEHOLDER.sub("", v["text"]))
            native = [c for c in letters if re.match(SCRIPT[v["language"]], c)]
            assert len(native) > 0.9 * len(letters), (name, v["language"], v["text"])


def test_placeholders_agree_across_languages() -> None:
    expected = {"utter_handoff_queued": {"position", "wait_minutes"},
                "utter_handoff_queued_unknown_wait": {"position"},
                "utter_handoff_closed_hours": {"next_open"},
                "utter_handoff_agent_joined": {"agent_name"}}
    for name, variations in default_handoff_responses().items():
        for v in variations:
            assert set(PLACEHOLDER.findall(v["text"])) == expected.get(name, set()), \
                (name, v["language"])


def test_buttons_and_payloads() -> None:
    responses = default_handoff_responses()
    for v in responses["utter_handoff_timeout"]:
        assert [b["payload"] for b in v["buttons"]] == ["/handoff_keep_waiting",
                                                        "/handoff_leave_message"]
        assert all(b["title"] for b in v["buttons"])
    for v in responses["utter_ask_csat"]:
        assert [b["title"] for b in v["buttons"]] == ["1", "2", "3", "4", "5"]
        for n, b in enumerate(v["buttons"], 1):
            intent, _, entities = b["payload"].partition("{")
            assert intent == "/csat" and json.loads("{" + entities) == {"score": n}
    responses["utter_ask_csat"][0]["buttons"].clear()  # callers get copies
    assert default_handoff_responses()["utter_ask_csat"][0]["buttons"]


def test_domain_responses_render_through_nlg() -> None:
    response = default_handoff_domain_responses()["utter_handoff_queued"]
    name, values = queued_message(position=3, wait_s=250)
    assert name == "utter_handoff_queued" and values == {"position": 3, "wait_minutes": 5}
    (ru,) = candidate_variations(response, channel=None, language="ru", default_language="en",
                                 slots=values)
    text = render(ru, values).text
    assert "3" in text and "5 мин" in text and "{" not in text


def test_queued_and_closed_helpers() -> None:
    assert queued_message(1, None) == ("utter_handoff_queued_unknown_wait", {"position": 1})
    assert queued_message(2, 10)[1]["wait_minutes"] == 1  # never "0 minutes"
    hours = BusinessHours.from_spec({"mon": ["09:00-18:00"]}, timezone="Europe/Moscow")
    friday = datetime(2025, 1, 10, 20, 0, tzinfo=UTC)
    assert closed_hours_message(hours, "ru", friday) == (
        "utter_handoff_closed_hours", {"next_open": "в понедельник в 09:00"})


@pytest.mark.parametrize("text", [
    "/end", "/cancel", "Cancel", "cancel.", "never mind", "I don't want to wait", "Отмена",
    "отменить!", "не надо", "Չեղարկել", "չեղարկե՞լ", "պետք չէ", "жокко чыгаруу", "Жокко чыгар",
    "кереги жок",
])
def test_cancel_requests(text: str) -> None:
    assert is_cancel_request(text)


@pytest.mark.parametrize("text", [
    "", "cancel my order", "how do I cancel a subscription?", "отменить заказ",
    "не надо было так делать", "/ending", "hello", "stop charging my card",
])
def test_not_cancel_requests(text: str) -> None:
    assert not is_cancel_request(text)


def _user(text: str, intent: str, *, fallback: bool = False, language: str = "ru") -> UserMessage:
    return UserMessage(text=text, parse=Parse(text=text, intent=intent, confidence=0.9,
                                              language=language, fallback=fallback),
                       channel="telegram", timestamp=1.0)


def test_summary_and_request_from_tracker() -> None:
    tracker = Tracker("conv-9", [
        _user("old session", "greet", language="en"),
        SessionStarted(),
        _user("где мой заказ", "order_status"),
        SlotSet(name="order_id", value="A-17"),
        BotReply(text="Доставка занимает 3 дня", template="kb:delivery_times"),
        _user("это не ответ", "deny", fallback=True),
        BotReply(text="Извините, не понял", template="utter_default"),
        _user("позовите человека", "human_handoff"),
        _user("срочно", "human_handoff"),
    ])
    reasons = [{"code": "explicit_request", "explanation": "asked for a person"}]
    summary = summary_from_tracker(tracker, reasons)
    assert summary.intents == ("order_status", "nlu_fallback", "human_handoff")
    assert summary.slots == {"order_id": "A-17"} and summary.kb_answers == ("delivery_times",)
    assert summary.last_customer_messages == ("это не ответ", "позовите человека", "срочно")
    assert summary.language == "ru"
    request = ticket_request_from_tracker(tracker, reasons, queue="billing", priority=2)
    assert request.channel == "telegram" and request.language == "ru"
    assert [m.role for m in request.transcript] == [
        "customer", "bot", "customer", "bot", "customer", "customer"]
    assert request.summary.reasons[0].code == "explicit_request"
