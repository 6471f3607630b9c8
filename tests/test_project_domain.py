"""Domain: intents, entities, slots, responses, merging of several domain files."""
from __future__ import annotations

import textwrap
from pathlib import Path

from supportbot.project import load_project, validate_project

CONFIG = "language: en\nnlu:\n  embedding_model: null\n  languages: [en, ru]\n"
NLU = """\
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: inform
  examples: |
    - I am in [Berlin](city)
    - from [Yerevan]{"entity": "city", "role": "from"}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def project_with(tmp_path: Path, domain: str, nlu: str = NLU, **more: str) -> Path:
    return write(tmp_path, {"config.yml": CONFIG, "domain.yml": domain, "data/nlu.yml": nlu,
                            **more})


def by_code(problems, code):
    return [p for p in problems if p.code == code]


def test_intents_entities_and_use_entities(tmp_path):
    root = project_with(tmp_path, """\
        intents:
        - greet
        - inform:
            use_entities: [city]
        entities:
        - city:
            roles: [from, to]
            groups: ["1"]
        - name:
            influence_conversation: false
        """)
    d = load_project(root).domain
    assert d.intents["greet"].use_entities is None
    assert d.intents["inform"].use_entities == ("city",)
    assert d.intents["inform"].source.line == 3
    assert d.entities["city"].roles == ("from", "to") and d.entities["city"].groups == ("1",)
    assert d.entities["name"].influence_conversation is False


def test_use_and_ignore_entities_together_is_an_error(tmp_path):
    root = project_with(tmp_path, """\
        intents:
        - greet
        - inform:
            use_entities: [city]
            ignore_entities: [city]
        entities: [city]
        """)
    [p] = by_code(validate_project(root), "conflict")
    assert p.severity == "error" and p.line == 4


def test_domain_folder_merges_like_rasa(tmp_path):
    root = write(tmp_path, {
        "config.yml": CONFIG, "data/nlu.yml": NLU,
        "domain/a.yml": """\
            intents: [greet]
            entities: [city]
            responses:
              utter_greet:
              - text: Hi from a
            """,
        "domain/b.yml": """\
            intents: [greet, inform]
            entities:
            - city:
                roles: [from]
            responses:
              utter_greet:
              - text: Hi from b
              utter_bye:
              - text: Bye
            """,
    })
    p = load_project(root)
    assert list(p.domain.intents) == ["greet", "inform"]
    assert p.domain.entities["city"].roles == ("from",)
    assert p.domain.responses["utter_greet"].variations[0].text == "Hi from a"
    assert "utter_bye" in p.domain.responses
    [dup] = [w for w in p.warnings if w.code == "duplicate"]
    assert (dup.file, dup.line) == ("domain/b.yml", 6) and "domain/a.yml:4" in dup.message


def test_slots_3x_mappings_and_types(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        entities: [city]
        slots:
          city:
            type: text
            mappings:
            - type: from_entity
              entity: city
              role: from
              intent: inform
          mood:
            type: categorical
            values: [good, bad]
            mappings:
            - type: from_intent
              intent: [greet]
              value: good
          total:
            type: float
            min_value: 0
            max_value: 100
            mappings:
            - type: from_text
              conditions:
              - active_loop: null
          anything:
            type: any
            mappings: []
        """)
    slots = load_project(root).domain.slots
    city = slots["city"].mappings[0]
    assert (city.type, city.entity, city.role, city.intent) == ("from_entity", "city", "from",
                                                               ("inform",))
    assert slots["mood"].values == ("good", "bad") and slots["mood"].mappings[0].value == "good"
    assert (slots["total"].min_value, slots["total"].max_value) == (0.0, 100.0)
    assert slots["total"].mappings[0].conditions == ({"active_loop": None},)
    assert slots["anything"].influence_conversation is False


def test_2x_slot_without_mappings_is_filled_from_its_entity(tmp_path):
    root = project_with(tmp_path, """\
        version: "2.0"
        intents: [greet, inform]
        entities: [city]
        slots:
          city:
            type: text
          note:
            type: text
        """)
    p = load_project(root)
    [m] = p.domain.slots["city"].mappings
    assert (m.type, m.entity) == ("from_entity", "city")
    assert p.domain.slots["note"].mappings == ()
    assert not [w for w in p.warnings if w.code == "slot-mapping"]


