"""When a message counts as not understood, and how the confidence threshold is chosen.

Semantics follow Rasa's FallbackClassifier: fallback when the top confidence is below
`threshold` (per-intent overrides allowed) or when the top two are closer than
`ambiguity_threshold`. supportbot adds one case: the top intent is the out-of-scope intent.

When no threshold is configured it is tuned on out-of-fold predictions (see `tune_threshold`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LOW_CONFIDENCE = "low_confidence"
AMBIGUOUS = "ambiguous"
OUT_OF_SCOPE = "out_of_scope"
DEFAULT_THRESHOLD = 0.3  # Rasa's default, used when the data give no evidence either way


@dataclass(frozen=True)
class FallbackPolicy:
    """Decides from a ranking whether a message falls back, and why."""

    threshold: float
    ambiguity_threshold: float = 0.1
    per_intent: Mapping[str, float] = field(default_factory=dict)
    out_of_scope_intent: str | None = "out_of_scope"

    def threshold_for(self, intent: str) -> float:
        return float(self.per_intent.get(intent, self.threshold))

    def decide(self, ranking: Sequence[tuple[str, float]]) -> str | None:
        """The fallback reason for a ranking sorted best first, or None when it is understood."""
        if not ranking:
            return LOW_CONFIDENCE
        top_intent, top = ranking[0]
        if self.out_of_scope_intent is not None and top_intent == self.out_of_scope_intent:
            return OUT_OF_SCOPE
        if top < self.threshold_for(top_intent):
            return LOW_CONFIDENCE
        second = ranking[1][1] if len(ranking) > 1 else 0.0
        if top - second < self.ambiguity_threshold:
            return AMBIGUOUS
        return None


@dataclass(frozen=True)
class ThresholdChoice:
    """The tuned threshold and what it does on the out-of-fold predictions."""

    threshold: float
    criterion: str
    in_scope_accuracy: float  # correct and not fallen back, over in-scope examples
    fallback_rate: float  # over in-scope examples
    out_of_scope_recall: float | None  # fallen back, over out-of-scope examples
    error_rejection: float | None  # wrong predictions that fell back, over wrong predictions


def tune_threshold(probs: np.ndarray, y: np.ndarray, classes: Sequence[str],
                   ambiguity_threshold: float, per_intent: Mapping[str, float] | None = None,
                   oos_index: int | None = None) -> ThresholdChoice:
    """Choose the global threshold from out-of-fold probabilities `probs` and true labels `y`.

    It maximises correct answers kept minus wrong answers kept over the in-scope examples (a
    wrong answer costs what a right one gains: "answer when more likely right than wrong"),
    plus, when the data have out-of-scope examples, the out-of-scope recall (a rate, so it
    weighs as much as the in-scope part however few out-of-scope examples there are). With
    neither wrong nor out-of-scope examples it keeps `DEFAULT_THRESHOLD`, unless the data are
    so sparse that this would reject 5% of correct predictions.
    """
    per_intent = dict(per_intent or {})
    n = len(y)
    if n == 0:
        return ThresholdChoice(DEFAULT_THRESHOLD, "default (no data)", 0.0, 0.0, None, None)
    order = np.argsort(-probs, axis=1)
    pred = order[:, 0]
    top = probs[np.arange(n), pred]
    second = probs[np.arange(n), order[:, 1]] if probs.shape[1] > 1 else np.zeros(n)
    is_oos = (y == oos_index) if oos_index is not None else np.zeros(n, bool)
    # what the global threshold cannot change
    blocked = (top - second < ambiguity_threshold)
    if oos_index is not None:
        blocked |= pred == oos_index
    override = np.full(n, np.nan)
    for name, value in per_intent.items():
        if name in classes:
            override[pred == list(classes).index(name)] = value
    has_override = ~np.isnan(override)
    blocked |= has_override & (top < np.nan_to_num(override))
    free = ~blocked & ~has_override  # fate decided by the global threshold
    correct = (pred == y) & ~is_oos
    in_scope = ~is_oos
    wrong = in_scope & ~correct

    def stats(t: float) -> tuple[float, float, float | None, float | None]:
        accepted = ~blocked & (has_override | (top >= t))
        acc = float((accepted & correct).sum() / max(in_scope.sum(), 1))
        fb = float((~accepted & in_scope).sum() / max(in_scope.sum(), 1))
        rec = float((~accepted & is_oos).sum() / is_oos.sum()) if is_oos.any() else None
        rej = float((~accepted & wrong).sum() / wrong.sum()) if wrong.any() else None
        return acc, fb, rec, rej

    cand = np.unique(np.concatenate([[0.0], top[free]]))
    if not is_oos.any() and not wrong.any():
        qs = float(np.quantile(top[correct], 0.05)) if correct.any() else DEFAULT_THRESHOLD
        t = min(DEFAULT_THRESHOLD, qs)
        return ThresholdChoice(round(t, 4), "default (no wrong or out-of-scope examples)",
                               *stats(t))

    def kept_counts(mask: np.ndarray) -> np.ndarray:
        """How many of `mask` are answered (not fallen back) at each candidate threshold."""
        base = (mask & ~blocked & has_override).sum()
        vals = np.sort(top[mask & free])
        return base + (len(vals) - np.searchsorted(vals, cand, side="left"))

    # a wrong answer costs what a right one gains; out-of-scope recall counts as a rate
    score = (kept_counts(correct) - kept_counts(wrong)) / max(in_scope.sum(), 1)
    if is_oos.any():
        criterion = "correct - wrong answers (in scope) + out-of-scope recall"
        score = score - kept_counts(is_oos) / is_oos.sum()
    else:
        criterion = "correct answers kept - wrong answers kept"
    best = np.flatnonzero(score >= score.max() - 1e-12)
    i = int(best[len(best) // 2])
    # sit between the chosen candidate and the one below it, not on an observed value
    t = float(cand[i]) if i == 0 else float((cand[i] + cand[i - 1]) / 2)
    t = float(min(max(t, 0.0), 0.99))
    return ThresholdChoice(round(t, 4), criterion, *stats(t))
