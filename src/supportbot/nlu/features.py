"""Featurizers for the intent classifier: sentence embeddings plus word and character tf-idf.

The character n-grams (`char_wb`) carry languages the English sentence encoder is weak at
(Armenian, Kyrgyz, Russian); the word n-grams carry exact phrasing; the embeddings carry meaning.
Each block is L2-normalised per text and scaled by a block weight, so the classifier sees one
feature vector `[w_dense * embedding, w_word * word_tfidf, w_char * char_tfidf]`.

Fitted vectorizers persist as JSON (vocabulary in column order) + `.npy` (idf): no pickle.
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from supportbot.errors import ModelError

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

WORD_TOKEN = r"(?u)\b\w+\b"


def normalize_text(text: str) -> str:
    """Unicode NFKC, lower case, collapsed whitespace: what every featurizer sees."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class BlockWeights:
    """How much each feature block counts relative to the others (each block has unit norm)."""

    dense: float = 1.0
    word: float = 0.7
    char: float = 0.7


@dataclass(frozen=True)
class Features:
    """Features of a batch of texts: a dense block (None without an encoder) and a sparse block."""

    dense: np.ndarray | None
    sparse: sp.csr_matrix

    @property
    def n(self) -> int:
        return self.sparse.shape[0]

    def rows(self, index: np.ndarray) -> Features:
        """The features of a subset of the texts."""
        return Features(None if self.dense is None else self.dense[index], self.sparse[index])


