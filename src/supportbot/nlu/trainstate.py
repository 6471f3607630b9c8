"""What one training leaves behind for the next: final weights and out-of-fold scores.

Retraining after a small data change (a few examples added, removed or edited) then
- starts the final fit from the previous weights (same optimum, far fewer iterations), and
- reuses the previous out-of-fold scores of the examples that did not change; each new example
  is scored by the previous final model, which never saw it, so every score stays out-of-sample.

The state lives in a training cache the caller names (`<cache>/nlu-train/<settings key>/`),
never in the model archive and never in a default folder. It holds JSON + `.npy` only; a missing
or unreadable state just means a full training.

Two trainings may share a cache folder, and one may load while the other saves. Each save
therefore writes a new generation folder (`g-<random>/`, never changed afterwards) whose
`state.json` lists the SHA-256 of every other file in it, and only then points the small
`current` file at it (temp file + `os.replace`). A load follows `current` once, so it reads one
generation only, never files from two saves, and it checks every digest before trusting a byte
(a torn or damaged file means no state, i.e. a full training, never a wrong one).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from supportbot.errors import ModelError
from supportbot.nlu.classifier import LinearWeights
from supportbot.nlu.features import BlockWeights, FeatureSpace

if TYPE_CHECKING:
    from supportbot.embeddings import Encoder

STATE_VERSION = 4
POINTER = "current"  # names the generation folder to load, and the digest of its state.json
STALE_S = 120  # generations other than the current one are removed once this old


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
        """Write a new generation, then point `current` at it: a reader sees the old state or
        the new one, never a mix, also while another training saves into the same folder."""
        gen = f"g-{uuid.uuid4().hex}"
        path = folder / gen
        try:
            path.mkdir(parents=True)
            self.space.save(path)
            arrays = {"w_dense": self.weights.dense, "w_sparse": self.weights.sparse,
                      "bias": self.weights.bias, "oof": self.oof.astype(np.float32)}
            if self.familiarity is not None:
                arrays["familiarity"] = self.familiarity.astype(np.float32)
            if self.evidence is not None:
                arrays["evidence"] = self.evidence.astype(np.float32)
            for name, array in arrays.items():
                np.save(path / f"{name}.npy", array, allow_pickle=False)
            files = {p.name: _digest(p.read_bytes()) for p in sorted(path.iterdir())}
            meta = {"version": STATE_VERSION, "intents": self.intents, "keys": self.keys,
                    "weights": vars(self.space.weights), "files": files}
            state = json.dumps(meta).encode()
            (path / "state.json").write_bytes(state)
            pointer = folder / f".{POINTER}.{uuid.uuid4().hex[:8]}"
            pointer.write_text(json.dumps({"generation": gen, "sha256": _digest(state)}))
            os.replace(pointer, folder / POINTER)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)  # a cache: failing to write it is not fatal
            return
        _remove_stale(folder, keep=gen)

    @classmethod
    def load(cls, folder: Path, encoder: Encoder | None) -> TrainState | None:
        try:
            pointer = json.loads((folder / POINTER).read_text())
            gen = str(pointer["generation"])
            if not gen.startswith("g-") or "/" in gen or os.sep in gen:
                return None
            path = folder / gen
            state = (path / "state.json").read_bytes()
            if _digest(state) != pointer["sha256"]:
                return None
            meta = json.loads(state)
            if meta.get("version") != STATE_VERSION:
                return None
            blobs = {}
            for name, digest in dict(meta["files"]).items():
                data = (path / name).read_bytes()
                if _digest(data) != digest:
                    return None  # torn or damaged: a full training, not a wrong one
                blobs[name] = data
            # the folder of one generation never changes (digests checked just above)
            space = FeatureSpace.load(path, encoder, BlockWeights(**meta["weights"]))

            def array(name: str) -> np.ndarray | None:
                data = blobs.get(f"{name}.npy")
                return None if data is None else np.load(io.BytesIO(data), allow_pickle=False)

            dense, sparse, bias = array("w_dense"), array("w_sparse"), array("bias")
            oof, familiarity, evidence = array("oof"), array("familiarity"), array("evidence")
            if dense is None or sparse is None or bias is None or oof is None:
                return None
            weights = LinearWeights(dense, sparse, bias)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ModelError):
            return None
        intents, keys = list(meta["intents"]), list(meta["keys"])
        if oof.shape != (len(keys), len(intents)) or weights.bias.shape != (len(intents),):
            return None
        if familiarity is not None and familiarity.shape != (len(keys),):
            familiarity = None
        if evidence is not None and evidence.shape != oof.shape:
            evidence = None
        return cls(space, weights, intents, keys, oof, familiarity, evidence)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remove_stale(folder: Path, keep: str) -> None:
    """Remove generations that are neither current, `keep`, nor recent (a concurrent save may
    still be writing a recent one, or a load reading it), and files of the layout before
    generations."""
    try:
        current = json.loads((folder / POINTER).read_text()).get("generation")
    except (OSError, ValueError, AttributeError):
        current = None
    now = time.time()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        try:
            if entry.name in (keep, current, POINTER):
                continue
            if now - entry.stat().st_mtime < STALE_S:
                continue
            if entry.is_dir() and entry.name.startswith("g-"):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and (entry.suffix in (".npy", ".json")
                                      or entry.name.startswith(f".{POINTER}.")):
                entry.unlink()
        except OSError:
            continue
