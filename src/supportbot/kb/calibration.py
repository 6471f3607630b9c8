"""Turning per-entry similarity features into calibrated probabilities.

Features of a candidate entry for a query (similarities are maxima over the entry's phrasings):

* `dense`  cosine of sentence embeddings (absent when the index has no encoder),
* `dense2` mean of the entry's two best cosines (= `dense` for one-question entries): an entry
  that several phrasings support is more likely right than one lucky phrasing,
* `bm25`   normalised BM25 of the words (see `lexical.Bm25`),
* `char`   character n-gram tf-idf cosine,
* `margin` the entry's raw blend (`RAW_WEIGHTS`) minus the best raw blend of any *other* entry;
  positive only for the leading candidate, and near zero when two entries look alike.

Two logistic heads map the features to probabilities:

* **score** (all features): the probability that this entry is *the* right answer. Because it
  sees the margin, it is low when another entry is about as close.
* **relevance** (all but `margin`): the probability that the entry is right judging by its own
  similarity alone; two near-duplicate entries both get a high relevance. Used to decide which
  entries are worth offering in a "did you mean" question.

Both are fitted on the knowledge base itself. Leave-one-phrasing-out: every phrasing (up to
`MAX_FIT_QUERIES`) is searched against the index without it; its own entry's features are a
positive example, the other leading candidates (`NEGATIVES_PER_QUERY`) negatives. Leave-one-entry-
out: the same phrasing is searched again without any phrasing of its entry, so every candidate is
a negative; these rows have weight `UNCOVERED_WEIGHT` (0.25, i.e. about one question in five is
assumed not to be covered by the KB). The score therefore estimates *the probability that this
entry is the right answer to a new phrasing, when about 20% of questions have no answer in the
KB*. The fit is a maximum a posteriori logistic regression whose prior is centred on
`DEFAULT_WEIGHTS`, so a small KB stays near the defaults; with fewer than `MIN_FIT_ENTRIES`
entries with 2+ phrasings (or `MIN_FIT_POSITIVES` such phrasings) the defaults are used as they
are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PHRASING_FEATURES = ("dense", "bm25", "char")  # measured per phrasing, entry = max
DENSE_FEATURES = ("dense", "dense2", "bm25", "char", "margin")
LEXICAL_FEATURES = ("bm25", "char", "margin")

# Raw blend used for ranking candidates before calibration and for the `margin` feature.
RAW_WEIGHTS: dict[bool, dict[str, float]] = {
    True: {"dense": 0.6, "bm25": 0.15, "char": 0.25},
    False: {"bm25": 0.4, "char": 0.6},
}

# Fixed logistic weights (intercept, per-feature weights) for KBs too small to fit, keyed by
# "has dense features". Rounded from unregularised fits on CLINC150 and BANKING77 KBs of 5
# phrasings per entry (benchmarks/bench_kb.py), kept non-negative and on the cautious side.
DEFAULT_WEIGHTS: dict[bool, tuple[float, dict[str, float]]] = {
    True: (-4.5, {"dense": 1.0, "dense2": 5.0, "bm25": 0.5, "char": 0.5, "margin": 11.0}),
    False: (-2.2, {"bm25": 0.3, "char": 2.5, "margin": 7.5}),
}
DEFAULT_RELEVANCE_WEIGHTS: dict[bool, tuple[float, dict[str, float]]] = {
    True: (-8.5, {"dense": 4.0, "dense2": 5.5, "bm25": 0.5, "char": 2.5}),
    False: (-4.6, {"bm25": 0.3, "char": 7.5}),
}

MIN_FIT_ENTRIES = 5  # entries with 2+ phrasings needed to fit
MIN_FIT_POSITIVES = 20  # leave-one-out queries whose entry keeps another phrasing
MAX_FIT_QUERIES = 1000  # leave-one-out queries at most (a seeded sample beyond that)
UNCOVERED_WEIGHT = 0.25  # weight of leave-one-entry-out rows (questions the KB lacks)
NEGATIVES_PER_QUERY = 4  # other leading candidates used as negatives
PRIOR_PRECISION = 0.3  # pull towards the default weights (1 / prior variance)


def feature_names(has_dense: bool) -> tuple[str, ...]:
    """The calibration features, in column order, with or without dense embeddings."""
    return DENSE_FEATURES if has_dense else LEXICAL_FEATURES


@dataclass(frozen=True)
class Logistic:
    """p = sigmoid(intercept + weights . x) over the named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return np.zeros(x.shape[0], dtype=np.float32)
        z = x[:, :len(self.weights)] @ np.asarray(self.weights, dtype=np.float64) + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    @classmethod
    def from_defaults(cls, names: Sequence[str], default: tuple[float, dict[str, float]]
                      ) -> Logistic:
        intercept, weights = default
        return cls(tuple(names), tuple(weights[n] for n in names), intercept)

    def refit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> Logistic:
        """Maximum a posteriori fit with a Gaussian prior centred on these weights."""
        from scipy.optimize import minimize

        w0 = np.asarray((self.intercept, *self.weights), dtype=np.float64)
        xa = np.column_stack([np.ones(len(x)), x[:, :len(self.weights)]])
        yf = np.asarray(y, dtype=np.float64)

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = xa @ w
            p = 1.0 / (1.0 + np.exp(-z))
            diff = w - w0
            nll = float(np.sum(sample_weight * (np.logaddexp(0.0, z) - yf * z)))
            grad = xa.T @ (sample_weight * (p - yf)) + PRIOR_PRECISION * diff
            return nll + 0.5 * PRIOR_PRECISION * float(diff @ diff), grad

        w = minimize(loss, w0, jac=True, method="L-BFGS-B").x
        return Logistic(self.features, tuple(float(v) for v in w[1:]), float(w[0]))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": list(self.weights),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Logistic:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]),
                   float(data["intercept"]))


