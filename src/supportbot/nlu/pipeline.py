"""The trained intent classifier: features -> calibrated ranking -> fallback decision.

Training (`NluModel.train`):
1. featurize: sentence embeddings (cached by text hash) + word and char_wb tf-idf;
2. cross-validate: stratified folds give out-of-fold logits for every example (or, after a
   small data change, the previous training's out-of-fold logits are reused, see trainstate;
   only when the caller names a `cache_dir` for that state);
3. fit the final multinomial logistic regression on all examples;
4. calibrate: one softmax temperature fitted on the out-of-fold logits;
5. nearest examples: the in-scope examples' feature vectors are kept, so that a message unlike
   all of them can fall back, and so that each intent's most similar example adds evidence to
   the scores, with a weight chosen by out-of-fold accuracy (see familiarity);
6. fallback thresholds: from the config, or tuned on the calibrated out-of-fold probabilities
   and familiarity.

With a multilingual embedding model (`all-MiniLM-L6-v2+multilingual-e5-small`, or
`multilingual-e5-small` alone) each message is routed by its language: English to the head
above (the fast one), other languages to a second head on the multilingual encoder, and a
language that lacks examples for some intents also to a language-neutral head that shares the
probabilities with it (`supportbot.nlu.multilingual`, `LanguageRouting`).

Retrieval intents (`faq/<key>`) are classified as their base intent (`faq`); a response
selector (see retrieval) then picks the full key. The out-of-scope intent is an ordinary class
whose prediction means fallback (`out_of_scope`).

An example listed under two intents trains under the first one only (file-reading order); the
later copies are dropped (the project check `conflicting-example` warns about them).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from supportbot.errors import ModelError
from supportbot.nlu import cv
from supportbot.nlu.classifier import LinearWeights, fit_logistic, fit_temperature, softmax
from supportbot.nlu.fallback import DEFAULT_THRESHOLD, FallbackPolicy, tune_threshold
from supportbot.nlu.familiarity import FamiliarityIndex
from supportbot.nlu.features import BlockWeights, FeatureSpace
from supportbot.nlu.langid import detect_language
from supportbot.nlu.multilingual import (
    CROSS_LINGUAL_FAMILIARITY_SHARE,
    FAST_LANGUAGES,
    NEUTRAL,
    Coverage,
    NeutralHead,
    example_languages,
    mix,
    neutral_vectors,
)
from supportbot.nlu.parse import IntentScore
from supportbot.nlu.retrieval import ResponseSelector
from supportbot.nlu.trainstate import TrainState
from supportbot.project.checks import example_key
from supportbot.project.types import Example, NluSettings

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
C = 10.0  # inverse L2 strength, scikit-learn's convention (penalty 1 / (C * n) on the mean loss)
BLOCK_WEIGHTS = BlockWeights(dense=1.0, word=0.7, char=0.7)
# L-BFGS iteration caps (a held-out 20% of BANKING77's train split scores the same at 40 as at
# 60): fold fits start from zero, the final fit from the folds' mean, and a retrain after a
# small change from the previous final weights.
MAX_ITER_CV = 40
MAX_ITER = 60
MAX_ITER_WARM = 15
TOL = 1e-3
# An out-of-scope example stands for a far more varied population than an in-scope one
# (chosen on CLINC150's validation split, never its test split).
OUT_OF_SCOPE_WEIGHT = 5.0
NEIGHBOUR_WEIGHTS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)  # candidates, chosen by CV accuracy
REUSE_MAX_CHANGED = 0.01  # reuse out-of-fold scores when at most 1% of the examples changed


@dataclass(frozen=True)
class ClassifierResult:
    """The classifier's reading of one text."""

    text: str
    intent: str  # top-ranked intent (may be the out-of-scope intent)
    confidence: float
    ranking: tuple[IntentScore, ...]  # every intent, best first; confidences sum to 1
    fallback: bool
    fallback_reason: str | None  # low_confidence | ambiguous | out_of_scope | unfamiliar | None
    familiarity: float | None = None  # cosine to the most similar in-scope training example
    retrieval_key: str | None = None  # `chitchat/ask_name` when `intent` is a retrieval intent
    retrieval_ranking: tuple[IntentScore, ...] = ()  # that intent's keys, best first


@dataclass
class LanguageRouting:
    """Which head reads a message in which language (see supportbot.nlu.multilingual)."""

    candidates: tuple[str, ...]  # nlu.languages
    fast_languages: tuple[str, ...]  # read by the main head's fast encoder ("en"); () if none
    coverage: Coverage
    encoder: Any  # the multilingual Encoder (its vectors are language-neutral)
    multi: NluModel | None = None  # the head for other languages; None: the main head reads all
    neutral: NeutralHead | None = None  # None: every language has examples for every intent
    translation_cosine: dict[str, float] = field(default_factory=dict)

    def language(self, text: str) -> str:
        return detect_language(text, self.candidates, default=NEUTRAL)

    def missing(self, language: str) -> frozenset[str]:
        return self.coverage.missing(language) if self.neutral is not None else frozenset()

    def to_json(self) -> dict[str, Any]:
        return {"candidates": list(self.candidates), "fast_languages": list(self.fast_languages),
                "coverage": self.coverage.to_json(), "multi": self.multi is not None,
                "neutral": self.neutral is not None,
                "translation_cosine": self.translation_cosine}


