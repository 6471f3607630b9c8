"""Response selection for Rasa retrieval intents (`chitchat/ask_name`, `faq/opening_hours`).

The intent classifier sees a retrieval intent as its base intent (`chitchat`). When it predicts
one, the selector picks the response key among that base intent's keys: the key whose training
examples are most similar (cosine of the same embedding + word + character n-gram vectors the
classifier uses) to the message. Confidences are a softmax of those similarities.

Stored as `.npy` arrays (a `FamiliarityIndex`) plus a JSON list of keys: no pickle.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from supportbot.errors import ModelError
from supportbot.nlu.familiarity import FamiliarityIndex
from supportbot.nlu.features import Features
from supportbot.nlu.parse import IntentScore

TEMPERATURE = 0.05  # softmax temperature over cosine similarities
PREFIX = "retrieval"
KEYS_FILE = f"{PREFIX}_keys.json"


class ResponseSelector:
    """Nearest-example choice of a retrieval intent's full key (`base/key`)."""

    def __init__(self, keys: Sequence[str], index: FamiliarityIndex):
        self.keys = list(keys)
        self.index = index
        self._by_base: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            self._by_base.setdefault(key.split("/", 1)[0], []).append(i)

    @classmethod
    def build(cls, features: Features, intents: Sequence[str]) -> ResponseSelector | None:
        """A selector over the rows of `features` whose intent (`intents[i]`) is a retrieval
        intent; None when there are none."""
        rows = np.array([i for i, name in enumerate(intents) if "/" in name], dtype=np.int64)
        if not len(rows):
            return None
        keys = sorted({intents[i] for i in rows})
        position = {key: i for i, key in enumerate(keys)}
        labels = np.zeros(len(intents), dtype=np.int64)
        labels[rows] = [position[intents[i]] for i in rows]
        return cls(keys, FamiliarityIndex.build(features, rows, labels, len(keys)))

    @property
    def bases(self) -> frozenset[str]:
        """The base intents that have response keys (`chitchat` for `chitchat/ask_name`)."""
        return frozenset(self._by_base)

    def rank(self, base: str, dense: np.ndarray | None, cols: np.ndarray,
             vals: np.ndarray) -> tuple[IntentScore, ...]:
        """The keys of `base`, best first, with confidences that sum to 1 (empty when `base`
        is not a retrieval intent)."""
        members = self._by_base.get(base)
        if not members:
            return ()
        best = self.index.best_per_class(self.index.similarities(dense, cols, vals))[members]
        logits = (best - best.max()) / TEMPERATURE
        probs = np.exp(logits) / np.exp(logits).sum()
        order = np.argsort(-probs, kind="stable")
        return tuple(IntentScore(self.keys[members[j]], float(probs[j])) for j in order)

    def save(self, folder: Path) -> None:
        """Write the keys and the example index into `folder` (files named `retrieval_*`)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / KEYS_FILE).write_text(json.dumps(self.keys, ensure_ascii=False))
        self.index.save(folder, PREFIX)

    @staticmethod
    def saved_in(folder: Path) -> bool:
        """Whether `folder` holds a saved selector."""
        return (folder / KEYS_FILE).is_file()

    @classmethod
    def load(cls, folder: Path) -> ResponseSelector:
        """Read what `save` wrote."""
        try:
            keys = json.loads((folder / KEYS_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: the response selector is missing or corrupt ({exc}); "
                             "retrain with `supportbot train`") from None
        index = FamiliarityIndex.load(folder, PREFIX)
        if index.n_classes != len(keys):
            raise ModelError(f"{folder}: response selector keys do not match its index; "
                             "retrain with `supportbot train`")
        return cls(keys, index)
