"""The FAQ knowledge-base index: hybrid dense + lexical retrieval with one calibrated score.

`KBIndex.build` indexes every question phrasing of every entry (all languages) and, beside them,
the entry's answer side (`supportbot.kb.answers`: answer passages in every language, the URL
title, and one "first question + answer" document). `search` returns one `KBHit` per entry, best
first; `hit.score` estimates the probability that the entry is the right answer (see
`supportbot.kb.calibration`). `supportbot.kb.decision.decide` turns hits into answer / clarify /
none.

**The multilingual view.** With a two-model encoder (`all-MiniLM-L6-v2+multilingual-e5-small`)
the index holds a second set of dense vectors, the multilingual part's, for every question and
answer unit. A question in English (the NLU's language, else a Latin-script one) is searched
with the fast model as before; any other language with the multilingual one as well, so that
entries written in one language answer questions in the others (each entry keeps the higher of
its two scores: the fast view's per-script heads still catch same-language word matches, such
as a short Kyrgyz "how much is it?" against a Kyrgyz question). Across languages a cosine is divided by
how close a faithful translation comes between the two languages (measured on the built-in
parallel phrases, `NeutralTransform.pair_cosine`), so a question and its translation count as
equally close. The view has its own calibration heads and `auto` threshold, fitted on its own
simulated questions: every question searched with the multilingual vectors, with its entry's
questions in the same script left out (it must be found through other languages or the
answer), and with no word match at all (a language nothing in the KB is written in).
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from supportbot.errors import ModelError, Problem, ProjectError
from supportbot.kb.answers import answer_units
from supportbot.kb.calibration import (
    CROSS_LINGUAL_WEIGHT,
    FOREIGN_WEIGHT,
    MAX_FIT_QUERIES,
    MIN_FIT_ENTRIES,
    MIN_FIT_POSITIVES,
    MULTILINGUAL_HEADS,
    MULTILINGUAL_UNCOVERED_WEIGHT,
    NEAR_DROP,
    NEAR_WEIGHT,
    PHRASING_FEATURES,
    RAW_WEIGHTS,
    UNCOVERED_WEIGHT,
    Calibrator,
    Trial,
    feature_names,
    margins,
)
from supportbot.kb.dense import DenseIndex
from supportbot.kb.lexical import Bm25, CharTfidf
from supportbot.kb.serialize import KB_FORMAT_VERSION, entry_from_json, entry_to_json
from supportbot.kb.text import FUNCTION_WORDS, script_of
from supportbot.nlu.parallel_phrases import LANGUAGES as PARALLEL_LANGUAGES
from supportbot.project.types import KBEntry, KBSettings

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

FORMAT_VERSION = KB_FORMAT_VERSION
CANDIDATE_POOL = 32  # units taken from each dense and lexical search before re-scoring
_MANIFEST = "kb.json"
_ARRAYS = "arrays.npz"
_DENSE = "dense.faiss"
_ANSWER_DENSE = "answers.faiss"
_ML_DENSE = "dense-multilingual.faiss"
_ML_ANSWER_DENSE = "answers-multilingual.faiss"
PASSAGE, DOCUMENT = 0, 1  # kinds of dense answer units
FAST, MULTILINGUAL = "fast", MULTILINGUAL_HEADS  # the two dense views of a two-model encoder
FAST_LANGUAGES = ("en",)  # languages the fast view reads (as the NLU's fast head)
SCALED_LANGUAGES = PARALLEL_LANGUAGES  # languages whose translation cosines are measured
MIN_TRANSLATION_COSINE = 0.5  # a cosine is never multiplied by more than 2
MULTILINGUAL_SCRIPTS = frozenset({"cyrillic", "armenian"})  # read multilingually when no
# language is given (other scripts, e.g. a message of digits only, stay with the fast view)


@dataclass(frozen=True)
class KBHit:
    """One FAQ entry found for a query.

    `score` (0..1) is the calibrated probability that this entry answers the query;
    `relevance` (0..1) the same judged by the entry's own similarity only, ignoring how close
    other entries come (two near-duplicates both get a high relevance); `matched_question` is
    the entry's phrasing closest to the query; `dense` is its best question embedding cosine (0
    without an encoder); `lexical` the mean of its normalised BM25 and char n-gram cosine over
    the questions; `features` are the calibration inputs (question-side and answer-side
    similarities and the relevance margin); `threshold` the answer threshold this index's
    calibration chose, which `decide` uses when `kb.threshold` is `auto`.
    """

    entry_id: str
    score: float
    relevance: float
    matched_question: str
    dense: float
    lexical: float
    features: Mapping[str, float] = field(default_factory=dict)
    threshold: float | None = None  # the index's calibrated answer threshold (`auto`)


# one simulated search: kind, query text, its vector, phrasings to exclude, entry to force,
# entry to drop, weight (see KBIndex._trials)
_Search = tuple[str, str, "np.ndarray | None", "np.ndarray | None", "int | None", "int | None",
                float]


@dataclass
class _Candidates:
    entries: np.ndarray  # entry positions
    features: np.ndarray  # (m, n_features) similarity features in `feature_names` order
    best_phrasing: np.ndarray  # phrasing position per entry (-1: none left)
    raw: np.ndarray  # uncalibrated blend that pre-ranks candidates


@dataclass
class AnswerSide:
    """The answer-side index: dense units (passages, titles, entry documents) and one lexical
    answer document per entry."""

    units: list[str]
    unit_entry: np.ndarray  # entry position per dense unit
    unit_kind: np.ndarray  # PASSAGE or DOCUMENT
    dense: DenseIndex | None
    doc_entry: np.ndarray  # entry position per lexical answer document
    bm25: Bm25
    char: CharTfidf
    ml_dense: DenseIndex | None = None  # the units' multilingual vectors (two-model encoder)

    @classmethod
    def build(cls, entries: Sequence[KBEntry], encoder: Encoder | None,
              approximate_above: int, ml_encoder: Encoder | None = None) -> AnswerSide:
        au = answer_units(entries)
        units = au.passages + au.documents
        unit_entry = np.asarray(au.passage_entry + au.document_entry, dtype=np.int32)
        unit_kind = np.asarray([PASSAGE] * len(au.passages) + [DOCUMENT] * len(au.documents),
                               dtype=np.int8)
        dense = ml_dense = None
        approximate = len(units) > approximate_above
        if encoder is not None and units:
            dense = DenseIndex.build(encoder.encode(units), approximate=approximate)
            if ml_encoder is not None:
                ml_dense = DenseIndex.build(ml_encoder.encode(units), approximate=approximate)
        return cls(units, unit_entry, unit_kind, dense,
                   np.asarray(au.lexical_entry, dtype=np.int32), Bm25.fit(au.lexical),
                   CharTfidf.fit(au.lexical), ml_dense)


class KBIndex:
    """Searchable FAQ entries. Build with `KBIndex.build`, persist with `save` / `load`."""

    def __init__(self, entries: Sequence[KBEntry], settings: KBSettings,
                 encoder: Encoder | None, phrasings: list[str], phrasing_entry: np.ndarray,
                 dense: DenseIndex | None, bm25: Bm25, char: CharTfidf,
                 calibrator: Calibrator, build_info: Mapping[str, Any],
                 answers: AnswerSide | None = None, ml_dense: DenseIndex | None = None,
                 translation: Mapping[str, float] | None = None,
                 languages: tuple[np.ndarray, np.ndarray] | None = None):
        self.entries = tuple(entries)
        self.settings = settings
        self.encoder = encoder
        self.phrasings = phrasings
        self.phrasing_entry = phrasing_entry
        self.dense = dense
        # the multilingual view (a two-model encoder): questions in languages the fast model
        # does not read are searched with the multilingual part's vectors
        self.ml_dense = ml_dense if dense is not None else None
        self.ml_encoder = _multilingual_part(encoder) if self.ml_dense is not None else None
        # how close a translation comes in the multilingual view, per language pair ("ru|en"):
        # a cosine across languages is divided by it (see `_language_scale`)
        self.translation = dict(translation or {})
        self.bm25 = bm25
        self.char = char
        self.calibrator = calibrator
        self.build_info = dict(build_info)
        self.answers = answers if answers is not None else AnswerSide.build(
            self.entries, None, settings.approximate_above)
        if dense is None:
            self.answers.dense = None
        if self.ml_dense is None:
            self.answers.ml_dense = None
        self._by_id = {e.id: i for i, e in enumerate(self.entries)}
        n = len(self.entries)
        self._entry_phrasings = _group(phrasing_entry, n)
        self._entry_units = _group(self.answers.unit_entry, n)
        self._entry_doc = np.full(n, -1, dtype=np.int64)
        self._entry_doc[self.answers.doc_entry] = np.arange(len(self.answers.doc_entry))
        # each question's and answer unit's language (as saved, else detected now)
        self._phrasing_language, self._unit_language = languages or (
            self._languages(phrasings), self._languages(self.answers.units))
        self._first_phrasing = np.asarray(
            [p[0] if len(p) else -1 for p in self._entry_phrasings], dtype=np.int64)
        self._features = feature_names(dense is not None)
        raw = RAW_WEIGHTS[dense is not None]
        base = [f for f in self._features if f in PHRASING_FEATURES]
        self._raw_weights = np.asarray([raw[f] for f in base])  # on per-phrasing features
        self._raw_entry = np.asarray([raw.get(f, 0.0) for f in self._features])

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, entries: Sequence[KBEntry], settings: KBSettings,
              encoder: Encoder | None) -> KBIndex:
        """Index every question and answer of every entry; `encoder=None` builds a
        lexical-only index."""
        started = time.perf_counter()
        _check_entries(entries)
        phrasings: list[str] = []
        owner: list[int] = []
        for i, entry in enumerate(entries):
            for question in entry.questions:
                if not question.strip():
                    continue
                phrasings.append(question)
                owner.append(i)
        phrasing_entry = np.asarray(owner, dtype=np.int32)
        bm25 = Bm25.fit(phrasings)
        char = CharTfidf.fit(phrasings)
        dense = ml_dense = None
        vectors = ml_vectors = None
        ml_encoder = _multilingual_part(encoder)
        if encoder is not None and phrasings:
            vectors = encoder.encode(phrasings)
            approximate = len(phrasings) > settings.approximate_above
            dense = DenseIndex.build(vectors, approximate=approximate)
            if ml_encoder is encoder:  # one multilingual model: one index, both views
                ml_vectors, ml_dense = vectors, dense
            elif ml_encoder is not None:
                ml_vectors = ml_encoder.encode(phrasings)
                ml_dense = DenseIndex.build(ml_vectors, approximate=approximate)
        answers = AnswerSide.build(
            entries, encoder if dense is not None else None, settings.approximate_above,
            ml_encoder if dense is not None and ml_encoder is not encoder else None)
        if ml_encoder is encoder:
            answers.ml_dense = answers.dense
        index = cls(entries, settings, encoder, phrasings, phrasing_entry, dense, bm25, char,
                    Calibrator.default(dense is not None, multilingual=ml_dense is not None),
                    {}, answers, ml_dense, _pair_cosines(ml_encoder) if ml_dense is not None
                    else None)
        index.calibrator = index._fit_calibrator(vectors, ml_vectors)
        index.build_info = {"build_seconds": round(time.perf_counter() - started, 3),
                            "answer_units": len(answers.units)}
        return index

    def _fit_calibrator(self, vectors: np.ndarray | None,
                        ml_vectors: np.ndarray | None = None) -> Calibrator:
        """Leave-one-phrasing-out over entries with several phrasings, plus questions the KB
        lacks and close paraphrases; see `supportbot.kb.calibration`. (The fit keeps the
        answer-side weights at zero, so the entry document, which holds the first question,
        does not leak the held-out phrasing.) With a multilingual view, the same searches run
        on it too, plus cross-lingual ones (see `_trials`), for its own heads."""
        has_dense = self.dense is not None
        multi = [i for i, p in enumerate(self._entry_phrasings) if len(p) > 1]
        positives = sum(len(self._entry_phrasings[i]) for i in multi)
        if len(multi) < MIN_FIT_ENTRIES or positives < MIN_FIT_POSITIVES:
            return Calibrator.default(
                has_dense, f"too small to fit: {len(multi)} entries with 2+ questions "
                f"(need {MIN_FIT_ENTRIES}) and {positives} such questions "
                f"(need {MIN_FIT_POSITIVES}); using the documented priors",
                multilingual=self.ml_dense is not None)
        queries = np.arange(len(self.phrasings))
        if len(queries) > MAX_FIT_QUERIES:
            queries = np.sort(np.random.default_rng(0).choice(queries, MAX_FIT_QUERIES,
                                                               replace=False))
        near = _near_copies([self.phrasings[q] for q in queries]) if NEAR_WEIGHT > 0 else {}
        one_model = self.ml_dense is not None and self.ml_encoder is self.encoder
        trials = [] if one_model else self._trials(queries, near, vectors, FAST)
        if self.ml_dense is not None and ml_vectors is not None:
            trials += self._trials(queries, near, ml_vectors, MULTILINGUAL)
        if not any(t.right >= 0 and t.kind == "loo" for t in trials):
            return Calibrator.default(has_dense, "no leave-one-out question found its entry",
                                      multilingual=self.ml_dense is not None)
        stats = {"fit_queries": len(queries), "fit_searches": len(trials)}
        return Calibrator.fit(trials, has_dense, stats, self.settings.clarify_margin,
                              multilingual=self.ml_dense is not None)

    def _trials(self, queries: np.ndarray, near: dict[int, str], vectors: np.ndarray | None,
                view: str) -> list[Trial]:
        """The simulated searches of calibration in one dense view. In the fast view each
        trial is keyed by its question's script (heads per script); in the multilingual view
        every trial is keyed MULTILINGUAL, and each phrasing is also searched with its entry's
        phrasings in the same script left out (the entry must be found through questions in
        other languages, or its answer), and, as a question in a language nothing in the KB is
        written in, with no word or character match anywhere (kind "foreign")."""
        near_vectors = None
        if near:
            encoder = self.encoder if view == FAST else self.ml_encoder
            if encoder is not None and vectors is not None:
                near_vectors = dict(zip(near, encoder.encode(list(near.values()))))
        scripts = [script_of(p) for p in self.phrasings]
        uncovered = UNCOVERED_WEIGHT if view == FAST else MULTILINGUAL_UNCOVERED_WEIGHT
        trials: list[Trial] = []
        for i, q in enumerate(queries):
            own = int(self.phrasing_entry[q])
            qvec = vectors[q] if vectors is not None else None
            text = self.phrasings[q]
            mine = self._entry_phrasings[own]
            reachable = len(mine) > 1
            key = scripts[q] if view == FAST else MULTILINGUAL
            if view == MULTILINGUAL and q == self._first_phrasing[own]:
                # the entry document (feature e_dense, fitted in this view) holds the first
                # question: searching for it would teach that the document is a sure match
                if uncovered > 0 and reachable:
                    self._add_trials(trials, [("uncovered", text, qvec, None, None, own,
                                               uncovered)], own, view, key, q)
                continue
            searches: list[_Search] = []
            if reachable:
                searches.append(("loo", text, qvec, np.asarray([q]), own, None, 1.0))
                if uncovered > 0:
                    searches.append(("uncovered", text, qvec, None, None, own, uncovered))
            if view == MULTILINGUAL:
                same = mine[[scripts[p] == scripts[q] for p in mine]]
                if len(same) < len(mine):  # the entry has questions in another script
                    searches.append(("loo", text, qvec, same, own, None,
                                     CROSS_LINGUAL_WEIGHT))
                if reachable and FOREIGN_WEIGHT > 0:
                    searches.append(("foreign", "", qvec, np.asarray([q]), own, None,
                                     FOREIGN_WEIGHT))
            if i in near:
                nvec = near_vectors[i] if near_vectors is not None else None
                searches.append(("near", near[i], nvec, None, own, None, NEAR_WEIGHT))
            self._add_trials(trials, searches, own, view, key, q)
        return trials

    def _add_trials(self, trials: list[Trial], searches: Sequence[_Search], own: int,
                    view: str, key: str, query: int) -> None:
        """Run the simulated `searches` of phrasing `query` (of entry `own`) into `trials`."""
        for kind, text, vec, exclude, force, drop, weight in searches:
            cands = self._candidates(vec, text, exclude=exclude, force_entry=force,
                                     drop_entry=drop, view=view,
                                     language=int(self._phrasing_language[query]))
            if not len(cands.entries):
                continue
            right = (np.flatnonzero(cands.entries == own) if drop is None
                     else np.zeros(0, dtype=np.int64))
            trials.append(Trial(cands.features, int(right[0]) if len(right) else -1,
                                weight, kind, key, cands.raw))

    # ------------------------------------------------------------------ searching
    def _candidates(self, qvec: np.ndarray | None, text: str, exclude: np.ndarray | None = None,
                    force_entry: int | None = None, drop_entry: int | None = None,
                    view: str = FAST, language: int = -1) -> _Candidates:
        """Per-entry features for the entries near the query. `exclude`: phrasings to ignore;
        `force_entry`: an entry to score even when no search found it; `drop_entry`: an entry
        to leave out altogether (a question the KB does not have); `view`: whose vectors
        `qvec` is (FAST: the encoder's `encode`; MULTILINGUAL: its multilingual part's);
        `language`: the query's position in SCALED_LANGUAGES (-1: another or unknown)."""
        n = len(self.phrasings)
        ans = self.answers
        dense, answer_dense = ((self.ml_dense, ans.ml_dense) if view == MULTILINGUAL
                               else (self.dense, ans.dense))
        bm = self.bm25.scores(text)
        ch = self.char.scores(text)
        if exclude is not None and len(exclude):
            bm[exclude] = 0.0
            ch[exclude] = 0.0
        abm = ans.bm25.scores(text, skip=FUNCTION_WORDS)
        ach = ans.char.scores(text)
        pools = [self.phrasing_entry[_top_positive(bm, CANDIDATE_POOL)],
                 self.phrasing_entry[_top_positive(ch, CANDIDATE_POOL)],
                 ans.doc_entry[_top_positive(abm, CANDIDATE_POOL)],
                 ans.doc_entry[_top_positive(ach, CANDIDATE_POOL)]]
        use_dense = dense is not None and qvec is not None and n > 0
        if use_dense:
            q32 = np.asarray(qvec, dtype=np.float32)
            extra = 0 if exclude is None else len(exclude)
            _, ids = dense.search(q32, CANDIDATE_POOL + extra)  # type: ignore[union-attr]
            ids = ids[ids >= 0]
            if exclude is not None and extra:
                ids = ids[~np.isin(ids, exclude)]
            pools.append(self.phrasing_entry[ids])
            if answer_dense is not None and len(ans.units):
                _, uids = answer_dense.search(q32, CANDIDATE_POOL)
                pools.append(ans.unit_entry[uids[uids >= 0]])
        nearby = np.unique(np.concatenate(pools).astype(np.int64))
        if force_entry is not None:
            nearby = np.union1d(nearby, [force_entry])
        if drop_entry is not None:
            nearby = nearby[nearby != drop_entry]
        m = len(nearby)
        if not m:
            empty = np.zeros(0, dtype=np.int64)
            return _Candidates(empty, np.zeros((0, len(self._features))), empty, np.zeros(0))
        row_of = {int(e): r for r, e in enumerate(nearby)}
        # question side: maxima over the entry's remaining phrasings
        phr = np.concatenate([self._entry_phrasings[e] for e in nearby])
        if exclude is not None and len(exclude):
            phr = phr[~np.isin(phr, exclude)]
        local = np.asarray([row_of[int(e)] for e in self.phrasing_entry[phr]], dtype=np.int64)
        cols = [bm[phr], ch[phr]]
        if use_dense:
            dn = dense.vectors(phr) @ q32  # type: ignore[union-attr]
            if view == MULTILINGUAL:
                dn = dn * self._language_scale(language, self._phrasing_language[phr])
            dn = np.clip(dn, 0, 1)
            cols.insert(0, dn)
        elif self.dense is not None:
            cols.insert(0, np.zeros(len(phr)))
        per_phrasing = np.stack(cols, axis=1).astype(np.float64) if len(phr) else             np.zeros((0, len(cols)))
        qf = np.zeros((m, per_phrasing.shape[1]))
        if len(phr):
            np.maximum.at(qf, local, per_phrasing)
        # answer side
        doc = self._entry_doc[nearby]
        has_doc = doc >= 0
        a_bm = np.zeros(m)
        a_ch = np.zeros(m)
        a_bm[has_doc] = abm[doc[has_doc]]
        a_ch[has_doc] = ach[doc[has_doc]]
        if self.dense is not None:
            a_dn = np.zeros(m)
            e_dn = np.zeros(m)
            units = np.concatenate([self._entry_units[e] for e in nearby])
            if use_dense and answer_dense is not None and len(units):
                sims = (answer_dense.vectors(units) @ q32).astype(np.float64)
                if view == MULTILINGUAL:
                    sims = sims * self._language_scale(language, self._unit_language[units])
                sims = np.clip(sims, 0, 1)
                urow = np.asarray([row_of[int(e)] for e in ans.unit_entry[units]],
                                  dtype=np.int64)
                kind = ans.unit_kind[units]
                np.maximum.at(a_dn, urow[kind == PASSAGE], sims[kind == PASSAGE])
                np.maximum.at(e_dn, urow[kind == DOCUMENT], sims[kind == DOCUMENT])
            dense2 = _top2_mean(per_phrasing[:, 0], local, m) if len(phr) else np.zeros(m)
            feats = np.column_stack([qf[:, 0], dense2, qf[:, 1], qf[:, 2], a_dn, e_dn, a_bm,
                                     a_ch])
        else:
            feats = np.column_stack([qf[:, 0], qf[:, 1], a_bm, a_ch])
        best = np.full(m, -1, dtype=np.int64)
        if len(phr):
            phr_raw = per_phrasing @ self._raw_weights
            order = np.lexsort((-phr_raw, local))
            first = np.concatenate([[True], local[order][1:] != local[order][:-1]])
            best[local[order[first]]] = phr[order[first]]
        return _Candidates(nearby, feats, best, feats @ self._raw_entry)

    def search(self, text: str, k: int = 5, vector: np.ndarray | None = None,
               language: str | None = None) -> list[KBHit]:
        """The `k` best entries for `text`, one hit per entry, highest score first.

        `vector` may carry the query's embedding (of the encoder's `encode`) when the caller
        already has it. `language` (the message's, as the NLU detected it) chooses the view of
        an index with a multilingual part: English reads with the fast model; every other
        language with both, each entry keeping the higher of its two scores (the fast view's
        heads for that script still catch same-language word matches the multilingual heads
        weigh less); without `language` the script decides (Latin: fast only).
        """
        if k <= 0 or not self.entries or not text.strip():
            return []
        if vector is None and self.encoder is not None and self.dense is not None \
                and self.ml_encoder is not self.encoder:
            vector = self.encoder.encode([text], use_cache=False)[0]
        position = self._language_position(text, language)
        if self.view_for(text, language) != MULTILINGUAL:
            return self._hits(text, vector, FAST, position, k)
        assert self.ml_encoder is not None
        ml_vector = self.ml_encoder.encode([text], use_cache=False)[0]
        hits = self._hits(text, ml_vector, MULTILINGUAL, position, k)
        if self.ml_encoder is not self.encoder:
            best: dict[str, KBHit] = {}
            for hit in hits + self._hits(text, vector, FAST, position, k):
                if hit.entry_id not in best or hit.score > best[hit.entry_id].score:
                    best[hit.entry_id] = hit
            hits = sorted(best.values(), key=lambda h: -h.score)[:k]
        return hits

    def _hits(self, text: str, vector: np.ndarray | None, view: str, language: int,
              k: int) -> list[KBHit]:
        """The `k` best entries for `text` in one view, scored by that view's heads."""
        heads = self.calibrator.heads(MULTILINGUAL if view == MULTILINGUAL else script_of(text))
        cands = self._candidates(vector, text, view=view, language=language)
        if not len(cands.entries):
            return []
        scores, relevance = heads.predict(cands.features)
        margin = margins(relevance)
        order = np.lexsort((-cands.raw, -scores))[:k]
        threshold = self.calibrator.threshold_for(MULTILINGUAL if view == MULTILINGUAL else None)
        hits = []
        for j in order:
            f = {name: round(float(v), 4) for name, v in zip(self._features, cands.features[j])}
            f["margin"] = round(float(margin[j]), 4)
            entry_pos = int(cands.entries[j])
            best = int(cands.best_phrasing[j])
            if best < 0:
                best = int(self._first_phrasing[entry_pos])
            hits.append(KBHit(
                entry_id=self.entries[entry_pos].id,
                score=float(scores[j]),
                relevance=float(relevance[j]),
                matched_question=self.phrasings[best] if best >= 0 else "",
                dense=f.get("dense", 0.0),
                lexical=round((f.get("bm25", 0.0) + f.get("char", 0.0)) / 2, 4),
                features=f,
                threshold=threshold,
            ))
        return hits

    def _languages(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's position in SCALED_LANGUAGES (-1: none of them); all -1 without a
        multilingual view (nothing is scaled there)."""
        if self.ml_dense is None:
            return np.full(len(texts), -1, dtype=np.int8)
        return np.asarray([self._language_position(t) for t in texts], dtype=np.int8)

    @staticmethod
    def _language_position(text: str, language: str | None = None) -> int:
        from supportbot.nlu.langid import detect_language

        code = (language or detect_language(text, SCALED_LANGUAGES, default="")).split("-")[0]
        return SCALED_LANGUAGES.index(code) if code in SCALED_LANGUAGES else -1

    def _language_scale(self, query: int, languages: np.ndarray) -> np.ndarray:
        """Per text in `languages`, what a cosine between the query (in language `query`) and
        it is multiplied by: 1 in the same language (or an unknown one), else one over how
        close a translation comes between the two languages (`self.translation`), so that a
        question and a faithful translation of it count as equally close."""
        scale = np.ones(len(languages))
        if query < 0 or not self.translation:
            return scale
        q = SCALED_LANGUAGES[query]
        for position in np.unique(languages):
            if position < 0 or position == query:
                continue
            cosine = self.translation.get(f"{q}|{SCALED_LANGUAGES[position]}")
            if cosine:
                scale[languages == position] = 1.0 / max(cosine, MIN_TRANSLATION_COSINE)
        return scale

    def view_for(self, text: str, language: str | None = None) -> str:
        """MULTILINGUAL when the index has a multilingual view and the message is in a
        language the fast model does not read (by `language`, else by script); else FAST."""
        if self.ml_dense is None:
            return FAST
        if self.ml_encoder is self.encoder:
            return MULTILINGUAL  # one multilingual model reads everything
        if language:
            return FAST if language.split("-")[0].lower() in FAST_LANGUAGES else MULTILINGUAL
        return MULTILINGUAL if script_of(text) in MULTILINGUAL_SCRIPTS else FAST

    # ------------------------------------------------------------------ accessors
    def entry(self, entry_id: str) -> KBEntry:
        """The entry with this id; KeyError names the known ids when it does not exist."""
        try:
            return self.entries[self._by_id[entry_id]]
        except KeyError:
            known = ", ".join(sorted(self._by_id)[:10])
            raise KeyError(f"no FAQ entry with id {entry_id!r} (known ids include: {known})") \
                from None

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def __len__(self) -> int:
        return len(self.entries)

    def info(self) -> dict[str, Any]:
        """What was built: sizes, dense index kind (exact / hnsw / none), calibration."""
        return {
            "entries": len(self.entries),
            "phrasings": len(self.phrasings),
            "answer_units": len(self.answers.units),
            "dense_index": self.dense.kind if self.dense is not None else "none",
            "multilingual_view": (None if self.ml_dense is None else "shared"
                                  if self.ml_dense is self.dense else self.ml_dense.kind),
            "approximate_above": self.settings.approximate_above,
            "embedding_model": getattr(self.encoder, "model_name", None),
            "lexical": "bm25 + char n-gram tf-idf, over questions and over answers",
            "calibration": self.calibrator.to_json(),
            **self.build_info,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> None:
        """Write the index to `folder` (JSON + .npz arrays + faiss indexes; no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        ans = self.answers
        bm_arrays, terms = self.bm25.to_arrays()
        abm_arrays, answer_terms = ans.bm25.to_arrays("abm25")
        arrays = {**bm_arrays, **self.char.to_arrays(), **abm_arrays,
                  **ans.char.to_arrays("achar"), "phrasing_entry": self.phrasing_entry,
                  "unit_entry": ans.unit_entry, "unit_kind": ans.unit_kind,
                  "doc_entry": ans.doc_entry, "phrasing_language": self._phrasing_language,
                  "unit_language": self._unit_language}
        np.savez(folder / _ARRAYS, **arrays)  # type: ignore[arg-type]  # numpy's stub
        if self.dense is not None:
            self.dense.save(folder / _DENSE)
        if ans.dense is not None:
            ans.dense.save(folder / _ANSWER_DENSE)
        separate = self.ml_dense is not None and self.ml_dense is not self.dense
        if separate:
            self.ml_dense.save(folder / _ML_DENSE)  # type: ignore[union-attr]
            if ans.ml_dense is not None:
                ans.ml_dense.save(folder / _ML_ANSWER_DENSE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "settings": {f: getattr(self.settings, f) for f in
                         ("threshold", "clarify_margin", "approximate_above",
                          "max_clarify_options")},
            "dense": None if self.dense is None else {
                "kind": self.dense.kind, "dim": self.dense.dim, "ef_search": self.dense.ef_search,
                "model": getattr(self.encoder, "model_name", None)},
            "answer_dense": None if ans.dense is None else {
                "kind": ans.dense.kind, "ef_search": ans.dense.ef_search},
            # the multilingual view: None, "shared" (one multilingual model) or its indexes
            "multilingual_dense": None if self.ml_dense is None else "shared" if not separate
            else {"kind": self.ml_dense.kind,  # type: ignore[union-attr]
                  "ef_search": self.ml_dense.ef_search,  # type: ignore[union-attr]
                  "answers": ans.ml_dense is not None},
            "translation_cosines": self.translation,
            "char": {"ngrams": list(self.char.ngrams), "n_features": self.char.n_features},
            "calibration": self.calibrator.to_json(),
            "build_info": self.build_info,
            "bm25_terms": terms,
            "answer_bm25_terms": answer_terms,
            "phrasings": self.phrasings,
            "answer_units": ans.units,
            "entries": [entry_to_json(e) for e in self.entries],
        }
        (folder / _MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | Path, encoder: Encoder | None) -> KBIndex:
        """Read an index written by `save`. Pass the same encoder model it was built with.
        Any malformed part (wrong JSON shapes, a corrupt faiss file) is a ModelError."""
        try:
            return cls._load(Path(folder), encoder)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - model files may be corrupt or hostile
            raise ModelError(f"cannot read the KB index in {folder} ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); retrain the model") from None

    @classmethod
    def _load(cls, folder: Path, encoder: Encoder | None) -> KBIndex:
        path = folder / _MANIFEST
        if not path.exists():
            raise ModelError(f"{path} not found: {folder} is not a saved KB index "
                             f"(build one with `supportbot train`)")
        try:
            manifest = json.loads(path.read_text())
            arrays = dict(np.load(folder / _ARRAYS, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the KB index in {folder}: {exc}; retrain the model") \
                from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{path}: KB index format {manifest.get('format_version')} is not "
                             f"supported (expected {FORMAT_VERSION}); retrain the model")
        dense_meta = manifest["dense"]
        dense = answer_dense = ml_dense = ml_answer_dense = None
        if dense_meta is not None:
            if encoder is None:
                raise ModelError(f"{path}: this KB index was built with the embedding model "
                                 f"{dense_meta['model']!r}; load it with that Encoder, not None")
            if dense_meta["model"] and encoder.model_name != dense_meta["model"]:
                raise ModelError(f"{path}: built with embedding model {dense_meta['model']!r} "
                                 f"but loaded with {encoder.model_name!r}; use the same model "
                                 f"or retrain")
            dense = DenseIndex.load(folder / _DENSE, dense_meta["kind"], dense_meta["ef_search"])
            answer_meta = manifest["answer_dense"]
            if answer_meta is not None:
                answer_dense = DenseIndex.load(folder / _ANSWER_DENSE, answer_meta["kind"],
                                               answer_meta["ef_search"])
            ml_meta = manifest.get("multilingual_dense")
            if ml_meta == "shared":
                ml_dense, ml_answer_dense = dense, answer_dense
            elif ml_meta is not None:
                ml_dense = DenseIndex.load(folder / _ML_DENSE, ml_meta["kind"],
                                           ml_meta["ef_search"])
                if ml_meta["answers"]:
                    ml_answer_dense = DenseIndex.load(folder / _ML_ANSWER_DENSE,
                                                      ml_meta["kind"], ml_meta["ef_search"])
            if ml_dense is not None and _multilingual_part(encoder) is None:
                from supportbot.nlu.e5engine import INSTALL_HINT

                raise ModelError(f"{path}: this KB index reads several languages with a "
                                 f"multilingual embedding model that is not available here "
                                 f"(load it with the encoder it was built with, "
                                 f"{dense_meta['model']!r}): {INSTALL_HINT}; or retrain "
                                 f"without it")
        elif encoder is not None:
            encoder = None  # lexical-only index: embeddings would not be used
        s = manifest["settings"]
        settings = KBSettings(threshold=s["threshold"], clarify_margin=s["clarify_margin"],
                              approximate_above=s["approximate_above"],
                              max_clarify_options=s["max_clarify_options"])
        char_meta = manifest["char"]
        ngrams, n_features = tuple(char_meta["ngrams"]), int(char_meta["n_features"])
        answers = AnswerSide(
            units=[str(u) for u in manifest["answer_units"]],
            unit_entry=arrays["unit_entry"], unit_kind=arrays["unit_kind"], dense=answer_dense,
            doc_entry=arrays["doc_entry"],
            bm25=Bm25.from_arrays(arrays, list(manifest["answer_bm25_terms"]), "abm25"),
            char=CharTfidf.from_arrays(arrays, ngrams, n_features, "achar"),
            ml_dense=ml_answer_dense)
        return cls(
            entries=[entry_from_json(e) for e in manifest["entries"]],
            settings=settings,
            encoder=encoder,
            phrasings=list(manifest["phrasings"]),
            phrasing_entry=arrays["phrasing_entry"],
            dense=dense,
            bm25=Bm25.from_arrays(arrays, list(manifest["bm25_terms"])),
            char=CharTfidf.from_arrays(arrays, ngrams, n_features),
            calibrator=Calibrator.from_json(manifest["calibration"]),
            build_info=manifest.get("build_info", {}),
            translation={str(k): float(v) for k, v in
                         dict(manifest.get("translation_cosines") or {}).items()},
            languages=_saved_languages(arrays, len(manifest["phrasings"]),
                                       len(manifest["answer_units"]), path)
            if ml_dense is not None else None,
            answers=answers,
            ml_dense=ml_dense,
        )


def _saved_languages(arrays: Mapping[str, np.ndarray], phrasings: int, units: int,
                     path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The saved language of each question and answer unit (None: an index saved without
    them, detected again); a ModelError when they do not fit the index."""
    if "phrasing_language" not in arrays:
        return None
    saved = (arrays["phrasing_language"], arrays["unit_language"])
    if saved[0].shape != (phrasings,) or saved[1].shape != (units,):
        raise ModelError(f"{path}: the saved languages do not fit the questions and answers; "
                         "retrain the model")
    return saved


def _pair_cosines(encoder: Encoder | None) -> dict[str, float]:
    """The multilingual encoder's translation cosines per language pair (empty without)."""
    neutral = getattr(encoder, "neutral", None)
    return dict(getattr(neutral, "pair_cosine", {}) or {})


def _multilingual_part(encoder: Encoder | None) -> Encoder | None:
    """The encoder's multilingual part (the encoder itself for one multilingual model)."""
    return None if encoder is None else getattr(encoder, "multilingual_part", None)


def _group(owner: np.ndarray, n: int) -> list[np.ndarray]:
    """Positions grouped by owner: element i holds the positions whose owner is i."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


def _near_copies(texts: list[str]) -> dict[int, str]:
    """Close paraphrases for calibration: each text of 3+ words with a quarter of its words
    (at least one) dropped, seeded; keyed by position."""
    rng = np.random.default_rng(1)
    out = {}
    for i, text in enumerate(texts):
        tokens = text.split()
        if len(tokens) < 3:
            continue
        drop = set(rng.choice(len(tokens), max(1, round(len(tokens) * NEAR_DROP)),
                              replace=False).tolist())
        out[i] = " ".join(t for j, t in enumerate(tokens) if j not in drop)
    return out


def _top2_mean(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the mean of its two highest values (the value itself for one-member groups)."""
    order = np.lexsort((-values, group))
    g, v = group[order], values[order]
    first = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    second = np.minimum(first + 1, len(v) - 1)
    has_two = (first + 1 < len(v)) & (g[second] == g[first])
    out = np.zeros(n_groups)
    out[g[first]] = np.where(has_two, (v[first] + v[second]) / 2, v[first])
    return out


def _top_positive(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` highest strictly positive scores (any order)."""
    if len(scores) > n:
        top = np.argpartition(-scores, n)[:n]
    else:
        top = np.arange(len(scores))
    return top[scores[top] > 0]


def _check_entries(entries: Sequence[KBEntry]) -> None:
    """Duplicate ids and entries without questions, all reported at once with file:line."""
    problems: list[Problem] = []
    seen: dict[str, KBEntry] = {}
    for entry in entries:
        src = entry.source
        if entry.id in seen:
            first = seen[entry.id].source
            problems.append(Problem(
                "error", f"FAQ entry id {entry.id!r} is used twice (first at {first})",
                src.file, src.line or None, "give every FAQ entry a unique id", "kb_duplicate_id"))
        seen.setdefault(entry.id, entry)
        if not any(q.strip() for q in entry.questions):
            problems.append(Problem(
                "error", f"FAQ entry {entry.id!r} has no questions", src.file, src.line or None,
                "add at least one question phrasing under `questions:`", "kb_no_questions"))
    if problems:
        raise ProjectError(problems)