class NluModel:
    """Intent classifier with calibrated confidences and Rasa-style fallback."""

    def __init__(self, space: FeatureSpace, weights: LinearWeights, intents: list[str],
                 temperature: float, policy: FallbackPolicy, report: dict[str, Any],
                 embedding_model: str | None, familiar: FamiliarityIndex | None = None,
                 neighbour_weight: float = 0.0, selector: ResponseSelector | None = None,
                 routing: LanguageRouting | None = None):
        self.routing = routing
        self.space = space
        self.selector = selector
        self.familiar = familiar
        self.neighbour_weight = float(neighbour_weight)
        self.weights = weights
        self.intents = list(intents)
        oos = policy.out_of_scope_intent
        self._oos_index = self.intents.index(oos) if oos in self.intents else None
        self.temperature = float(temperature)
        self.policy = policy
        self.report = report
        self.embedding_model = embedding_model

    @property
    def threshold(self) -> float:
        return self.policy.threshold

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, examples: Sequence[Example], settings: NluSettings,
              encoder: Encoder | None = None, progress: bool = False,
              cache_dir: Path | None = None, reuse: bool = True) -> NluModel:
        """Train on `examples`.

        `cache_dir`: a folder for the state that speeds up the next training (under
        `nlu-train/`); None (the default) reads and writes no state. With the state of a
        training on the very same examples, that training's result is reused as is; after a
        small change, its out-of-fold scores and weights warm-start this one
        (`report["cv_reused"]`). `reuse=False` forces a full cross-validation.

        With a multilingual embedding model the result also holds the heads that read other
        languages (`routing`)."""
        started = time.perf_counter()
        encoder = _encoder_for(settings, encoder)
        multilingual = None if encoder is None else encoder.multilingual_part
        if multilingual is None:
            return cls._train_head(examples, settings, encoder, progress, cache_dir, reuse)
        assert encoder is not None  # a multilingual part implies an encoder
        fast = encoder.fast_part
        model = cls._train_head(examples, settings, fast or multilingual, progress, cache_dir,
                                reuse)
        model.routing = _train_routing(examples, settings, fast, multilingual, progress,
                                       cache_dir, reuse, model.report)
        model.report.setdefault("seconds", {})["total_with_languages"] = round(
            time.perf_counter() - started, 2)
        return model

    @classmethod
    def _train_head(cls, examples: Sequence[Example], settings: NluSettings,
                    encoder: Encoder | None = None, progress: bool = False,
                    cache_dir: Path | None = None, reuse: bool = True) -> NluModel:
        """One classifier on one encoder's features (the whole model without languages)."""
        started = time.perf_counter()
        if not examples:
            raise ModelError("no NLU training examples: add at least one intent with examples "
                             "to the NLU data (e.g. data/nlu.yml) before training")
        kept = first_labels(examples)
        # a canonical order: the model does not depend on how the training files are arranged
        triples = sorted((ex.base_intent, ex.text, ex.intent) for ex in kept)
        texts = [text for _, text, _ in triples]
        labels = [label for label, _, _ in triples]
        intents = sorted(set(labels))
        _check_size(len(texts), len(intents))
        index = {name: i for i, name in enumerate(intents)}
        y = np.array([index[name] for name in labels], dtype=np.int64)
        encoder = _encoder_for(settings, encoder)
        space = FeatureSpace(_pair(settings.word_ngrams), _pair(settings.char_ngrams), encoder,
                             BLOCK_WEIGHTS)
        features = space.fit_transform(texts, progress=progress)
        timings = {"features": time.perf_counter() - started}
        state_dir = _state_dir(settings, cache_dir)
        state = TrainState.load(state_dir, encoder) if reuse and state_dir is not None else None
        keys = [cv.example_key(t, name) for t, name in zip(texts, labels)]
        report: dict[str, Any] = {"examples": len(texts), "intents": len(intents)}
        if len(kept) < len(examples):
            report["conflicting_examples_dropped"] = len(examples) - len(kept)
        selector = ResponseSelector.build(features, [full for _, _, full in triples])
        oos = settings.out_of_scope_intent
        oos_index = index.get(oos)

        oof: np.ndarray | None = None
        oof_familiarity: np.ndarray | None = None
        oof_evidence: np.ndarray | None = None
        in_scope = np.flatnonzero(y != oos_index) if oos_index is not None else np.arange(len(y))
        if len(intents) == 1:
            weights = LinearWeights.zeros(space.dense_dim, features.sparse.shape[1], 1)
            report.update(folds=0, note="one intent: every message gets it with confidence 1")
        else:
            init = None
            if state is not None:
                oof, init = _reused_oof(state, keys, texts, intents, space)
            if oof is not None and init is not None and state is not None:
                report.update(folds=0, cv_reused=True)
                unchanged = _same_training(state, keys, intents, space)
                if not unchanged:
                    init = init.remap(state.space.sparse_terms, space.sparse_terms,
                                      state.intents, intents)
                oof_familiarity, oof_evidence = _reused_neighbours(
                    state, keys, features, y, len(intents), in_scope)
            else:
                unchanged = False
                oof, oof_familiarity, oof_evidence, fold_weights, k = _cross_validate(
                    features, y, len(intents), texts, oos_index, progress)
                report.update(folds=k, cv_reused=False)
                init = _mean_weights(fold_weights)
            timings["cross_validation"] = time.perf_counter() - started - timings["features"]
            if unchanged and init is not None:
                # the same examples and features as the training that left the state: its
                # final weights are this training's result (a refit would only drift)
                weights = init
                report["final_fit_iterations"] = 0
            else:
                fit = _fit(features, y, len(intents), init, oos_index,
                           MAX_ITER_WARM if report["cv_reused"] else MAX_ITER)
                weights = fit.weights
                report["final_fit_iterations"] = fit.iterations
            timings["final_fit"] = (time.perf_counter() - started - timings["features"]
                                    - timings["cross_validation"])
        neighbour_weight = 0.0
        scores = oof
        if oof is not None and oof_evidence is not None:
            neighbour_weight = _neighbour_weight(oof, oof_evidence, y, oos_index, report)
            scores = with_evidence(oof, oof_evidence, neighbour_weight, oos_index)
        temperature = fit_temperature(scores, y) if scores is not None else 1.0
        familiar = FamiliarityIndex.build(features, in_scope, y, len(intents))

        policy = _policy(settings, scores, oof_familiarity, y, intents, temperature, oos_index,
                         report)
        timings["total"] = time.perf_counter() - started
        report.update(temperature=round(temperature, 4),
                      seconds={k: round(v, 2) for k, v in timings.items()})
        if oof is not None and state_dir is not None:
            TrainState(space, weights, intents, keys, oof, oof_familiarity,
                       oof_evidence).save(state_dir)
        return cls(space, weights, intents, temperature, policy, report,
                   settings.embedding_model, familiar, neighbour_weight, selector)

    # ------------------------------------------------------------------ prediction
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, shape (len(texts), len(intents))."""
        if self.routing is None or not texts:
            return self._score(texts)[0]
        return np.stack([self._routed(text)[1] for text in texts])

    def _head_for(self, language: str) -> NluModel:
        routing = self.routing
        if routing is None or routing.multi is None or language == NEUTRAL \
                or language in routing.fast_languages:
            return self
        return routing.multi

    def _routed(self, text: str) -> tuple[NluModel, np.ndarray, float | None, str,
                                          frozenset[str], float | None]:
        """(head, probabilities over self.intents, head familiarity, language, intents the
        language has no examples for, neutral familiarity) of one text."""
        assert self.routing is not None
        language = self.routing.language(text)
        head = self._head_for(language)
        missing = self.routing.missing(language)
        neutral = self.routing.neutral
        if neutral is not None and missing and not self.routing.coverage.by_language.get(
                language):
            # no example at all in this language: the neutral head alone (the mixture would
            # give the same), without running the other head's encoder for nothing
            vector = neutral_vectors(self.routing.encoder, [text], cache=False)[0]
            neutral_probs, neutral_fam = neutral.score(vector)
            mixed = mix(np.zeros(len(head.intents)), head.intents, neutral_probs,
                        neutral.intents, missing)
            return head, mixed, None, language, missing, neutral_fam
        probs, familiarity = head._score([text])
        fam = None if familiarity is None else float(familiarity[0])
        if not missing or neutral is None:
            return head, probs[0], fam, language, missing, None
        vector = neutral_vectors(self.routing.encoder, [text], cache=False)[0]
        neutral_probs, neutral_fam = neutral.score(vector)
        mixed = mix(probs[0], head.intents, neutral_probs, neutral.intents, missing)
        return head, mixed, fam, language, missing, neutral_fam

    def _predict_routed(self, text: str) -> ClassifierResult:
        assert self.routing is not None
        head, row, fam, language, missing, neutral_fam = self._routed(text)
        order = np.argsort(-row, kind="stable")
        ranking = tuple(IntentScore(head.intents[j], float(row[j])) for j in order)
        policy = head.policy
        if ranking[0].name in missing and neutral_fam is not None and self.routing.neutral:
            # judged against examples in other languages: a translation of a training example
            # scores about `translation_cosine` there, so that counts as fully familiar
            allowance = self.routing.translation_cosine.get(language) or 1.0
            fam = min(1.0, neutral_fam / max(allowance, 1e-3))
            policy = replace(policy, familiarity_threshold=CROSS_LINGUAL_FAMILIARITY_SHARE
                             * self.routing.neutral.familiarity_threshold)
        fam = None if fam is None else round(float(fam), 4)
        reason = policy.decide([(r.name, r.confidence) for r in ranking[:2]], fam)
        keys = () if reason is not None else head.response_keys(text, ranking[0].name)
        return ClassifierResult(text, ranking[0].name, ranking[0].confidence, ranking,
                                reason is not None, reason, fam,
                                keys[0].name if keys else None, keys)

    def _score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities and familiarity (None without a familiarity index) of `texts`."""
        if not texts:
            return np.zeros((0, len(self.intents))), None
        oos_index = self._oos_index
        if len(texts) == 1:  # serving: no sparse matrices, same arithmetic
            dense, cols, vals = self.space.one(texts[0])
            logits = vals @ self.weights.sparse[cols] + self.weights.bias
            if dense is not None and self.weights.dense.shape[0]:
                logits = logits + dense @ self.weights.dense
            logits = logits[None, :]
            familiarity = None
            if self.familiar is not None:
                fam, evidence = self.familiar.one_with_evidence(dense, cols, vals)
                familiarity = np.array([fam])
                logits = with_evidence(logits, evidence[None, :], self.neighbour_weight,
                                       oos_index)
            return softmax(logits, self.temperature), familiarity
        features = self.space.transform(list(texts))
        logits = self.weights.logits(features)
        familiarity = None
        if self.familiar is not None:
            familiarity, evidence = self.familiar.neighbours(features)
            logits = with_evidence(logits, evidence, self.neighbour_weight, oos_index)
        return softmax(logits, self.temperature), familiarity

    def predict(self, texts: list[str]) -> list[ClassifierResult]:
        """Ranking, confidence, familiarity and fallback decision for each text."""
        if self.routing is None:
            return self._predict_head(texts)
        out: list[ClassifierResult | None] = [None] * len(texts)
        plain = []  # read by this head alone: batched
        for i, text in enumerate(texts):
            language = self.routing.language(text)
            if self._head_for(language) is self and not self.routing.missing(language):
                plain.append(i)
            else:
                out[i] = self._predict_routed(text)
        for i, result in zip(plain, self._predict_head([texts[i] for i in plain])):
            out[i] = result
        return out  # type: ignore[return-value]

    def _predict_head(self, texts: list[str]) -> list[ClassifierResult]:
        probs, familiarity = self._score(texts)
        results = []
        for i, (text, row) in enumerate(zip(texts, probs)):
            order = np.argsort(-row, kind="stable")
            ranking = tuple(IntentScore(self.intents[j], float(row[j])) for j in order)
            fam = None if familiarity is None else round(float(familiarity[i]), 4)
            reason = self.policy.decide([(r.name, r.confidence) for r in ranking[:2]], fam)
            keys = () if reason is not None else self.response_keys(text, ranking[0].name)
            results.append(ClassifierResult(text, ranking[0].name, ranking[0].confidence,
                                            ranking, reason is not None, reason, fam,
                                            keys[0].name if keys else None, keys))
        return results

    def response_keys(self, text: str, intent: str) -> tuple[IntentScore, ...]:
        """The full keys (`chitchat/ask_name`) of retrieval intent `intent` ranked for `text`;
        empty when `intent` is not a retrieval intent."""
        if self.routing is not None:
            head = self._head_for(self.routing.language(text))
            if head is not self:
                return head.response_keys(text, intent)
        if self.selector is None or intent not in self.selector.bases:
            return ()
        return self.selector.rank(intent, *self.space.one(text))

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        """Write the model as JSON + `.npy` files (byte-identical for identical training)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.space.save(folder)
        np.save(folder / "w_dense.npy", np.ascontiguousarray(self.weights.dense, np.float32))
        np.save(folder / "w_sparse.npy", np.ascontiguousarray(self.weights.sparse, np.float32))
        np.save(folder / "bias.npy", np.ascontiguousarray(self.weights.bias, np.float32))
        if self.familiar is not None:
            self.familiar.save(folder)
        if self.selector is not None:
            self.selector.save(folder)
        meta = {
            "format_version": FORMAT_VERSION,
            "intents": self.intents,
            "temperature": self.temperature,
            "threshold": self.policy.threshold,
            "ambiguity_threshold": self.policy.ambiguity_threshold,
            "familiarity_threshold": self.policy.familiarity_threshold,
            "neighbour_weight": self.neighbour_weight,
            "per_intent": dict(self.policy.per_intent),
            "out_of_scope_intent": self.policy.out_of_scope_intent,
            "embedding_model": self.embedding_model,
            "dense_dim": int(self.weights.dense.shape[0]),
            "block_weights": vars(self.space.weights),
            "report": {k: v for k, v in self.report.items() if k != "seconds"},
        }
        (folder / "nlu.json").write_text(json.dumps(meta, indent=1, sort_keys=True,
                                                    ensure_ascii=False))
        if self.routing is not None:
            routing = self.routing
            (folder / "languages.json").write_text(json.dumps(
                routing.to_json(), indent=1, sort_keys=True, ensure_ascii=False))
            if routing.multi is not None:
                _save_prefixed(routing.multi.save, folder, MULTI_PREFIX)
            if routing.neutral is not None:
                _save_prefixed(routing.neutral.save, folder, NEUTRAL_PREFIX)

    @classmethod
    def load(cls, folder: Path, encoder: Encoder | None = None) -> NluModel:
        """Load a saved model; `encoder` must use the model it was trained with. Any malformed
        part (wrong JSON shapes, arrays that do not fit together) is a ModelError."""
        try:
            return cls._load(Path(folder), encoder)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - model files may be corrupt or hostile
            raise ModelError(f"{folder}: NLU model files are corrupt ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); retrain with `supportbot train`") from None

    @classmethod
    def _load(cls, folder: Path, encoder: Encoder | None) -> NluModel:
        try:
            meta = json.loads((folder / "nlu.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder / 'nlu.json'}: cannot read the NLU model ({exc}); "
                             "retrain with `supportbot train`") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{folder / 'nlu.json'}: NLU model format "
                             f"{meta.get('format_version')!r}, this supportbot reads "
                             f"{FORMAT_VERSION}; retrain with `supportbot train`")
        model_name = meta.get("embedding_model")
        if model_name is None:
            encoder = None
        elif encoder is None:
            from supportbot.embeddings import Encoder

            encoder = Encoder(model_name)
        full_encoder = encoder
        encoder = _head_encoder(encoder)
        try:
            space = FeatureSpace.load(folder, encoder, BlockWeights(**meta["block_weights"]))
            weights = LinearWeights(
                np.load(folder / "w_dense.npy", allow_pickle=False),
                np.load(folder / "w_sparse.npy", allow_pickle=False),
                np.load(folder / "bias.npy", allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: NLU model files are missing or corrupt ({exc}); "
                             "retrain with `supportbot train`") from None
        n = len(meta["intents"])
        sparse_dim = space.word.size + space.char.size
        if weights.bias.shape != (n,) or weights.sparse.shape != (sparse_dim, n) \
                or weights.dense.shape != (meta["dense_dim"], n):
            raise ModelError(f"{folder}: NLU weight shapes do not match its vocabulary; "
                             "retrain with `supportbot train`")
        familiar = (FamiliarityIndex.load(folder)
                    if (folder / "familiar_shape.npy").exists() else None)
        selector = ResponseSelector.load(folder) if ResponseSelector.saved_in(folder) else None
        policy = FallbackPolicy(meta["threshold"], meta["ambiguity_threshold"],
                                meta["per_intent"], meta["out_of_scope_intent"],
                                float(meta.get("familiarity_threshold", 0.0)))
        routing = (_load_routing(folder, full_encoder)
                   if (folder / "languages.json").exists() else None)
        return cls(space, weights, meta["intents"], meta["temperature"], policy,
                   meta.get("report", {}), model_name, familiar,
                   float(meta.get("neighbour_weight", 0.0)) if familiar is not None else 0.0,
                   selector, routing)


# ---------------------------------------------------------------------- training steps
TRAIN_MEMORY_MB_ENV = "SUPPORTBOT_TRAIN_MAX_MEMORY_MB"
TRAIN_MEMORY_MB = 8192


def _check_size(n_examples: int, n_intents: int) -> None:
    """Refuse, before anything is allocated, a training whose examples x intents score
    matrices (a few float32 copies each, in every cross-validation fold) would not fit: the
    intent limit of the project checks, and a memory estimate against
    $SUPPORTBOT_TRAIN_MAX_MEMORY_MB (default 8192)."""
    import os

    from supportbot.project.checks import MAX_INTENTS_ENV, max_intents

    if n_intents > max_intents():
        raise ModelError(f"the NLU data has {n_intents} intents; the limit is {max_intents()} "
                         f"(merge intents or move answers to the knowledge base; the operator "
                         f"can raise ${MAX_INTENTS_ENV})")
    raw = os.environ.get(TRAIN_MEMORY_MB_ENV, "").strip()
    budget_mb = int(raw) if raw.isdigit() and int(raw) > 0 else TRAIN_MEMORY_MB
    # logits, probabilities, gradient and out-of-fold copies: ~6 float32 matrices
    estimate_mb = 6 * 4 * n_examples * n_intents / 1_048_576
    if estimate_mb > budget_mb:
        raise ModelError(f"training {n_examples} examples x {n_intents} intents needs about "
                         f"{estimate_mb:,.0f} MB, over the {budget_mb} MB budget "
                         f"(${TRAIN_MEMORY_MB_ENV}); use fewer intents or examples")


def first_labels(examples: Sequence[Example]) -> list[Example]:
    """`examples` without the later copies of a text already seen under another intent
    (compared like the `conflicting-example` check: case and spacing ignored), so the
    classifier never trains on contradictory labels. The first one in file order wins."""
    first: dict[str, str] = {}
    kept = []
    for ex in examples:
        key = example_key(ex.text)
        owner = first.setdefault(key, ex.intent)
        if owner == ex.intent:
            kept.append(ex)
    return kept


def _pair(ngrams) -> tuple[int, int]:
    low, high = ngrams
    return int(low), int(high)


def _encoder_for(settings: NluSettings, encoder: Encoder | None) -> Encoder | None:
    if settings.embedding_model is None:
        return None
    if encoder is not None:
        return encoder
    from supportbot.embeddings import Encoder

    return Encoder(settings.embedding_model)


def _head_encoder(encoder: Encoder | None) -> Encoder | None:
    """The encoder of the main head: the fast part of a two-model encoder, else the encoder."""
    if encoder is None:
        return None
    return encoder.fast_part or encoder


def _train_routing(examples: Sequence[Example], settings: NluSettings, fast: Encoder | None,
                   multilingual: Encoder, progress: bool, cache_dir: Path | None, reuse: bool,
                   report: dict[str, Any]) -> LanguageRouting:
    """The heads that read the languages the main head does not (see LanguageRouting)."""
    started = time.perf_counter()
    triples = sorted((ex.base_intent, ex.text) for ex in first_labels(examples))
    texts = [text for _, text in triples]
    labels = [label for label, _ in triples]
    candidates = tuple(settings.languages)
    languages = example_languages(texts, candidates)
    oos = settings.out_of_scope_intent
    coverage = Coverage.of(labels, languages, candidates, oos)
    fast_languages = FAST_LANGUAGES if fast is not None else ()
    others = [lang for lang in candidates if lang not in fast_languages]
    multi = None
    if fast is not None and any(coverage.by_language.get(lang) for lang in others):
        multi = NluModel._train_head(
            examples, replace(settings, embedding_model=multilingual.model_name), multilingual,
            progress, cache_dir, reuse)
    neutral = None
    if any(coverage.missing(lang) for lang in candidates):
        complete = set(coverage.complete_languages())
        rows = [i for i, lang in enumerate(languages) if lang in complete or lang == NEUTRAL]
        if len({labels[i] for i in rows}) < 2:  # no language has them all: use every example
            rows = list(range(len(texts)))
        if len({labels[i] for i in rows}) >= 2:
            vectors = neutral_vectors(multilingual, [texts[i] for i in rows])
            neutral = NeutralHead.train(vectors, [labels[i] for i in rows],
                                        [texts[i] for i in rows], oos)
    transform = multilingual.neutral
    routing = LanguageRouting(candidates, fast_languages, coverage, multilingual, multi, neutral,
                              dict(transform.translation_cosine) if transform else {})
    intents = len(coverage.intents)
    report["languages"] = {
        "intents_with_examples": {lang: len(coverage.by_language.get(lang, ()))
                                  for lang in candidates},
        "of_intents": intents,
        "fast_languages": list(fast_languages),
        "multilingual_head": None if multi is None else {
            k: multi.report.get(k) for k in ("cv_accuracy", "threshold",
                                             "familiarity_threshold", "neighbour_weight")},
        "neutral_head": None if neutral is None else neutral.report,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return routing


# a model archive's nlu/ folder is flat: the heads' files sit beside the main head's, prefixed
MULTI_PREFIX = "multi__"
NEUTRAL_PREFIX = "neutral__"


def _save_prefixed(save, folder: Path, prefix: str) -> None:
    """Call `save(folder)` for a part and store its files in `folder` as `<prefix><name>`."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="supportbot-nlu-") as tmp:
        save(Path(tmp))
        for path in sorted(Path(tmp).iterdir()):
            if path.is_file():
                shutil.copyfile(path, folder / f"{prefix}{path.name}")


