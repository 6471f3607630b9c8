"""Commands: `supportbot validate` and `supportbot init`."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from supportbot.cli.app import app, queue_app  # noqa: F401
from supportbot.errors import Problem, ProjectError, SupportbotError
from supportbot.project.types import Project

EXAMPLE_ENV = "SUPPORTBOT_EXAMPLE_DIR"
_EXAMPLE_ITEMS = ("config.yml", "domain.yml", "domain", "data")


@app.command()
def validate(
    project_dir: Annotated[Path, typer.Argument(help="The bot project folder.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    fail_on_warnings: Annotated[bool, typer.Option(
        "--fail-on-warnings", help="Exit 1 on warnings too.")] = False,
) -> None:
    """Check a bot project and list every problem as `file:line: severity: message (hint)`."""
    from supportbot.project.loader import read_project, sort_problems

    project, problems = read_project(project_dir)
    if project is not None:
        problems = sort_problems(problems + action_problems(project))
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    if as_json:
        typer.echo(json.dumps({
            "project": str(project_dir), "ok": errors == 0, "errors": errors,
            "warnings": warnings, "problems": [_problem_dict(p) for p in problems],
        }, ensure_ascii=False, indent=2))
    else:
        for line in format_problems(problems):
            typer.echo(line)
        typer.echo(_summary(errors, warnings))
    if errors or (fail_on_warnings and warnings):
        # SystemExit, not typer.Exit: `supportbot.cli.main` runs the app with
        # standalone_mode=False, which turns typer.Exit into a return value it ignores
        raise SystemExit(1)


def action_problems(project: Project) -> list[Problem]:
    """Custom actions of `project` that nothing can run, plus problems importing its
    Python actions (this imports the project's `actions/` code)."""
    from supportbot.dialogue.actions import find_project_actions, load_actions_module
    from supportbot.project.action_checks import unexecutable_actions

    problems: list[Problem] = []
    registered: set[str] = set()
    module = find_project_actions(project.root)
    if module is not None:
        try:
            registered = set(load_actions_module(module))
        except Exception as exc:  # noqa: BLE001 - project code may fail in any way
            where = module.relative_to(project.root).as_posix()
            problems.append(Problem(
                "warning", f"cannot load the Python actions: {type(exc).__name__}: {exc}",
                where, None, "define `actions = supportbot.ActionRegistry()` in it and register "
                "each action, or run a Rasa action server and set `action_endpoint:` in "
                "endpoints.yml", "action-module"))
    endpoint, endpoint_problems = _has_action_endpoint(project.root)
    problems += endpoint_problems
    return problems + unexecutable_actions(project, registered, endpoint)


def _has_action_endpoint(root: Path) -> tuple[bool, list[Problem]]:
    """Whether endpoints.yml names an action server (and why it could not be read)."""
    from supportbot.project.endpoints import read_endpoints

    try:
        return read_endpoints(root).action_endpoint is not None, []
    except ProjectError as exc:
        return False, list(exc.problems)
    except SupportbotError as exc:
        return False, [Problem("error", str(exc), "endpoints.yml", None, None, "endpoints")]


def format_problems(problems: list[Problem]) -> list[str]:
    """One line per problem, grouped by file (a blank line between files)."""
    lines: list[str] = []
    current: str | None = ""
    for problem in problems:
        if problem.file != current and lines:
            lines.append("")
        current = problem.file
        lines.append(str(problem))
    if lines:
        lines.append("")
    return lines


def _summary(errors: int, warnings: int) -> str:
    counts = f"{errors} error{'s' if errors != 1 else ''}, " \
             f"{warnings} warning{'s' if warnings != 1 else ''}"
    if errors:
        return f"Project is invalid: {counts}."
    return f"Project is valid: {counts}."


def _problem_dict(problem: Problem) -> dict:
    return {"severity": problem.severity, "file": problem.file, "line": problem.line,
            "message": problem.message, "hint": problem.hint, "code": problem.code}


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the new project.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Write into a folder that is not empty (files with the same names are "
                        "replaced).")] = False,
) -> None:
    """Create a new bot project in DIRECTORY, copied from the example bot."""
    source = find_example_project()
    target = directory
    if target.exists() and not target.is_dir():
        raise SupportbotError(f"{target} is a file; give a folder for the new project")
    if target.exists() and any(target.iterdir()) and not force:
        raise SupportbotError(f"{target} is not empty; choose a new folder or pass --force "
                              "to write into it")
    target.mkdir(parents=True, exist_ok=True)
    copied = copy_example(source, target)
    typer.echo(f"Created a bot project in {target} ({copied} files).")
    typer.echo("Next steps:")
    typer.echo(f"  cd {target}")
    typer.echo("  supportbot validate")
    typer.echo("  supportbot train")


def find_example_project() -> Path:
    """The example bot to copy: $SUPPORTBOT_EXAMPLE_DIR, the packaged template, or the repo root
    of an editable install."""
    import supportbot

    package = Path(supportbot.__file__).resolve().parent
    candidates = []
    if os.environ.get(EXAMPLE_ENV):
        candidates.append(Path(os.environ[EXAMPLE_ENV]))
    candidates += [package / "templates" / "example_bot", package.parents[1]]
    for folder in candidates:
        if (folder / "config.yml").is_file() and (folder / "data").is_dir():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise SupportbotError(
        f"cannot find the example bot to copy (looked in: {looked}). Install supportbot from "
        f"its source checkout (`pip install -e .`) or set {EXAMPLE_ENV} to a project folder.")


def copy_example(source: Path, target: Path) -> int:
    """Copy config.yml, domain.yml/domain/ and data/ from `source` into `target`."""
    count = 0
    for name in _EXAMPLE_ITEMS:
        item = source / name
        if item.is_file():
            shutil.copy2(item, target / name)
            count += 1
        elif item.is_dir():
            for path in sorted(item.rglob("*")):
                rel = path.relative_to(source)
                if any(part.startswith((".", "__")) for part in rel.parts) or not path.is_file():
                    continue
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / rel)
                count += 1
    return count
