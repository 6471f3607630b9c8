"""How much a message looks like anything the bot was trained on.

A classifier's confidence says which known intent a message fits best, not whether it fits any:
keyboard mashes and off-topic questions can still land on some intent with a fair confidence.
Familiarity is the highest cosine similarity between the message's feature vector (the same
embedding + word + character n-gram vector the classifier sees) and the feature vector of any
in-scope training example. The character n-grams keep it meaningful in Armenian, Kyrgyz and
Russian, where the English sentence encoder is weak.

The fallback policy falls back ("unfamiliar") below a familiarity threshold that is tuned by
cross-validation together with the confidence threshold (see `supportbot.nlu.fallback`).
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
    """Feature vectors of the in-scope training examples, for nearest-example similarity."""

    def __init__(self, dense: np.ndarray | None, sparse: sp.csr_matrix):
        self.dense = None if dense is None or dense.shape[1] == 0 else dense
        self.sparse = sparse.tocsr()
        sq = np.asarray(self.sparse.multiply(self.sparse).sum(axis=1), dtype=np.float64).ravel()
        if self.dense is not None:
            d = self.dense.astype(np.float32)
            sq += np.einsum("ij,ij->i", d, d)
        self.norms = np.sqrt(np.maximum(sq, 1e-12)).astype(np.float32)
        self._by_term: sp.csr_matrix | None = None  # the serving path's lookups, built lazily
        self._dense32: np.ndarray | None = None

    @classmethod
    def build(cls, features: Features, rows: np.ndarray | None = None) -> FamiliarityIndex:
        """Index the examples `rows` of `features` (all of them when None)."""
        if rows is not None:
            features = features.rows(rows)
        dense = None if features.dense is None else features.dense.astype(np.float16)
        return cls(dense, features.sparse.astype(np.float32))

    def __len__(self) -> int:
        return self.sparse.shape[0]

    def scores(self, features: Features) -> np.ndarray:
        """Familiarity of each text in `features`, shape (n,); 0 when the index is empty."""
        n = features.n
        if len(self) == 0 or n == 0:
            return np.zeros(n, dtype=np.float32)
        out = np.empty(n, dtype=np.float32)
        dense_t = None if self.dense is None else self.dense.astype(np.float32).T
        sparse_t = self.sparse.T.tocsr()
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            q_sparse = features.sparse[start:stop]
            sims = (q_sparse @ sparse_t).toarray()
            q_sq = np.asarray(q_sparse.multiply(q_sparse).sum(axis=1), dtype=np.float64).ravel()
            if dense_t is not None and features.dense is not None:
                q_dense = features.dense[start:stop].astype(np.float32)
                sims += q_dense @ dense_t
                q_sq += np.einsum("ij,ij->i", q_dense, q_dense)
            sims /= self.norms[None, :]
            out[start:stop] = sims.max(axis=1) / np.sqrt(np.maximum(q_sq, 1e-12))
        return np.clip(out, 0.0, 1.0)

    def one(self, dense: np.ndarray | None, cols: np.ndarray, vals: np.ndarray) -> float:
        """Familiarity of one text given as (dense vector, sparse columns, sparse values)."""
        if len(self) == 0:
            return 0.0
        if self._by_term is None:
            self._by_term = self.sparse.T.tocsr()
            self._dense32 = None if self.dense is None else self.dense.astype(np.float32)
        sims = np.zeros(len(self), dtype=np.float32)
        q_sq = float(np.dot(vals, vals))
        if len(cols):
            sims += np.asarray(self._by_term[cols].T @ np.asarray(vals, np.float32)).ravel()
        if self._dense32 is not None and dense is not None:
            q = np.asarray(dense, dtype=np.float32)
            sims += self._dense32 @ q
            q_sq += float(np.dot(q, q))
        best = float((sims / self.norms).max()) / max(np.sqrt(q_sq), 1e-6)
        return float(min(max(best, 0.0), 1.0))

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        sparse = self.sparse
        np.save(folder / "familiar_data.npy", sparse.data.astype(np.float32))
        np.save(folder / "familiar_indices.npy", sparse.indices.astype(np.int32))
        np.save(folder / "familiar_indptr.npy", sparse.indptr.astype(np.int64))
        np.save(folder / "familiar_shape.npy", np.array(sparse.shape, dtype=np.int64))
        if self.dense is not None:
            np.save(folder / "familiar_dense.npy", self.dense.astype(np.float16))

    @classmethod
    def load(cls, folder: Path) -> FamiliarityIndex:
        try:
            shape = tuple(int(v) for v in np.load(folder / "familiar_shape.npy"))
            sparse = sp.csr_matrix((np.load(folder / "familiar_data.npy", allow_pickle=False),
                                    np.load(folder / "familiar_indices.npy", allow_pickle=False),
                                    np.load(folder / "familiar_indptr.npy", allow_pickle=False)),
                                   shape=shape)
            dense_path = folder / "familiar_dense.npy"
            dense = np.load(dense_path, allow_pickle=False) if dense_path.exists() else None
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: the familiarity index is missing or corrupt ({exc}); "
                             "retrain with `supportbot train`") from None
        if dense is not None and dense.shape[0] != shape[0]:
            raise ModelError(f"{folder}: familiarity index rows do not match; retrain with "
                             "`supportbot train`")
        return cls(dense, sparse)
