"""Model archives are untrusted input: limits on what they unpack to, only known members, a
temporary folder that is always removed, corrupt parts as ModelError, and runtime backends that
come from the operator, never from the archive (security findings 3, 4 and 10)."""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from supportbot.errors import ModelError
from supportbot.model import ArchiveLimits, extract_archive, read_manifest_from_archive

TINY_CONFIG = """\
language: en
nlu:
  embedding_model: null
handoff:
  backend: {backend}
"""
TINY_DOMAIN = """\
version: "3.1"
intents: [greet, bye]
responses:
  utter_greet:
  - text: Hello!
  utter_bye:
  - text: Goodbye!
"""
TINY_NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
    - hey there
    - good morning
- intent: bye
  examples: |
    - bye
    - goodbye
    - see you later
    - farewell
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small n-gram-only model whose packed config.yml names a queue the operator never
    chose (under the module's temporary folder)."""
    import supportbot

    base = tmp_path_factory.mktemp("tiny")
    project = base / "project"
    (project / "data").mkdir(parents=True)
    evil = base / "archive-chosen" / "handoff.db"
    (project / "config.yml").write_text(TINY_CONFIG.format(backend=f"sqlite:///{evil}"))
    (project / "domain.yml").write_text(TINY_DOMAIN)
    (project / "data" / "nlu.yml").write_text(TINY_NLU)
    return supportbot.train(project, base / "models", cache_dir=False)


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's folder for this test, so that leftovers can be counted."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _unpack(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def _pack(folder: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def _member(name: str, data: bytes = b"", **kw) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in kw.items():
        setattr(info, key, value)
    return info, data


# ------------------------------------------------------------------ finding 3
def test_archive_handoff_backend_is_never_used(tiny_model: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The packed config.yml names sqlite:///<tmp>/archive-chosen/handoff.db (and an edited
    archive names a PostgreSQL host); Bot.load + a handoff creates nothing there."""
    from supportbot import Bot

    monkeypatch.delenv("SUPPORTBOT_QUEUE_URL", raising=False)
    monkeypatch.delenv("SUPPORTBOT_TRACKER_STORE", raising=False)
    chosen = tiny_model.parent.parent / "archive-chosen"
    folder = _unpack(tiny_model, tmp_path / "unpacked")
    packed = (folder / "project" / "config.yml").read_text()
    assert str(chosen) in packed
    other = tmp_path / "other-host.tar.gz"
    (folder / "project" / "config.yml").write_text(
        packed.replace(f"sqlite:///{chosen}/handoff.db", "postgresql://other-host:1/db"))
    _pack(folder, other)
    for archive in (tiny_model, other):
        bot = Bot.load(archive)
        assert "other-host" not in str(getattr(bot.queue.backend, "dsn", ""))
        turn = bot.handle("c-archive-backend", "/human_handoff")
        assert turn.handoff is not None
        assert bot.queue.backend.get(turn.handoff.ticket_id).conversation_id == "c-archive-backend"
    assert not chosen.exists()


# ------------------------------------------------------------------ finding 4
def test_real_model_loads_and_leaves_no_temporary_folder(tiny_model: Path,
                                                         private_tmp: Path) -> None:
    from supportbot import Bot

    Bot.load(tiny_model, tracker_store="memory://")
    assert list(private_tmp.iterdir()) == []
    assert read_manifest_from_archive(tiny_model) is not None


def test_a_member_over_the_limit_is_refused_before_it_is_unpacked(
        tiny_model: Path, tmp_path: Path, private_tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive bomb: a member that unpacks far beyond its compressed size. The limit comes from
    the operator's environment; nothing stays on disk."""
    folder = _unpack(tiny_model, tmp_path / "unpacked")
    big = b"\0" * (64 * 1024 * 1024)
    bomb = _pack(folder, tmp_path / "bomb.tar.gz", [_member("kb/arrays2.npy", big)])
    assert bomb.stat().st_size < 5 * 1024 * 1024
    monkeypatch.setenv("SUPPORTBOT_MODEL_MAX_MEMBER_MB", "32")
    started = time.perf_counter()
    with pytest.raises(ModelError, match="kb/arrays2.npy.*limit per member"):
        extract_archive(bomb)
    assert time.perf_counter() - started < 5
    assert list(private_tmp.iterdir()) == []
    from supportbot import Bot

    with pytest.raises(ModelError, match="SUPPORTBOT_MODEL_MAX_MEMBER_MB"):
        Bot.load(bomb, tracker_store="memory://")
    assert list(private_tmp.iterdir()) == []


def test_a_4gb_member_header_is_refused_with_the_default_limits(tmp_path: Path,
                                                                private_tmp: Path) -> None:
    """The finding's 4 GB member: only its header is read (no 4 GB of zeros are written or
    decompressed)."""
    header = tarfile.TarInfo("kb/arrays.npz")
    header.size = 4 * 1024 ** 3
    raw = header.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * (1024 * 1024)  # then it is cut off
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(raw))
    with pytest.raises(ModelError, match="4096 MB, over the 512 MB limit per member"):
        extract_archive(bomb)
    assert list(private_tmp.iterdir()) == []


