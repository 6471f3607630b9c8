"""Lexical similarity over FAQ phrasings: Okapi BM25 on words and character n-gram tf-idf cosine.

Both scorers return one score per indexed phrasing, already in [0, 1]:

* `Bm25.scores` is the BM25 score divided by the summed IDF of the query's distinct words
  (unknown words count with the highest IDF), clipped to 1 — roughly "how much of the query's
  information is matched".
* `CharTfidf.scores` is the cosine between sublinear-tf * idf vectors of hashed character
  n-grams taken inside word boundaries; inflected forms (`карту`/`карта`, `քարտը`/`քարտ`) share
  most n-grams, so this matches across Russian, Kyrgyz and Armenian inflection without stemmers.

State is plain numpy arrays (see `to_arrays` / `from_arrays`), so persistence needs no pickle.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from supportbot.kb.text import words

BM25_K1 = 1.2
BM25_B = 0.75
CHAR_NGRAMS = (2, 4)
CHAR_FEATURES = 2**20


def _csc_arrays(prefix: str, matrix: sp.csc_matrix) -> dict[str, np.ndarray]:
    return {f"{prefix}_data": matrix.data.astype(np.float32),
            f"{prefix}_indices": matrix.indices.astype(np.int32),
            f"{prefix}_indptr": matrix.indptr.astype(np.int64),
            f"{prefix}_shape": np.asarray(matrix.shape, dtype=np.int64)}


def _csc_from(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csc_matrix:
    shape = tuple(int(x) for x in arrays[f"{prefix}_shape"])
    return sp.csc_matrix((arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"],
                          arrays[f"{prefix}_indptr"]), shape=shape)


class Bm25:
    """Okapi BM25 (Lucene's non-negative IDF) over `words()` tokens of each phrasing."""

    def __init__(self, vocabulary: dict[str, int], weights: sp.csc_matrix, idf: np.ndarray,
                 n_docs: int):
        self.vocabulary = vocabulary
        self.weights = weights  # (n_docs, n_terms): idf * saturated tf, per document and term
        self.idf = idf
        self.n_docs = n_docs
        self.unknown_idf = float(np.log1p((n_docs + 0.5) / 0.5))

    @classmethod
    def fit(cls, texts: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> Bm25:
        """Index `texts` (one document per phrasing)."""
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            tokens = words(text)
            lengths[i] = len(tokens)
            for tok in tokens:
                rows.append(i)
                cols.append(vocabulary.setdefault(tok, len(vocabulary)))
        n = len(texts)
        tf = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(vocabulary)))
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=len(vocabulary)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
        norm = k1 * (1.0 - b + b * lengths / avgdl)
        tf = tf.tocoo()
        sat = tf.data * (k1 + 1.0) / (tf.data + norm[tf.row])
        weights = sp.csc_matrix((sat * idf[tf.col], (tf.row, tf.col)),
                                shape=(n, len(vocabulary)), dtype=np.float32)
        return cls(vocabulary, weights, idf.astype(np.float32), n)

    def scores(self, text: str, skip: frozenset[str] = frozenset()) -> np.ndarray:
        """Normalised BM25 of `text` against every document, in [0, 1]. Words in `skip` are
        never matched but still count in the normaliser: a query of function words and one
        content word is not fully matched by that word alone."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        terms = set(words(text))
        if not terms or not self.n_docs:
            return out
        known = [self.vocabulary[t] for t in terms if t in self.vocabulary]
        total_idf = float(self.idf[known].sum()) + self.unknown_idf * (len(terms) - len(known))
        ids = [self.vocabulary[t] for t in terms - skip if t in self.vocabulary]
        if ids and total_idf > 0:
            raw = np.asarray(self.weights[:, ids].sum(axis=1)).ravel()
            out = np.minimum(raw / total_idf, 1.0).astype(np.float32)
        return out

    def to_arrays(self, prefix: str = "bm25") -> tuple[dict[str, np.ndarray], list[str]]:
        """Numeric state (array names start with `prefix`) and the vocabulary (term order =
        column order)."""
        terms = [""] * len(self.vocabulary)
        for term, i in self.vocabulary.items():
            terms[i] = term
        arrays = _csc_arrays(prefix, self.weights)
        arrays[f"{prefix}_idf"] = self.idf
        return arrays, terms

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], terms: list[str],
                    prefix: str = "bm25") -> Bm25:
        weights = _csc_from(prefix, arrays)
        return cls({t: i for i, t in enumerate(terms)}, weights, arrays[f"{prefix}_idf"],
                   weights.shape[0])


def _char_preprocess(text: str) -> str:
    return " ".join(words(text))


class CharTfidf:
    """Cosine similarity of hashed character n-gram tf-idf vectors (n-grams inside words)."""

    def __init__(self, matrix: sp.csc_matrix, idf: np.ndarray,
                 ngrams: tuple[int, int] = CHAR_NGRAMS, n_features: int = CHAR_FEATURES):
        self.matrix = matrix  # (n_docs, n_features), rows L2-normalised
        self.idf = idf  # (n_features,), unseen n-grams carry the highest idf
        self.ngrams = ngrams
        self.n_features = n_features
        self._hasher = HashingVectorizer(
            analyzer="char_wb", ngram_range=ngrams, n_features=n_features, alternate_sign=False,
            norm=None, lowercase=False, preprocessor=_char_preprocess, dtype=np.float32)

    @classmethod
    def fit(cls, texts: Sequence[str], ngrams: tuple[int, int] = CHAR_NGRAMS,
            n_features: int = CHAR_FEATURES) -> CharTfidf:
        """Index `texts` (one row per phrasing)."""
        self = cls(sp.csc_matrix((len(texts), n_features), dtype=np.float32),
                   np.zeros(n_features, dtype=np.float32), ngrams, n_features)
        if not texts:
            return self
        counts = self._hasher.transform(list(texts)).tocsr()
        n = len(texts)
        df = np.bincount(counts.indices, minlength=n_features).astype(np.float64)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        self.matrix = self._weigh(counts).tocsc()
        return self

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        counts = counts.astype(np.float32)
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ counts, dtype=np.float32)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The L2-normalised tf-idf vector of `text` as (feature indices, values)."""
        counts = self._hasher.transform([text]).tocsr()
        counts.sum_duplicates()
        values = (1.0 + np.log(counts.data.astype(np.float32))) * self.idf[counts.indices]
        norm = float(np.sqrt(values @ values))
        return counts.indices, (values / norm if norm > 0 else values)

    def scores(self, text: str) -> np.ndarray:
        """Cosine of `text` against every phrasing, in [0, 1]."""
        cols, values = self.vector(text)
        n = self.matrix.shape[0]
        if not len(cols) or n == 0:
            return np.zeros(n, dtype=np.float32)
        sims = self.matrix[:, cols] @ values
        return np.clip(np.asarray(sims, dtype=np.float32).ravel(), 0.0, 1.0)

    def to_arrays(self, prefix: str = "char") -> dict[str, np.ndarray]:
        """Numeric state (array names start with `prefix`); only the idf of n-grams seen at
        build time is stored."""
        seen = np.flatnonzero(self.matrix.getnnz(axis=0)).astype(np.int32)
        arrays = _csc_arrays(prefix, self.matrix)
        arrays[f"{prefix}_idf_cols"] = seen
        arrays[f"{prefix}_idf_vals"] = self.idf[seen]
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], ngrams: tuple[int, int],
                    n_features: int, prefix: str = "char") -> CharTfidf:
        matrix = _csc_from(prefix, arrays)
        n = matrix.shape[0]
        idf = np.full(n_features, np.log(1.0 + n) + 1.0, dtype=np.float32)
        idf[arrays[f"{prefix}_idf_cols"]] = arrays[f"{prefix}_idf_vals"]
        return cls(matrix, idf, ngrams, n_features)
