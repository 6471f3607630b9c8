"""The on-disk embedding cache and the warm-retrain state under concurrent writers.

Two `supportbot train` runs sharing one cache folder once left keys pointing at another text's
vector (same file sizes, so nothing noticed). Here several processes and threads add distinct
synthetic vectors to one folder at once; every key must then map to exactly its own vector, and
a torn or corrupted file must cost only the entries it damaged.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from supportbot.embeddings import EmbeddingCache

DIM = 24


def _key(owner: int, i: int) -> str:
    return hashlib.sha1(f"writer {owner} text {i}".encode()).hexdigest()


def _vector(key: str) -> np.ndarray:
    """A vector that only this key has (derived from the key itself)."""
    seed = int(key[:12], 16)
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def _vectors(keys: list[str]) -> np.ndarray:
    return np.stack([_vector(k) for k in keys])


def _write(folder: str, owner: int, n: int, batch: int, start=None) -> None:
    if start is not None:
        start.wait(30)
    cache = EmbeddingCache(Path(folder))
    keys = [_key(owner, i) for i in range(n)]
    for i in range(0, n, batch):
        cache.add(keys[i:i + batch], _vectors(keys[i:i + batch]))


def _check(folder: Path, expected: list[str]) -> tuple[int, list[str]]:
    """(keys found, keys whose vector is not their own) after reopening the folder."""
    cache = EmbeddingCache(folder)
    found, wrong = 0, []
    for key in expected:
        vector = cache.get(key)
        if vector is None:
            continue
        found += 1
        if vector.shape != (DIM,) or not np.array_equal(vector, _vector(key)):
            wrong.append(key)
    return found, wrong


def test_processes_sharing_a_cache_folder_keep_every_key_on_its_own_vector(tmp_path):
    writers, n, batch = 4, 3000, 20
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_write, args=(str(tmp_path), w, n, batch, start))
             for w in range(writers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    expected = [_key(w, i) for w in range(writers) for i in range(n)]
    found, wrong = _check(tmp_path, expected)
    assert wrong == [], f"{len(wrong)} of {found} keys point at another text's vector"
    assert found == len(expected)


def test_threads_with_their_own_cache_objects_on_one_folder(tmp_path):
    writers, n, batch = 4, 1000, 10
    start = threading.Barrier(writers)
    threads = [threading.Thread(target=_write, args=(str(tmp_path), w, n, batch, start))
               for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = [_key(w, i) for w in range(writers) for i in range(n)]
    found, wrong = _check(tmp_path, expected)
    assert wrong == [] and found == len(expected)


def test_one_cache_object_shared_by_threads(tmp_path):
    cache = EmbeddingCache(tmp_path)

    def work(owner: int) -> None:
        keys = [_key(owner, i) for i in range(500)]
        for i in range(0, len(keys), 5):
            cache.add(keys[i:i + 5], _vectors(keys[i:i + 5]))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = [_key(w, i) for w in range(4) for i in range(500)]
    found, wrong = _check(tmp_path, expected)
    assert wrong == [] and found == len(expected)


@pytest.mark.parametrize("chop", [1, 7, DIM * 2 + 3])
def test_a_torn_last_write_drops_only_the_torn_entries(tmp_path, chop):
    _write(str(tmp_path), 0, 200, 10)
    for path in tmp_path.iterdir():  # every file loses the tail of its last entry
        if path.is_file() and path.stat().st_size > chop:
            with open(path, "r+b") as fh:
                fh.truncate(path.stat().st_size - chop)
    expected = [_key(0, i) for i in range(200)]
    found, wrong = _check(tmp_path, expected)  # no exception
    assert wrong == []
    assert found >= 190  # at most the last batch is lost


def test_a_corrupted_entry_is_dropped_and_the_others_kept(tmp_path):
    from supportbot import embeddings

    _write(str(tmp_path), 0, 100, 10)
    data = tmp_path / embeddings.CACHE_FILE
    raw = bytearray(data.read_bytes())
    record = embeddings._record_size(DIM)
    # flip a byte inside the vector of entry 37 and inside the key of entry 60
    raw[embeddings._HEADER_SIZE + 37 * record + embeddings._VECTOR_OFFSET + 5] ^= 0xFF
    raw[embeddings._HEADER_SIZE + 60 * record + 10] ^= 0x01
    data.write_bytes(bytes(raw))
    expected = [_key(0, i) for i in range(100)]
    cache = EmbeddingCache(tmp_path)
    assert cache.get(expected[37]) is None and cache.get(expected[60]) is None
    found, wrong = _check(tmp_path, expected)
    assert wrong == [] and found == 98


def test_a_writer_that_died_mid_entry_does_not_shift_later_entries(tmp_path):
    from supportbot import embeddings

    _write(str(tmp_path), 0, 50, 10)
    data = tmp_path / embeddings.CACHE_FILE
    with open(data, "ab") as fh:  # half an entry, as left by a killed writer
        fh.write(b"\x01" * (embeddings._record_size(DIM) // 2))
    _write(str(tmp_path), 1, 50, 10)  # a later run appends after it
    expected = [_key(w, i) for w in range(2) for i in range(50)]
    found, wrong = _check(tmp_path, expected)
    assert wrong == [] and found == 100


def test_garbage_files_are_ignored_and_then_replaced(tmp_path):
    from supportbot import embeddings

    (tmp_path / embeddings.CACHE_FILE).write_bytes(b"not a cache at all" * 100)
    assert _check(tmp_path, [_key(0, 0)]) == (0, [])
    _write(str(tmp_path), 0, 30, 10)
    assert _check(tmp_path, [_key(0, i) for i in range(30)]) == (30, [])


def test_an_entry_of_another_dimension_is_not_written_to_the_folder(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.add([_key(0, 0)], _vectors([_key(0, 0)]))
    cache.add(["other"], np.ones((1, DIM + 1), np.float32))  # kept in memory only
    assert cache.get("other") is not None
    assert _check(tmp_path, [_key(0, 0)]) == (1, [])
    assert EmbeddingCache(tmp_path).get("other") is None


# --- warm-retrain state ---------------------------------------------------------------------

def _state(tag: int):
    """A small training state whose every part says which `tag` it came from."""
    from supportbot.nlu.classifier import LinearWeights
    from supportbot.nlu.features import FeatureSpace
    from supportbot.nlu.trainstate import TrainState

    texts = [f"text {tag} number {i} words here" for i in range(12)]
    space = FeatureSpace(word_ngrams=(1, 1), char_ngrams=(2, 3))
    space.fit_transform(texts)
    n_sparse = len(space.sparse_terms)
    intents = [f"intent{tag}_{j}" for j in range(3)]
    weights = LinearWeights(np.zeros((0, 3), np.float32),
                            np.full((n_sparse, 3), tag, np.float32),
                            np.full(3, tag, np.float32))
    keys = [f"k{tag}_{i}" for i in range(10)]
    return TrainState(space, weights, intents, keys, np.full((10, 3), tag, np.float32),
                      np.full(10, tag, np.float32), np.full((10, 3), tag, np.float32))


def _consistent(state) -> bool:
    """Every part of a loaded state comes from one save."""
    tag = int(state.weights.bias[0])
    return (state.intents == [f"intent{tag}_{j}" for j in range(3)]
            and state.keys == [f"k{tag}_{i}" for i in range(10)]
            and bool((state.oof == tag).all()) and bool((state.weights.sparse == tag).all())
            and state.weights.sparse.shape[0] == len(state.space.sparse_terms)
            and bool((state.familiarity == tag).all()) and bool((state.evidence == tag).all())
            and any(f"{tag}" in t for t in state.space.word.terms))


def test_train_state_readers_never_see_a_mix_of_two_saves(tmp_path):
    from supportbot.nlu.trainstate import TrainState

    folder = tmp_path / "nlu-train" / "abc"
    states = [_state(1), _state(2)]
    states[0].save(folder)
    stop = threading.Event()
    errors: list[str] = []

    def writer(state) -> None:
        while not stop.is_set():
            state.save(folder)

    def reader() -> None:
        loads, deadline = 0, time.monotonic() + 10
        try:
            while loads < 150 and time.monotonic() < deadline:
                state = TrainState.load(folder, None)
                if state is not None:
                    loads += 1
                    if not _consistent(state):
                        errors.append(f"mixed: bias {state.weights.bias}, keys {state.keys[:1]}")
        finally:
            stop.set()

    threads = [threading.Thread(target=writer, args=(s,)) for s in states]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    final = TrainState.load(folder, None)
    assert final is not None and _consistent(final)


def test_train_state_with_a_damaged_file_is_not_loaded(tmp_path):
    from supportbot.nlu.trainstate import TrainState

    folder = tmp_path / "state"
    _state(3).save(folder)
    loaded = TrainState.load(folder, None)
    assert loaded is not None and _consistent(loaded)
    files = [p for p in folder.rglob("oof.npy")]
    assert files
    raw = bytearray(files[0].read_bytes())
    raw[-1] ^= 0xFF  # same shape, different value
    files[0].write_bytes(bytes(raw))
    assert TrainState.load(folder, None) is None
