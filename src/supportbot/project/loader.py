"""Load a bot project directory (config.yml, domain.yml or domain/, data/) into a `Project`."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from supportbot.errors import Problem, ProjectError
from supportbot.project.checks import ProjectParts, run_checks
from supportbot.project.config_reader import read_config
from supportbot.project.context import FileContext, NotExecutedLog, Report, did_you_mean
from supportbot.project.domain_reader import DOMAIN_KEYS, DomainBuilder, read_domain_sections
from supportbot.project.kb_reader import entries_from_retrieval_intents, read_kb
from supportbot.project.nlu_reader import NluBuilder, read_nlu
from supportbot.project.stories_reader import read_rules, read_stories
from supportbot.project.types import (
    Config,
    KBEntry,
    Project,
    Rule,
    SlotMapping,
    Source,
    Story,
)
from supportbot.project.yamlio import line_of, read_yaml_file

LATEST_VERSION = (3, 1)
OLDEST_VERSION = (2, 0)
YAML_SUFFIXES = (".yml", ".yaml")
DATA_KEYS = ("version", "nlu", "rules", "stories", "kb") + DOMAIN_KEYS
_NOT_READ = {".md": "Markdown training data (Rasa 1.x) is not read",
             ".json": "JSON training data is not read"}


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read and validate the project at `path`.

    Raises `ProjectError` carrying every problem when any of them is an error; warnings of a
    successful load are in `Project.problems`.
    """
    project, report = _load(Path(path))
    if project is None or report.has_errors:
        raise ProjectError(sort_problems(report.problems))
    return replace(project, problems=tuple(sort_problems(report.problems)))


