"""NLU data: examples (block and extended forms), inline entities, synonyms, regex, lookups,
retrieval intents."""
from __future__ import annotations

import textwrap
from pathlib import Path

from supportbot.project import load_project, validate_project
from supportbot.project.markup import parse_markup
from supportbot.project.types import EntityAnnotation

CONFIG = "language: en\nnlu:\n  embedding_model: null\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def project_with(tmp_path: Path, nlu: str, domain: str = "", **more: str) -> Path:
    files = {"config.yml": CONFIG, "data/nlu.yml": nlu, **more}
    if domain:
        files["domain.yml"] = domain
    return write(tmp_path, files)


def errors(problems):
    return [p for p in problems if p.severity == "error"]


# ------------------------------------------------------------------ markup
def test_markup_forms_and_offsets():
    r = parse_markup('fly from [Berlin]{"entity": "city", "role": "from", "group": "1"} '
                     "to [NYC](city:New York) on [monday](day)")
    assert r.text == "fly from Berlin to NYC on monday"
    assert r.errors == ()
    berlin, nyc, day = r.entities
    assert berlin == EntityAnnotation("city", "Berlin", 9, 15, "Berlin", "from", "1")
    assert nyc == EntityAnnotation("city", "New York", 19, 22, "NYC")
    assert r.text[day.start:day.end] == "monday" and day.value == "monday"


def test_markup_errors_are_explained():
    assert "not valid JSON" in parse_markup("[x]{entity: city}").errors[0]
    assert "unknown field" in parse_markup('[x]{"entity": "a", "colour": "b"}').errors[0]
    assert parse_markup("no markup here [but] brackets").entities == ()


# ------------------------------------------------------------------ examples
def test_block_and_extended_examples_with_metadata_and_lines(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: greet
          metadata: {sentiment: neutral}
          examples: |
            - hi
            - hello [Anna](name)
        - intent: complain
          examples:
          - text: |
              this is awful
            metadata: {sentiment: negative}
          - text: worst shop ever
        """)
    p = load_project(root)
    by_text = {e.text: e for e in p.nlu.examples}
    assert by_text["hi"].intent == "greet" and by_text["hi"].source.line == 5
    assert by_text["hi"].metadata == {"sentiment": "neutral"}
    assert by_text["hello Anna"].entities[0].entity == "name"
    assert by_text["hello Anna"].source.line == 6
    assert by_text["this is awful"].metadata == {"sentiment": "negative"}
    assert by_text["this is awful"].source.line == 9
    assert by_text["worst shop ever"].metadata == {}
    assert p.nlu.intents() == ("greet", "complain")


def test_block_line_without_dash_is_skipped_with_a_warning(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: greet
          examples: |
            - hi
            hello
            - hey
        """)
    problems = validate_project(root)
    [w] = [p for p in problems if p.code == "block-line"]
    assert (w.severity, w.file, w.line) == ("warning", "data/nlu.yml", 5)
    assert [e.text for e in load_project(root).nlu.examples] == ["hi", "hey"]


def test_synonyms_regex_lookup_and_inline_value_synonym(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: pay
          examples: |
            - pay with [credit card](method:card)
            - pay by [card](method)
        - synonym: card
          examples: |
            - plastic
        - regex: order_id
          examples: |
            - \\b[A-Z]\\d{4}\\b
        - lookup: city
          examples: |
            - Berlin
            - Yerevan
        """)
    p = load_project(root)
    [syn] = p.nlu.synonyms
    assert syn.value == "card" and set(syn.examples) == {"credit card", "plastic"}
    assert p.nlu.regexes[0].name == "order_id"
    assert p.nlu.regexes[0].patterns == (r"\b[A-Z]\d{4}\b",)
    assert p.nlu.lookups[0].elements == ("Berlin", "Yerevan")


def test_invalid_regex_and_bad_annotation_are_errors_with_lines(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: pay
          examples: |
            - pay now
            - pay [x]{"entity": } please
        - regex: broken
          examples: |
            - ([a-z]
        """)
    found = {(p.code, p.line) for p in errors(validate_project(root))}
    assert ("bad-annotation", 5) in found
    assert ("bad-regex", 8) in found


def test_unknown_nlu_key_suggests_the_right_one(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: greet
          exmples: |
            - hi
        """)
    problems = errors(validate_project(root))
    unknown = [p for p in problems if p.code == "unknown-key"]
    assert unknown and unknown[0].line == 3 and "did you mean 'examples'" in unknown[0].hint


def test_same_text_under_two_intents_is_a_warning_naming_both(tmp_path):
    # Rasa trains such data (its demo bots have it), so it is a warning, not an error
    root = project_with(tmp_path, """\
        nlu:
        - intent: greet
          examples: |
            - hello
            - hi there
        - intent: bye
          examples: |
            - Hello
            - bye
            - bye
        """)
    problems = validate_project(root)
    [conflict] = [p for p in problems if p.code == "conflicting-example"]
    assert conflict.severity == "warning" and conflict.line == 8
    assert "data/nlu.yml:4" in conflict.message and "data/nlu.yml:8" in conflict.message
    assert "'greet'" in conflict.message and "'bye'" in conflict.message
    assert "remove it from" in conflict.hint
    assert any(p.code == "duplicate-example" and p.line == 10 for p in problems)
    project = load_project(root)
    assert any(p.code == "conflicting-example" for p in project.warnings)


def test_intent_with_one_example_is_a_warning(tmp_path):
    root = project_with(tmp_path, """\
        nlu:
        - intent: greet
          examples: |
            - hi
        """)
    p = load_project(root)
    assert any(w.code == "few-examples" and "'greet'" in w.message for w in p.warnings)


# ------------------------------------------------------------------ retrieval intents
FAQ_NLU = """\
    nlu:
    - intent: faq/opening_hours
      examples: |
        - when are you open?
        - opening hours
    - intent: faq/returns
      examples: |
        - how do I return something?
    """


def test_retrieval_intents_become_kb_entries_and_stay_nlu_examples(tmp_path):
    root = project_with(tmp_path, FAQ_NLU, **{"data/responses.yml": """\
        responses:
          utter_faq/opening_hours:
          - text: Mon-Fri 8-20.
          - text: Пн-Пт 8-20.
            language: ru
          utter_faq/returns:
          - text: Within 30 days.
            buttons: [{title: Start, payload: /faq}]
        """})
    p = load_project(root)
    assert p.nlu.intents() == ("faq",)
    assert {e.intent for e in p.nlu.examples} == {"faq/opening_hours", "faq/returns"}
    kb = {e.id: e for e in p.kb}
    assert kb["opening_hours"].questions == ("when are you open?", "opening hours")
    assert kb["opening_hours"].answer.text == "Mon-Fri 8-20."
    assert kb["opening_hours"].answer_for("ru").text == "Пн-Пт 8-20."
    assert kb["returns"].answer.buttons[0].payload == "/faq"
    assert kb["returns"].tags == ("faq",)


def test_retrieval_intent_without_response_is_an_error(tmp_path):
    root = project_with(tmp_path, FAQ_NLU)
    problems = [p for p in errors(validate_project(root)) if p.code == "retrieval-response"]
    assert {p.line for p in problems} == {4, 8}  # the first example of each
    assert "utter_faq/opening_hours" in problems[0].message
