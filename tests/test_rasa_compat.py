"""Data Rasa trains must train here too: conflicting examples, custom actions, retrieval
intents answered through a response selector."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import supportbot
from supportbot.nlu.parse import IntentScore, Parse
from supportbot.nlu.pipeline import NluModel, first_labels
from supportbot.project import load_project, validate_project
from supportbot.project.action_checks import custom_actions, unexecutable_actions
from supportbot.project.types import Example, NluSettings, Source

FIXTURES = Path(__file__).parent / "fixtures" / "projects"


# ------------------------------------------------------------------ conflicting examples
def test_example_under_two_intents_warns_and_trains_under_the_first(tmp_path):
    root = FIXTURES / "rasa_conflicting_examples"
    [warning] = [p for p in validate_project(root) if p.code == "conflicting-example"]
    assert warning.severity == "warning"
    assert (warning.file, warning.line) == ("data/nlu.yml", 15)
    assert "'react_positive' (at data/nlu.yml:5)" in warning.message
    assert "'affirm' (at data/nlu.yml:15)" in warning.message and "remove it" in warning.hint

    archive = supportbot.train(root, tmp_path / "models")
    bot = supportbot.Bot.load(archive, tracker_store="memory://")
    assert bot.parse("sweet").intent == "react_positive"
    assert bot.parse("Sweet").intent == "react_positive"


def test_first_labels_drops_later_copies_under_other_intents_only():
    examples = [Example("Sweet", "react_positive"), Example("yes", "affirm"),
                Example("sweet ", "affirm"), Example("yes", "affirm"),
                Example("how much", "faq/price"), Example("How  much", "faq/cost")]
    kept = first_labels(examples)
    assert [(e.text, e.intent) for e in kept] == [
        ("Sweet", "react_positive"), ("yes", "affirm"), ("yes", "affirm"),
        ("how much", "faq/price")]


# ------------------------------------------------------------------ custom actions
def test_custom_actions_come_from_the_domain_and_from_rule_steps():
    p = load_project(FIXTURES / "rasa_2x_form")
    found = custom_actions(p)
    assert set(found) == {"validate_sales_form", "action_submit_sales_form",
                          "action_ask_company"}
    assert found["validate_sales_form"] == Source("domain.yml", 70)


def test_unexecutable_actions_warn_unless_registered_or_served():
    p = load_project(FIXTURES / "rasa_2x_form")
    problems = unexecutable_actions(p, {"action_ask_company"}, has_action_endpoint=False)
    assert {(w.code, w.severity) for w in problems} == {("action-not-executable", "warning")}
    by_name = {w.message.split("'")[1]: w for w in problems}
    assert set(by_name) == {"validate_sales_form", "action_submit_sales_form"}
    assert (by_name["validate_sales_form"].file, by_name["validate_sales_form"].line) == (
        "domain.yml", 70)
    assert "ActionRegistry" in by_name["validate_sales_form"].hint
    assert "action_endpoint" in by_name["validate_sales_form"].hint
    assert unexecutable_actions(p, (), has_action_endpoint=True) == []


def test_validate_cli_reports_unexecutable_actions(tmp_path):
    pytest.importorskip("supportbot.project.endpoints")
    from typer.testing import CliRunner

    from supportbot.cli.app import app

    root = tmp_path / "bot"
    shutil.copytree(FIXTURES / "rasa_2x_form", root)
    runner = CliRunner()
    served = runner.invoke(app, ["validate", str(root), "--json"])
    assert served.exit_code == 0, served.output
    assert json.loads(served.output)["warnings"] == 0
    (root / "endpoints.yml").unlink()
    (root / "actions").mkdir()
    (root / "actions" / "__init__.py").write_text(
        "from supportbot.dialogue.actions import ActionRegistry\n"
        "actions = ActionRegistry()\n"
        "actions.add('action_submit_sales_form', lambda ctx: 'thanks')\n")
    result = runner.invoke(app, ["validate", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    flagged = {p["message"].split("'")[1] for p in report["problems"]
               if p["code"] == "action-not-executable"}
    assert flagged == {"validate_sales_form", "action_ask_company"}


# ------------------------------------------------------------------ retrieval intents
CHITCHAT = {
    "chitchat/ask_name": ["what is your name", "who are you", "what should I call you",
                          "tell me your name", "do you have a name"],
    "chitchat/ask_weather": ["how is the weather", "is it raining", "will it be sunny",
                             "what's the weather like today", "is it cold outside"],
    "greet": ["hello", "hi there", "good morning", "hey", "hi"],
    "goodbye": ["bye", "see you later", "goodbye", "talk to you later", "bye bye"],
}


@pytest.fixture(scope="module")
def chitchat_model(tmp_path_factory) -> NluModel:
    examples = [Example(text, intent) for intent, texts in CHITCHAT.items() for text in texts]
    return NluModel.train(examples, NluSettings(embedding_model=None),
                          cache_dir=tmp_path_factory.mktemp("cache"))


def test_nlu_predicts_the_full_retrieval_key(chitchat_model, tmp_path):
    [result] = chitchat_model.predict(["what is your name?"])
    assert result.intent == "chitchat" and result.retrieval_key == "chitchat/ask_name"
    assert {r.name for r in result.retrieval_ranking} == {"chitchat/ask_name",
                                                         "chitchat/ask_weather"}
    assert sum(r.confidence for r in result.retrieval_ranking) == pytest.approx(1.0)
    [plain] = chitchat_model.predict(["hello"])
    assert plain.retrieval_key is None and plain.retrieval_ranking == ()
    chitchat_model.save(tmp_path / "nlu")
    loaded = NluModel.load(tmp_path / "nlu")
    [again] = loaded.predict(["is it raining today"])
    assert again.retrieval_key == "chitchat/ask_weather"


def test_parse_to_rasa_has_a_response_selector():
    ranking = (IntentScore("chitchat/ask_name", 0.9), IntentScore("chitchat/ask_weather", 0.1))
    parse = Parse(text="who are you", intent="chitchat", confidence=0.8,
                  retrieval_key="chitchat/ask_name", retrieval_ranking=ranking)
    rasa = parse.to_rasa({"utter_chitchat/ask_name": [{"text": "I am Sara."}]})
    selector = rasa["response_selector"]
    assert selector["all_retrieval_intents"] == ["chitchat"]
    assert selector["default"]["response"] == {
        "responses": [{"text": "I am Sara."}], "confidence": 0.9,
        "intent_response_key": "chitchat/ask_name", "utter_action": "utter_chitchat/ask_name"}
    assert selector["default"]["ranking"][1] == {"confidence": 0.1,
                                                 "intent_response_key": "chitchat/ask_weather"}
    assert Parse.from_dict(parse.to_dict()) == parse
    assert "response_selector" not in Parse(text="hi", intent="greet", confidence=1).to_rasa()


def test_requested_slot_needs_no_declaration_when_there_are_forms(tmp_path):
    # Rasa adds `requested_slot` to every domain with forms (rasa-demo's rules check it)
    root = tmp_path / "bot"
    shutil.copytree(FIXTURES / "rasa_2x_form", root)
    domain = root / "domain.yml"
    domain.write_text(domain.read_text().replace(
        "  requested_slot:\n    type: any\n    influence_conversation: false\n", ""))
    rules = root / "data" / "rules.yml"
    rules.write_text(rules.read_text().replace(
        "  - active_loop: null\n  - action: action_submit_sales_form\n",
        "  - active_loop: null\n  - slot_was_set:\n    - requested_slot: null\n"
        "  - action: action_submit_sales_form\n"))
    assert "requested_slot: null" in rules.read_text()
    assert [p for p in validate_project(root) if p.severity == "error"] == []
