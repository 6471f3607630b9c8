"""The trained-model archive: a .tar.gz with a manifest, the project's own YAML files and the
fitted components (JSON, numpy .npy and faiss files — nothing that executes code on load)."""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import supportbot
from supportbot.errors import ModelError
from supportbot.project.types import Project

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PROJECT_DIR = "project"


def project_fingerprint(project: Project) -> str:
    """Hash of every file the project was loaded from plus the supportbot version and the
    model and KB index formats."""
    from supportbot.kb.serialize import KB_FORMAT_VERSION

    digest = hashlib.sha256(f"supportbot {supportbot.__version__} format {FORMAT_VERSION} "
                            f"kb {KB_FORMAT_VERSION}".encode())
    for rel in sorted(project.files):
        digest.update(rel.encode() + b"\0")
        digest.update((project.root / rel).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    fingerprint: str
    created_at: float
    supportbot_version: str
    format_version: int
    versions: dict[str, str]
    embedding_model: str | None
    # cross-validation figures, counts, timings, and what came from the training cache:
    # "cache": {"folder": str | None, "embeddings_reused": int, "embeddings_computed": int,
    #           "state_reused": bool} (texts counted once each; see supportbot.training)
    training: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, ensure_ascii=False)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a supportbot model manifest ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path}: not a supportbot model manifest (not a JSON object)")
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{path}: model format {data.get('format_version')} is not supported by supportbot "
                f"{supportbot.__version__} (expects {FORMAT_VERSION}); retrain with `supportbot train --force`")
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{path}: the model manifest lacks {exc}; retrain the model") from None


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("numpy", "scikit-learn", "faiss-cpu", "sentence-transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def copy_project_files(project: Project, dest: Path) -> None:
    for rel in project.files:
        target = dest / PROJECT_DIR / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project.root / rel, target)


def write_archive(staging: Path, out_dir: Path, fingerprint: str) -> Path:
    """Pack `staging` into out_dir/<time>-<fingerprint>.tar.gz atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{fingerprint[:10]}.tar.gz"
    n = 1
    while (out_dir / name).exists():
        n += 1
        name = f"{stamp}.{n}-{fingerprint[:10]}.tar.gz"
    final = out_dir / name
    tmp = out_dir / (name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(staging.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(staging)), recursive=False)
    tmp.replace(final)
    return final


# ---------------------------------------------------------------------- reading archives
# What a model archive may hold: these top-level files, and under these folders only files with
# these suffixes (JSON, numpy arrays without pickles, the faiss index, the packed project YAML).
_TOP_FILES = frozenset({MANIFEST, "entities.json"})
_FOLDER_SUFFIXES = {
    "nlu": (".json", ".npy"),
    "kb": (".json", ".npy", ".npz", ".faiss"),
    "arbiter": (".json", ".npy"),
    PROJECT_DIR: (".yml", ".yaml"),
}
_TEMP_PREFIX = "supportbot-model-"
_CHUNK = 1 << 20
MAX_MEMBER_MB_ENV = "SUPPORTBOT_MODEL_MAX_MEMBER_MB"
MAX_TOTAL_MB_ENV = "SUPPORTBOT_MODEL_MAX_TOTAL_MB"
MAX_MEMBERS_ENV = "SUPPORTBOT_MODEL_MAX_MEMBERS"


@dataclass(frozen=True)
class ArchiveLimits:
    """How much a model archive may unpack to. The example bot's archive (29 intents, 54 FAQ
    entries) holds 43 members, 14 MB in all, the largest 8.7 MB; the defaults leave room for
    bots a hundred times that size. The operator sets them with $SUPPORTBOT_MODEL_MAX_MEMBER_MB,
    $SUPPORTBOT_MODEL_MAX_TOTAL_MB and $SUPPORTBOT_MODEL_MAX_MEMBERS (never the archive)."""

    max_member_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2048 * 1024 * 1024
    max_members: int = 10_000

    @classmethod
    def from_env(cls, environ: Any = None) -> ArchiveLimits:
        """The defaults, overridden by the operator's environment variables."""
        import os

        env = os.environ if environ is None else environ
        default = cls()

        def read(name: str, fallback: int, scale: int) -> int:
            raw = env.get(name)
            if raw is None or not str(raw).strip():
                return fallback
            try:
                value = float(raw)
            except ValueError:
                raise ModelError(f"${name}={raw!r} is not a number") from None
            if value <= 0:
                raise ModelError(f"${name}={raw!r} must be above 0")
            return int(value * scale)

        mb = 1024 * 1024
        return cls(read(MAX_MEMBER_MB_ENV, default.max_member_bytes, mb),
                   read(MAX_TOTAL_MB_ENV, default.max_total_bytes, mb),
                   read(MAX_MEMBERS_ENV, default.max_members, 1))