@contextmanager
def _prefixed(folder: Path, prefix: str):
    """A temporary folder holding the `<prefix>` files of `folder` under their own names."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="supportbot-nlu-") as tmp:
        for path in sorted(folder.glob(f"{prefix}*")):
            if path.is_file():
                shutil.copyfile(path, Path(tmp) / path.name[len(prefix):])
        yield Path(tmp)


def _load_routing(folder: Path, encoder: Encoder | None) -> LanguageRouting:
    data = json.loads((folder / "languages.json").read_text())
    multilingual = None if encoder is None else encoder.multilingual_part
    if multilingual is None:
        from supportbot.nlu.e5engine import INSTALL_HINT

        raise ModelError(f"{folder}: this NLU model reads several languages with a "
                         f"multilingual embedding model that is not available here: "
                         f"{INSTALL_HINT}; or retrain without it")
    multi = neutral = None
    if data.get("multi"):
        with _prefixed(folder, MULTI_PREFIX) as part:
            multi = NluModel.load(part, encoder=multilingual)
    if data.get("neutral"):
        with _prefixed(folder, NEUTRAL_PREFIX) as part:
            neutral = NeutralHead.load(part)
    return LanguageRouting(tuple(data["candidates"]), tuple(data["fast_languages"]),
                           Coverage.from_json(data["coverage"]), multilingual, multi, neutral,
                           {k: float(v) for k, v in dict(data["translation_cosine"]).items()})


def _state_dir(settings: NluSettings, cache_dir: Path | None) -> Path | None:
    """Where the training state for these settings lives under `cache_dir` (None: nowhere)."""
    if cache_dir is None:
        return None
    key = json.dumps({"model": settings.embedding_model, "word": list(settings.word_ngrams),
                      "char": list(settings.char_ngrams), "weights": vars(BLOCK_WEIGHTS),
                      "out_of_scope": settings.out_of_scope_intent,
                      "C": C, "format": FORMAT_VERSION}, sort_keys=True)
    return Path(cache_dir) / "nlu-train" / hashlib.sha1(key.encode()).hexdigest()[:16]


def _cross_validate(features, y: np.ndarray, n_classes: int, texts: Sequence[str],
                    oos_index: int | None, progress: bool,
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None,
                               list[LinearWeights], int]:
    """Out-of-fold logits, familiarity and neighbour evidence for every example, plus each
    fold's weights (None: too few data)."""
    k = cv.fold_count(len(y), n_classes)
    if k == 0:
        return None, None, None, [], 0
    oof = np.zeros((len(y), n_classes), dtype=np.float32)
    oof_familiarity = np.zeros(len(y), dtype=np.float32)
    oof_evidence = np.zeros((len(y), n_classes), dtype=np.float32)
    folds = cv.assign_folds(texts, y, k)
    fold_weights = []
    from tqdm import tqdm

    for fold in tqdm(range(k), desc="cross-validation", unit="fold", disable=not progress):
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        fit = _fit(features.rows(train), y[train], n_classes, None, oos_index, MAX_ITER_CV)
        oof[test] = fit.weights.logits(features.rows(test))
        familiar = train if oos_index is None else train[y[train] != oos_index]
        oof_familiarity[test], oof_evidence[test] = FamiliarityIndex.build(
            features, familiar, y, n_classes).neighbours(features.rows(test))
        fold_weights.append(fit.weights)
    return oof, oof_familiarity, oof_evidence, fold_weights, k


