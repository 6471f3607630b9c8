"""Forms in the three layouts Rasa has used, ignored intents, and supportbot's `validation:`."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from supportbot.project import load_project, validate_project
from supportbot.project.types import FormDef, SlotValidation

FIXTURES = Path(__file__).parent / "fixtures" / "projects"

NLU = """\
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: inform
  examples: |
    - my email is [ann@example.com](email)
    - I am [30](age)
"""

DOMAIN_HEAD = """\
intents: [greet, inform, chitchat]
entities: [email, age]
slots:
  email:
    type: text
    mappings: [{type: from_entity, entity: email}]
  age:
    type: float
    mappings: [{type: from_entity, entity: age}]
"""


def project(tmp_path: Path, forms: str) -> Path:
    """A small 3.1 project whose domain ends with `forms`."""
    (tmp_path / "config.yml").write_text("language: en\nnlu:\n  embedding_model: null\n")
    (tmp_path / "domain.yml").write_text(DOMAIN_HEAD + textwrap.dedent(forms))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text(NLU)
    return tmp_path


def test_the_three_rasa_layouts_load_as_typed_forms_without_warnings():
    p = load_project(FIXTURES / "rasa_2x_form")
    assert p.warnings == ()
    sales, subscribe, feedback = (p.domain.forms[n] for n in
                                  ("sales_form", "subscribe_form", "feedback_form"))
    assert all(isinstance(f, FormDef) for f in (sales, subscribe, feedback))
    # Rasa 2.0: slots and their mappings directly under the form name
    assert sales.required_slots == ("job_function", "company", "budget")
    assert [m.type for m in sales.mappings["job_function"]] == ["from_entity", "from_text"]
    assert sales.mappings["job_function"][1].not_intent == ("deny", "chitchat")
    assert sales.mappings["budget"][0].entity == "number"
    assert sales.source.file == "domain.yml" and sales.source.line == 38
    # Rasa 2.x: required_slots maps slot -> mappings
    assert subscribe.required_slots == ("email",)
    assert subscribe.ignored_intents == ("chitchat",)
    assert subscribe.mappings["email"][1].intent == ("inform",)
    assert subscribe.validation["email"] == SlotValidation(
        regex=r"[^@\s]+@[^@\s]+", response="utter_invalid_email")
    # Rasa 3.x: a list of slots, mappings on the slots
    assert feedback.required_slots == ("company",) and feedback.mappings == {}
    assert feedback.validation["company"].values == ("Acme", "Initech")


def test_rasa_3_form_with_validation(tmp_path):
    root = project(tmp_path, """\
        forms:
          profile_form:
            ignored_intents: [chitchat]
            required_slots: [email, age]
            validation:
              age: {min: 18, max: 120, response: utter_bad_age}
        responses:
          utter_bad_age:
          - text: Please give an age between 18 and 120.
        """)
    p = load_project(root)
    form = p.domain.forms["profile_form"]
    assert form.required_slots == ("email", "age") and form.ignored_intents == ("chitchat",)
    assert form.validation["age"] == SlotValidation(min=18.0, max=120.0,
                                                    response="utter_bad_age")
    assert [w for w in p.warnings if "profile_form" in w.message] == []


@pytest.mark.parametrize("validation, line, words", [
    ("email: {regex: '[a-z'}", 14, "not a valid regular expression"),
    ("age: {min: 10, max: 5}", 14, "greater than `max`"),
    ("age: {minimum: 10}", 14, "unknown key 'minimum'"),
    ("name: {regex: '.+'}", 14, "not a required slot"),
    ("age: {min: ten}", 14, "must be a number"),
])
def test_bad_validation_is_an_error_with_file_and_line(tmp_path, validation, line, words):
    root = project(tmp_path, f"""\
        forms:
          profile_form:
            required_slots: [email, age]
            validation:
              {validation}
        """)
    errors = [p for p in validate_project(root) if p.severity == "error"]
    assert len(errors) == 1, errors
    assert errors[0].file == "domain.yml" and errors[0].line == line
    assert words in errors[0].message or words in (errors[0].hint or "")


def test_form_mapping_types_are_checked_with_file_and_line(tmp_path):
    root = project(tmp_path, """\
        forms:
          profile_form:
            required_slots:
              email:
              - type: from_entty
                entity: email
              age: nonsense
        """)
    errors = {p.code: p for p in validate_project(root) if p.severity == "error"}
    assert errors["mapping-type"].line == 14 and "from_entity" in errors["mapping-type"].hint
    assert errors["wrong-type"].line == 16 and "'age'" in errors["wrong-type"].message


def test_form_names_that_do_not_exist_are_reported(tmp_path):
    root = project(tmp_path, """\
        forms:
          profile_form:
            ignored_intents: [chitchatt]
            required_slots:
              phone:
              - {type: from_entity, entity: phone}
            validation:
              phone: {response: utter_nope}
        """)
    problems = {p.code: p for p in validate_project(root)}
    assert problems["unknown-slot"].severity == "warning"
    assert problems["unknown-entity"].severity == "error"
    assert "did you mean 'chitchat'" in problems["unknown-intent"].hint
    assert problems["unknown-response"].severity == "warning"


def test_a_form_defined_twice_keeps_the_first(tmp_path):
    root = project(tmp_path, """\
        forms:
          profile_form:
            required_slots: [email]
        """)
    (root / "data" / "more.yml").write_text("forms:\n  profile_form:\n    required_slots: [age]\n")
    p = load_project(root)
    assert p.domain.forms["profile_form"].required_slots == ("email",)
    [dup] = [w for w in p.warnings if w.code == "duplicate"]
    assert dup.file == "data/more.yml" and "domain.yml:11" in dup.message


def test_rasa_1_form_list_is_read_with_a_warning(tmp_path):
    root = project(tmp_path, """\
        forms:
        - profile_form
        - other_form
        """)
    p = load_project(root)
    assert p.domain.forms["other_form"].required_slots == ()
    assert p.domain.forms["other_form"].source.line == 12
    [note] = [w for w in p.warnings if w.code == "deprecated"]
    assert note.line == 10 and "Rasa 1.x" in note.message
