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
    """Hash of every file the project was loaded from plus the supportbot version."""
    digest = hashlib.sha256(f"supportbot {supportbot.__version__} format {FORMAT_VERSION}".encode())
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
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{path}: model format {data.get('format_version')} is not supported by supportbot "
                f"{supportbot.__version__} (expects {FORMAT_VERSION}); retrain with `supportbot train --force`")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


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


def extract_archive(archive: Path) -> Path:
    """Unpack into a fresh temporary folder; rejects links and paths leaving the folder."""
    if archive.is_dir():
        return archive
    if not archive.exists():
        raise ModelError(f"model {archive} does not exist; train one with `supportbot train`")
    target = Path(tempfile.mkdtemp(prefix="supportbot-model-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"{archive}: not a readable supportbot model archive ({exc})") from None
    return target


def read_manifest_from_archive(archive: Path) -> Manifest | None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                return None
            data = json.loads(member.read())
    except (tarfile.TarError, OSError, KeyError, ValueError, EOFError):
        return None
    if data.get("format_version") != FORMAT_VERSION:
        return None
    return Manifest(**{k: data[k] for k in Manifest.__dataclass_fields__})


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