def _fit(features, y: np.ndarray, n_classes: int, init: LinearWeights | None,
         oos_index: int | None, max_iter: int):
    """One logistic-regression fit with balanced class weights (rare intents count as much);
    out-of-scope examples weigh OUT_OF_SCOPE_WEIGHT times more."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    class_weight = len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1))
    if oos_index is not None:
        class_weight[oos_index] *= OUT_OF_SCOPE_WEIGHT
    sample_weight = class_weight[y]
    return fit_logistic(features, y, n_classes, 1.0 / (C * len(y)), sample_weight=sample_weight,
                        init=init, max_iter=max_iter, tol=TOL)


def _mean_weights(weights: list[LinearWeights]) -> LinearWeights | None:
    if not weights:
        return None
    return LinearWeights(np.mean([w.dense for w in weights], axis=0),
                         np.mean([w.sparse for w in weights], axis=0),
                         np.mean([w.bias for w in weights], axis=0))


def _reused_oof(state: TrainState, keys: list[str], texts: list[str], intents: list[str],
                space: FeatureSpace) -> tuple[np.ndarray | None, LinearWeights | None]:
    """Out-of-fold logits from the previous training when the data barely changed."""
    if state.intents != intents:
        return None, None
    old = {key: i for i, key in enumerate(state.keys)}
    new_rows = [i for i, key in enumerate(keys) if key not in old]
    current = set(keys)
    removed = sum(1 for key in old if key not in current)
    if len(new_rows) + removed > max(1, int(REUSE_MAX_CHANGED * len(keys))):
        return None, None
    oof = np.zeros((len(keys), len(intents)), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in old:
            oof[i] = state.oof[old[key]]
    if new_rows:  # the previous final model never saw these examples
        previous = state.space.transform([texts[i] for i in new_rows])
        oof[new_rows] = state.weights.logits(previous)
    return oof, state.weights


def _same_training(state: TrainState, keys: list[str], intents: list[str],
                   space: FeatureSpace) -> bool:
    """True when `state` was left by a training on exactly these examples and features."""
    return (state.keys == keys and state.intents == intents
            and state.space.sparse_terms == space.sparse_terms)


def _reused_neighbours(state: TrainState, keys: list[str], features, y: np.ndarray,
                       n_classes: int, in_scope: np.ndarray,
                       ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Out-of-fold familiarity and neighbour evidence after a small data change: the previous
    values for unchanged examples; a new example is compared with every other in-scope one."""
    if state.familiarity is None or state.evidence is None:
        return None, None
    old = {key: i for i, key in enumerate(state.keys)}
    familiarity = np.zeros(len(keys), dtype=np.float32)
    evidence = np.zeros((len(keys), n_classes), dtype=np.float32)
    new_rows = []
    for i, key in enumerate(keys):
        if key in old:
            familiarity[i] = state.familiarity[old[key]]
            evidence[i] = state.evidence[old[key]]
        else:
            new_rows.append(i)
    if new_rows:
        others = np.setdiff1d(in_scope, new_rows)
        rows = np.array(new_rows)
        familiarity[rows], evidence[rows] = FamiliarityIndex.build(
            features, others, y, n_classes).neighbours(features.rows(rows))
    return familiarity, evidence


