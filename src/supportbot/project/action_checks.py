"""Which custom actions of a project nothing can run.

A custom action is any action name the project uses that is not a response (`utter_...`), a
built-in action or a form: the domain's `actions:` entries (including `validate_<form>` and
`action_ask_<slot>`) and the `- action:` steps of rules and stories. supportbot runs one when
the project registers a Python callable for it (`supportbot.ActionRegistry` in `actions/`) or
when `endpoints.yml` names an `action_endpoint` (a Rasa action server).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from supportbot.errors import Problem
from supportbot.project.builtins import builtin_actions
from supportbot.project.types import Project, Source, Step

FIX_HINT = ("register a Python callable for it with supportbot.ActionRegistry in actions/ "
            "(actions.py or actions/__init__.py), or add `action_endpoint:` with the url of "
            "your action server to endpoints.yml")


def custom_actions(project: Project) -> dict[str, Source]:
    """Every custom action name the project uses, with where it is first named (the domain's
    `actions:` entry when there is one, else the first rule or story step)."""
    domain = project.domain
    skip = builtin_actions() | set(domain.forms)
    found: dict[str, Source] = {}
    for name in domain.actions:
        if _is_custom(name, skip):
            found[name] = domain.action_sources.get(name) or Source("<domain>")
    for step in _action_steps(project):
        if _is_custom(step.value, skip):
            found.setdefault(step.value, step.source)
    return found


def unexecutable_actions(project: Project, registered: Collection[str],
                         has_action_endpoint: bool) -> list[Problem]:
    """A warning (code `action-not-executable`) for each custom action that neither a
    registered Python callable (`registered`: their names) nor an action server can run."""
    if has_action_endpoint:
        return []
    problems = []
    for name, source in custom_actions(project).items():
        if name in registered:
            continue
        problems.append(Problem(
            "warning", f"custom action {name!r} cannot run: no Python action is registered "
                       "under that name and endpoints.yml has no `action_endpoint`",
            source.file, source.line or None, FIX_HINT, "action-not-executable"))
    return problems


def _is_custom(name: object, skip: Collection[str]) -> bool:
    return isinstance(name, str) and not name.startswith("utter_") and name not in skip


def _action_steps(project: Project) -> Iterator[Step]:
    for rule in project.rules:
        yield from _actions_in(rule.condition + rule.steps)
    for story in project.stories:
        yield from _actions_in(story.steps)


def _actions_in(steps: Iterable[Step]) -> Iterator[Step]:
    for step in steps:
        if step.kind == "or":
            yield from _actions_in(step.alternatives)
        elif step.kind == "action":
            yield step