def test_3x_slot_without_mappings_warns(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        entities: [city]
        slots:
          city:
            type: text
          note:
            type: text
        """)
    p = load_project(root)
    assert p.domain.slots["city"].mappings[0].entity == "city"
    assert {(w.line, w.code) for w in p.warnings if w.code == "slot-mapping"} == {
        (4, "slot-mapping"), (6, "slot-mapping")}


def test_slot_problems(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        entities: [city]
        slots:
          a:
            type: txt
          b:
            type: categorical
            mappings: []
          c:
            type: text
            mappings:
            - type: from_entity
              entity: cty
          d:
            type: text
            mapings: []
        """)
    problems = validate_project(root)
    assert "did you mean 'text'" in by_code(problems, "slot-type")[0].hint
    assert by_code(problems, "slot-values")[0].line == 6
    unknown = by_code(problems, "unknown-entity")[0]
    assert unknown.severity == "error" and unknown.line == 9 and "'city'" in unknown.hint
    assert "did you mean 'mappings'" in by_code(problems, "unknown-key")[0].hint


def test_responses_with_every_kind_of_variation(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        entities: [city]
        slots:
          city:
            type: text
            mappings: [{type: from_entity, entity: city}]
        responses:
          utter_greet:
          - text: Hello {city}!
            buttons:
            - title: Yes
              payload: /greet
            - {title: City, payload: '/inform{{"city": "Berlin"}}'}
          - text: Привет!
            language: ru
          - text: Slack hi
            channel: slack
          - text: Welcome back
            condition:
            - type: slot
              name: city
              value: Berlin
          - custom: {blocks: []}
          - image: https://x.example/a.png
          - text: with extras
            quick_replies: [{title: a, payload: b}]
            metadata: {rich: true}
        """)
    r = load_project(root).domain.responses["utter_greet"]
    v = r.variations
    assert v[0].text == "Hello {city}!" and [b.title for b in v[0].buttons] == ["Yes", "City"]
    assert v[0].source.line == 9
    assert v[1].language == "ru" and v[2].channel == "slack"
    assert v[3].condition[0].name == "city" and v[3].condition[0].value == "Berlin"
    assert v[4].custom == {"blocks": []} and v[5].image == "https://x.example/a.png"
    assert v[6].metadata == {"rich": True, "quick_replies": [{"title": "a", "payload": "b"}]}


def test_response_problems(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        responses:
          greet_reply:
          - text: hi
          utter_empty:
          - channel: slack
          utter_typo:
          - txt: hello
          utter_unknown_slot:
          - text: Hi {customer_name}
          utter_button:
          - text: choose
            buttons:
            - title: no payload
            - {title: Go, payload: /gret}
          utter_lang:
          - text: Barev
            language: hy
        """)
    problems = validate_project(root)
    assert by_code(problems, "bad-name")[0].line == 3
    assert {p.line for p in by_code(problems, "empty-response")} == {6, 8}
    typo = next(p for p in by_code(problems, "unknown-key") if p.line == 8)
    assert typo.severity == "warning" and "did you mean 'text'" in typo.hint
    assert by_code(problems, "unknown-slot")[0].line == 10
    assert by_code(problems, "button")[0].line == 14
    assert "did you mean 'greet'" in by_code(problems, "unknown-intent")[0].hint
    assert by_code(problems, "language")[0].line == 17


def test_responses_may_live_in_data_files(tmp_path):
    root = project_with(tmp_path, "intents: [greet, inform]\n", **{"data/responses.yml": """\
        responses:
          utter_greet:
          - text: Hi
        """})
    r = load_project(root).domain.responses["utter_greet"]
    assert r.source.file == "data/responses.yml" and r.source.line == 2


def test_session_config_and_domain_config(tmp_path):
    root = project_with(tmp_path, """\
        intents: [greet, inform]
        session_config:
          session_expiration_time: 0
          carry_over_slots_to_new_session: false
        config:
          store_entities_as_slots: false
        """)
    d = load_project(root).domain
    assert d.session_config.session_expiration_time == 0
    assert d.session_config.carry_over_slots_to_new_session is False
    assert d.store_entities_as_slots is False


def test_unknown_top_level_key_suggests_the_right_one(tmp_path):
    root = project_with(tmp_path, "intens: [greet, inform]\n")
    [p] = [p for p in validate_project(root) if p.code == "unknown-key"]
    assert (p.severity, p.file, p.line) == ("error", "domain.yml", 1)
    assert "did you mean 'intents'" in p.hint


def test_intents_in_data_but_not_domain_and_vice_versa_warn(tmp_path):
    root = project_with(tmp_path, "intents: [greet, order_status]\n")
    p = load_project(root)
    missing = [w for w in p.warnings if w.code == "intent-not-in-domain"]
    unused = [w for w in p.warnings if w.code == "intent-without-examples"]
    assert "'inform'" in missing[0].message and missing[0].file == "data/nlu.yml"
    assert "'order_status'" in unused[0].message and unused[0].file == "domain.yml"


def test_entities_annotated_but_not_declared_warn(tmp_path):
    root = project_with(tmp_path, "intents: [greet, inform]\nentities: []\n")
    p = load_project(root)
    [w] = [w for w in p.warnings if w.code == "entity-not-in-domain"]
    assert "'city'" in w.message and w.line == 8