def with_evidence(logits: np.ndarray, evidence: np.ndarray, weight: float,
                  oos_index: int | None) -> np.ndarray:
    """`logits + weight * evidence`; the out-of-scope intent (whose examples are not indexed)
    gets the row's median in-scope evidence, i.e. neither a bonus nor a penalty."""
    if weight == 0.0 or evidence.shape[1] != logits.shape[1]:
        return logits
    evidence = np.array(evidence, dtype=np.float32)
    if oos_index is not None and evidence.shape[1] > 1:
        others = np.delete(evidence, oos_index, axis=1)
        evidence[:, oos_index] = np.median(others, axis=1)
    return logits + np.float32(weight) * evidence


def _neighbour_weight(oof: np.ndarray, evidence: np.ndarray, y: np.ndarray,
                      oos_index: int | None, report: dict[str, Any]) -> float:
    """The candidate weight with the best out-of-fold accuracy (the smallest among ties)."""
    accuracy = [float((with_evidence(oof, evidence, w, oos_index).argmax(axis=1) == y).mean())
                for w in NEIGHBOUR_WEIGHTS]
    best = int(np.argmax(accuracy))
    report.update(neighbour_weight=NEIGHBOUR_WEIGHTS[best],
                  cv_accuracy_without_neighbours=round(accuracy[0], 4))
    return NEIGHBOUR_WEIGHTS[best]


