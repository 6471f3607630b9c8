"""Dense nearest-neighbour search over L2-normalised phrasing embeddings (inner product = cosine).

Small indexes are exact (`IndexFlatIP`); above a size limit an HNSW graph (`IndexHNSWFlat` with
inner product) trades a little recall for much faster search.

Like the Encoder's single torch thread, faiss runs on `FAISS_THREADS` (1) OpenMP threads: one
query at a time gains nothing from more, and on a busy machine spinning OpenMP workers made
exact search about ten times slower in our measurements. The setting is process-wide.
"""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
FAISS_THREADS = 1


def _limit_threads() -> None:
    if faiss.omp_get_max_threads() != FAISS_THREADS:
        faiss.omp_set_num_threads(FAISS_THREADS)


class DenseIndex:
    """A faiss index over phrasing vectors; ids are phrasing positions."""

    def __init__(self, index: faiss.Index, kind: str, ef_search: int = HNSW_EF_SEARCH):
        _limit_threads()
        self.index = index
        self.kind = kind  # "exact" or "hnsw"
        self.ef_search = ef_search
        if kind == "hnsw":
            faiss.downcast_index(index).hnsw.efSearch = ef_search  # type: ignore[attr-defined]

    @classmethod
    def build(cls, vectors: np.ndarray, approximate: bool) -> DenseIndex:
        """Index `vectors` (n, dim) float32, exact unless `approximate`."""
        _limit_threads()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        index: faiss.Index
        if approximate:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            kind = "hnsw"
        else:
            index = faiss.IndexFlatIP(dim)
            kind = "exact"
        index.add(vectors)
        return cls(index, kind)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The `n` nearest phrasings of one query vector: (cosines, ids); ids of -1 are padding."""
        n = max(1, min(n, len(self)))
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        sims, ids = self.index.search(q, n)
        return sims[0], ids[0]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of phrasings `ids`."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_batch(ids)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, ef_search: int = HNSW_EF_SEARCH) -> DenseIndex:
        return cls(faiss.read_index(str(path)), kind, ef_search)
