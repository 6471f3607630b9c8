"""decide(): answer / clarify / none rules, and the clarification buttons."""
from __future__ import annotations

from supportbot.kb import (
    KBHit,
    clarification_buttons,
    decide,
    entry_id_from_payload,
    faq_payload,
)
from supportbot.project.types import Button, KBAnswer, KBEntry, KBSettings

SETTINGS = KBSettings(threshold=0.55, clarify_margin=0.05, max_clarify_options=3)


def hit(entry_id: str, score: float, relevance: float | None = None) -> KBHit:
    return KBHit(entry_id, score, score if relevance is None else relevance, "q", 0.0, 0.0)


def test_confident_and_clearly_ahead_is_answered():
    decision = decide([hit("a", 0.9), hit("b", 0.1)], SETTINGS)
    assert (decision.kind, decision.entry_id) == ("answer", "a")
    assert decision.score == 0.9 and decision.scores[0] == ("a", 0.9)


def test_answer_when_second_is_plausible_but_far_behind():
    assert decide([hit("a", 0.9), hit("b", 0.4)], SETTINGS).kind == "answer"


def test_top_two_within_margin_ask_which_one():
    decision = decide([hit("a", 0.62), hit("b", 0.60), hit("c", 0.05)], SETTINGS)
    assert decision.kind == "clarify" and decision.candidates == ("a", "b")
    assert "a 0.62" in decision.reason


def test_unconfident_top_with_two_relevant_entries_asks():
    # near-duplicates: each has a low score (the other is as close) but a high relevance
    decision = decide([hit("a", 0.2, 0.8), hit("b", 0.18, 0.75), hit("c", 0.01, 0.1)], SETTINGS)
    assert decision.kind == "clarify" and decision.candidates == ("a", "b")


def test_clarify_options_are_capped():
    hits = [hit(x, 0.3, 0.7) for x in "abcde"]
    assert decide(hits, SETTINGS).candidates == ("a", "b", "c")


def test_single_unconfident_candidate_or_nothing_gives_none():
    assert decide([hit("a", 0.4, 0.5), hit("b", 0.1)], SETTINGS).kind == "none"
    assert decide([], SETTINGS).kind == "none"
    assert decide([hit("a", 0.54)], SETTINGS).kind == "none"


def test_threshold_comes_from_settings():
    hits = [hit("a", 0.5), hit("b", 0.0)]
    assert decide(hits, SETTINGS).kind == "none"
    assert decide(hits, KBSettings(threshold=0.45)).entry_id == "a"


ENTRIES = [
    KBEntry("card", ("How do I block my card?", "Как заблокировать карту?",
                     "Картамды кантип бөгөттөйм?", "Ինչպե՞ս արգելափակել քարտը"), KBAnswer("x")),
    KBEntry("hours", ("When are you open?",), KBAnswer("y")),
]


def test_buttons_use_the_question_in_the_users_language():
    def titles(language):
        return [b.title for b in clarification_buttons(ENTRIES, ["card", "hours"], language)]

    assert titles("ru") == ["Как заблокировать карту?", "When are you open?"]
    assert titles("ky") == ["Картамды кантип бөгөттөйм?", "When are you open?"]
    assert titles("hy") == ["Ինչպե՞ս արգելափակել քարտը", "When are you open?"]
    assert titles("en") == titles(None) == ["How do I block my card?", "When are you open?"]


def test_buttons_select_entries_directly():
    buttons = clarification_buttons({e.id: e for e in ENTRIES}, ["hours", "gone"], "en")
    assert buttons == (Button("When are you open?", "/faq/hours"),)
    assert entry_id_from_payload(buttons[0].payload) == "hours"
    assert faq_payload("card") == "/faq/card"
    assert entry_id_from_payload("/faq/") is None and entry_id_from_payload("hello") is None
