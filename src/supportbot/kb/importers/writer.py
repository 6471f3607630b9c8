"""Writing entries as a `data/kb/*.yml` file, checked with the project's own KB reader."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from supportbot.errors import Problem
from supportbot.kb.importers.model import FaqEntry, FaqImportError


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text, `[a, b]` for tags, laid out like the example bot."""


class _Flow(list):
    """A list written on one line."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: list) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)


def entry_mapping(entry: FaqEntry) -> dict[str, Any]:
    """The YAML shape of one entry (`answer: {text, languages}`)."""
    answer: dict[str, Any] = {"text": entry.answer}
    if entry.translations:
        answer["languages"] = dict(entry.translations)
    out: dict[str, Any] = {"id": entry.id, "questions": list(entry.questions), "answer": answer}
    if entry.tags:
        out["tags"] = _Flow(entry.tags)
    if entry.url:
        out["url"] = entry.url
    return out


def dump_entries(entries: Iterable[FaqEntry]) -> str:
    """The `kb:` list as YAML text (no header)."""
    data = [entry_mapping(e) for e in entries]
    if not data:
        return "kb: []\n"
    text = yaml.dump({"kb": data}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=4096, default_flow_style=False)
    return text.replace("\n- id:", "\n\n- id:").replace("kb:\n\n", "kb:\n", 1)


def dump_kb(entries: Iterable[FaqEntry], source: str, fmt: str) -> str:
    """A complete KB file: version, a comment naming the source, and the entries."""
    return (f'version: "3.1"\n\n# Imported from {Path(source).name} ({fmt}) by '
            "`supportbot kb import`.\n" + dump_entries(entries))


def check_kb_text(text: str, file: str) -> list[Problem]:
    """What the project's KB reader says about `text` (as if it were `file` in a project)."""
    from supportbot.project.context import FileContext, Report
    from supportbot.project.kb_reader import read_kb
    from supportbot.project.types import KBEntry
    from supportbot.project.yamlio import parse_yaml

    data, problems = parse_yaml(text, file)
    report = Report(list(problems))
    if isinstance(data, dict):
        entries: list[KBEntry] = []
        read_kb(data.get("kb"), data, FileContext(file, report), entries)
    return report.problems


def write_kb(path: Path, text: str, force: bool = False) -> None:
    """Write `text` to `path` (atomically); refuse to replace a file unless `force`."""
    if path.exists() and not force:
        raise FaqImportError(f"{path} already exists; pass --force to overwrite it, or choose "
                             "another file with --output")
    errors = [p for p in check_kb_text(text, path.name) if p.severity == "error"]
    if errors:  # a bug in the importer, never the user's input
        raise FaqImportError("the generated KB does not pass the project's KB reader: "
                             + "; ".join(str(p) for p in errors))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise FaqImportError(f"cannot write {path}: {exc.strerror or exc}") from None


def project_kb_ids(data_dir: Path, exclude: Path | None = None) -> dict[str, str]:
    """Ids of the KB entries in the YAML files under `data_dir` (id -> file), except `exclude`.

    Unreadable files are passed over: `supportbot validate` reports them.
    """
    from supportbot.project.yamlio import read_yaml_file

    ids: dict[str, str] = {}
    if not data_dir.is_dir():
        return ids
    skip = exclude.resolve() if exclude is not None else None
    for path in sorted([*data_dir.rglob("*.yml"), *data_dir.rglob("*.yaml")]):
        if skip is not None and path.resolve() == skip:
            continue
        data, _ = read_yaml_file(path, path.name)
        entries = data.get("kb") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), (str, int)):
                ids.setdefault(str(entry["id"]).strip(), path.name)
    return ids
