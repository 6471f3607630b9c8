"""What one training leaves behind for the next: final weights and out-of-fold scores.

Retraining after a small data change (a few examples added, removed or edited) then
- starts the final fit from the previous weights (same optimum, far fewer iterations), and
- reuses the previous out-of-fold scores of the examples that did not change; each new example
  is scored by the previous final model, which never saw it, so every score stays out-of-sample.

The state lives in a training cache the caller names (`<cache>/nlu-train/<settings key>/`),
never in the model archive and never in a default folder. It holds JSON + `.npy` only; a missing
or unreadable state just means a full training.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from supportbot.nlu.classifier import LinearWeights
from supportbot.nlu.features import BlockWeights, FeatureSpace

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

STATE_VERSION = 3


@dataclass
class TrainState:
    space: FeatureSpace
    weights: LinearWeights
    intents: list[str]
    keys: list[str]  # example keys (see cv.example_key), one per row of `oof`
    oof: np.ndarray  # out-of-fold logits, (len(keys), len(intents))
    familiarity: np.ndarray | None = None  # out-of-fold familiarity, (len(keys),)
    evidence: np.ndarray | None = None  # out-of-fold neighbour evidence, like `oof`

    def save(self, folder: Path) -> None:
        """Write atomically: a reader sees the old state or the new one, never a mix."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            self.space.save(tmp)
            np.save(tmp / "w_dense.npy", self.weights.dense)
            np.save(tmp / "w_sparse.npy", self.weights.sparse)
            np.save(tmp / "bias.npy", self.weights.bias)
            np.save(tmp / "oof.npy", self.oof.astype(np.float32))
            if self.familiarity is not None:
                np.save(tmp / "familiarity.npy", self.familiarity.astype(np.float32))
            if self.evidence is not None:
                np.save(tmp / "evidence.npy", self.evidence.astype(np.float32))
            meta = {"version": STATE_VERSION, "intents": self.intents, "keys": self.keys,
                    "weights": vars(self.space.weights)}
            (tmp / "state.json").write_text(json.dumps(meta))
            old = folder.parent / f".{folder.name}.old.{uuid.uuid4().hex[:8]}"
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a cache: failing to write it is not fatal

    @classmethod
    def load(cls, folder: Path, encoder: Encoder | None) -> TrainState | None:
        try:
            meta = json.loads((folder / "state.json").read_text())
            if meta.get("version") != STATE_VERSION:
                return None
            space = FeatureSpace.load(folder, encoder, BlockWeights(**meta["weights"]))
            weights = LinearWeights(
                np.load(folder / "w_dense.npy", allow_pickle=False),
                np.load(folder / "w_sparse.npy", allow_pickle=False),
                np.load(folder / "bias.npy", allow_pickle=False))
            oof = np.load(folder / "oof.npy", allow_pickle=False)
            fam_path = folder / "familiarity.npy"
            familiarity = np.load(fam_path, allow_pickle=False) if fam_path.exists() else None
            ev_path = folder / "evidence.npy"
            evidence = np.load(ev_path, allow_pickle=False) if ev_path.exists() else None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        intents, keys = list(meta["intents"]), list(meta["keys"])
        if oof.shape != (len(keys), len(intents)) or weights.bias.shape != (len(intents),):
            return None
        if familiarity is not None and familiarity.shape != (len(keys),):
            familiarity = None
        if evidence is not None and evidence.shape != oof.shape:
            evidence = None
        return cls(space, weights, intents, keys, oof, familiarity, evidence)
