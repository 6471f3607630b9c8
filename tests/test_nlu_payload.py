"""`/intent{...}` button payloads."""
from __future__ import annotations

import pytest

from supportbot.nlu.parse import Entity
from supportbot.nlu.payload import PayloadParse, format_payload, parse_payload


def _ent(name: str, value: object, text: str, role: str | None = None,
         group: str | None = None) -> Entity:
    return Entity(name, value, 0, 0, text, "payload", role, group)


def test_bare_intent() -> None:
    assert parse_payload("/greet") == PayloadParse("greet")
    assert parse_payload("  /human_handoff \n") == PayloadParse("human_handoff")


def test_intent_with_entities() -> None:
    result = parse_payload('/inform{"city": "Osh", "count": 2, "gift": true}')
    assert result == PayloadParse("inform", None, (
        _ent("city", "Osh", "Osh"), _ent("count", 2, "2"), _ent("gift", True, "true")))


def test_list_values_give_one_entity_each_and_null_is_skipped() -> None:
    result = parse_payload('/order{"product": ["phone", "case"], "note": null}')
    assert result is not None
    assert [(e.entity, e.value) for e in result.entities] == [("product", "phone"),
                                                              ("product", "case")]


def test_role_and_group_objects() -> None:
    result = parse_payload('/book{"city": {"value": "Osh", "role": "to", "group": "1"}}')
    assert result is not None
    assert result.entities == (_ent("city", "Osh", "Osh", role="to", group="1"),)


def test_unicode_values_and_names() -> None:
    result = parse_payload('/сообщить{"город": "Бишкек"}')
    assert result == PayloadParse("сообщить", None, (_ent("город", "Бишкек", "Бишкек"),))


def test_retrieval_intent_selects_an_entry() -> None:
    assert parse_payload("/faq/opening_hours") == PayloadParse("faq", "faq/opening_hours")
    result = parse_payload('/faq/delivery_time{"city": "Osh"}')
    assert result == PayloadParse("faq", "faq/delivery_time", (_ent("city", "Osh", "Osh"),))


@pytest.mark.parametrize("text", [
    "", "hello", "/", "//", "/ greet", "/help me", "please /greet", "/greet now",
    "/faq/", "/a/b/c", "/greet{", '/greet{"city": }', "/greet{not json}",
    '/greet {"city": "Osh"}', '/greet["city"]', '/greet{"city": {"name": "Osh"}}',
    '/greet{"city": [["Osh"]]}', '/greet{"": "x"}', "/intent@0.7", "/xyz?",
])
def test_anything_else_is_ordinary_text(text: str) -> None:
    assert parse_payload(text) is None


def test_known_intents_limit_what_counts() -> None:
    assert parse_payload("/start", intents={"greet"}) is None
    assert parse_payload("/greet", intents={"greet"}) == PayloadParse("greet")
    assert parse_payload("/faq/returns", intents={"faq"}) == PayloadParse("faq", "faq/returns")


def test_to_parse_marks_the_result_as_from_payload() -> None:
    result = parse_payload('/faq/returns{"order": "AB1"}')
    assert result is not None
    parse = result.to_parse('/faq/returns{"order": "AB1"}', language="ky")
    assert (parse.intent, parse.confidence, parse.retrieval_key) == ("faq", 1.0, "faq/returns")
    assert parse.from_payload and not parse.fallback and parse.language == "ky"
    assert parse.entities == result.entities


def test_format_payload_round_trips() -> None:
    text = format_payload("inform", {"city": "Бишкек", "count": 3})
    assert text == '/inform{"city":"Бишкек","count":3}'
    parsed = parse_payload(text)
    assert parsed is not None
    assert [(e.entity, e.value) for e in parsed.entities] == [("city", "Бишкек"), ("count", 3)]
    assert parse_payload(format_payload("faq/returns")) == PayloadParse("faq", "faq/returns")
