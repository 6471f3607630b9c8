"""Cross-validation folds and out-of-fold scores for tuning the fallback threshold."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def fold_count(n_examples: int, n_classes: int) -> int:
    """How many folds to use: 5 on small data, 3 on large data (each fold is a full fit)."""
    if n_classes < 2 or n_examples < 4:
        return 0
    k = 5 if n_examples <= 3000 else 3
    return min(k, n_examples // 2)


def assign_folds(texts: Sequence[str], labels: np.ndarray, k: int) -> np.ndarray:
    """Fold number for every example: stratified by label, ordered by a hash of the text.

    Deterministic (no random state) and independent of the order of the training files.
    """
    folds = np.zeros(len(texts), dtype=np.int64)
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    offset = 0
    for label in np.unique(labels):
        members = sorted(np.flatnonzero(labels == label), key=lambda i: (keys[i], i))
        for rank, i in enumerate(members):
            folds[i] = (offset + rank) % k
        offset += len(members)  # spread classes with few examples over different folds
    return folds


def example_key(text: str, label: str) -> str:
    """Identity of one training example for reusing its out-of-fold scores."""
    return hashlib.sha1(f"{label}\0{text}".encode()).hexdigest()[:20]
