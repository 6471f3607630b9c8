"""A library call writes no files it was not asked to write and changes no process-wide
settings; the training cache is explicit, recorded in the manifest, and never changes results."""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import supportbot
from supportbot.embeddings import Encoder

FIXTURES = Path(__file__).parent / "fixtures" / "projects"
EMBEDDED = FIXTURES / "rasa_init_3x"  # no embedding_model setting: the packaged MiniLM
TFIDF_ONLY = FIXTURES / "rasa_2x_form"  # embedding_model: null
PROBES = ["hello there", "I am sad", "yes please", "bye", "are you a bot?", "zzz"]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return json.loads(member.read())


def _unpacked(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _without_timings(value: Any) -> Any:
    """JSON without what may differ between identical trainings (timings, the training report
    that says how the result was reached)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if k not in ("seconds", "build_seconds", "build_info", "report")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _assert_same_model(first: Path, second: Path) -> None:
    """Every file of two unpacked archives is the same (JSON compared without timings)."""
    names = [n for n in _files(first) if (first / n).is_file() and n != "manifest.json"]
    assert names == [n for n in _files(second) if (second / n).is_file()
                     and n != "manifest.json"]
    for name in names:
        a, b = (first / name).read_bytes(), (second / name).read_bytes()
        if name.endswith(".json"):
            assert _without_timings(json.loads(a)) == _without_timings(json.loads(b)), name
        else:
            assert a == b, name


@pytest.fixture()
def quiet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, an empty current folder and an empty temporary folder; no operator
    cache setting."""
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    temp = tmp_path / "temp"
    for folder in (home, cwd, temp):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SUPPORTBOT_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(cwd)
    return tmp_path


@pytest.fixture()
def odd_thread_count():
    """A torch thread count neither encoding path uses, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def _dependencies_imported() -> None:
    """Import what training and encoding use. scikit-learn (KMP_* variables) and
    sentence-transformers (TORCHINDUCTOR_CACHE_DIR, and that folder in the temporary folder)
    change the environment when first imported; that is theirs, not a supportbot call's, so
    the snapshots start after it."""
    import sentence_transformers  # noqa: F401
    import sklearn  # noqa: F401
    import torch  # noqa: F401

    import supportbot.kb.index
    import supportbot.nlu.pipeline  # noqa: F401


def test_encoding_and_training_change_no_environment_and_no_torch_threads(
        quiet_home, odd_thread_count, monkeypatch):
    import torch

    # nothing here may rely on (or set) the Hugging Face offline switches
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    _dependencies_imported()
    environ = dict(os.environ)
    temp = _files(quiet_home / "temp")  # sentence-transformers' import made torchinductor_root

    for fast in (True, False):  # the direct BERT pass and sentence-transformers
        encoder = Encoder(fast=fast)
        single = encoder.encode(["where is my order?"], use_cache=False)
        batch = encoder.encode([f"question number {i}" for i in range(20)])
        assert single.shape == (1, 384) and batch.shape == (20, 384)
        assert torch.get_num_threads() == odd_thread_count
    archive = supportbot.train(EMBEDDED, quiet_home / "out")
    assert torch.get_num_threads() == odd_thread_count
    assert dict(os.environ) == environ
    assert _files(quiet_home / "cwd") == [] and _files(quiet_home / "home") == []
    assert _files(quiet_home / "temp") == temp  # the staging folder is gone
    assert _files(quiet_home / "out") == [archive.name]
    assert _manifest(archive)["training"]["cache"] == {
        "folder": None, "embeddings_reused": 0, "embeddings_computed": 37,
        "state_reused": False}


def test_training_and_loading_write_nothing_outside_the_output(quiet_home):
    project_files = _files(TFIDF_ONLY)
    archive = supportbot.train(TFIDF_ONLY, quiet_home / "out")
    assert _files(quiet_home / "cwd") == []
    assert not (quiet_home / "home" / ".cache" / "supportbot").exists()
    assert _files(quiet_home / "home") == [] and _files(quiet_home / "temp") == []
    assert _files(TFIDF_ONLY) == project_files
    assert _manifest(archive)["training"]["cache"]["folder"] is None

    bot = supportbot.Bot.load(archive, tracker_store="memory://",
                              queue=f"sqlite:///{quiet_home / 'queue.db'}")
    bot.parse("hello")
    assert _files(quiet_home / "cwd") == [] and _files(quiet_home / "home") == []


def test_cache_is_used_only_when_named_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPORTBOT_CACHE_DIR", raising=False)
    cache = tmp_path / "cache"
    cold = supportbot.train(EMBEDDED, tmp_path / "a", cache_dir=cache)
    warm = supportbot.train(EMBEDDED, tmp_path / "b", cache_dir=cache)
    none = supportbot.train(EMBEDDED, tmp_path / "c")
    assert _manifest(cold)["training"]["cache"] == {
        "folder": str(cache.resolve()), "embeddings_reused": 0, "embeddings_computed": 37,
        "state_reused": False}
    assert _manifest(warm)["training"]["cache"] == {
        "folder": str(cache.resolve()), "embeddings_reused": 37, "embeddings_computed": 0,
        "state_reused": True}
    assert sorted(p.name for p in cache.iterdir()) == ["embeddings", "nlu-train"]

    # with an empty cache, a warm one and none at all: the same model
    models = [_unpacked(a, tmp_path / f"x{i}") for i, a in enumerate((cold, warm, none))]
    _assert_same_model(models[0], models[1])
    _assert_same_model(models[0], models[2])
    results = []
    for archive in (cold, warm, none):
        bot = supportbot.Bot.load(archive, tracker_store="memory://",
                                  queue=f"sqlite:///{tmp_path / 'queue.db'}")
        results.append([(p.intent, p.confidence, p.fallback_reason)
                        for p in (bot.parse(t) for t in PROBES)])
    assert results[0] == results[1] == results[2]


def test_operator_cache_setting_and_opting_out(tmp_path, monkeypatch):
    operator = tmp_path / "operator-cache"
    monkeypatch.setenv("SUPPORTBOT_CACHE_DIR", str(operator))
    used = supportbot.train(TFIDF_ONLY, tmp_path / "a")
    assert _manifest(used)["training"]["cache"]["folder"] == str(operator.resolve())
    assert (operator / "nlu-train").is_dir()
    shutil.rmtree(operator)
    opted_out = supportbot.train(TFIDF_ONLY, tmp_path / "b", cache_dir=False)
    assert _manifest(opted_out)["training"]["cache"] == {
        "folder": None, "embeddings_reused": 0, "embeddings_computed": 0,
        "state_reused": False}
    assert not operator.exists()


def test_retrain_after_a_one_example_change_reuses_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPORTBOT_CACHE_DIR", raising=False)
    project = tmp_path / "project"
    shutil.copytree(EMBEDDED, project)
    cache = tmp_path / "cache"
    supportbot.train(project, tmp_path / "out", cache_dir=cache)
    nlu = project / "data" / "nlu.yml"
    text = nlu.read_text()
    assert "    - hey\n" in text
    nlu.write_text(text.replace("    - hey\n", "    - hey\n    - hey hey, good day\n", 1))
    archive = supportbot.train(project, tmp_path / "out", cache_dir=cache)
    info = _manifest(archive)["training"]
    assert info["cache"]["state_reused"] is True and info["nlu"]["cv_reused"] is True
    assert info["cache"]["embeddings_computed"] == 1
    assert info["cache"]["embeddings_reused"] == 37


def test_encoder_keeps_vectors_in_memory_unless_given_a_folder(tmp_path, quiet_home):
    texts = ["where is my parcel", "cancel my order"]
    memory = Encoder()
    first = memory.encode(texts)
    assert np.array_equal(memory.encode(texts), first)
    assert memory.usage() == {"reused": 0, "computed": 2}
    assert memory.cache.folder is None

    folder = tmp_path / "emb"
    Encoder(cache_dir=folder).encode(texts)
    again = Encoder(cache_dir=folder)
    assert np.array_equal(again.encode(texts), first)
    assert again.usage() == {"reused": 2, "computed": 0}
    assert _files(quiet_home / "cwd") == [] and _files(quiet_home / "home") == []
