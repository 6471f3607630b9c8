"""config.yml: Rasa pipeline mapping, supportbot sections, section validators, versions."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from supportbot.errors import Problem
from supportbot.project import load_project, register_section_validator, validate_project
from supportbot.project import sections as sections_module

NLU = """\
nlu:
- intent: greet
  examples: |
    - hi
    - hello
"""
DOMAIN = "intents: [greet]\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def with_config(tmp_path: Path, config: str) -> Path:
    return write(tmp_path, {"config.yml": config, "domain.yml": DOMAIN, "data/nlu.yml": NLU})


@pytest.fixture(autouse=True)
def _isolated_validators(monkeypatch):
    # no validators, and no importing of supportbot.escalation/handoff, unless a test asks
    monkeypatch.setattr(sections_module, "_VALIDATORS", {})
    monkeypatch.setattr(sections_module, "_PROVIDERS", {})
    monkeypatch.setattr(sections_module, "_TRIED", set())


def test_missing_config_uses_defaults_with_a_warning(tmp_path):
    root = write(tmp_path, {"domain.yml": DOMAIN, "data/nlu.yml": NLU})
    p = load_project(root)
    assert p.config.language == "en" and p.config.kb.threshold is None  # auto
    assert any(w.code == "no-config" for w in p.warnings)


def test_rasa_pipeline_maps_onto_supportbot_settings(tmp_path):
    root = with_config(tmp_path, """\
        recipe: default.v1
        assistant_id: my-bot
        language: en
        pipeline:
        - name: WhitespaceTokenizer
        - name: RegexFeaturizer
        - name: CountVectorsFeaturizer
          analyzer: word
          min_ngram: 1
          max_ngram: 3
        - name: CountVectorsFeaturizer
          analyzer: char_wb
          min_ngram: 1
          max_ngram: 4
        - name: LanguageModelFeaturizer
          model_name: bert
          model_weights: sentence-transformers/all-MiniLM-L6-v2
        - name: DIETClassifier
        - name: EntitySynonymMapper
        - name: FallbackClassifier
          threshold: 0.7
          ambiguity_threshold: 0.2
        policies:
        - name: RulePolicy
        """)
    p = load_project(root)
    nlu = p.config.nlu
    assert nlu.word_ngrams == (1, 3) and nlu.char_ngrams == (1, 4)
    assert nlu.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (nlu.fallback.threshold, nlu.fallback.ambiguity_threshold) == (0.7, 0.2)
    assert p.config.raw["assistant_id"] == "my-bot"
    assert p.warnings == ()  # everything above is understood


def test_components_supportbot_does_not_run_warn_with_their_line(tmp_path):
    root = with_config(tmp_path, """\
        language: en
        pipeline:
        - name: SpacyNLP
        - name: DIETClassifier
          epochs: 100
        - name: ResponseSelector
        - name: LanguageModelFeaturizer
          model_weights: rasa/LaBSE
        - name: my_package.MyComponent
        policies:
        - name: MemoizationPolicy
        - name: RulePolicy
        - name: TEDPolicy
        - name: UnexpecTEDIntentPolicy
        """)
    warnings = {w.line: w for w in load_project(root).warnings}
    assert "SpacyNLP is read but not executed" in warnings[3].message
    assert "epochs" in warnings[4].message
    assert "ResponseSelector" in warnings[6].message
    assert "rasa/LaBSE" in warnings[7].message
    assert "my_package.MyComponent" in warnings[9].message
    assert set(warnings) == {3, 4, 6, 7, 9, 11, 13, 14}  # RulePolicy is ours
    assert all(w.file == "config.yml" for w in warnings.values())


def test_nlu_and_kb_sections(tmp_path):
    root = with_config(tmp_path, """\
        language: ru
        pipeline:
        - name: FallbackClassifier
          threshold: 0.5
        nlu:
          embedding_model: null
          char_ngrams: [3, 5]
          languages: [ru, en]
          out_of_scope_intent: oos
          fallback:
            threshold: 0.35
            per_intent: {greet: 0.2}
        kb:
          threshold: 0.7
          clarify_margin: 0.1
          approximate_above: 100
          max_clarify_options: 5
        """)
    p = load_project(root)
    c = p.config
    assert c.language == "ru" and c.nlu.embedding_model is None
    assert c.nlu.char_ngrams == (3, 5) and c.nlu.languages == ("ru", "en")
    assert c.nlu.out_of_scope_intent == "oos"
    assert c.nlu.fallback.threshold == 0.35 and c.nlu.fallback.per_intent == {"greet": 0.2}
    assert (c.kb.threshold, c.kb.clarify_margin, c.kb.approximate_above,
            c.kb.max_clarify_options) == (0.7, 0.1, 100, 5)
    [override] = [w for w in p.warnings if w.code == "override"]
    assert override.line == 11 and "line 3" in override.message


def test_config_errors_name_key_line_and_suggestion(tmp_path):
    root = with_config(tmp_path, """\
        lanugage: en
        nlu:
          embeding_model: all-MiniLM-L6-v2
          word_ngrams: [3, 1]
          fallback:
            threshold: 1.5
        kb:
          threshold: high
          max_clarify_options: 0
        pipeline:
        - epochs: 3
        """)
    problems = [p for p in validate_project(root) if p.severity == "error"]
    by_line = {p.line: p for p in problems}
    assert "did you mean 'language'" in by_line[1].hint
    assert "did you mean 'embedding_model'" in by_line[3].hint
    assert by_line[4].code == "range" and by_line[6].code == "range"
    assert by_line[8].code == "range" and by_line[9].code == "range"
    assert by_line[11].code == "component"
    assert all(p.file == "config.yml" for p in problems)


def test_unknown_embedding_model_warns(tmp_path):
    root = with_config(tmp_path, "nlu:\n  embedding_model: no-such-model-xyz\n")
    [w] = [w for w in load_project(root).warnings if w.code == "model"]
    assert w.line == 2 and "pip install" in w.hint


def test_escalation_and_handoff_sections_are_kept_raw(tmp_path):
    root = with_config(tmp_path, """\
        escalation:
          fallback_streak: 2
          signals: [frustration]
        handoff:
          backend: sqlite
        """)
    c = load_project(root).config
    assert c.escalation == {"fallback_streak": 2, "signals": ["frustration"]}
    assert c.handoff == {"backend": "sqlite"}


def test_registered_section_validator_reports_into_the_same_list(tmp_path):
    seen = {}

    def check(raw, source):
        seen["raw"], seen["source"] = dict(raw), source
        return [Problem("error", "fallback_streak must be >= 1", source.file, source.line,
                        "use 1 or more", code="escalation")]

    register_section_validator("escalation", check)
    register_section_validator("analytics", lambda raw, source: [])
    root = with_config(tmp_path, "language: en\nescalation:\n  fallback_streak: 0\n"
                                 "analytics:\n  enabled: true\n")
    problems = validate_project(root)
    assert seen["raw"] == {"fallback_streak": 0}
    assert (seen["source"].file, seen["source"].line) == ("config.yml", 2)
    assert [p.code for p in problems if p.severity == "error"] == ["escalation"]
    # a registered name is an allowed top-level key
    assert not [p for p in problems if p.code == "unknown-key"]


def test_a_crashing_section_validator_becomes_a_warning(tmp_path):
    def broken(raw, source):
        raise KeyError("oops")

    register_section_validator("handoff", broken)
    root = with_config(tmp_path, "handoff:\n  backend: sqlite\n")
    [w] = [p for p in validate_project(root) if p.code == "section-unchecked"]
    assert w.severity == "warning" and "KeyError" in w.message


@pytest.mark.parametrize("version, severity", [
    (None, None), ('"2.0"', None), ('"3.1"', None), ('"3.5"', "warning"), ('"1.0"', "error"),
    ("banana", "error"),
])
def test_format_versions(tmp_path, version, severity):
    head = f"version: {version}\n" if version else ""
    root = write(tmp_path, {"config.yml": "language: en\n", "domain.yml": head + DOMAIN,
                            "data/nlu.yml": head + NLU})
    found = [p for p in validate_project(root) if p.code == "version"]
    if severity is None:
        assert found == []
    else:
        assert {p.severity for p in found} == {severity}
        assert {(p.file, p.line) for p in found} == {("domain.yml", 1), ("data/nlu.yml", 1)}
    if severity == "warning":  # newer files are still read
        assert len(load_project(root).nlu.examples) == 2


def test_provider_module_validator_is_found_by_convention(tmp_path, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("fake_handoff")
    fake.validate_handoff_section = lambda raw, source: [
        Problem("error", "unknown backend", source.file, source.line, code="handoff")]
    monkeypatch.setitem(sys.modules, "fake_handoff", fake)
    monkeypatch.setattr(sections_module, "_PROVIDERS", {"handoff": "fake_handoff"})
    root = with_config(tmp_path, "handoff:\n  backend: floppy\n")
    [p] = [p for p in validate_project(root) if p.severity == "error"]
    assert (p.code, p.line) == ("handoff", 1)


def test_the_escalation_module_checks_its_section(tmp_path, monkeypatch):
    escalation = pytest.importorskip("supportbot.escalation")
    if not hasattr(escalation, "validate_escalation_section"):
        pytest.skip("supportbot.escalation has no section validator")
    monkeypatch.setattr(sections_module, "_PROVIDERS", {"escalation": "supportbot.escalation"})
    root = with_config(tmp_path, "escalation:\n  no_such_setting: 1\n")
    errors = [p for p in validate_project(root) if p.severity == "error"]
    assert errors and all(p.file == "config.yml" for p in errors)


def test_per_intent_threshold_for_an_unknown_intent_warns(tmp_path):
    root = with_config(tmp_path, "nlu:\n  fallback:\n    per_intent:\n      gret: 0.3\n")
    [w] = [w for w in load_project(root).warnings if w.code == "unknown-intent"]
    assert (w.file, w.line) == ("config.yml", 4) and "did you mean 'greet'" in w.hint


def test_familiarity_threshold_is_read_and_checked(tmp_path):
    root = with_config(tmp_path, "nlu:\n  fallback:\n    familiarity_threshold: 0.35\n")
    assert load_project(root).config.nlu.fallback.familiarity_threshold == 0.35
    root = with_config(tmp_path, "nlu:\n  fallback:\n    familiarity_threshold: auto\n")
    assert load_project(root).config.nlu.fallback.familiarity_threshold is None
    root = with_config(tmp_path, "nlu:\n  fallback:\n    familiarity_threshold: 1.3\n")
    [problem] = [p for p in validate_project(root) if p.severity == "error"]
    assert problem.code == "range" and problem.line == 3 and problem.file == "config.yml"
    assert "familiarity_threshold" in problem.message and "0 turns it off" in problem.message