class TfidfBlock:
    """One tf-idf vectorizer (word or char_wb n-grams) that saves to JSON + npy."""

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], min_df: int = 1):
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.min_df = min_df
        self._vectorizer: TfidfVectorizer | None = None
        self._analyzer = None
        self._idf: np.ndarray | None = None

    def _make(self, vocabulary: dict[str, int] | None = None, min_df: int = 1) -> TfidfVectorizer:
        extra = {"token_pattern": WORD_TOKEN} if self.analyzer == "word" else {}
        return TfidfVectorizer(analyzer=self.analyzer, ngram_range=self.ngram_range,
                               sublinear_tf=True, lowercase=False, min_df=min_df,
                               dtype=np.float32, vocabulary=vocabulary, **extra)

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Learn vocabulary and idf from `texts`; return their tf-idf rows."""
        min_df = self.min_df if len(texts) >= 50 * self.min_df else 1
        vectorizer = self._make(min_df=min_df)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # no n-gram at all (e.g. only punctuation): keep an empty block
            vectorizer = self._make(vocabulary={"\0": 0})
            vectorizer.idf_ = np.ones(1)
            matrix = vectorizer.transform(texts)
        self._vectorizer = vectorizer
        self._analyzer = None
        return matrix.tocsr()

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self._vectorizer is None:
            raise ModelError("tf-idf block used before fit; train the NLU model first")
        if len(texts) <= 4:  # serving path: scikit-learn's per-call overhead is ~1 ms
            return self._transform_few(texts)
        return self._vectorizer.transform(texts).tocsr()

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of one text's tf-idf row: the same numbers as
        `TfidfVectorizer.transform` (sublinear tf, idf, l2) without its per-call overhead."""
        vectorizer = self._vectorizer
        if vectorizer is None:
            raise ModelError("tf-idf block used before fit; train the NLU model first")
        analyzer = self._analyzer
        if analyzer is None:
            analyzer = self._analyzer = vectorizer.build_analyzer()
            self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        vocabulary = vectorizer.vocabulary_
        counts: dict[int, int] = {}
        for gram in analyzer(text):
            j = vocabulary.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        cols = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        values = np.log(np.array([counts[j] for j in cols], dtype=np.float64)) + 1.0
        values *= self._idf[cols]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0:
            values /= norm
        return cols, values

    def _transform_few(self, texts: Sequence[str]) -> sp.csr_matrix:
        rows = [self.row(text) for text in texts]
        indptr = np.concatenate([[0], np.cumsum([len(c) for c, _ in rows])])
        return sp.csr_matrix(
            (np.concatenate([v for _, v in rows]).astype(np.float32) if rows
             else np.zeros(0, np.float32),
             np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64), indptr),
            shape=(len(texts), self.size))

    @property
    def terms(self) -> list[str]:
        if self._vectorizer is None:
            return []
        return self._vectorizer.get_feature_names_out().tolist()

    @property
    def size(self) -> int:
        return len(self._vectorizer.vocabulary_) if self._vectorizer is not None else 0

    def save(self, folder: Path, name: str) -> None:
        assert self._vectorizer is not None
        meta = {"analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                "min_df": self.min_df, "terms": self.terms}
        (folder / f"{name}.json").write_text(json.dumps(meta, ensure_ascii=False))
        np.save(folder / f"{name}_idf.npy", self._vectorizer.idf_.astype(np.float64))

    @classmethod
    def load(cls, folder: Path, name: str) -> TfidfBlock:
        meta = json.loads((folder / f"{name}.json").read_text())
        block = cls(meta["analyzer"], tuple(meta["ngram_range"]), int(meta["min_df"]))
        terms = meta["terms"]
        idf = np.load(folder / f"{name}_idf.npy", allow_pickle=False)
        if len(idf) != len(terms):
            raise ModelError(f"{folder / name}: {len(terms)} terms but {len(idf)} idf values; "
                             "the model folder is corrupt, retrain with `supportbot train`")
        vectorizer = block._make(vocabulary={t: i for i, t in enumerate(terms)})
        vectorizer.idf_ = idf
        block._vectorizer = vectorizer
        return block


def _side_by_side(a: sp.csr_matrix, wa: float, b: sp.csr_matrix, wb: float) -> sp.csr_matrix:
    """`[wa * a, wb * b]` as one float32 CSR matrix (cheaper than `scipy.sparse.hstack`)."""
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    rows_a, rows_b = np.diff(a.indptr), np.diff(b.indptr)
    indptr = np.concatenate([[0], np.cumsum(rows_a + rows_b)]).astype(np.int64)
    indices = np.empty(indptr[-1], dtype=np.int64)
    data = np.empty(indptr[-1], dtype=np.float32)
    # row i: a's entries, then b's entries shifted by a's width
    take_a = np.repeat(indptr[:-1], rows_a) + (np.arange(a.nnz) - np.repeat(a.indptr[:-1], rows_a))
    take_b = np.repeat(indptr[:-1] + rows_a, rows_b) + (
        np.arange(b.nnz) - np.repeat(b.indptr[:-1], rows_b))
    indices[take_a], data[take_a] = a.indices, wa * a.data
    indices[take_b], data[take_b] = b.indices + a.shape[1], wb * b.data
    return sp.csr_matrix((data, indices, indptr), shape=(a.shape[0], a.shape[1] + b.shape[1]))


class FeatureSpace:
    """Turns texts into `Features` (embeddings + word/char tf-idf)."""

    def __init__(self, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (2, 5),
                 encoder: Encoder | None = None, weights: BlockWeights = BlockWeights()):
        self.encoder = encoder
        self.weights = weights
        # n-grams seen in a single example only help memorise it; dropping them (once there
        # are enough examples) shrinks the model by a third at no cost in accuracy
        self.word = TfidfBlock("word", word_ngrams, min_df=2)
        self.char = TfidfBlock("char_wb", char_ngrams, min_df=2)

    @property
    def dense_dim(self) -> int:
        return 0 if self.encoder is None else self.encoder.dim

    @property
    def sparse_terms(self) -> list[str]:
        """Names of the sparse columns (`w:` word n-grams, then `c:` char n-grams)."""
        return ["w:" + t for t in self.word.terms] + ["c:" + t for t in self.char.terms]

    def fit_transform(self, texts: Sequence[str], progress: bool = False) -> Features:
        clean = [normalize_text(t) for t in texts]
        sparse = _side_by_side(self.word.fit_transform(clean), self.weights.word,
                               self.char.fit_transform(clean), self.weights.char)
        return Features(self._dense(texts, progress), sparse)

    def transform(self, texts: Sequence[str]) -> Features:
        clean = [normalize_text(t) for t in texts]
        sparse = _side_by_side(self.word.transform(clean), self.weights.word,
                               self.char.transform(clean), self.weights.char)
        return Features(self._dense(texts, False, cache=len(texts) > 1), sparse)

    def one(self, text: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Features of one text as (dense vector or None, sparse columns, sparse values):
        the serving path, which skips building sparse matrices."""
        clean = normalize_text(text)
        wcols, wvals = self.word.row(clean)
        ccols, cvals = self.char.row(clean)
        cols = np.concatenate([wcols, ccols + self.word.size])
        vals = np.concatenate([self.weights.word * wvals, self.weights.char * cvals])
        dense = self._dense([text], False, cache=False)
        return (None if dense is None else dense[0]), cols, vals.astype(np.float32)

    def _dense(self, texts: Sequence[str], progress: bool, cache: bool = True) -> np.ndarray | None:
        if self.encoder is None:
            return None
        vectors = self.encoder.encode(list(texts), progress=progress, use_cache=cache)
        return vectors * np.float32(self.weights.dense)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.word.save(folder, "word_tfidf")
        self.char.save(folder, "char_tfidf")

    @classmethod
    def load(cls, folder: Path, encoder: Encoder | None, weights: BlockWeights) -> FeatureSpace:
        space = cls(encoder=encoder, weights=weights)
        space.word = TfidfBlock.load(folder, "word_tfidf")
        space.char = TfidfBlock.load(folder, "char_tfidf")
        return space
