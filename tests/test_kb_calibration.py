"""Calibration heads: margins, the constrained MAP fit, per-script heads, JSON round trip."""
from __future__ import annotations

import numpy as np

from supportbot.kb.calibration import (
    MIN_AUTO_THRESHOLD,
    NON_LATIN,
    PRIOR_THRESHOLD,
    Calibrator,
    Logistic,
    Trial,
    default_heads,
    feature_names,
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
    """Searches where the right entry (row 0) has a higher fourth feature than the others."""
    trials = []
    for _ in range(n):
        feats = rng.uniform(0, 0.5, size=(5, len(feature_names(True))))
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
    names = feature_names(True)
    dense = [names.index(f) for f in ("dense", "dense2", "a_dense", "e_dense")]
    for shape in ("one", "several"):
        latin = default_heads(True, "latin", shape)
        other = default_heads(True, NON_LATIN, shape)
        assert latin.relevance.weights[0] > 0
        assert all(other.relevance.weights[i] == 0.0 and other.score.weights[i] == 0.0
                   for i in dense)
        feats = np.zeros((1, len(names)))
        feats[0, dense] = 0.9  # "similar" only by embedding
        assert other.predict(feats)[0][0] < latin.predict(feats)[0][0]


def test_single_question_priors_lean_on_the_answer_and_keep_word_matches():
    names = feature_names(True)
    one = dict(zip(names, default_heads(True, "latin", "one").relevance.weights))
    several = dict(zip(names, default_heads(True, "latin", "several").relevance.weights))
    assert one["a_dense"] + one["e_dense"] > one["dense"] + one["dense2"]
    assert one["bm25"] > 0 and one["a_bm25"] > 0  # word matches are never switched off
    assert several["a_dense"] == several["e_dense"] == 0.0


def test_precise_threshold_is_the_lowest_reaching_the_target_and_bounded():
    rng = np.random.default_rng(3)
    cal = Calibrator.fit(_trials("latin", 200, rng), has_dense=True)
    assert MIN_AUTO_THRESHOLD <= cal.threshold <= PRIOR_THRESHOLD
    assert cal.stats["threshold"]["value"] == cal.threshold
    assert Calibrator.from_json(cal.to_json()).threshold == cal.threshold
    assert Calibrator.default(True).threshold == PRIOR_THRESHOLD
