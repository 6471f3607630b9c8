"""Nearest training examples: how familiar a message is, and which intents its neighbours have.

A classifier's confidence says which known intent a message fits best, not whether it fits any:
keyboard mashes and off-topic questions can still land on some intent with a fair confidence.
**Familiarity** is the highest cosine similarity between the message's feature vector (the same
embedding + word + character n-gram vector the classifier sees) and the feature vector of any
in-scope training example. The character n-grams keep it meaningful in Armenian, Kyrgyz and
Russian, where the English sentence encoder is weak. The fallback policy falls back
("unfamiliar") below a threshold tuned by cross-validation (see `supportbot.nlu.fallback`).

**Neighbour evidence** is, per intent, the highest embedding similarity between the message and
that intent's training examples. The classifier adds it, times a weight chosen by
cross-validation, to its scores: a message that nearly repeats one example of an intent leans
towards that intent even when the linear model spreads its bets.

Stored as `.npy` arrays: no pickle.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from supportbot.errors import ModelError
from supportbot.nlu.features import Features

CHUNK = 512  # query rows per block: bounds the (chunk x examples) similarity matrix


class FamiliarityIndex:
    """Feature vectors (and intents) of the in-scope training examples."""

    def __init__(self, dense: np.ndarray | None, sparse: sp.csr_matrix,
                 labels: np.ndarray | None = None, n_classes: int = 0):
        self.dense = None if dense is None or dense.shape[1] == 0 else dense
        self.sparse = sparse.tocsr()
        self.labels = (np.zeros(self.sparse.shape[0], np.int64) if labels is None
                       else np.asarray(labels, dtype=np.int64))
        self.n_classes = int(n_classes)
        sq = np.asarray(self.sparse.multiply(self.sparse).sum(axis=1), dtype=np.float64).ravel()
        self._dense32 = None if self.dense is None else self.dense.astype(np.float32)
        if self._dense32 is not None:
            sq += np.einsum("ij,ij->i", self._dense32, self._dense32)
        self.norms = np.sqrt(np.maximum(sq, 1e-12)).astype(np.float32)
        # rows grouped by intent, for per-intent maxima with one `reduceat`
        self._order = np.argsort(self.labels, kind="stable")
        present, starts = np.unique(self.labels[self._order], return_index=True)
        self._present, self._starts = present, starts
        self._by_term: sp.csr_matrix | None = None  # the serving path's lookups, built lazily

    @classmethod
    def build(cls, features: Features, rows: np.ndarray | None = None,
              labels: np.ndarray | None = None, n_classes: int = 0) -> FamiliarityIndex:
        """Index the examples `rows` of `features` (all of them when None); `labels` holds the
        intent index of every row of `features`."""
        if rows is None:
            rows = np.arange(features.n)
        chosen = features.rows(rows)
        dense = None if chosen.dense is None else chosen.dense.astype(np.float16)
        return cls(dense, chosen.sparse.astype(np.float32),
                   None if labels is None else np.asarray(labels)[rows], n_classes)

    def __len__(self) -> int:
        return self.sparse.shape[0]

    # ------------------------------------------------------------------ many texts
    def scores(self, features: Features) -> np.ndarray:
        """Familiarity of each text in `features`, shape (n,); 0 when the index is empty."""
        return self.neighbours(features)[0]

    def neighbours(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        """Familiarity (n,) and neighbour evidence (n, n_classes) of each text."""
        n = features.n
        familiarity = np.zeros(n, dtype=np.float32)
        evidence = np.zeros((n, self.n_classes), dtype=np.float32)
        if len(self) == 0 or n == 0:
            return familiarity, evidence
        sparse_t = self._transposed()  # terms x examples
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            q_sparse = features.sparse[start:stop]
            sims = (q_sparse @ sparse_t).toarray()
            q_sq = np.asarray(q_sparse.multiply(q_sparse).sum(axis=1), dtype=np.float64).ravel()
            if self._dense32 is not None and features.dense is not None:
                q_dense = features.dense[start:stop].astype(np.float32)
                dense_sims = q_dense @ self._dense32.T
                evidence[start:stop] = self._per_class(dense_sims)
                sims += dense_sims
                q_sq += np.einsum("ij,ij->i", q_dense, q_dense)
            sims /= self.norms[None, :]
            familiarity[start:stop] = sims.max(axis=1) / np.sqrt(np.maximum(q_sq, 1e-12))
        return np.clip(familiarity, 0.0, 1.0), evidence

    # ------------------------------------------------------------------ one text
    def one(self, dense: np.ndarray | None, cols: np.ndarray, vals: np.ndarray) -> float:
        """Familiarity of one text given as (dense vector, sparse columns, sparse values)."""
        return self.one_with_evidence(dense, cols, vals)[0]

    def one_with_evidence(self, dense: np.ndarray | None, cols: np.ndarray,
                          vals: np.ndarray) -> tuple[float, np.ndarray]:
        """Familiarity and neighbour evidence (n_classes,) of one text."""
        evidence = np.zeros(self.n_classes, dtype=np.float32)
        if len(self) == 0:
            return 0.0, evidence
        by_term = self._transposed()
        sims = np.zeros(len(self), dtype=np.float32)
        q_sq = float(np.dot(vals, vals))
        if len(cols):
            sims += np.asarray(by_term[cols].T @ np.asarray(vals, np.float32)).ravel()
        if self._dense32 is not None and dense is not None:
            q = np.asarray(dense, dtype=np.float32)
            dense_sims = self._dense32 @ q
            evidence = self._per_class(dense_sims[None, :])[0]
            sims += dense_sims
            q_sq += float(np.dot(q, q))
        best = float((sims / self.norms).max()) / max(np.sqrt(q_sq), 1e-6)
        return float(min(max(best, 0.0), 1.0)), evidence

    def similarities(self, dense: np.ndarray | None, cols: np.ndarray,
                     vals: np.ndarray) -> np.ndarray:
        """Cosine similarity of one text (dense vector, sparse columns, sparse values) with
        every indexed example, shape (len(self),)."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        sims = np.zeros(len(self), dtype=np.float32)
        q_sq = float(np.dot(vals, vals))
        if len(cols):
            sims += np.asarray(self._transposed()[cols].T @ np.asarray(vals, np.float32)).ravel()
        if self._dense32 is not None and dense is not None:
            q = np.asarray(dense, dtype=np.float32)
            sims += self._dense32 @ q
            q_sq += float(np.dot(q, q))
        return sims / self.norms / max(np.sqrt(q_sq), 1e-6)

    def best_per_class(self, sims: np.ndarray) -> np.ndarray:
        """Per-class maximum of one text's `similarities` (0 for classes not indexed)."""
        return self._per_class(np.asarray(sims, dtype=np.float32)[None, :])[0]

    def _transposed(self) -> sp.csr_matrix:
        """The examples' vectors by term (terms x examples), built once."""
        if self._by_term is None:
            self._by_term = self.sparse.T.tocsr()
        return self._by_term

    def _per_class(self, sims: np.ndarray) -> np.ndarray:
        """Per-intent maximum of `sims` (texts x indexed examples); 0 for intents not indexed."""
        out = np.zeros((sims.shape[0], self.n_classes), dtype=np.float32)
        if self.n_classes and len(self._present):
            out[:, self._present] = np.maximum.reduceat(sims[:, self._order], self._starts,
                                                        axis=1)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path, prefix: str = "familiar") -> None:
        sparse = self.sparse
        np.save(folder / f"{prefix}_data.npy", sparse.data.astype(np.float32))
        np.save(folder / f"{prefix}_indices.npy", sparse.indices.astype(np.int32))
        np.save(folder / f"{prefix}_indptr.npy", sparse.indptr.astype(np.int64))
        np.save(folder / f"{prefix}_shape.npy",
                np.array([*sparse.shape, self.n_classes], dtype=np.int64))
        np.save(folder / f"{prefix}_labels.npy", self.labels.astype(np.int32))
        if self.dense is not None:
            np.save(folder / f"{prefix}_dense.npy", self.dense.astype(np.float16))

    @classmethod
    def load(cls, folder: Path, prefix: str = "familiar") -> FamiliarityIndex:
        try:
            shape = [int(v) for v in np.load(folder / f"{prefix}_shape.npy", allow_pickle=False)]
            rows, cols, n_classes = shape
            sparse = sp.csr_matrix((np.load(folder / f"{prefix}_data.npy", allow_pickle=False),
                                    np.load(folder / f"{prefix}_indices.npy", allow_pickle=False),
                                    np.load(folder / f"{prefix}_indptr.npy", allow_pickle=False)),
                                   shape=(rows, cols))
            labels = np.load(folder / f"{prefix}_labels.npy", allow_pickle=False)
            dense_path = folder / f"{prefix}_dense.npy"
            dense = np.load(dense_path, allow_pickle=False) if dense_path.exists() else None
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: the familiarity index is missing or corrupt ({exc}); "
                             "retrain with `supportbot train`") from None
        if (dense is not None and dense.shape[0] != rows) or labels.shape != (rows,) \
                or (rows and (labels.min() < 0 or labels.max() >= n_classes)):
            raise ModelError(f"{folder}: familiarity index arrays do not match; retrain with "
                             "`supportbot train`")
        return cls(dense, sparse, labels, n_classes)
