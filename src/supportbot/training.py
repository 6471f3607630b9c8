"""`supportbot.train`: project folder in, model archive out (skipped when nothing changed)."""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import supportbot
from supportbot.embeddings import Encoder
from supportbot.model import (
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    copy_project_files,
    find_models,
    library_versions,
    project_fingerprint,
    read_manifest_from_archive,
    write_archive,
)
from supportbot.project import load_project

log = logging.getLogger(__name__)


def train(project: str | Path = ".", output: str | Path | None = None, *, force: bool = False,
          progress: bool = False) -> Path:
    """Train the project in `project`; return the path of the model archive.

    When the newest archive in `output` (default `<project>/models`) was trained from identical
    files, it is returned without training; `force=True` retrains anyway.
    """
    from supportbot.kb.index import KBIndex
    from supportbot.nlu.entities import EntityExtractor
    from supportbot.nlu.pipeline import NluModel

    root = Path(project)
    loaded = load_project(root)
    out_dir = Path(output) if output is not None else root / "models"
    fingerprint = project_fingerprint(loaded)
    if not force:
        for archive in find_models(out_dir):
            manifest = read_manifest_from_archive(archive)
            if manifest is not None and manifest.fingerprint == fingerprint:
                log.info("nothing changed since %s; not retraining", archive.name)
                return archive

    settings = loaded.config.nlu
    started = time.perf_counter()
    steps = ["load encoder", "intent classifier", "knowledge base", "entities", "write archive"]
    bar = tqdm(total=len(steps), desc="training", disable=not progress, unit="step")
    staging = Path(tempfile.mkdtemp(prefix="supportbot-train-"))
    try:
        bar.set_postfix_str(steps[0])
        encoder = Encoder(settings.embedding_model) if settings.embedding_model else None
        bar.update()
        bar.set_postfix_str(steps[1])
        nlu = NluModel.train(loaded.nlu.examples, settings, encoder=encoder, progress=progress)
        nlu.save(staging / "nlu")
        bar.update()
        bar.set_postfix_str(steps[2])
        kb = KBIndex.build(loaded.kb, loaded.config.kb, encoder)
        kb.save(staging / "kb")
        bar.update()
        bar.set_postfix_str(steps[3])
        extractor = EntityExtractor.from_project(loaded.nlu)
        (staging / "entities.json").write_text(
            json.dumps(extractor.to_dict(), ensure_ascii=False, indent=1))
        bar.update()
        bar.set_postfix_str(steps[4])
        copy_project_files(loaded, staging)
        manifest = Manifest(
            fingerprint=fingerprint,
            created_at=time.time(),
            supportbot_version=supportbot.__version__,
            format_version=FORMAT_VERSION,
            versions=library_versions(),
            embedding_model=settings.embedding_model,
            training={
                "seconds": round(time.perf_counter() - started, 2),
                "examples": len(loaded.nlu.examples),
                "intents": len(loaded.nlu.intents()),
                "kb_entries": len(loaded.kb),
                "nlu": getattr(nlu, "report", {}),
            },
        )
        (staging / MANIFEST).write_text(manifest.to_json())
        archive = write_archive(staging, out_dir, fingerprint)
        bar.update()
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    return archive
