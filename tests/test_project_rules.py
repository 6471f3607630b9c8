"""Rules (executed) and stories (read and checked, reported as not executed)."""
from __future__ import annotations

import textwrap
from pathlib import Path

from supportbot.project import MISSING, load_project, validate_project

BASE = {
    "config.yml": "language: en\nnlu:\n  embedding_model: null\n",
    "domain.yml": """\
        intents: [greet, bye]
        slots:
          logged_in:
            type: bool
            mappings: [{type: custom}]
        forms:
          address_form:
            required_slots: [logged_in]
        responses:
          utter_greet:
          - text: Hi
          utter_bye:
          - text: Bye
        """,
    "data/nlu.yml": """\
        nlu:
        - intent: greet
          examples: |
            - hi
            - hello
        - intent: bye
          examples: |
            - bye
            - see you
        """,
}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def with_rules(tmp_path: Path, rules: str) -> Path:
    return write(tmp_path, {**BASE, "data/rules.yml": rules})


def test_rules_with_condition_flags_and_all_step_kinds(tmp_path):
    root = with_rules(tmp_path, """\
        rules:
        - rule: greet at start
          conversation_start: true
          steps:
          - intent: greet
          - action: utter_greet
        - rule: bye when logged in
          condition:
          - slot_was_set:
            - logged_in: true
          - active_loop: null
          steps:
          - intent: bye
            entities:
            - city: Berlin
          - action: utter_bye
          - slot_was_set:
            - logged_in
          - action: action_listen
          wait_for_user_input: false
        """)
    p = load_project(root)
    start, bye = p.rules
    assert start.conversation_start and start.wait_for_user_input
    assert start.source.line == 2 and start.steps[0].source.line == 5
    assert [s.kind for s in bye.condition] == ["slot_was_set", "active_loop"]
    assert bye.condition[0].slots == (("logged_in", True),)
    assert bye.steps[0].entities == (("city", "Berlin"),)
    assert bye.steps[2].slots == (("logged_in", MISSING),)
    assert bye.wait_for_user_input is False and bye.conversation_start is False


def test_rule_naming_unknown_things_gives_errors_with_lines(tmp_path):
    root = with_rules(tmp_path, """\
        rules:
        - rule: broken
          steps:
          - intent: gret
          - action: utter_gret
          - action: action_check_stock
          - slot_was_set:
            - loged_in: true
          - active_loop: adress_form
        """)
    problems = {p.code: p for p in validate_project(root) if p.severity == "error"}
    assert problems["unknown-intent"].line == 4
    assert "did you mean 'greet'" in problems["unknown-intent"].hint
    assert problems["unknown-response"].line == 5
    assert "did you mean 'utter_greet'" in problems["unknown-response"].hint
    assert problems["unknown-action"].line == 6
    assert problems["unknown-slot"].line == 7  # the step
    assert problems["unknown-form"].line == 9


def test_rule_condition_may_not_hold_intents(tmp_path):
    root = with_rules(tmp_path, """\
        rules:
        - rule: bad condition
          condition:
          - intent: greet
          steps:
          - intent: bye
          - action: utter_bye
        """)
    [p] = [p for p in validate_project(root) if p.code == "rule-condition"]
    assert p.severity == "error" and p.line == 4


def test_rule_structure_problems(tmp_path):
    root = with_rules(tmp_path, """\
        rules:
        - story: wrong section
          steps:
          - intent: greet
        - rule: no steps
        - rule: typo
          stesp: []
        - rule: bad flag
          conversation_start: maybe
          steps:
          - intent: greet
          - action: utter_greet
        """)
    problems = validate_project(root)
    codes = {(p.code, p.line) for p in problems if p.severity == "error"}
    assert ("no-name", 2) in codes
    assert ("no-steps", 5) in codes
    assert ("unknown-key", 7) in codes
    assert ("wrong-type", 9) in codes
    no_name = next(p for p in problems if p.code == "no-name")
    assert "stories" in no_name.hint


def test_stories_checkpoints_and_end_to_end_steps_are_read_and_warned(tmp_path):
    root = write(tmp_path, {**BASE, "data/stories.yml": """\
        stories:
        - story: path one
          steps:
          - intent: greet
          - action: utter_greet
          - checkpoint: greeted
        - story: path two
          steps:
          - checkpoint: greeted
          - user: see you [tomorrow](time)
            intent: bye
          - bot: Bye!
          - or:
            - intent: bye
            - intent: greet
          - action: address_form
          - active_loop: address_form
        """})
    p = load_project(root)
    assert [s.name for s in p.stories] == ["path one", "path two"]
    two = p.stories[1]
    assert [s.kind for s in two.steps] == ["checkpoint", "intent", "bot", "or", "action",
                                           "active_loop"]
    assert [a.value for a in two.steps[3].alternatives] == ["bye", "greet"]
    messages = {w.message.split(" (")[0]: w for w in p.warnings if w.code == "not-executed"}
    stories = messages["stories are read and checked but not executed"]
    assert stories.file == "data/stories.yml" and stories.line == 2
    assert messages["checkpoints are read but not executed"].line == 6
    assert messages["end-to-end `user:` steps are read but not executed"].line == 10
    assert messages["end-to-end `bot:` steps are read but not executed"].line == 12
    assert not any("address_form" in w.message for w in p.warnings)


def test_stories_are_checked_too(tmp_path):
    root = write(tmp_path, {**BASE, "data/stories.yml": """\
        stories:
        - story: s
          steps:
          - intent: greet
          - action: utter_hello
        """})
    [p] = [p for p in validate_project(root) if p.severity == "error"]
    assert p.code == "unknown-response" and p.line == 5


def test_rasa_1x_respond_action_is_read_as_utter(tmp_path):
    root = write(tmp_path, {
        **BASE,
        "data/faq.yml": """\
            nlu:
            - intent: faq/hours
              examples: |
                - when are you open
            responses:
              utter_faq/hours:
              - text: 8-20
            rules:
            - rule: faq
              steps:
              - intent: faq
              - action: respond_faq
            """})
    p = load_project(root)
    assert p.rules[0].steps[1].value == "utter_faq"
    assert any(w.code == "deprecated" and w.line == 12 for w in p.warnings)


def test_duplicate_rule_names_warn(tmp_path):
    rule = "- rule: same\n  steps:\n  - intent: greet\n  - action: utter_greet\n"
    root = with_rules(tmp_path, "rules:\n" + rule + rule)
    assert any(w.code == "duplicate" and w.line == 6 for w in load_project(root).warnings)