class _CountingReader:
    """A read-only stream that refuses to yield more than `limit` decompressed bytes, so that
    nothing in the archive (headers and long names included) can expand without bound."""

    def __init__(self, raw: Any, limit: int, archive: Path):
        self.raw = raw
        self.limit = limit
        self.archive = archive
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise ModelError(f"{self.archive}: the archive unpacks to more than "
                             f"{self.limit // 1_048_576} MB; it is not a supportbot model (or "
                             f"raise ${MAX_TOTAL_MB_ENV})")
        return data


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why `member` may not be in a model archive, or None when it may."""
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "a path outside the model folder"
    if member.isdir():
        return None if parts[0] in _FOLDER_SUFFIXES else "an unknown folder"
    if not member.isreg():
        return "a link or special file"
    if len(parts) == 1:
        return None if name in _TOP_FILES else "an unknown file"
    suffixes = _FOLDER_SUFFIXES.get(parts[0])
    if suffixes is None or not name.lower().endswith(suffixes):
        return "an unknown file"
    if parts[0] != PROJECT_DIR and len(parts) != 2:
        return "an unknown file"
    return None


def _iter_members(archive: Path, limits: ArchiveLimits):
    """(member, tar) for each member, in order, checked against `limits` and the list of
    known members before anything of it is read."""
    import gzip

    with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped:
        # headers are 512 bytes each; long names stay far below 64 KB
        stream = _CountingReader(unzipped, limits.max_total_bytes
                                 + limits.max_members * 1024 + 65536, archive)
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise ModelError(f"{archive}: more than {limits.max_members} members; it is "
                                     f"not a supportbot model (or raise ${MAX_MEMBERS_ENV})")
                problem = _member_problem(member)
                if problem is not None:
                    raise ModelError(f"{archive}: member {member.name!r} is {problem}; a "
                                     "supportbot model holds only JSON, .npy/.npz, faiss and "
                                     "project YAML files")
                if member.size > limits.max_member_bytes:
                    raise ModelError(f"{archive}: member {member.name!r} is "
                                     f"{member.size // 1_048_576} MB, over the "
                                     f"{limits.max_member_bytes // 1_048_576} MB limit per member "
                                     f"(raise ${MAX_MEMBER_MB_ENV} if the model is genuine)")
                yield member, tar


def _remove_stale_folders() -> None:
    """Remove unpacked models left behind by processes that were killed while loading."""
    import os

    base = Path(tempfile.gettempdir())
    try:
        candidates = list(base.glob(_TEMP_PREFIX + "*"))
    except OSError:
        return
    for folder in candidates:
        pid_text = folder.name[len(_TEMP_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def extract_archive(archive: Path, limits: ArchiveLimits | None = None) -> Path:
    """Unpack into a fresh temporary folder (the caller removes it; on any failure it is removed
    here). Only known members are accepted — regular files with the model's suffixes under
    nlu/, kb/ and project/ — and the sizes are counted while unpacking against `limits`
    (default: `ArchiveLimits.from_env()`), so an archive bomb stops at the first byte over."""
    import os

    archive = Path(archive)
    if archive.is_dir():
        return archive
    if not archive.exists():
        raise ModelError(f"model {archive} does not exist; train one with `supportbot train`")
    limits = limits or ArchiveLimits.from_env()
    _remove_stale_folders()
    target = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
    try:
        total = 0
        for member, tar in _iter_members(archive, limits):
            path = target.joinpath(*member.name.split("/"))
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            written = 0
            with open(path, "xb") as out:
                while source is not None:
                    chunk = source.read(_CHUNK)
                    if not chunk:
                        break
                    written += len(chunk)
                    total += len(chunk)
                    if written > limits.max_member_bytes:
                        raise ModelError(f"{archive}: member {member.name!r} is over the "
                                         f"{limits.max_member_bytes // 1_048_576} MB limit per "
                                         f"member (${MAX_MEMBER_MB_ENV})")
                    if total > limits.max_total_bytes:
                        raise ModelError(f"{archive}: the archive unpacks to more than "
                                         f"{limits.max_total_bytes // 1_048_576} MB "
                                         f"(${MAX_TOTAL_MB_ENV})")
                    out.write(chunk)
    except ModelError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except FileExistsError:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"{archive}: a member appears twice; not a supportbot model") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"{archive}: not a readable supportbot model archive ({exc})") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def read_manifest_from_archive(archive: Path, limits: ArchiveLimits | None = None
                               ) -> Manifest | None:
    """The manifest of a model archive, or None when it has none or cannot be read."""
    try:
        limits = limits or ArchiveLimits.from_env()
        for member, tar in _iter_members(Path(archive), limits):
            if member.name != MANIFEST:
                continue
            source = tar.extractfile(member)
            if source is None:
                return None
            data = json.loads(source.read(min(member.size, 16 * 1024 * 1024)))
            break
        else:
            return None
    except (ModelError, tarfile.TarError, OSError, ValueError, EOFError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        return None
    try:
        return Manifest(**{k: data[k] for k in Manifest.__dataclass_fields__})
    except (KeyError, TypeError):
        return None


def find_models(models_dir: Path) -> list[Path]:
    """Model archives in a folder, newest first."""
    if not models_dir.is_dir():
        return []
    return sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.name, reverse=True)


def latest_model(path: Path) -> Path:
    """`path` itself when it is an archive, else the newest archive in path or path/models."""
    path = Path(path)
    if path.is_file():
        return path
    for folder in (path, path / "models"):
        found = find_models(folder)
        if found:
            return found[0]
    raise ModelError(f"no trained model found in {path} (looked for *.tar.gz there and in "
                     f"{path / 'models'}); run `supportbot train` first")
