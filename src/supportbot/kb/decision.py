"""What to do with KB hits: answer, ask "did you mean…", or nothing.

Rules. `score` is the calibrated probability that an entry is *the* answer; `relevance` the
probability judged by the entry's own similarity (see `supportbot.kb.calibration`);
`threshold` is `settings.threshold`, or when that is `auto` (None) the threshold the index's
calibration chose for precision (carried by the hits, `KBHit.threshold`); `floor` is
`threshold * CLARIFY_FLOOR_RATIO` (0.6), the least worth offering as an option.

1. `answer` the top entry when its score >= `threshold` and it is clearly ahead: the
   second score is below `floor` or at least `settings.clarify_margin` lower, and so is the
   best relevance of any other entry (two entries the KB cannot tell apart are never
   answered by a guess).
2. `clarify` otherwise, when two or more entries have relevance >= `floor`: offer them, best
   score first, at most `settings.max_clarify_options`. This covers a top entry that is not
   confident because a near-duplicate entry is just as close, and a top two within the margin.
3. `none` otherwise.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from supportbot.kb.calibration import CLARIFY_FLOOR_RATIO, PRIOR_THRESHOLD
from supportbot.kb.index import KBHit
from supportbot.kb.text import language_fit
from supportbot.project.types import Button, KBEntry, KBSettings

FAQ_PAYLOAD_PREFIX = "/faq/"

DecisionKind = Literal["answer", "clarify", "none"]


@dataclass(frozen=True)
class KBDecision:
    """The KB's verdict for one message, with the scores and a human-readable reason."""

    kind: DecisionKind
    entry_id: str | None = None  # set for "answer"
    candidates: tuple[str, ...] = ()  # set for "clarify", best first
    score: float = 0.0  # top score
    scores: tuple[tuple[str, float], ...] = ()  # (entry id, score) of the hits considered
    reason: str = ""


def decide(hits: Sequence[KBHit], settings: KBSettings) -> KBDecision:
    """Apply the module's answer / clarify / none rules to `hits` (best first)."""
    scores = tuple((h.entry_id, round(h.score, 4)) for h in hits)
    if not hits:
        return KBDecision("none", reason="no FAQ entry matched")
    top = hits[0]
    threshold = answer_threshold(hits, settings)
    second = hits[1].score if len(hits) > 1 else 0.0
    floor = threshold * CLARIFY_FLOOR_RATIO
    rival = max((h.relevance for h in hits[1:]), default=0.0)
    told_apart = rival < floor or top.relevance - rival >= settings.clarify_margin
    if top.score >= threshold and told_apart and (
            second < floor or top.score - second >= settings.clarify_margin):
        return KBDecision("answer", top.entry_id, score=top.score, scores=scores,
                          reason=f"FAQ {top.entry_id!r} scored {top.score:.2f} "
                                 f"(threshold {threshold:.2f}, next {second:.2f})")
    plausible = [h for h in hits if h.relevance >= floor][: max(settings.max_clarify_options, 2)]
    if len(plausible) >= 2:
        listed = ", ".join(f"{h.entry_id} {h.score:.2f}/{h.relevance:.2f}" for h in plausible)
        return KBDecision("clarify", candidates=tuple(h.entry_id for h in plausible),
                          score=top.score, scores=scores,
                          reason=f"several FAQ entries are plausible (score/relevance: "
                                 f"{listed}); asking which one is meant")
    return KBDecision("none", score=top.score, scores=scores,
                      reason=f"best FAQ {top.entry_id!r} scored {top.score:.2f}, below the "
                             f"threshold {threshold:.2f}")


def answer_threshold(hits: Sequence[KBHit], settings: KBSettings) -> float:
    """`settings.threshold`, or for `auto` (None) the calibrated threshold the hits carry
    (the documented prior when they carry none)."""
    if settings.threshold is not None:
        return settings.threshold
    for hit in hits:
        if hit.threshold is not None:
            return hit.threshold
    return PRIOR_THRESHOLD


def clarification_buttons(entries: Iterable[KBEntry] | Mapping[str, KBEntry],
                          candidate_ids: Sequence[str], language: str | None) -> tuple[Button, ...]:
    """One button per candidate entry: its first question in `language` (judged by script,
    Kyrgyz-only letters separating Kyrgyz from Russian) or else its first question; the
    payload `/faq/<id>` selects the entry directly."""
    by_id = dict(entries) if isinstance(entries, Mapping) else {e.id: e for e in entries}
    buttons = []
    for entry_id in candidate_ids:
        entry = by_id.get(entry_id)
        if entry is None or not entry.questions:
            continue
        fits = [language_fit(q, language) for q in entry.questions]
        best = max(range(len(fits)), key=lambda i: (fits[i], -i))
        buttons.append(Button(title=entry.questions[best], payload=faq_payload(entry_id)))
    return tuple(buttons)


def faq_payload(entry_id: str) -> str:
    """The button payload that selects FAQ entry `entry_id`."""
    return FAQ_PAYLOAD_PREFIX + entry_id


def entry_id_from_payload(text: str) -> str | None:
    """The entry id when `text` is a `/faq/<id>` payload, else None."""
    text = text.strip()
    if text.startswith(FAQ_PAYLOAD_PREFIX) and len(text) > len(FAQ_PAYLOAD_PREFIX):
        return text[len(FAQ_PAYLOAD_PREFIX):]
    return None
