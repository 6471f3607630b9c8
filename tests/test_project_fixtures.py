"""Whole projects: a `rasa init`-shaped 3.x bot, a Rasa 2.x bot, the full supportbot format and
the example bot at the repository root."""
from __future__ import annotations

from pathlib import Path

import pytest

from supportbot.project import load_project, validate_project

FIXTURES = Path(__file__).parent / "fixtures" / "projects"
REPO_ROOT = Path(__file__).resolve().parents[1]


def warning_texts(project) -> list[str]:
    return [str(w) for w in project.warnings]


def test_rasa_init_project_loads_and_warns_about_stories():
    p = load_project(FIXTURES / "rasa_init_3x")
    assert len(p.domain.intents) == 7 and len(p.nlu.examples) == 37
    assert p.rules[0].name == "Say goodbye anytime the user says goodbye"
    assert len(p.stories) == 3
    assert p.domain.responses["utter_cheer_up"].variations[0].image
    assert p.config.raw["assistant_id"].endswith("brisk-lighthouse")
    [w] = p.warnings
    assert w.file == "data/stories.yml" and w.code == "not-executed"
    assert p.files == ("config.yml", "domain.yml", "data/nlu.yml", "data/rules.yml",
                       "data/stories.yml")


def test_rasa_2x_project_with_retrieval_forms_and_custom_actions_loads():
    p = load_project(FIXTURES / "rasa_2x_faq")
    # retrieval intents: one NLU intent `faq`, and KB entries backed by the responses file
    assert "faq" in p.nlu.intents()
    assert {e.id: e.answer.text for e in p.kb} == {
        "ask_price": "The basic plan is free; pro costs 10 EUR a month.",
        "ask_trial": "Yes, every plan has a 14-day free trial."}
    # 2.x slots without mappings are filled from the same-named entity
    assert p.domain.slots["email"].mappings[0].entity == "email"
    assert p.domain.slots["product"].mappings[0].entity == "product"
    assert p.domain.slots["requested_slot"].mappings == ()
    # the pipeline maps where the meaning matches
    assert p.config.nlu.fallback.threshold == 0.7 and p.config.nlu.char_ngrams == (1, 4)
    # what is not executed is named, with file and line
    texts = "\n".join(warning_texts(p))
    # forms and custom actions run now: loading no longer warns about them
    assert "subscribe_form" not in texts and "action_subscribe_newsletter" not in texts
    form = p.domain.forms["subscribe_form"]
    assert form.required_slots == ("email",) and form.source.line == 30
    assert form.mappings["email"][0].entity == "email"
    assert "data/core/stories.yml:4: warning: stories are read" in texts
    assert "data/core/stories.yml:8: warning: checkpoints are read" in texts
    assert "config.yml:24: warning: policy MemoizationPolicy is read but not executed" in texts
    assert "config.yml:16: warning: pipeline component ResponseSelector" in texts
    assert "`respond_faq` is the Rasa 1.x name" in texts
    assert p.rules[0].steps[1].value == "utter_faq"


def test_full_supportbot_project_loads_every_feature():
    p = load_project(FIXTURES / "supportbot_full")
    # the custom slot mapping; and the languages in nlu.languages without every translation
    assert sorted({w.code for w in p.warnings}) == ["missing-translation", "not-executed"]
    assert [w.code for w in p.warnings if w.code != "missing-translation"] == ["not-executed"]
    assert p.files[:3] == ("config.yml", "domain/intents.yml", "domain/responses.yml")
    assert {e.id for e in p.kb} == {"delivery_cost", "return_window", "warranty",
                                    "opening_hours", "payment_methods"}
    assert p.config.nlu.char_ngrams == (2, 4) and p.config.nlu.word_ngrams == (1, 3)
    assert p.config.escalation == {"unresolved": {"consecutive_fallbacks": 2}}
    assert p.domain.session_config.session_expiration_time == 30
    hand_off = next(r for r in p.rules if r.name == "hand off")
    assert hand_off.wait_for_user_input is False
    assert [s.value for s in hand_off.steps] == ["human_handoff", "utter_handoff",
                                                 "action_handoff"]
    track = next(e for e in p.nlu.examples if e.text == "track order seventy")
    assert track.entities[0].value == "70"
    assert any(s.value == "70" and "order seventy" in s.examples for s in p.nlu.synonyms)


@pytest.mark.skipif(not (REPO_ROOT / "domain.yml").exists(), reason="no example bot yet")
def test_example_bot_at_the_repo_root_has_no_errors():
    errors = [str(p) for p in validate_project(REPO_ROOT) if p.severity == "error"]
    assert errors == []
