"""The `escalation:` config section: defaults, overrides and problems a support-ops person can act
on (key path, file:line, "did you mean")."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from supportbot.errors import ProjectError
from supportbot.escalation import EscalationConfig, validate_escalation_section
from supportbot.escalation.lexicons import LANGUAGES, load_lexicon
from supportbot.escalation.text import Phrase, PhraseSet, words
from supportbot.project.types import Source

SOURCE = Source("config.yml", 30)


class LineDict(dict):
    """Stands in for the project reader's line-aware mapping (`line`, `key_lines`)."""

    def __init__(self, data: dict, line: int, key_lines: dict):
        super().__init__(data)
        self.line = line
        self.key_lines = key_lines


def test_empty_or_missing_section_gives_the_documented_defaults():
    for raw in (None, {}):
        config = EscalationConfig.from_mapping(raw)
        assert config.default_queue == "default"
        assert config.confirm_before_handoff is False
        assert config.explicit_request.handoff_intent == "human_handoff"
        assert config.explicit_request.confirm is False
        assert (config.unresolved.consecutive_fallbacks, config.unresolved.session_fallbacks) == (
            2, 3)
        assert config.loop.window == 3
        assert config.repeated_reply.repeats == 2
        assert config.long_conversation.max_bot_turns == 8
        assert config.frustration.threshold == 0.6
        assert config.negative_feedback.intents == ("negative_feedback", "deny")


def test_full_example_in_the_docs_is_valid():
    doc = (Path(__file__).parents[1] / "docs" / "escalation.md").read_text(encoding="utf-8")
    block = doc.split("## A full example", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    raw = yaml.safe_load(block)["escalation"]
    assert validate_escalation_section(raw, SOURCE) == []
    config = EscalationConfig.from_mapping(raw)
    assert config.sensitive_topics.topics["fraud"].queue == "fraud"
    assert config.explicit_request.confirm is False and config.confirm_before_handoff
    assert config.frustration.weights.all_caps == 0.4


def test_overrides_keep_the_other_defaults():
    config = EscalationConfig.from_mapping({"frustration": {"weights": {"all_caps": 0.3}}})
    assert config.frustration.weights.all_caps == 0.3
    assert config.frustration.weights.profanity == 0.5


def test_unknown_key_suggests_the_right_one_with_file_and_line():
    raw = LineDict({"unresolved": LineDict({"consecutive_fallback": 3}, 31,
                                           {"consecutive_fallback": 32})}, 30,
                   {"unresolved": 31})
    [problem] = validate_escalation_section(raw, SOURCE)
    assert problem.severity == "error"
    assert "escalation.unresolved.consecutive_fallback" in problem.message
    assert problem.hint == "did you mean `consecutive_fallbacks`?"
    assert (problem.file, problem.line) == ("config.yml", 32)
    assert str(problem).startswith("config.yml:32: error:")


def test_unknown_key_without_a_close_match_lists_the_valid_keys():
    [problem] = validate_escalation_section({"loop": {"zzz": 1}}, SOURCE)
    assert "window" in problem.hint and "similarity" in problem.hint
    assert problem.line == 30  # no finer line known: the section's line


def test_bad_values_name_the_key_path_and_value():
    raw = {"frustration": {"threshold": 1.5}, "loop": {"window": 0},
           "sensitive_topics": {"topics": {"legal": {"queue": "legal"}}},
           "explicit_request": {"phrases": "talk to boss"}}
    problems = validate_escalation_section(raw, SOURCE)
    messages = "\n".join(p.message for p in problems)
    assert len(problems) == 4
    assert "`escalation.frustration.threshold`" in messages and "1.5" in messages
    assert "`escalation.loop.window`" in messages
    assert "`escalation.sensitive_topics.topics.legal`" in messages
    assert "needs `intents` or `kb_tags`" in messages
    assert "`escalation.explicit_request.phrases`: Input should be a list" in messages


def test_bad_phrase_and_bad_section_shape_are_reported():
    [problem] = validate_escalation_section(
        {"negative_feedback": {"phrases": ["fine", "**"]}}, SOURCE)
    assert "'**' holds no word" in problem.message
    [problem] = validate_escalation_section(["not", "a", "mapping"], SOURCE)
    assert "must be a mapping" in problem.message


def test_inconsistent_thresholds_warn():
    [problem] = validate_escalation_section(
        {"unresolved": {"consecutive_fallbacks": 3, "session_fallbacks": 2}}, SOURCE)
    assert problem.severity == "warning"
    EscalationConfig.from_mapping({"unresolved": {"consecutive_fallbacks": 3,
                                                  "session_fallbacks": 2}})  # no raise
    problems = validate_escalation_section(
        {"frustration": {"threshold": 0.4, "mild_threshold": 0.5}}, SOURCE)
    assert problems and "mild_threshold" in problems[0].message


def test_from_mapping_raises_project_error_with_every_problem():
    with pytest.raises(ProjectError) as info:
        EscalationConfig.from_mapping({"unresolvd": {}, "loop": {"window": -1}}, SOURCE)
    assert len(info.value.errors) == 2
    assert "did you mean `unresolved`?" in str(info.value)


# ------------------------------------------------------------------ lexicons and phrases
def test_every_language_ships_every_kind_of_cue():
    for language in LANGUAGES:
        lexicon = load_lexicon((language,))
        assert lexicon.handoff.anywhere and lexicon.handoff.short_message, language
        assert lexicon.negative_feedback.anywhere, language
        assert lexicon.affirm.short_message and lexicon.deny.short_message, language
        assert lexicon.profanity and lexicon.insults and lexicon.negative_words, language
        for phrase in (*lexicon.handoff.anywhere, *lexicon.insults, *lexicon.profanity):
            Phrase.compile(phrase)


@pytest.mark.parametrize("phrase,text,hit", [
    ("talk to human", "I want to talk to a human", True),  # one word between
    ("talk to human", "talk to them about a human", False),  # two words between
    ("оператор", "соедините с оператором", True),  # inflection
    ("позов* менеджер*", "Позовите, пожалуйста, менеджера!", True),
    ("agent", "agency", False),
    ("=person", "personal", False),
    ("не то", "не того", False),  # short words match exactly
    ("օպերատոր", "օպերատո՞ր", True),  # Armenian question mark inside the word
    ("didnt help", "That didn’t help", True),  # curly apostrophe
    ("жив* человек*", "ЖИВОГО ЧЕЛОВЕКА", True),
])
def test_phrase_matching(phrase, text, hit):
    assert (PhraseSet([phrase]).first(text) is not None) == hit


def test_short_message_cues_need_a_short_message():
    cues = PhraseSet((), ["agent"])
    assert cues.first("agent please") == "agent"
    assert cues.first("the agent was rude when he brought it") is None
    assert words("Ёлка, NW-123") == ["елка", "nw", "123"]
