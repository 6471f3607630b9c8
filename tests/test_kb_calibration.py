"""Calibration heads: margins, the constrained MAP fit, per-script heads, JSON round trip."""
from __future__ import annotations

import numpy as np

from supportbot.kb.calibration import (
    NON_LATIN,
    Calibrator,
    Logistic,
    Trial,
    default_heads,
    margins,
)


def test_margins_compare_each_candidate_with_the_best_other():
    assert np.allclose(margins(np.array([0.2, 0.9, 0.5])), [-0.7, 0.4, -0.4])
    assert np.allclose(margins(np.array([0.6])), [0.6])
    assert np.allclose(margins(np.array([0.5, 0.5])), [0.0, 0.0])


def test_refit_recovers_a_logistic_relation_and_keeps_weights_non_negative():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4000, 2))
    p = 1 / (1 + np.exp(-(-3.0 + 6.0 * x[:, 0])))  # the second feature carries nothing
    y = (rng.uniform(size=4000) < p).astype(float)
    y[x[:, 1] > 0.9] = 0.0  # ... except that it is *negatively* related in a corner
    fitted = Logistic(("a", "b"), (1.0, 1.0), 0.0).refit(x, y, np.ones(len(y)))
    assert abs(fitted.weights[0] - 6.0) < 1.0 and abs(fitted.intercept + 3.0) < 0.8
    assert fitted.weights[1] == 0.0  # clipped: a closer match never scores lower
    probs = fitted(np.array([[0.2, 0.5], [0.8, 0.5]]))
    assert probs[0] < 0.5 < probs[1]


def _trials(script: str, n: int, rng: np.random.Generator) -> list[Trial]:
    """Searches where the right entry (row 0) has a higher second feature than the others."""
    trials = []
    for _ in range(n):
        feats = rng.uniform(0, 0.5, size=(5, 4))
        feats[0, 3] += 0.5
        trials.append(Trial(feats, 0, 1.0, "loo", script, feats.sum(axis=1)))
    return trials


def test_fit_gives_scripts_with_enough_questions_their_own_heads():
    rng = np.random.default_rng(1)
    trials = _trials("latin", 60, rng) + _trials("cyrillic", 40, rng) + _trials("armenian", 5, rng)
    cal = Calibrator.fit(trials, has_dense=True)
    assert set(cal.by_script) == {NON_LATIN, "cyrillic"}
    assert cal.heads("armenian") is cal.by_script[NON_LATIN]
    assert cal.heads("latin") is cal.pooled and cal.heads(None) is cal.pooled
    assert cal.stats["loo_queries"] == 105 and cal.stats["loo_top1"] > 0.9
    assert Calibrator.from_json(cal.to_json()) == cal


def test_default_heads_ignore_dense_features_for_non_latin_questions():
    latin, other = default_heads(True, "latin"), default_heads(True, NON_LATIN)
    assert latin.relevance.weights[0] > 0
    assert other.relevance.weights[:2] == (0.0, 0.0) and other.score.weights[:2] == (0.0, 0.0)
    feats = np.array([[0.9, 0.9, 0.0, 0.0]])  # "similar" only by embedding
    assert other.predict(feats)[0][0] < latin.predict(feats)[0][0]
