"""Rule-based entity extraction and slot filling."""
from __future__ import annotations

import json

import pytest

from supportbot.errors import ModelError, ProjectError
from supportbot.nlu.entities import EntityExtractor, check_regexes, fill_slots
from supportbot.nlu.parse import Entity
from supportbot.project.types import (
    Domain,
    EntityAnnotation,
    EntityDef,
    Example,
    IntentDef,
    LookupTable,
    NluData,
    RegexPattern,
    SlotDef,
    SlotMapping,
    Source,
    Synonym,
)


def _example(text: str, intent: str, *marks: tuple[str, str, str | None]) -> Example:
    """An example with annotations given as (surface text, entity, value or None)."""
    anns = []
    for surface, entity, value in marks:
        start = text.index(surface)
        anns.append(EntityAnnotation(entity, value or surface, start, start + len(surface),
                                     surface))
    return Example(text, intent, tuple(anns))


NLU = NluData(
    examples=(
        _example("can I pay with paypal", "ask_payment", ("paypal", "payment_method", None)),
        _example("deliver to NYC", "inform", ("NYC", "city", "New York")),
    ),
    synonyms=(
        Synonym("card", ("credit card", "visa", "Master Card")),
        Synonym("urgent", ("asap",)),
    ),
    regexes=(
        RegexPattern("order_id", (r"\b[a-z]{2}\d{6}\b",), Source("data/nlu.yml", 30)),
        RegexPattern("phone", (r"\+996\s?\d{3}\s?\d{6}",), Source("data/nlu.yml", 34)),
        RegexPattern("digits", (r"\d*",), Source("data/nlu.yml", 38)),
    ),
    lookups=(
        LookupTable("payment_method", ("card", "bank transfer", "cash")),
        LookupTable("city", ("Бишкек", "Ош", "Գյումրի", "new york", "york city")),
        LookupTable("speed", ("asap",)),
    ),
)


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor.from_project(NLU)


def _found(extractor: EntityExtractor, text: str) -> list[tuple[str, object, str, str]]:
    return [(e.entity, e.value, text[e.start:e.end], e.extractor)
            for e in extractor.extract(text)]


def test_regex_entity_with_offsets(extractor: EntityExtractor) -> None:
    text = "my order AB123456 never came"
    (entity,) = extractor.extract(text)
    assert entity == Entity("order_id", "AB123456", 9, 17, "AB123456", "regex")


def test_regex_name_need_not_be_declared(extractor: EntityExtractor) -> None:
    # `phone` is only a regex block, no entity of that name exists anywhere else.
    assert _found(extractor, "call me on +996 555 123456") == [
        ("phone", "+996 555 123456", "+996 555 123456", "regex")]


def test_empty_regex_matches_are_ignored(extractor: EntityExtractor) -> None:
    assert extractor.extract("no numbers here") == ()


def test_lookup_is_case_insensitive_and_word_bounded(extractor: EntityExtractor) -> None:
    assert _found(extractor, "I paid by CARD") == [("payment_method", "CARD", "CARD", "lookup")]
    assert extractor.extract("a new cardigan and cashmere") == ()


def test_lookup_tolerates_extra_whitespace(extractor: EntityExtractor) -> None:
    assert _found(extractor, "via Bank   Transfer please") == [
        ("payment_method", "Bank   Transfer", "Bank   Transfer", "lookup")]


def test_synonym_maps_found_text_to_value(extractor: EntityExtractor) -> None:
    # "credit card" is a synonym of the lookup value "card": matched as that entity.
    assert _found(extractor, "pay with Credit Card") == [
        ("payment_method", "card", "Credit Card", "lookup")]
    assert _found(extractor, "VISA ok?") == [("payment_method", "card", "VISA", "lookup")]
    assert _found(extractor, "my master  card") == [
        ("payment_method", "card", "master  card", "lookup")]


def test_synonym_applies_to_any_extractor(extractor: EntityExtractor) -> None:
    assert _found(extractor, "ASAP") == [("speed", "urgent", "ASAP", "lookup")]