def _policy(settings: NluSettings, oof: np.ndarray | None, oof_familiarity: np.ndarray | None,
            y: np.ndarray, intents: list[str], temperature: float, oos_index: int | None,
            report: dict[str, Any]) -> FallbackPolicy:
    fb = settings.fallback
    per_intent = {k: float(v) for k, v in dict(fb.per_intent).items()}
    oos = settings.out_of_scope_intent
    if oof is None:  # one intent or a handful of examples: nothing to tune on
        if fb.threshold is not None:
            threshold, source = float(fb.threshold), "config"
        else:
            threshold, source = DEFAULT_THRESHOLD, "default (too few examples to tune)"
        familiarity = fb.familiarity_threshold or 0.0
        report.update(threshold=threshold, threshold_source=source,
                      ambiguity_threshold=fb.ambiguity_threshold,
                      familiarity_threshold=familiarity)
        return FallbackPolicy(threshold, fb.ambiguity_threshold, per_intent, oos, familiarity)
    probs = softmax(oof, temperature)
    pred = probs.argmax(axis=1)
    from sklearn.metrics import f1_score

    report.update(cv_accuracy=round(float((pred == y).mean()), 4),
                  cv_macro_f1=round(float(f1_score(y, pred, average="macro")), 4))
    choice = tune_threshold(probs, y, intents, fb.ambiguity_threshold, per_intent, oos_index,
                            familiarity=oof_familiarity, threshold=fb.threshold,
                            familiarity_threshold=fb.familiarity_threshold)
    threshold = choice.threshold
    source = "config" if fb.threshold is not None else "cross-validation"
    report.update(threshold=threshold, threshold_source=source, criterion=choice.criterion,
                  familiarity_threshold=choice.familiarity_threshold,
                  familiarity_threshold_source=("config" if fb.familiarity_threshold is not None
                                                else "cross-validation"),
                  cv_in_scope_accuracy_at_tuned=round(choice.in_scope_accuracy, 4),
                  cv_fallback_rate_at_tuned=round(choice.fallback_rate, 4),
                  cv_out_of_scope_recall_at_tuned=(None if choice.out_of_scope_recall is None
                                                   else round(choice.out_of_scope_recall, 4)),
                  ambiguity_threshold=fb.ambiguity_threshold)
    return FallbackPolicy(threshold, fb.ambiguity_threshold, per_intent, oos,
                          choice.familiarity_threshold)