def test_the_total_size_is_counted_while_unpacking(tiny_model: Path, tmp_path: Path,
                                                   private_tmp: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _unpack(tiny_model, tmp_path / "unpacked")
    model_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1_048_576
    chunk = os.urandom(700 * 1024)
    many = _pack(folder, tmp_path / "many.tar.gz",
                 [_member(f"kb/part{i}.npy", chunk) for i in range(3)])
    limit = int(model_mb) + 2  # the model fits, the three extra members do not
    monkeypatch.setenv("SUPPORTBOT_MODEL_MAX_TOTAL_MB", str(limit))
    with pytest.raises(ModelError, match=f"more than {limit} MB"):
        extract_archive(many)
    assert list(private_tmp.iterdir()) == []
    # the same archive loads under the operator's wider limits
    monkeypatch.setenv("SUPPORTBOT_MODEL_MAX_TOTAL_MB", "50")
    shutil.rmtree(extract_archive(many))


def test_member_count_is_limited(tiny_model: Path, tmp_path: Path, private_tmp: Path) -> None:
    folder = _unpack(tiny_model, tmp_path / "unpacked")
    archive = _pack(folder, tmp_path / "count.tar.gz",
                    [_member(f"kb/e{i}.json", b"{}") for i in range(30)])
    with pytest.raises(ModelError, match="more than 20 members"):
        extract_archive(archive, ArchiveLimits(max_members=20))
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("member", [
    _member("evil.py", b"import os"),
    _member("nlu/model.pkl", b"\x80\x04"),
    _member("kb/sub/deep.json", b"{}"),
    _member("project/../../escape.yml", b"a: 1"),
    _member("/abs.json", b"{}"),
    _member("kb/link.npy", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
    _member("nlu/hard.npy", type=tarfile.LNKTYPE, linkname="manifest.json"),
    _member("kb/fifo.npy", type=tarfile.FIFOTYPE),
    _member("tools/", type=tarfile.DIRTYPE),
], ids=lambda m: m[0].name)
def test_only_known_members_are_accepted(tiny_model: Path, tmp_path: Path, private_tmp: Path,
                                         member) -> None:
    folder = _unpack(tiny_model, tmp_path / "unpacked")
    archive = _pack(folder, tmp_path / "odd.tar.gz", [member])
    with pytest.raises(ModelError, match="member"):
        extract_archive(archive)
    assert list(private_tmp.iterdir()) == []
    assert not (tmp_path / "escape.yml").exists()


def test_folders_left_by_a_killed_load_are_removed(tiny_model: Path,
                                                   private_tmp: Path) -> None:
    """A load killed mid-way (SIGKILL) cannot clean up; the next load removes what a process
    that no longer exists left behind, and nothing of live processes."""
    dead = private_tmp / "supportbot-model-999999999-abc"  # no such pid
    (dead / "kb").mkdir(parents=True)
    (dead / "kb" / "arrays.npz").write_bytes(b"\0" * 1000)
    alive = private_tmp / f"supportbot-model-{os.getppid()}-def"
    alive.mkdir()
    folder = extract_archive(tiny_model)
    shutil.rmtree(folder)
    assert not dead.exists() and alive.exists()


def test_limits_come_from_the_environment() -> None:
    limits = ArchiveLimits.from_env({"SUPPORTBOT_MODEL_MAX_MEMBER_MB": "3",
                                     "SUPPORTBOT_MODEL_MAX_TOTAL_MB": "10",
                                     "SUPPORTBOT_MODEL_MAX_MEMBERS": "7"})
    assert limits == ArchiveLimits(3 * 1024 * 1024, 10 * 1024 * 1024, 7)
    assert ArchiveLimits.from_env({}) == ArchiveLimits()
    with pytest.raises(ModelError, match="not a number"):
        ArchiveLimits.from_env({"SUPPORTBOT_MODEL_MAX_TOTAL_MB": "lots"})


# ------------------------------------------------------------------ finding 10: corrupt parts
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("path", "content"), [
    ("nlu/nlu.json", _nested(200_000)),                     # RecursionError in json
    ("nlu/nlu.json", "[1, 2, 3]"),                          # AttributeError: list.get
    ("entities.json", "[]"),                                # AttributeError in from_dict
    ("kb/arrays.npz", "PK not a zip file"),                 # zipfile.BadZipFile
    ("kb/kb.json", '{"format_version": 1, "dense": 5}'),    # TypeError
    ("manifest.json", '{"format_version": 1}'),             # KeyError
    ("project/domain.yml", "responses: [1, 2"),             # ProjectError
])
def test_corrupt_model_parts_are_model_errors(tiny_model: Path, tmp_path: Path,
                                              private_tmp: Path, path: str,
                                              content: str) -> None:
    from supportbot import Bot

    folder = _unpack(tiny_model, tmp_path / "unpacked")
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_text(content)
    archive = _pack(folder, tmp_path / "corrupt.tar.gz")
    with pytest.raises(ModelError):
        Bot.load(archive, tracker_store="memory://")
    assert list(private_tmp.iterdir()) == []


def test_npy_files_are_read_without_pickle(tiny_model: Path, tmp_path: Path) -> None:
    import numpy as np

    from supportbot import Bot

    folder = _unpack(tiny_model, tmp_path / "unpacked")
    np.save(folder / "nlu" / "bias.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    archive = _pack(folder, tmp_path / "pickled.tar.gz")
    with pytest.raises(ModelError):
        Bot.load(archive, tracker_store="memory://")


def test_read_manifest_never_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"x" * 5000))
    assert read_manifest_from_archive(junk) is None
    manifest = tmp_path / "m.tar.gz"
    with tarfile.open(manifest, "w:gz") as tar:
        data = json.dumps({"format_version": 1}).encode()
        info, _ = _member("manifest.json", data)
        tar.addfile(info, io.BytesIO(data))
    assert read_manifest_from_archive(manifest) is None
