"""Commands: `supportbot kb import` (an existing FAQ -> data/kb/*.yml)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from supportbot.kb.importers import ImportResult

kb_app = typer.Typer(help="Work with the FAQ knowledge base (data/kb/).", no_args_is_help=True)

_FORMAT_HELP = "csv, tsv, qnamaker, markdown or html (default: from the extension and content)."


@kb_app.command("import")
def import_faq_cmd(
    source: Annotated[Path, typer.Argument(
        help="The FAQ file: CSV/TSV, Markdown, a saved HTML page, or a QnA Maker TSV export.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The KB file to write (default: data/kb/<source name>.yml in "
        "the project).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help=_FORMAT_HELP)] = None,
    project: Annotated[Path, typer.Option(
        "--project", "-p", help="The bot project folder.")] = Path("."),
    language: Annotated[str | None, typer.Option(
        "--language", help="Language of the default answers (default: the project's "
        "`language`); answers in other languages become translations.")] = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="The file's text encoding when it is not UTF-8 (e.g. cp1251).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show the first entries and a summary; write nothing.")] = False,
    preview: Annotated[int, typer.Option(
        "--preview", min=0, help="How many entries --dry-run shows.")] = 3,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the output file if it exists.")] = False,
) -> None:
    """Import FAQs from CSV/TSV, Markdown, HTML or a QnA Maker export into data/kb/*.yml."""
    from supportbot.kb.importers import FORMATS, FaqImportError, dump_entries, dump_kb, import_faq
    from supportbot.kb.importers.slug import slugify
    from supportbot.kb.importers.writer import project_kb_ids, write_kb

    if fmt is not None and fmt.lower() not in FORMATS:
        _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    target = output or project / "data" / "kb" / f"{slugify(source.stem) or 'imported_faq'}.yml"
    taken = project_kb_ids(project / "data", exclude=target)
    try:
        result = import_faq(source, fmt.lower() if fmt else None,
                            language=language or _project_language(project),
                            encoding=encoding, taken_ids=taken)
    except FaqImportError as exc:
        _fail(str(exc))
    for issue in result.issues:
        typer.secho(str(issue), fg="yellow" if issue.level == "warning" else None)
    if dry_run:
        shown = result.entries[:preview]
        if shown:
            typer.echo(dump_entries(shown).rstrip())
        if len(result.entries) > len(shown):
            typer.echo(f"# ... and {len(result.entries) - len(shown)} more entries")
        note = "not written: dry run"
        if target.exists() and not force:
            note += "; the file exists, --force would overwrite it"
        _summary(result, target, note)
        return
    try:
        write_kb(target, dump_kb(result.entries, str(source), result.format), force=force)
    except FaqImportError as exc:
        _summary(result, target, "not written")
        _fail(str(exc))
    _summary(result, target, "written")
    typer.echo("Next: `supportbot validate` and `supportbot train`.")


def _summary(result: ImportResult, target: Path, status: str) -> None:
    skipped = {"empty answer": result.count("empty-answer"),
               "empty question": result.count("empty-question"),
               "duplicate question": result.count("duplicate-question")}
    merged = sum(1 for i in result.issues if i.code == "duplicate-answer"
                 and "merged" in i.message)
    translations = sum(len(e.translations) for e in result.entries)
    rows = [
        ("source", f"{result.source} ({result.format})"),
        ("read", f"{result.pairs_read} question-answer pairs"),
        ("entries", (f"{len(result.entries)} ({result.questions} questions, "
                     f"{translations} translations)")),
        ("merged", f"{merged} (same answer under another question)"),
        ("skipped", f"{sum(skipped.values())}" + (
            f" ({', '.join(f'{n} {what}' for what, n in skipped.items() if n)})"
            if any(skipped.values()) else "")),
        ("warnings", str(len(result.warnings))),
        ("output", f"{target} ({status})"),
    ]
    typer.echo("")
    for name, value in rows:
        typer.echo(f"  {name:<9} {value}")


def _project_language(project: Path) -> str:
    """The `language:` of the project's config.yml, else `en`."""
    import yaml

    try:
        data = yaml.safe_load((project / "config.yml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "en"
    value = data.get("language") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.strip() else "en"


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    # SystemExit, not typer.Exit: `supportbot.cli.main` runs the app with standalone_mode=False
    raise SystemExit(1)
