"""The FAQ knowledge-base index: hybrid dense + lexical retrieval with one calibrated score.

`KBIndex.build` indexes every question phrasing of every entry (all languages). `search` returns
one `KBHit` per entry, best first; `hit.score` estimates the probability that the entry is the
right answer (see `supportbot.kb.calibration`). `supportbot.kb.decision.decide` turns hits into
answer / clarify / none.
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
from supportbot.kb.calibration import (
    MAX_FIT_QUERIES,
    MIN_FIT_ENTRIES,
    MIN_FIT_POSITIVES,
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
from supportbot.kb.serialize import entry_from_json, entry_to_json
from supportbot.kb.text import script_of
from supportbot.project.types import KBEntry, KBSettings

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

FORMAT_VERSION = 1
CANDIDATE_POOL = 32  # phrasings taken from each of dense, BM25 and char search before re-scoring
_MANIFEST = "kb.json"
_ARRAYS = "arrays.npz"
_DENSE = "dense.faiss"


@dataclass(frozen=True)
class KBHit:
    """One FAQ entry found for a query.

    `score` (0..1) is the calibrated probability that this entry answers the query;
    `relevance` (0..1) the same judged by the entry's own similarity only, ignoring how close
    other entries come (two near-duplicates both get a high relevance); `matched_question` is
    the entry's phrasing closest to the query; `dense` is its best embedding cosine (0 without an
    encoder); `lexical` the mean of its normalised BM25 and char n-gram cosine; `features` are
    the calibration inputs (similarities and the relevance margin).
    """

    entry_id: str
    score: float
    relevance: float
    matched_question: str
    dense: float
    lexical: float
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass
class _Candidates:
    entries: np.ndarray  # entry positions
    features: np.ndarray  # (m, n_features) similarity features in `feature_names` order
    best_phrasing: np.ndarray  # phrasing position per entry
    raw: np.ndarray  # uncalibrated blend that pre-ranks candidates


class KBIndex:
    """Searchable FAQ entries. Build with `KBIndex.build`, persist with `save` / `load`."""

    def __init__(self, entries: Sequence[KBEntry], settings: KBSettings,
                 encoder: Encoder | None, phrasings: list[str], phrasing_entry: np.ndarray,
                 dense: DenseIndex | None, bm25: Bm25, char: CharTfidf,
                 calibrator: Calibrator, build_info: Mapping[str, Any]):
        self.entries = tuple(entries)
        self.settings = settings
        self.encoder = encoder
        self.phrasings = phrasings
        self.phrasing_entry = phrasing_entry
        self.dense = dense
        self.bm25 = bm25
        self.char = char
        self.calibrator = calibrator
        self.build_info = dict(build_info)
        self._by_id = {e.id: i for i, e in enumerate(self.entries)}
        order = np.argsort(phrasing_entry, kind="stable")
        bounds = np.searchsorted(phrasing_entry[order], np.arange(len(self.entries) + 1))
        self._entry_phrasings = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.entries))]
        self._features = feature_names(dense is not None)
        raw = RAW_WEIGHTS[dense is not None]
        base = [f for f in self._features if f in PHRASING_FEATURES]
        self._raw_weights = np.asarray([raw[f] for f in base])  # on per-phrasing features
        self._raw_entry = np.asarray([raw.get(f, 0.0) for f in self._features])

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, entries: Sequence[KBEntry], settings: KBSettings,
              encoder: Encoder | None) -> KBIndex:
        """Index every question of every entry; `encoder=None` builds a lexical-only index."""
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
        dense = None
        vectors = None
        if encoder is not None and phrasings:
            vectors = encoder.encode(phrasings)
            approximate = len(phrasings) > settings.approximate_above
            dense = DenseIndex.build(vectors, approximate=approximate)
        index = cls(entries, settings, encoder, phrasings, phrasing_entry, dense, bm25, char,
                    Calibrator.default(dense is not None), {})
        index.calibrator = index._fit_calibrator(vectors)
        index.build_info = {"build_seconds": round(time.perf_counter() - started, 3)}
        return index

    def _fit_calibrator(self, vectors: np.ndarray | None) -> Calibrator:
        has_dense = self.dense is not None
        multi = [i for i, p in enumerate(self._entry_phrasings) if len(p) > 1]
        positives = sum(len(self._entry_phrasings[i]) for i in multi)
        if len(multi) < MIN_FIT_ENTRIES or positives < MIN_FIT_POSITIVES:
            return Calibrator.default(
                has_dense, f"too small to fit: {len(multi)} entries with 2+ questions "
                f"(need {MIN_FIT_ENTRIES}) and {positives} such questions "
                f"(need {MIN_FIT_POSITIVES})")
        queries = np.arange(len(self.phrasings))
        if len(queries) > MAX_FIT_QUERIES:
            queries = np.sort(np.random.default_rng(0).choice(queries, MAX_FIT_QUERIES,
                                                               replace=False))
        near = _near_copies([self.phrasings[q] for q in queries]) if NEAR_WEIGHT > 0 else {}
        near_vectors = None
        if near and self.encoder is not None:
            near_vectors = dict(zip(near, self.encoder.encode(list(near.values()))))
        trials: list[Trial] = []
        for i, q in enumerate(queries):
            own = int(self.phrasing_entry[q])
            qvec = vectors[q] if vectors is not None else None
            reachable = len(self._entry_phrasings[own]) > 1
            text = self.phrasings[q]
            searches: list[tuple[str, str, np.ndarray | None, np.ndarray | None, int | None,
                                 float]] = [
                ("loo", text, qvec, np.asarray([q]), own if reachable else None, 1.0)]
            if UNCOVERED_WEIGHT > 0 and reachable:
                searches.append(("uncovered", text, qvec, self._entry_phrasings[own], None,
                                 UNCOVERED_WEIGHT))
            if i in near:
                nvec = near_vectors[i] if near_vectors is not None else None
                searches.append(("near", near[i], nvec, None, own, NEAR_WEIGHT))
            for kind, text, qvec, exclude, force, weight in searches:
                cands = self._candidates(qvec, text, exclude=exclude, force_entry=force)
                if not len(cands.entries):
                    continue
                right = np.flatnonzero(cands.entries == own)
                trials.append(Trial(cands.features, int(right[0]) if len(right) else -1,
                                    weight, kind, script_of(text), cands.raw))
        if not any(t.right >= 0 for t in trials):
            return Calibrator.default(has_dense, "no leave-one-out question found its entry")
        stats = {"fit_queries": len(queries), "fit_searches": len(trials)}
        return Calibrator.fit(trials, has_dense, stats)

    # ------------------------------------------------------------------ searching
    def _candidates(self, qvec: np.ndarray | None, text: str, exclude: np.ndarray | None = None,
                    force_entry: int | None = None) -> _Candidates:
        """Per-entry features for the entries near the query (optionally ignoring phrasings)."""
        n = len(self.phrasings)
        bm = self.bm25.scores(text)
        ch = self.char.scores(text)
        if exclude is not None and len(exclude):
            bm[exclude] = 0.0
            ch[exclude] = 0.0
        pool = [_top_positive(bm, CANDIDATE_POOL), _top_positive(ch, CANDIDATE_POOL)]
        if self.dense is not None and qvec is not None and n:
            extra = 0 if exclude is None else len(exclude)
            _, ids = self.dense.search(qvec, CANDIDATE_POOL + extra)
            ids = ids[ids >= 0]
            if exclude is not None and extra:
                ids = ids[~np.isin(ids, exclude)]
            pool.append(ids)
        nearby = np.unique(self.phrasing_entry[np.concatenate(pool).astype(np.int64)])
        if force_entry is not None:
            nearby = np.union1d(nearby, [force_entry])
        if not len(nearby):
            empty = np.zeros(0, dtype=np.int64)
            return _Candidates(empty, np.zeros((0, len(self._features))), empty, np.zeros(0))
        phr = np.concatenate([self._entry_phrasings[e] for e in nearby])
        if exclude is not None and len(exclude):
            phr = phr[~np.isin(phr, exclude)]
        owners, local = np.unique(self.phrasing_entry[phr], return_inverse=True)
        cols = [bm[phr], ch[phr]]
        if self.dense is not None:
            dn = np.zeros(len(phr), dtype=np.float64)
            if qvec is not None:
                dn = np.clip(self.dense.vectors(phr) @ np.asarray(qvec, dtype=np.float32), 0, 1)
            cols.insert(0, dn)
        per_phrasing = np.stack(cols, axis=1).astype(np.float64)
        feats = np.zeros((len(owners), per_phrasing.shape[1]))
        np.maximum.at(feats, local, per_phrasing)
        if self.dense is not None:
            feats = np.column_stack([feats[:, :1], _top2_mean(per_phrasing[:, 0], local,
                                                              len(owners)), feats[:, 1:]])
        phr_raw = per_phrasing @ self._raw_weights
        order = np.lexsort((-phr_raw, local))
        first = np.concatenate([[True], local[order][1:] != local[order][:-1]])
        best = phr[order[first]]
        return _Candidates(owners, feats, best, feats @ self._raw_entry)

    def search(self, text: str, k: int = 5, vector: np.ndarray | None = None) -> list[KBHit]:
        """The `k` best entries for `text`, one hit per entry, highest score first.

        `vector` may carry the query's embedding when the caller already has it.
        """
        if k <= 0 or not self.phrasings or not text.strip():
            return []
        if vector is None and self.encoder is not None and self.dense is not None:
            vector = self.encoder.encode([text], use_cache=False)[0]
        cands = self._candidates(vector, text)
        if not len(cands.entries):
            return []
        scores, relevance = self.calibrator.heads(script_of(text)).predict(cands.features)
        margin = margins(relevance)
        order = np.lexsort((-cands.raw, -scores))[:k]
        hits = []
        for j in order:
            f = {name: round(float(v), 4) for name, v in zip(self._features, cands.features[j])}
            f["margin"] = round(float(margin[j]), 4)
            hits.append(KBHit(
                entry_id=self.entries[cands.entries[j]].id,
                score=float(scores[j]),
                relevance=float(relevance[j]),
                matched_question=self.phrasings[cands.best_phrasing[j]],
                dense=f.get("dense", 0.0),
                lexical=round((f.get("bm25", 0.0) + f.get("char", 0.0)) / 2, 4),
                features=f,
            ))
        return hits

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
            "dense_index": self.dense.kind if self.dense is not None else "none",
            "approximate_above": self.settings.approximate_above,
            "embedding_model": getattr(self.encoder, "model_name", None),
            "lexical": "bm25 + char n-gram tf-idf",
            "calibration": self.calibrator.to_json(),
            **self.build_info,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> None:
        """Write the index to `folder` (JSON + .npz arrays + faiss index; no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        bm_arrays, terms = self.bm25.to_arrays()
        arrays = {**bm_arrays, **self.char.to_arrays(), "phrasing_entry": self.phrasing_entry}
        np.savez(folder / _ARRAYS, **arrays)  # type: ignore[arg-type]  # numpy's stub
        if self.dense is not None:
            self.dense.save(folder / _DENSE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "settings": {f: getattr(self.settings, f) for f in
                         ("threshold", "clarify_margin", "approximate_above",
                          "max_clarify_options")},
            "dense": None if self.dense is None else {
                "kind": self.dense.kind, "dim": self.dense.dim, "ef_search": self.dense.ef_search,
                "model": getattr(self.encoder, "model_name", None)},
            "char": {"ngrams": list(self.char.ngrams), "n_features": self.char.n_features},
            "calibration": self.calibrator.to_json(),
            "build_info": self.build_info,
            "bm25_terms": terms,
            "phrasings": self.phrasings,
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
        dense = None
        if dense_meta is not None:
            if encoder is None:
                raise ModelError(f"{path}: this KB index was built with the embedding model "
                                 f"{dense_meta['model']!r}; load it with that Encoder, not None")
            if dense_meta["model"] and encoder.model_name != dense_meta["model"]:
                raise ModelError(f"{path}: built with embedding model {dense_meta['model']!r} "
                                 f"but loaded with {encoder.model_name!r}; use the same model "
                                 f"or retrain")
            dense = DenseIndex.load(folder / _DENSE, dense_meta["kind"], dense_meta["ef_search"])
        elif encoder is not None:
            encoder = None  # lexical-only index: embeddings would not be used
        s = manifest["settings"]
        settings = KBSettings(threshold=s["threshold"], clarify_margin=s["clarify_margin"],
                              approximate_above=s["approximate_above"],
                              max_clarify_options=s["max_clarify_options"])
        char_meta = manifest["char"]
        return cls(
            entries=[entry_from_json(e) for e in manifest["entries"]],
            settings=settings,
            encoder=encoder,
            phrasings=list(manifest["phrasings"]),
            phrasing_entry=arrays["phrasing_entry"],
            dense=dense,
            bm25=Bm25.from_arrays(arrays, list(manifest["bm25_terms"])),
            char=CharTfidf.from_arrays(arrays, tuple(char_meta["ngrams"]),
                                       int(char_meta["n_features"])),
            calibrator=Calibrator.from_json(manifest["calibration"]),
            build_info=manifest.get("build_info", {}),
        )


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
