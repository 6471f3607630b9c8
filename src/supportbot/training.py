"""`supportbot.train`: project folder in, model archive out (skipped when nothing changed).

Training writes the archive into `output` and nothing else, except in a training cache the
caller names (`cache_dir=`, or the operator's $SUPPORTBOT_CACHE_DIR): sentence embeddings by
text hash and the state that makes a retrain after a small change fast. What was reused from
it is recorded in the manifest (`training["cache"]`).
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

import supportbot
from supportbot.embeddings import Encoder, env_cache_dir
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
from supportbot.nlu.arbiter import ARBITER_DIR, TopicArbiter
from supportbot.project import Project, load_project

log = logging.getLogger(__name__)


def train(project: str | Path = ".", output: str | Path | None = None, *, force: bool = False,
          progress: bool = False,
          cache_dir: str | Path | Literal[False] | None = None) -> Path:
    """Train the project in `project`; return the path of the model archive.

    When the newest archive in `output` (default `<project>/models`) was trained from identical
    files, it is returned without training; `force=True` retrains anyway.

    `cache_dir`: a folder for the training cache (sentence embeddings and the state that makes
    a retrain after a small change take seconds). None: $SUPPORTBOT_CACHE_DIR when set, else
    no disk cache. False: no disk cache even when $SUPPORTBOT_CACHE_DIR is set. Without a
    cache nothing is written outside `output` (besides a temporary folder, removed again);
    the result is the same either way. The manifest records what was reused.
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
    cache = resolve_cache_dir(cache_dir)
    started = time.perf_counter()
    steps = ["load encoder", "intent classifier", "knowledge base", "topic arbiter", "entities",
             "write archive"]
    bar = tqdm(total=len(steps), desc="training", disable=not progress, unit="step")
    staging = Path(tempfile.mkdtemp(prefix="supportbot-train-"))
    try:
        bar.set_postfix_str(steps[0])
        encoder = (Encoder(settings.embedding_model, cache_dir=cache)
                   if settings.embedding_model else None)
        bar.update()
        bar.set_postfix_str(steps[1])
        nlu = NluModel.train(loaded.nlu.examples, settings, encoder=encoder, progress=progress,
                             cache_dir=cache)
        nlu.save(staging / "nlu")
        bar.update()
        bar.set_postfix_str(steps[2])
        kb = KBIndex.build(loaded.kb, loaded.config.kb, encoder)
        kb.save(staging / "kb")
        bar.update()
        bar.set_postfix_str(steps[3])
        arbiter = train_arbiter(loaded, encoder)
        if arbiter is not None:
            arbiter.save(staging / ARBITER_DIR)
        bar.update()
        bar.set_postfix_str(steps[4])
        extractor = EntityExtractor.from_project(loaded.nlu)
        (staging / "entities.json").write_text(
            json.dumps(extractor.to_dict(), ensure_ascii=False, indent=1))
        bar.update()
        bar.set_postfix_str(steps[5])
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
                "arbiter": arbiter.report if arbiter is not None else None,
                "cache": _cache_record(cache, encoder, nlu.report),
            },
        )
        (staging / MANIFEST).write_text(manifest.to_json())
        archive = write_archive(staging, out_dir, fingerprint)
        bar.update()
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    return archive


def train_arbiter(project: Project, encoder: Encoder | None) -> TopicArbiter | None:
    """The topic arbiter (`supportbot.nlu.arbiter`) of a bot with a multilingual encoder part;
    None without one (nothing reads other languages through it then)."""
    from supportbot.nlu.arbiter import INTENT_PREFIX, training_set
    from supportbot.nlu.multilingual import example_languages, neutral_vectors

    if encoder is None or encoder.multilingual_part is None:
        return None
    intent_texts = [(ex.text, ex.base_intent) for ex in project.nlu.examples]
    faq_texts = [(q, entry.id) for entry in project.kb for q in entry.questions]
    if not intent_texts and not faq_texts:
        return None
    candidates = tuple(project.config.nlu.languages)
    languages = example_languages([t for t, _ in intent_texts + faq_texts], candidates)
    texts, labels = training_set(intent_texts, faq_texts, languages, project.config.language,
                                 candidates)
    out_of_scope = project.config.nlu.out_of_scope_intent
    return TopicArbiter.train(neutral_vectors(encoder, texts), labels,
                              out_of_scope=f"{INTENT_PREFIX}{out_of_scope}" if out_of_scope else None)


def resolve_cache_dir(cache_dir: str | Path | Literal[False] | None) -> Path | None:
    """The training cache folder `train(cache_dir=...)` uses; None for none."""
    if cache_dir is False:
        return None
    if cache_dir is None:
        return env_cache_dir()
    return Path(cache_dir).expanduser()


def _cache_record(cache: Path | None, encoder: Encoder | None,
                  report: dict[str, Any]) -> dict[str, Any]:
    """What this training took from the cache: the manifest's `training["cache"]`."""
    usage = encoder.usage() if encoder is not None else {"reused": 0, "computed": 0}
    return {"folder": None if cache is None else str(cache.resolve()),
            "embeddings_reused": usage["reused"],
            "embeddings_computed": usage["computed"],
            "state_reused": bool(report.get("cv_reused", False))}
