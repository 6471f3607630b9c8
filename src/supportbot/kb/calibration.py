"""Turning per-entry similarity features into calibrated probabilities.

Similarity features of a candidate entry for a query:

* question side (maxima over the entry's phrasings): `dense` (sentence-embedding cosine; absent
  without an encoder), `dense2` (mean of the two best cosines: an entry that several phrasings
  support is more likely right than one lucky phrasing), `bm25` (normalised BM25 of the words,
  see `lexical.Bm25`), `char` (character n-gram tf-idf cosine);
* answer side (`supportbot.kb.answers`): `a_dense` (best answer passage / URL title cosine),
  `e_dense` (cosine to the "first question + answer" entry document), `a_bm25` (BM25 against
  the answer text, function words never matched) and `a_char` (n-gram cosine to it).

Two logistic heads turn them into probabilities:

* **relevance** (similarity features): the probability that the entry is right judging by its
  own similarity alone; two near-duplicate entries both get a high relevance. Used to pick the
  entries worth offering in a "did you mean" question.
* **score** (similarity features + `margin`, the entry's relevance minus the best relevance of
  any other candidate): the probability that this entry is *the* right answer; low when another
  entry is about as relevant. `KBHit.score` is this value; candidates are ranked by it (the
  re-ranking step: a learned combination of all signals over the ~30-100 candidates that the
  dense and lexical searches found, under 2 ms per query).

**Priors** (`DEFAULT_*_WEIGHTS`, documented where they are defined): one set for KBs with one
question per entry (fitted by benchmarks/fit_kb_priors.py on training-side queries of public
intent data sets; the answer side carries most of the weight, word BM25 is kept by
`LEXICAL_FLOORS`), one for KBs with several phrasings per entry (the question-side weights; the
answer side stays off, see `SEVERAL_FROZEN`).

**Fitting on the KB itself.** A KB with at least `MIN_FIT_ENTRIES` entries of 2+ phrasings (and
`MIN_FIT_POSITIVES` such phrasings) refits both heads from the "several" priors on simulated
questions (at most `MAX_FIT_QUERIES` phrasings, a seeded sample beyond that):

* leave-one-out (weight 1): a phrasing is searched against the index without it; its own entry
  is the positive, the other leading candidates (`NEGATIVES_PER_QUERY`) negatives;
* leave-one-entry-out (weight `UNCOVERED_WEIGHT` = 0.25): the same search without its entry,
  so every candidate is wrong (about one question in five has no answer in the KB);
* close paraphrases (weight `NEAR_WEIGHT` = 0.5): the phrasing with a quarter of its words
  dropped, searched against the full index.

Each fit is a maximum a posteriori logistic regression with non-negative feature weights (a
closer match never scores lower) and a Gaussian prior centred on the priors
(`PRIOR_PRECISION`). Questions are split by script: the default English embedding model is
reliable for Latin-script questions and nearly blind for Cyrillic or Armenian ones, so other
scripts get heads without dense weights, and a single script with at least
`MIN_FIT_POSITIVES` leave-one-out questions gets its own heads. An index with a multilingual
view (`supportbot.kb.index`) fits one more pair of heads, `MULTILINGUAL_HEADS`, on the searches
made with the multilingual vectors, with dense and answer-side weights free (the answer in the
customer's language is often the closest text an English-only KB has): leave-one-out,
leave-one-script-out (`CROSS_LINGUAL_WEIGHT`) and no-word-match (`FOREIGN_WEIGHT`) searches; the
entry's first question, which the entry document holds, is never a simulated question there.
A KB too small to fit (a FAQ page with one question per entry) keeps the "one" priors: nothing
it has tells what a paraphrase of its entries looks like, so nothing is fitted beyond them.

**The answer threshold** of `kb.threshold: auto` is `Calibrator.threshold`: the documented
`PRIOR_THRESHOLD` (0.85: the lowest value at which every KB of the fitting data had >= 90% of
its answers right, plus a margin), or for a fitted KB the lowest threshold at which its
simulated questions reach `TARGET_PRECISION`, shrunk towards the prior by the amount of evidence
and kept within [MIN_AUTO_THRESHOLD, PRIOR_THRESHOLD].
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PHRASING_FEATURES = ("dense", "bm25", "char")  # measured per phrasing, entry = max
ANSWER_FEATURES = ("a_dense", "e_dense", "a_bm25", "a_char")  # measured on the answer side
DENSE_FEATURES = ("dense", "dense2", "bm25", "char", "a_dense", "e_dense", "a_bm25", "a_char")
LEXICAL_FEATURES = ("bm25", "char", "a_bm25", "a_char")

# Raw blend of the question-side similarities: picks an entry's matched question, breaks score
# ties and chooses the negatives of a fit (the hardest other candidates).
RAW_WEIGHTS: dict[bool, dict[str, float]] = {
    True: {"dense": 0.6, "bm25": 0.15, "char": 0.25},
    False: {"bm25": 0.4, "char": 0.6},
}

# Fixed logistic weights (intercept, per-feature weights): the documented priors, keyed by
# "has dense features" and by the KB's shape: "one" for KBs too small to fit (fewer than
# MIN_FIT_ENTRIES entries with 2+ questions, e.g. a FAQ page with one question per entry), which
# keep them as they are, and "several" for KBs with enough phrasings, which start from them
# (see `Calibrator.fit`). Fitted by benchmarks/fit_kb_priors.py (`1q faq` and `5q`) on BANKING77
# and CLINC150 KBs of one sampled question, one written FAQ question, or five sampled questions
# per entry (answers from benchmarks/data), with queries from the *training* side only
# (BANKING77 train, CLINC150 val/oos_val); rounded. The relevance weights' direction is the
# ranking-optimal one (conditional logit over each search's candidates) with LEXICAL_FLOORS,
# then scaled. With one question per entry the answer side carries most of the weight; with
# several, the questions do.
Weights = tuple[float, dict[str, float]]
DEFAULT_RELEVANCE_WEIGHTS: dict[bool, dict[str, Weights]] = {
    True: {
        "one": (-5.65, {"dense": 0.7, "dense2": 0.7, "bm25": 1.45, "char": 0.0, "a_dense": 2.75,
                        "e_dense": 3.65, "a_bm25": 0.75, "a_char": 1.55}),
        "several": (-8.5, {"dense": 7.0, "dense2": 3.0, "bm25": 0.5, "char": 4.0}),
    },
    False: {
        "one": (-3.4, {"bm25": 0.45, "char": 3.05, "a_bm25": 1.4, "a_char": 4.4}),
        "several": (-5.5, {"bm25": 0.3, "char": 9.0}),
    },
}
DEFAULT_SCORE_WEIGHTS: dict[bool, dict[str, Weights]] = {
    True: {
        "one": (-2.45, {"dense": 0.5, "dense2": 0.5, "char": 0.35, "a_dense": 0.6,
                        "e_dense": 1.0, "a_char": 2.05, "margin": 9.2}),
        "several": (-4.0, {"dense": 2.0, "dense2": 3.5, "bm25": 0.5, "char": 0.25,
                           "margin": 7.0}),
    },
    False: {
        "one": (-1.55, {"char": 1.15, "a_bm25": 1.05, "a_char": 0.4, "margin": 7.35}),
        "several": (-2.2, {"bm25": 2.0, "char": 0.5, "margin": 6.0}),
    },
}

# Lower bounds on word-match weights. The public sets the priors are fitted on are paraphrase
# sets where embeddings beat tf-idf by 20+ points; on FAQ pages whose customers reuse the KB's
# own words it is the other way round. So the prior fit keeps word BM25 (questions and answers)
# at these ranking weights at least (about 2/3 and 1/4 of the question-embedding weight; it
# costs under one point of hit@1 on the fitting data), and a per-KB fit never takes a floored
# weight below its prior value.
LEXICAL_FLOORS: dict[bool, dict[str, float]] = {
    True: {"bm25": 4.0, "a_bm25": 2.0},
    False: {},
}

# The answer threshold of `kb.threshold: auto` (see `Calibrator.precise_threshold`).
TARGET_PRECISION = 0.9  # share of given answers that should be the right entry
PRIOR_THRESHOLD = 0.85  # documented prior: the fitting data's KBs all reach 90% at 0.8; a margin
MIN_AUTO_THRESHOLD = 0.4  # a KB's own simulated questions never take it below this
THRESHOLD_GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
MIN_AUTO_ANSWERS = 10.0  # weighted simulated answers needed at a grid point
THRESHOLD_EVIDENCE = 60.0  # leave-one-out searches that move the threshold halfway
CLARIFY_FLOOR_RATIO = 0.6  # as in supportbot.kb.decision: the least worth offering

# A KB with several phrasings per entry (the "several" priors, then a fit on its own
# leave-one-out questions) keeps the answer-side weights at zero: its questions already cover
# the ways customers ask, and on the example bot answer-side weights learnt from its phrasings
# made wrong answers to questions the KB does not cover (an order-status question handled by an
# intent) more confident than the intent, with few more right answers at the thresholds in use.
SEVERAL_FROZEN = frozenset({"a_dense", "e_dense", "a_bm25", "a_char"})

MIN_FIT_ENTRIES = 5  # entries with 2+ phrasings needed to fit (and to use the "several" priors)
MIN_FIT_POSITIVES = 20  # leave-one-out questions whose entry keeps another phrasing
MAX_FIT_QUERIES = 600  # phrasings used as simulated questions at most
UNCOVERED_WEIGHT = 0.25  # weight of leave-one-entry-out searches (questions the KB lacks)
NEAR_WEIGHT = 0.5  # weight of close-paraphrase searches (a phrasing with words dropped)
NEAR_DROP = 0.25  # share of words dropped to make a close paraphrase
NEGATIVES_PER_QUERY = 4  # other leading candidates used as negatives
PRIOR_PRECISION = 0.3  # pull towards the prior weights (1 / prior variance)
NON_LATIN = "non-latin"  # heads for every script but Latin
MULTILINGUAL_HEADS = "multilingual"  # heads for the multilingual view (any script)
CROSS_LINGUAL_WEIGHT = 1.0  # weight of a search with the entry's same-script questions left out
# Weight of a search with no word or character match (a question in a language nothing in the
# KB is written in). The multilingual view serves only such questions, so it weighs as much as a
# leave-one-out search. Measured on the example bot (answered right at its threshold, ru/hy/ky):
# its KB questions against its English-only KB 0.88/0.69/0.59 at 0.5, 0.81/0.62/0.66 at 1.0,
# 0.78/0.56/0.59 at 2.0; the benchmark's FAQ questions 15/12/10 of 33 at 0.5, 16/13/12 at 1.0.
FOREIGN_WEIGHT = 1.0
# Weight of leave-one-entry-out searches in the multilingual view (UNCOVERED_WEIGHT in the fast
# one). Twice as much: across languages the nearest wrong entry looks closer, and on the example
# bot a Russian delivery-time question (an intent, not an FAQ entry) got the delivery-cost
# answer at 0.93 with 0.25 (0.89 at 0.5, below the intent's 0.91). The price, on the index
# alone: the benchmark's ru/hy/ky FAQ-topic questions answered right 13/13/12 of 33 instead
# of 16/15/12 (bench_languages end to end: 76/67/65% instead of 80/72/63%).
MULTILINGUAL_UNCOVERED_WEIGHT = 0.5
# Weights the multilingual view keeps at their prior: none. Measured on the example bot's
# ru/hy/ky FAQ questions against its English-only KB (answered right): ru 0.69 / hy 0.44 /
# ky 0.34 with the answer side frozen as in SEVERAL_FROZEN, 0.88 / 0.69 / 0.59 free.
MULTILINGUAL_FROZEN: frozenset[str] = frozenset()


def feature_names(has_dense: bool) -> tuple[str, ...]:
    """The similarity features, in column order, with or without dense embeddings."""
    return DENSE_FEATURES if has_dense else LEXICAL_FEATURES


def default_heads(has_dense: bool, script: str, shape: str = "one") -> Heads:
    """The fixed heads for a KB of `shape` ("one" or "several" questions per entry). For
    non-Latin questions an index with dense features uses the lexical-only weights with zero
    dense weights: the default embedding model is English and nearly blind to Cyrillic and
    Armenian, while character n-grams carry them."""
    names = feature_names(has_dense)
    lexical = has_dense and script != "latin"
    rel_intercept, rel = DEFAULT_RELEVANCE_WEIGHTS[not lexical and has_dense][shape]
    score_intercept, score = DEFAULT_SCORE_WEIGHTS[not lexical and has_dense][shape]
    return Heads(Logistic(names, tuple(rel.get(n, 0.0) for n in names), rel_intercept),
                 Logistic((*names, "margin"), tuple(score.get(n, 0.0) for n in (*names, "margin")),
                          score_intercept))


def margins(relevance: np.ndarray) -> np.ndarray:
    """Each candidate's relevance minus the best relevance among the *other* candidates
    (minus 0 for a lone candidate)."""
    if len(relevance) == 0:
        return relevance.astype(np.float64)
    top = int(np.argmax(relevance))
    other = np.full(len(relevance), float(relevance[top]))
    other[top] = float(np.max(np.delete(relevance, top))) if len(relevance) > 1 else 0.0
    return relevance.astype(np.float64) - other


@dataclass(frozen=True)
class Trial:
    """One simulated search for calibration: the similarity features of every candidate, the
    row of the right entry (-1: not reachable), its weight, kind (loo/uncovered/near), the
    query's script and the raw blend that pre-ranks candidates."""

    features: np.ndarray
    right: int
    weight: float
    kind: str
    script: str
    raw: np.ndarray


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

    def refit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray,
              floors: Sequence[float] | None = None,
              frozen: frozenset[str] = frozenset()) -> Logistic:
        """Maximum a posteriori fit with a Gaussian prior centred on these weights; feature
        weights are kept non-negative so that a closer match never scores lower (and at least
        `floors`, per feature, when given)."""
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

        low = list(floors) if floors is not None else [0.0] * len(self.weights)
        bounds = [(None, None)] + [  # more similar, never worse; frozen weights stay
            (w, w) if f in frozen else (lo, None)
            for f, w, lo in zip(self.features, self.weights, low)]
        w = minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=bounds).x
        return Logistic(self.features, tuple(float(v) for v in w[1:]), float(w[0]))

    def rescale(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> Logistic:
        """The same weight direction, with scale and intercept fitted (maximum likelihood)."""
        base = Logistic(("blend",), (1.0,), self.intercept)
        s = x[:, :len(self.weights)] @ np.asarray(self.weights, dtype=np.float64)
        fitted = base.refit(s[:, None], y, sample_weight)
        scale = fitted.weights[0]
        return Logistic(self.features, tuple(float(scale * v) for v in self.weights),
                        fitted.intercept)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": list(self.weights),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Logistic:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]),
                   float(data["intercept"]))