@dataclass(frozen=True)
class Calibrator:
    """The score and relevance heads; `source` is "fitted" or "default"."""

    score_head: Logistic
    relevance_head: Logistic
    source: str
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        return self.score_head.features

    @classmethod
    def default(cls, has_dense: bool, reason: str = "") -> Calibrator:
        names = feature_names(has_dense)
        return cls(Logistic.from_defaults(names, DEFAULT_WEIGHTS[has_dense]),
                   Logistic.from_defaults(names[:-1], DEFAULT_RELEVANCE_WEIGHTS[has_dense]),
                   "default", {"reason": reason} if reason else {})

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, groups: np.ndarray, has_dense: bool,
            sample_weight: np.ndarray | None = None,
            stats: Mapping[str, Any] | None = None) -> Calibrator:
        """Fit both heads on rows `x` (features), labels `y` (1 = right entry) and `groups`
        (one id per search; used for the reported leave-one-out statistics)."""
        prior = cls.default(has_dense)
        sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        fitted = cls(prior.score_head.refit(x, y, sw), prior.relevance_head.refit(x, y, sw),
                     "fitted")
        return cls(fitted.score_head, fitted.relevance_head, "fitted",
                   {**(stats or {}), **fitted.evaluate(x, y, groups)})

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Probability that each row's entry is the right answer."""
        return self.score_head(x)

    def relevance(self, x: np.ndarray) -> np.ndarray:
        """Probability that each row's entry is right judging by its own similarity."""
        return self.relevance_head(x)

    def evaluate(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, float]:
        """Leave-one-out top-1 accuracy, mean top score and Brier score of the top candidate
        (over searches whose right entry was still in the index)."""
        p = self.scores(x).astype(np.float64)
        order = np.lexsort((-p, groups))
        g = groups[order]
        first = order[np.concatenate([[True], g[1:] != g[:-1]])]
        ids, inverse = np.unique(groups, return_inverse=True)
        has_positive = np.zeros(len(ids))
        np.maximum.at(has_positive, inverse, y)
        top = first[has_positive[inverse[first]] > 0]
        if not len(top):
            return {"loo_queries": 0}
        tp, ty = p[top], y[top].astype(np.float64)
        return {"loo_queries": len(top), "loo_top1": round(float(ty.mean()), 4),
                "loo_mean_top_score": round(float(tp.mean()), 4),
                "loo_brier_top": round(float(np.mean((tp - ty) ** 2)), 4)}

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "score": self.score_head.to_json(),
                "relevance": self.relevance_head.to_json(), "stats": dict(self.stats)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(Logistic.from_json(data["score"]), Logistic.from_json(data["relevance"]),
                   str(data["source"]), dict(data.get("stats", {})))