def validate_project(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem in the project at `path`, errors and warnings, sorted by file and line.

    Never raises for bad input: unreadable files, YAML errors and the like become Problems.
    """
    return read_project(path)[1]


def read_project(path: str | os.PathLike[str]) -> tuple[Project | None, list[Problem]]:
    """The project as far as it could be read (None when there is none) and every problem,
    sorted by file and line. Never raises for bad input, like `validate_project`."""
    try:
        project, report = _load(Path(path))
    except Exception as exc:  # noqa: BLE001 - a bug must still produce a readable report
        return None, [Problem("error", f"internal error while reading the project: "
                                       f"{type(exc).__name__}: {exc}",
                              hint="please report this as a supportbot bug", code="internal")]
    return project, sort_problems(report.problems)


def sort_problems(problems: list[Problem] | tuple[Problem, ...]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file is not None, p.file or "", p.line or 0))


# ------------------------------------------------------------------ files
def project_files(root: Path) -> tuple[Path | None, list[Path], list[Path], list[Path]]:
    """(config file, domain files, data files, other files under data/), each sorted."""
    def present(path: Path) -> bool:  # a FIFO or device is listed too (and refused on reading)
        return path.exists() and not path.is_dir()

    config = next((root / n for n in ("config.yml", "config.yaml") if present(root / n)), None)
    domain = [root / n for n in ("domain.yml", "domain.yaml") if present(root / n)]
    if (root / "domain").is_dir():
        domain += _walk(root / "domain")[0]
    data, other = _walk(root / "data") if (root / "data").is_dir() else ([], [])
    return config, domain, data, other


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    yaml_files: list[Path] = []
    other: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            (yaml_files if path.suffix.lower() in YAML_SUFFIXES else other).append(path)
    return yaml_files, other


def _outside_link(path: Path, root: Path) -> str | None:
    """Where `path` really leads when a symbolic link (of the file or a folder above it inside
    the project) takes it outside the project folder `root`; None when it stays inside."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a link loop
        return "a link loop"
    try:
        real.relative_to(root.resolve())
    except ValueError:
        return str(real)
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ------------------------------------------------------------------ the load
def _load(root: Path) -> tuple[Project | None, Report]:
    report = Report()
    if not root.exists():
        report.error(f"project directory {str(root)!r} does not exist", None,
                     "give the folder that holds config.yml, domain.yml and data/",
                     code="no-project")
        return None, report
    if not root.is_dir():
        report.error(f"{str(root)!r} is a file, not a project directory", None,
                     "give the folder that holds config.yml, domain.yml and data/",
                     code="no-project")
        return None, report
    config_path, domain_paths, data_paths, other = project_files(root)
    if config_path is None and not domain_paths and not data_paths:
        report.error(f"no bot project in {str(root)!r}: there is no config.yml, domain.yml or "
                     "data/ with YAML files", None,
                     "run `supportbot init DIR` to start a new project", code="no-project")
        return None, report
    for path in other:
        note = _NOT_READ.get(path.suffix.lower())
        if note:
            report.warning(note, Source(_rel(path, root)),
                           "convert it to YAML (e.g. `rasa data convert nlu`)", code="not-read")

    for path in ([config_path] if config_path else []) + domain_paths + data_paths:
        target = _outside_link(path, root)
        if target is not None:
            report.error(f"symbolic link to {target}, outside the project folder; it is not "
                         "read", Source(_rel(path, root)),
                         "copy the file into the project instead of linking to it",
                         code="outside-link")
    if config_path is not None and _outside_link(config_path, root) is not None:
        config_path = None
    domain_paths = [p for p in domain_paths if _outside_link(p, root) is None]
    data_paths = [p for p in data_paths if _outside_link(p, root) is None]

    log = NotExecutedLog()
    config = Config()
    if config_path is None:
        report.warning("no config.yml; default settings are used", None,
                       "copy one from `supportbot init`", code="no-config")
    else:
        rel = _rel(config_path, root)
        data, problems = read_yaml_file(config_path, rel)
        report.extend(problems)
        ctx = FileContext(rel, report)
        if data is not None or not problems:
            config = read_config(data, ctx, root)
    if not domain_paths:
        report.warning("no domain.yml or domain/ folder; intents and responses come from data/",
                       None, "add a domain.yml listing intents and responses",
                       code="no-domain")
    if not (root / "data").is_dir():
        report.warning("no data/ folder; the bot has no training data or knowledge base", None,
                       "put NLU examples, rules and kb files under data/", code="no-data")

    domain = DomainBuilder()
    nlu = NluBuilder()
    rules: list[Rule] = []
    stories: list[Story] = []
    kb: list[KBEntry] = []
    files = [_rel(p, root) for p in ([config_path] if config_path else [])]
    for path in domain_paths + data_paths:
        rel = _rel(path, root)
        files.append(rel)
        _read_file(path, rel, report, domain, nlu, rules, stories, kb, log)

    _resolve_pending_slots(domain, report)
    nlu_data = nlu.build()
    kb += entries_from_retrieval_intents(nlu_data.examples, domain.responses, report, set())
    built_domain = domain.build()
    for text, source in domain.e2e_actions:
        log.add("`e2e_actions` are read but not executed", source, None)
    parts = ProjectParts(config=config, domain=built_domain, nlu=nlu_data, rules=tuple(rules),
                         stories=tuple(stories), kb=tuple(kb),
                         has_domain_file=bool(domain_paths), action_sources=domain.actions,
                         form_sources=domain.form_sources)
    run_checks(parts, report)
    if not nlu_data.examples and not kb and not rules:
        report.error("the project has no NLU examples, rules or KB entries", None,
                     "add data/nlu.yml with intents and examples, or data/kb/*.yml",
                     code="no-data")
    log.flush(report)
    project = Project(root=root.resolve(), config=config, domain=built_domain, nlu=nlu_data,
                      rules=tuple(rules), stories=tuple(stories), kb=tuple(kb),
                      files=tuple(files))
    return project, report


def _read_file(path: Path, rel: str, report: Report, domain: DomainBuilder, nlu: NluBuilder,
               rules: list[Rule], stories: list[Story], kb: list[KBEntry],
               log: NotExecutedLog) -> None:
    data, problems = read_yaml_file(path, rel)
    report.extend(problems)
    if data is None:
        if not problems:
            report.warning("file is empty", Source(rel), "remove it or add content",
                           code="empty-file")
        return
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        report.error(f"file holds {kind}, but must be a mapping of top-level keys "
                     "(version, nlu, responses, rules, kb, ...)", Source(rel, 1),
                     "start the file with e.g. `nlu:` and indent the list below it",
                     code="not-a-mapping")
        return
    ctx = FileContext(rel, report, _version(data, rel, report))
    for key in data:
        if key not in DATA_KEYS:
            hint = did_you_mean(str(key), DATA_KEYS) or "known keys: " + ", ".join(DATA_KEYS)
            ctx.error(f"unknown top-level key {key!r}", data, key, hint, code="unknown-key")
    read_domain_sections(data, ctx, domain)
    if "nlu" in data:
        read_nlu(data["nlu"], data, ctx, nlu)
    if "rules" in data:
        read_rules(data["rules"], data, ctx, rules, log)
    if "stories" in data:
        read_stories(data["stories"], data, ctx, stories, log)
    if "kb" in data:
        read_kb(data["kb"], data, ctx, kb)


def _version(data: dict, rel: str, report: Report) -> str:
    raw = data.get("version")
    if raw is None:
        return "3.1"
    src = Source(rel, line_of(data, "version"))
    match = re.fullmatch(r"(\d+)\.(\d+)", str(raw).strip())
    if not match:
        report.error(f"version {raw!r} is not a format version such as \"3.1\"", src,
                     'write `version: "3.1"`', code="version")
        return "3.1"
    version = (int(match.group(1)), int(match.group(2)))
    if version < OLDEST_VERSION:
        report.error(f"format version {raw} (Rasa 1.x) is not supported", src,
                     "convert the file with Rasa 2+ (`rasa data migrate`) or rewrite it in the "
                     "3.1 format", code="version")
    elif version > LATEST_VERSION:
        report.warning(f"format version {raw} is newer than 3.1; the file is read as 3.1", src,
                       "check that it only uses 3.1 features", code="version")
    return f"{version[0]}.{version[1]}"


def _resolve_pending_slots(domain: DomainBuilder, report: Report) -> None:
    """Slots without `mappings`: filled from the same-named entity, as Rasa 2.x did."""
    for pending in domain.pending_slots:
        slot = domain.slots.get(pending.name)
        if slot is None or slot.source != pending.source:
            continue
        is_2x = pending.version.startswith("2.")
        if pending.name in domain.entities:
            mapping = SlotMapping(type="from_entity", entity=pending.name)
            domain.slots[pending.name] = replace(slot, mappings=(mapping,))
            if not is_2x:
                report.warning(f"slot {pending.name!r} has no `mappings`; it is filled from "
                               f"entity {pending.name!r} as in Rasa 2.x", pending.source,
                               f"add `mappings: [{{type: from_entity, entity: {pending.name}}}]`",
                               code="slot-mapping")
        elif not is_2x:
            report.warning(f"slot {pending.name!r} has no `mappings`, so nothing fills it",
                           pending.source, "add `mappings:` (e.g. `- type: from_entity`)",
                           code="slot-mapping")

