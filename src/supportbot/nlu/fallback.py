"""When a message counts as not understood, and how the confidence threshold is chosen.

Semantics follow Rasa's FallbackClassifier: fallback when the top confidence is below
`threshold` (per-intent overrides allowed) or when the top two are closer than
`ambiguity_threshold`. supportbot adds two cases: the top intent is the out-of-scope intent, and
the message is unlike every training example (familiarity below `familiarity_threshold`, see
`supportbot.nlu.familiarity`).

Thresholds not configured are tuned on out-of-fold predictions (see `tune_threshold`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LOW_CONFIDENCE = "low_confidence"
AMBIGUOUS = "ambiguous"
OUT_OF_SCOPE = "out_of_scope"
UNFAMILIAR = "unfamiliar"
DEFAULT_THRESHOLD = 0.3  # Rasa's default, used when the data give no evidence either way
# with familiarity "auto", a message less familiar than 99% of the correctly classified training
# examples are (out of fold) falls back even when the data hold no example of such messages
# (keyboard mashes, unrelated topics): novelty is judged against the training data themselves
NOVELTY_QUANTILE = 0.01
FAMILIARITY_LEVELS = 51  # candidate familiarity thresholds: quantiles 0, 1, ..., 50% of the data
# a familiarity threshold must improve the cross-validated objective by this much to be used:
# on a flat objective, noise alone would otherwise pick one
FAMILIARITY_MIN_GAIN = 0.002


@dataclass(frozen=True)
class FallbackPolicy:
    """Decides from a ranking whether a message falls back, and why."""

    threshold: float
    ambiguity_threshold: float = 0.1
    per_intent: Mapping[str, float] = field(default_factory=dict)
    out_of_scope_intent: str | None = "out_of_scope"
    familiarity_threshold: float = 0.0

    def threshold_for(self, intent: str) -> float:
        return float(self.per_intent.get(intent, self.threshold))

    def decide(self, ranking: Sequence[tuple[str, float]],
               familiarity: float | None = None) -> str | None:
        """The fallback reason for a ranking sorted best first (and the message's familiarity,
        when known), or None when it is understood."""
        if not ranking:
            return LOW_CONFIDENCE
        top_intent, top = ranking[0]
        if self.out_of_scope_intent is not None and top_intent == self.out_of_scope_intent:
            return OUT_OF_SCOPE
        if familiarity is not None and familiarity < self.familiarity_threshold:
            return UNFAMILIAR
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
    familiarity_threshold: float  # 0: not used
    in_scope_accuracy: float  # correct and not fallen back, over in-scope examples
    fallback_rate: float  # over in-scope examples
    out_of_scope_recall: float | None  # fallen back, over out-of-scope examples
    error_rejection: float | None  # wrong predictions that fell back, over wrong predictions


def tune_threshold(probs: np.ndarray, y: np.ndarray, classes: Sequence[str],
                   ambiguity_threshold: float, per_intent: Mapping[str, float] | None = None,
                   oos_index: int | None = None, familiarity: np.ndarray | None = None,
                   threshold: float | None = None,
                   familiarity_threshold: float | None = None) -> ThresholdChoice:
    """Choose the thresholds from out-of-fold probabilities `probs`, true labels `y` and
    (optionally) out-of-fold `familiarity`; a `threshold` / `familiarity_threshold` given is
    kept as it is and only the other one is tuned.

    The choice maximises correct answers kept minus wrong answers kept over the in-scope
    examples (a wrong answer costs what a right one gains: "answer when more likely right than
    wrong"), plus, when the data have out-of-scope examples, the out-of-scope recall (a rate, so
    it weighs as much as the in-scope part however few out-of-scope examples there are).
    The familiarity threshold starts at the NOVELTY_QUANTILE of the correctly classified
    examples' familiarity and moves higher only when that improves the objective by
    FAMILIARITY_MIN_GAIN. With neither wrong nor out-of-scope examples the confidence threshold
    is `DEFAULT_THRESHOLD` (unless the data are so sparse that this would reject 5% of correct
    predictions).
    """
    per_intent = dict(per_intent or {})
    n = len(y)
    if n == 0:
        return ThresholdChoice(DEFAULT_THRESHOLD if threshold is None else threshold,
                               "default (no data)", familiarity_threshold or 0.0,
                               0.0, 0.0, None, None)
    order = np.argsort(-probs, axis=1)
    pred = order[:, 0]
    top = probs[np.arange(n), pred]
    second = probs[np.arange(n), order[:, 1]] if probs.shape[1] > 1 else np.zeros(n)
    is_oos = (y == oos_index) if oos_index is not None else np.zeros(n, bool)
    # what neither threshold can change
    fixed_block = (top - second < ambiguity_threshold)
    if oos_index is not None:
        fixed_block |= pred == oos_index
    override = np.full(n, np.nan)
    for name, value in per_intent.items():
        if name in classes:
            override[pred == list(classes).index(name)] = value
    has_override = ~np.isnan(override)
    fixed_block |= has_override & (top < np.nan_to_num(override))
    correct = (pred == y) & ~is_oos
    in_scope = ~is_oos
    wrong = in_scope & ~correct
    fam = np.ones(n) if familiarity is None else np.asarray(familiarity, dtype=np.float64)

    def stats(t: float, u: float) -> tuple[float, float, float | None, float | None]:
        accepted = ~fixed_block & (fam >= u) & (has_override | (top >= t))
        acc = float((accepted & correct).sum() / max(in_scope.sum(), 1))
        fb = float((~accepted & in_scope).sum() / max(in_scope.sum(), 1))
        rec = float((~accepted & is_oos).sum() / is_oos.sum()) if is_oos.any() else None
        rej = float((~accepted & wrong).sum() / wrong.sum()) if wrong.any() else None
        return acc, fb, rec, rej

    floor = 0.0
    if familiarity is not None and familiarity_threshold is None and correct.any():
        q = float(np.quantile(fam[correct], NOVELTY_QUANTILE, method="lower"))
        below = fam[fam < q]
        floor = round(float((q + below.max()) / 2) if below.size else q, 4)
    if not is_oos.any() and not wrong.any():
        if threshold is None:
            qs = float(np.quantile(top[correct], 0.05)) if correct.any() else DEFAULT_THRESHOLD
            threshold = round(min(DEFAULT_THRESHOLD, qs), 4)
        u = floor if familiarity_threshold is None else familiarity_threshold
        return ThresholdChoice(threshold, "default (no wrong or out-of-scope examples)", u,
                               *stats(threshold, u))

    if is_oos.any():
        criterion = "correct - wrong answers (in scope) + out-of-scope recall"
    else:
        criterion = "correct answers kept - wrong answers kept"

    def best_for(u: float) -> tuple[float, float]:
        """(objective, confidence threshold) at familiarity threshold `u`."""
        blocked = fixed_block | (fam < u)
        free = ~blocked & ~has_override  # fate decided by the confidence threshold
        cand = (np.array([threshold]) if threshold is not None
                else np.unique(np.concatenate([[0.0], top[free]])))

        def kept_counts(mask: np.ndarray) -> np.ndarray:
            """How many of `mask` are answered (not fallen back) at each candidate threshold."""
            base = (mask & ~blocked & has_override).sum()
            vals = np.sort(top[mask & free])
            return base + (len(vals) - np.searchsorted(vals, cand, side="left"))

        score = (kept_counts(correct) - kept_counts(wrong)) / max(in_scope.sum(), 1)
        if is_oos.any():
            score = score - kept_counts(is_oos) / is_oos.sum()
        if threshold is not None:
            return float(score[0]), float(threshold)
        best = np.flatnonzero(score >= score.max() - 1e-12)
        i = int(best[len(best) // 2])
        # sit between the chosen candidate and the one below it, not on an observed value
        t = float(cand[i]) if i == 0 else float((cand[i] + cand[i - 1]) / 2)
        return float(score.max()), round(float(min(max(t, 0.0), 0.99)), 4)

    if familiarity_threshold is not None or familiarity is None:
        u = familiarity_threshold or 0.0
        _, t = best_for(u)
        return ThresholdChoice(t, criterion, u, *stats(t, u))
    base_score, base_t = best_for(floor)
    best_u, best_t, best_score = floor, base_t, base_score + FAMILIARITY_MIN_GAIN
    levels = np.unique(np.quantile(fam, np.linspace(0.0, 0.5, FAMILIARITY_LEVELS)))
    for u in levels[levels > floor]:
        # halfway to the next lower familiarity value: no example sits on the threshold
        below = fam[fam < u]
        u_mid = float((u + below.max()) / 2) if below.size else float(u)
        score, t = best_for(u_mid)
        if score > best_score + 1e-12:
            best_u, best_t, best_score = round(u_mid, 4), t, score
    return ThresholdChoice(best_t, criterion, best_u, *stats(best_t, best_u))