def test_annotated_example_values_work_without_lookup(extractor: EntityExtractor) -> None:
    assert _found(extractor, "Do you take PayPal?") == [
        ("payment_method", "PayPal", "PayPal", "lookup")]
    # An inline `value` is a synonym: the found text maps to it.
    assert _found(extractor, "ship it to nyc") == [("city", "New York", "nyc", "lookup")]
    assert _found(extractor, "ship it to New York") == [
        ("city", "New York", "New York", "lookup")]


def test_overlaps_resolve_longest_first(extractor: EntityExtractor) -> None:
    # "new york" (8) and "york city" (9) overlap; the longer one wins.
    assert _found(extractor, "new york city") == [
        ("city", "york city", "york city", "lookup")]
    assert [e.text for e in extractor.extract("card and cash")] == ["card", "cash"]


def test_prefix_elements_prefer_the_longest_whole_word() -> None:
    nlu = NluData(lookups=(LookupTable("city", ("new", "new york", "york")),))
    extractor = EntityExtractor.from_project(nlu)
    assert [e.text for e in extractor.extract("New York")] == ["New York"]
    # "new york" would end inside "yorker": the shorter element is taken instead.
    assert [e.text for e in extractor.extract("new yorker")] == ["new"]


def test_regex_wins_a_tie_with_lookup() -> None:
    nlu = NluData(regexes=(RegexPattern("code", (r"\bcash\b",)),),
                  lookups=(LookupTable("payment_method", ("cash",)),))
    (entity,) = EntityExtractor.from_project(nlu).extract("cash")
    assert (entity.entity, entity.extractor) == ("code", "regex")


def test_unicode_scripts(extractor: EntityExtractor) -> None:
    assert _found(extractor, "доставка в БИШКЕК") == [("city", "БИШКЕК", "БИШКЕК", "lookup")]
    assert extractor.extract("бишкекский склад") == ()
    assert _found(extractor, "Ошко жеткирүү, же Ош") == [("city", "Ош", "Ош", "lookup")]
    assert _found(extractor, "առաքում ԳՅՈՒՄՐԻ") == [("city", "ԳՅՈՒՄՐԻ", "ԳՅՈՒՄՐԻ", "lookup")]


def test_invalid_regex_names_pattern_and_location() -> None:
    nlu = NluData(regexes=(RegexPattern("zip", (r"\d{5}", "([0-9]"), Source("data/nlu.yml", 12)),))
    with pytest.raises(ProjectError) as info:
        EntityExtractor.from_project(nlu)
    message = str(info.value)
    assert "([0-9]" in message and "data/nlu.yml:12" in message and "zip" in message
    (problem,) = check_regexes(nlu)
    assert (problem.file, problem.line, problem.code) == ("data/nlu.yml", 12, "bad-regex")
    assert check_regexes(NLU) == ()


def test_dict_round_trip_through_json(extractor: EntityExtractor) -> None:
    restored = EntityExtractor.from_dict(json.loads(json.dumps(extractor.to_dict())))
    for text in ["pay with Credit Card to nyc, order AB123456", "new york city", "ASAP"]:
        assert restored.extract(text) == extractor.extract(text)
    assert set(restored.entity_names) == {"order_id", "phone", "digits", "payment_method",
                                          "city", "speed"}


def test_from_dict_rejects_other_data() -> None:
    with pytest.raises(ModelError, match="format_version"):
        EntityExtractor.from_dict({"format_version": 99, "regexes": [], "lookups": [],
                                   "synonyms": {}})
    with pytest.raises(ModelError, match="malformed"):
        EntityExtractor.from_dict({"format_version": 1, "regexes": [{"pattern": "x"}]})
    with pytest.raises(ModelError, match="retrain"):
        EntityExtractor.from_dict({"format_version": 1, "lookups": [], "synonyms": {},
                                   "regexes": [{"entity": "x", "pattern": "(", "source": ""}]})


# ---------------------------------------------------------------------- fill_slots
def _e(entity: str, value: object, role: str | None = None, group: str | None = None) -> Entity:
    return Entity(entity, value, 0, 0, str(value), "regex", role, group)