@dataclass(frozen=True)
class Heads:
    """The relevance head (similarity features) and the score head (+ margin)."""

    relevance: Logistic
    score: Logistic

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score, relevance) for the candidate rows of one search."""
        relevance = self.relevance(features)
        return self.score(np.column_stack([features, margins(relevance)])), relevance

    def refit(self, trials: Sequence[Trial],
              relevance_floors: Sequence[float] | None = None,
              relevance_direction: bool = False,
              score_direction: bool | None = None,
              frozen: frozenset[str] = frozenset()) -> Heads:
        """Both heads refitted on `trials`, with these heads as the prior.
        `relevance_direction` / `score_direction` (default: the same): keep that head's
        weight direction (their ratios) and fit only its scale and intercept."""
        x, y, w = _rows(trials, [t.raw for t in trials], None)
        if relevance_direction:
            relevance = self.relevance.rescale(x, y, w)
        else:
            relevance = self.relevance.refit(x, y, w, relevance_floors, frozen)
        rel = [relevance(t.features) for t in trials]
        x, y, w = _rows(trials, rel, [margins(r) for r in rel])
        if relevance_direction if score_direction is None else score_direction:
            return Heads(relevance, self.score.rescale(x, y, w))
        return Heads(relevance, self.score.refit(x, y, w, None, frozen))

    def to_json(self) -> dict[str, Any]:
        return {"relevance": self.relevance.to_json(), "score": self.score.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Heads:
        return cls(Logistic.from_json(data["relevance"]), Logistic.from_json(data["score"]))


def _rows(trials: Sequence[Trial], rank: Sequence[np.ndarray],
          extra: Sequence[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows: per trial the right entry and the best-ranked `NEGATIVES_PER_QUERY`
    others (by `rank`), optionally with an extra column."""
    xs, ys, ws = [], [], []
    for i, trial in enumerate(trials):
        others = np.array([j for j in np.argsort(-rank[i], kind="stable") if j != trial.right],
                          dtype=np.int64)[:NEGATIVES_PER_QUERY]
        take = np.concatenate([[trial.right], others]) if trial.right >= 0 else others
        if not len(take):
            continue
        feats = trial.features[take]
        if extra is not None:
            feats = np.column_stack([feats, extra[i][take]])
        xs.append(feats)
        ys.append((take == trial.right).astype(np.float64))
        ws.append(np.full(len(take), trial.weight))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


@dataclass(frozen=True)
class Calibrator:
    """Calibration heads by the script of the question.

    `pooled` serves Latin-script questions (and any script without heads of its own);
    `by_script` may hold "non-latin" (every other script together) and heads for single
    scripts (cyrillic, armenian, ...) with enough leave-one-out questions of their own.
    `source` is "fitted" or "default"."""

    pooled: Heads
    by_script: Mapping[str, Heads] = field(default_factory=dict)
    source: str = "default"
    stats: Mapping[str, Any] = field(default_factory=dict)
    threshold: float = PRIOR_THRESHOLD  # the answer threshold `kb.threshold: auto` uses
    # the same for the multilingual view's questions (MULTILINGUAL_HEADS), when it has its own
    view_thresholds: Mapping[str, float] = field(default_factory=dict)

    def threshold_for(self, view: str | None) -> float:
        """The `auto` answer threshold for a question searched in `view` (None: the fast)."""
        return float(self.view_thresholds.get(view or "", self.threshold))

    @property
    def features(self) -> tuple[str, ...]:
        return self.pooled.relevance.features

    def heads(self, script: str | None) -> Heads:
        """The heads used for a question written in `script` (None = pooled)."""
        if script is not None and script in self.by_script:
            return self.by_script[script]
        if script and script != "latin" and NON_LATIN in self.by_script:
            return self.by_script[NON_LATIN]
        return self.pooled

    @classmethod
    def default(cls, has_dense: bool, reason: str = "", multilingual: bool = False
                ) -> Calibrator:
        """Fixed weights; non-Latin questions ignore dense features (see `default_heads`),
        except in a multilingual view (`multilingual`), whose heads are the Latin ones."""
        by_script = {NON_LATIN: default_heads(has_dense, NON_LATIN)}
        if multilingual:
            by_script[MULTILINGUAL_HEADS] = default_heads(has_dense, "latin")
        return cls(default_heads(has_dense, "latin"), by_script, "default",
                   {"reason": reason} if reason else {})

    @classmethod
    def fit(cls, trials: Sequence[Trial], has_dense: bool,
            stats: Mapping[str, Any] | None = None,
            clarify_margin: float = 0.05, multilingual: bool = False) -> Calibrator:
        """Fit Latin-script heads (prior: the defaults), non-Latin heads (prior: the defaults
        without dense weights), per-script heads (prior: the non-Latin heads) and, with
        `multilingual`, the multilingual view's heads on the trials keyed MULTILINGUAL_HEADS
        (prior: the Latin defaults)."""
        def positives(group: Sequence[Trial]) -> int:
            return sum(t.kind == "loo" and t.right >= 0 for t in group)

        def floors(heads: Heads) -> list[float]:
            return [0.0] * len(heads.relevance.weights)  # the question-side blend is free

        latin = [t for t in trials if t.script == "latin"]
        others = [t for t in trials if t.script not in ("latin", MULTILINGUAL_HEADS)]
        views = [t for t in trials if t.script == MULTILINGUAL_HEADS]
        pooled = default_heads(has_dense, "latin", "several")
        if positives(latin):
            pooled = pooled.refit(latin, floors(pooled), frozen=SEVERAL_FROZEN)
        non_latin = default_heads(has_dense, NON_LATIN, "several")
        if positives(others):
            non_latin = non_latin.refit(others, floors(non_latin), frozen=SEVERAL_FROZEN)
        by_script = {NON_LATIN: non_latin}
        scripts = sorted({t.script for t in others})
        if len(scripts) > 1:
            for script in scripts:
                mine = [t for t in others if t.script == script]
                if positives(mine) >= MIN_FIT_POSITIVES:
                    by_script[script] = non_latin.refit(mine, floors(non_latin),
                                                        frozen=SEVERAL_FROZEN)
        if multilingual:
            heads = default_heads(has_dense, "latin", "several")
            if positives(views):
                heads = heads.refit(views, floors(heads), frozen=MULTILINGUAL_FROZEN)
            by_script[MULTILINGUAL_HEADS] = heads
        fitted = cls(pooled, by_script, "fitted")
        fast = [t for t in trials if t.script != MULTILINGUAL_HEADS]
        threshold, how = fitted.precise_threshold(fast or views, clarify_margin)
        report = {**(stats or {}), **fitted.evaluate(fast or views), "threshold": how}
        view_thresholds = {}
        if multilingual and views:
            view_thresholds[MULTILINGUAL_HEADS], view_how = fitted.precise_threshold(
                views, clarify_margin)
            report[MULTILINGUAL_HEADS] = {**fitted.evaluate(views), "threshold": view_how}
        return cls(pooled, by_script, "fitted", report, threshold, view_thresholds)

    def precise_threshold(self, trials: Sequence[Trial], clarify_margin: float
                          ) -> tuple[float, dict[str, Any]]:
        """The lowest threshold on the grid at which the answers `decide` would give to the
        leave-one-out and uncovered searches are right at least TARGET_PRECISION of the time
        (weighted as in the fit), kept within [MIN_AUTO_THRESHOLD, PRIOR_THRESHOLD]: the
        simulated questions are phrasings of the KB, easier than real ones, so they may lower
        the prior threshold, never raise trust beyond that bound."""
        tops = []  # (top score, second score, correct, weight)
        for trial in trials:
            if trial.kind not in ("loo", "uncovered") or not len(trial.features):
                continue
            score, _ = self.heads(trial.script).predict(trial.features)
            order = np.argsort(-score)
            runner_up = float(score[order[1]]) if len(order) > 1 else 0.0
            tops.append((float(score[order[0]]), runner_up, int(order[0]) == trial.right,
                         trial.weight))
        if not tops:
            return PRIOR_THRESHOLD, {"source": "prior", "reason": "no simulated questions"}
        top, second, right, weight = (np.asarray(c, dtype=np.float64) for c in zip(*tops))
        chosen, reached = PRIOR_THRESHOLD, None
        for t in THRESHOLD_GRID:
            answered = (top >= t) & ((second < t * CLARIFY_FLOOR_RATIO)
                                     | (top - second >= clarify_margin))
            if weight[answered].sum() < MIN_AUTO_ANSWERS:
                break
            precision = float((weight * answered * right).sum() / weight[answered].sum())
            if precision >= TARGET_PRECISION:
                chosen, reached = t, precision
                break
        # shrunk towards the prior by the amount of evidence (leave-one-out searches)
        n = float(weight[np.asarray([t.kind == "loo" for t in trials if t.kind in
                                     ("loo", "uncovered") and len(t.features)])].sum())
        share = n / (n + THRESHOLD_EVIDENCE)
        chosen = PRIOR_THRESHOLD - share * (PRIOR_THRESHOLD - chosen)
        chosen = round(float(min(max(chosen, MIN_AUTO_THRESHOLD), PRIOR_THRESHOLD)), 3)
        return chosen, {"source": "fitted" if reached is not None else "prior",
                        "value": chosen, "evidence_share": round(share, 3),
                        "simulated_precision": None if reached is None else round(reached, 4)}

    def evaluate(self, trials: Sequence[Trial]) -> dict[str, float]:
        """Leave-one-phrasing-out top-1 accuracy, mean top score and Brier score of the top
        candidate, over the searches whose right entry was still in the index."""
        top_p, top_y = [], []
        for trial in trials:
            if trial.kind != "loo" or trial.right < 0:
                continue
            score, _ = self.heads(trial.script).predict(trial.features)
            best = int(np.argmax(score))
            top_p.append(float(score[best]))
            top_y.append(float(best == trial.right))
        if not top_p:
            return {"loo_queries": 0}
        tp, ty = np.asarray(top_p), np.asarray(top_y)
        return {"loo_queries": len(tp), "loo_top1": round(float(ty.mean()), 4),
                "loo_mean_top_score": round(float(tp.mean()), 4),
                "loo_brier_top": round(float(np.mean((tp - ty) ** 2)), 4)}

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "pooled": self.pooled.to_json(),
                "by_script": {k: v.to_json() for k, v in self.by_script.items()},
                "stats": dict(self.stats), "threshold": self.threshold,
                "view_thresholds": dict(self.view_thresholds)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(Heads.from_json(data["pooled"]),
                   {k: Heads.from_json(v) for k, v in data["by_script"].items()},
                   str(data["source"]), dict(data.get("stats", {})),
                   float(data.get("threshold", PRIOR_THRESHOLD)),
                   {str(k): float(v) for k, v in dict(data.get("view_thresholds") or {}).items()})