def _domain(*slots: SlotDef, intents: dict[str, IntentDef] | None = None,
            entities: tuple[str, ...] = ()) -> Domain:
    return Domain(intents=intents or {}, entities={n: EntityDef(n) for n in entities},
                  slots={s.name: s for s in slots})


def test_from_entity_takes_last_mention_and_returns_changes_only() -> None:
    domain = _domain(SlotDef("city", "text", mappings=(SlotMapping("from_entity", "city"),)))
    entities = [_e("city", "Osh"), _e("city", "Bishkek")]
    assert fill_slots(entities, domain, "inform", {}) == {"city": "Bishkek"}
    assert fill_slots(entities, domain, "inform", {"city": "Bishkek"}) == {}
    assert fill_slots([], domain, "inform", {"city": "Osh"}) == {}


def test_from_entity_role_and_group_must_match_exactly() -> None:
    domain = _domain(
        SlotDef("origin", mappings=(SlotMapping("from_entity", "city", role="from"),)),
        SlotDef("plain", mappings=(SlotMapping("from_entity", "city"),)),
        SlotDef("g2", mappings=(SlotMapping("from_entity", "city", group="2"),)),
    )
    entities = [_e("city", "Osh", role="from"), _e("city", "Naryn", group="2"),
                _e("city", "Talas", role="to", group="2")]
    assert fill_slots(entities, domain, "inform", {}) == {"origin": "Osh", "g2": "Naryn"}


def test_intent_and_not_intent_filters() -> None:
    domain = _domain(
        SlotDef("a", mappings=(SlotMapping("from_entity", "city", intent=("inform",)),)),
        SlotDef("b", mappings=(SlotMapping("from_entity", "city", not_intent=("chitchat",)),)),
    )
    entities = [_e("city", "Osh")]
    assert fill_slots(entities, domain, "inform", {}) == {"a": "Osh", "b": "Osh"}
    assert fill_slots(entities, domain, "chitchat", {}) == {}
    assert fill_slots(entities, domain, "greet", {}) == {"b": "Osh"}
    # A retrieval intent matches filters on its base name.
    assert fill_slots(entities, domain, "inform/delivery", {}) == {"a": "Osh", "b": "Osh"}


def test_intent_use_and_ignore_entities() -> None:
    intents = {"inform": IntentDef("inform", use_entities=("city",)),
               "complain": IntentDef("complain", ignore_entities=("city",))}
    domain = _domain(
        SlotDef("city", mappings=(SlotMapping("from_entity", "city"),)),
        SlotDef("product", mappings=(SlotMapping("from_entity", "product"),)),
        intents=intents,
    )
    entities = [_e("city", "Osh"), _e("product", "phone")]
    assert fill_slots(entities, domain, "inform", {}) == {"city": "Osh"}
    assert fill_slots(entities, domain, "complain", {}) == {"product": "phone"}
    assert fill_slots(entities, domain, "unknown", {}) == {"city": "Osh", "product": "phone"}


def test_from_intent_and_from_text() -> None:
    domain = _domain(
        SlotDef("wants_human", "bool", mappings=(
            SlotMapping("from_intent", intent=("human_handoff",), value=True),
            SlotMapping("from_intent", intent=("bot_is_fine",), value=False))),
        SlotDef("feedback", "text", mappings=(SlotMapping("from_text", intent=("feedback",)),)),
    )
    assert fill_slots([], domain, "human_handoff", {}) == {"wants_human": True}
    assert fill_slots([], domain, "bot_is_fine", {"wants_human": True}) == {"wants_human": False}
    assert fill_slots([], domain, "feedback", {}, text="slow delivery") == {
        "feedback": "slow delivery"}
    assert fill_slots([], domain, "feedback", {}) == {}  # no text given: nothing to take


def test_first_applicable_mapping_wins() -> None:
    domain = _domain(SlotDef("topic", mappings=(
        SlotMapping("from_entity", "topic"),
        SlotMapping("from_intent", intent=("ask_refund",), value="refund"),
    )))
    assert fill_slots([_e("topic", "billing")], domain, "ask_refund", {}) == {"topic": "billing"}
    assert fill_slots([], domain, "ask_refund", {}) == {"topic": "refund"}


def test_categorical_takes_allowed_values_case_insensitively() -> None:
    slot = SlotDef("payment", "categorical", values=("Card", "PayPal"), mappings=(
        SlotMapping("from_entity", "payment_method"),
        SlotMapping("from_intent", intent=("pay_cash",), value="bitcoin"),
    ))
    domain = _domain(slot)
    assert fill_slots([_e("payment_method", "paypal")], domain, "inform", {}) == {
        "payment": "PayPal"}
    assert fill_slots([_e("payment_method", "card"), _e("payment_method", "gold")], domain,
                      "inform", {}) == {"payment": "Card"}
    assert fill_slots([_e("payment_method", "gold")], domain, "inform", {}) == {}
    assert fill_slots([], domain, "pay_cash", {}) == {}


def test_list_slot_collects_all_values() -> None:
    domain = _domain(SlotDef("items", "list", mappings=(SlotMapping("from_entity", "product"),)))
    entities = [_e("product", "phone"), _e("city", "Osh"), _e("product", "case")]
    assert fill_slots(entities, domain, "inform", {}) == {"items": ["phone", "case"]}
    assert fill_slots(entities, domain, "inform", {"items": ["phone", "case"]}) == {}


def test_bool_and_float_slots_take_only_convertible_values() -> None:
    domain = _domain(
        SlotDef("qty", "float", mappings=(SlotMapping("from_entity", "number"),)),
        SlotDef("gift", "bool", mappings=(SlotMapping("from_entity", "gift"),)),
    )
    assert fill_slots([_e("number", "3"), _e("gift", "true")], domain, "x", {}) == {
        "qty": 3.0, "gift": True}
    assert fill_slots([_e("number", "three"), _e("gift", "maybe")], domain, "x", {}) == {}


def test_conditions_on_active_loop_and_requested_slot() -> None:
    in_form = ({"active_loop": "address_form", "requested_slot": "street"},)
    outside = ({"active_loop": None},)
    domain = _domain(
        SlotDef("street", mappings=(SlotMapping("from_text", conditions=in_form),)),
        SlotDef("note", mappings=(SlotMapping("from_text", conditions=outside),)),
    )
    assert fill_slots([], domain, "inform", {}, text="Main st 1", active_loop="address_form",
                      requested_slot="street") == {"street": "Main st 1"}
    assert fill_slots([], domain, "inform", {}, text="Main st 1", active_loop="address_form",
                      requested_slot="city") == {}
    assert fill_slots([], domain, "inform", {}, text="hello") == {"note": "hello"}


def test_trigger_intent_needs_an_active_loop() -> None:
    domain = _domain(SlotDef("reason", mappings=(
        SlotMapping("from_trigger_intent", intent=("request_refund",), value="refund"),)))
    assert fill_slots([], domain, "request_refund", {}) == {}
    assert fill_slots([], domain, "request_refund", {}, active_loop="refund_form") == {
        "reason": "refund"}


def test_slot_without_mappings_uses_same_named_entity() -> None:
    domain = _domain(SlotDef("city"), entities=("city",))
    assert fill_slots([_e("city", "Osh")], domain, "inform", {}) == {"city": "Osh"}
    off = Domain(entities={"city": EntityDef("city")}, slots={"city": SlotDef("city")},
                 store_entities_as_slots=False)
    assert fill_slots([_e("city", "Osh")], off, "inform", {}) == {}


def test_extractor_entities_feed_slots(extractor: EntityExtractor) -> None:
    domain = _domain(SlotDef("payment", "categorical", values=("card", "paypal"),
                             mappings=(SlotMapping("from_entity", "payment_method"),)))
    entities = extractor.extract("I'd like to pay by Master Card")
    assert fill_slots(entities, domain, "inform", {}) == {"payment": "card"}
