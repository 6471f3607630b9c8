"""Validators for config.yml sections owned by other modules (`escalation:`, `handoff:`, ...).

A module registers a function that checks its raw section; the problems it returns land in the
same report as everything else `supportbot validate` finds:

    from supportbot.project import register_section_validator

    def check_escalation(raw: Mapping[str, Any], source: Source) -> list[Problem]: ...

    register_section_validator("escalation", check_escalation)

The module is imported on demand when config.yml has that section and nothing is registered yet
(`escalation` -> `supportbot.escalation`, `handoff` -> `supportbot.handoff`), so registering at
import time of the package is enough. A package that registers nothing but exports a function
named `validate_<section>_section` (e.g. `supportbot.escalation.validate_escalation_section`)
gets that function used.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from supportbot.errors import Problem
from supportbot.project.types import Source

SectionValidator = Callable[[Mapping[str, Any], Source], list[Problem]]

_VALIDATORS: dict[str, SectionValidator] = {}
_PROVIDERS: dict[str, str] = {"escalation": "supportbot.escalation",
                              "handoff": "supportbot.handoff"}
_TRIED: set[str] = set()


def register_section_validator(name: str, fn: SectionValidator) -> None:
    """Have `fn(raw_section, source)` check config.yml's top-level section `name`.

    Registering a name that is not a built-in section also makes it an allowed top-level key.
    A later registration for the same name replaces the earlier one.
    """
    if not name or not isinstance(name, str):
        raise ValueError("section name must be non-empty text")
    _VALIDATORS[name] = fn


def registered_sections() -> tuple[str, ...]:
    """Names of the sections that have a validator."""
    return tuple(_VALIDATORS)


def validate_section(name: str, raw: Mapping[str, Any], source: Source) -> list[Problem]:
    """Problems the registered validator finds in `raw`; never raises."""
    fn = _VALIDATORS.get(name)
    if fn is None and name in _PROVIDERS and name not in _TRIED:
        _TRIED.add(name)
        try:
            module = importlib.import_module(_PROVIDERS[name])
        except Exception as exc:  # noqa: BLE001 - a broken module must not break validate
            return [Problem("warning", f"the `{name}:` section could not be checked: "
                                       f"importing {_PROVIDERS[name]} failed "
                                       f"({type(exc).__name__}: {exc})",
                            source.file, source.line or None, code="section-unchecked")]
        fn = _VALIDATORS.get(name)
        conventional = getattr(module, f"validate_{name}_section", None)
        if fn is None and callable(conventional):
            fn = _VALIDATORS[name] = conventional
    if fn is None:
        return []
    try:
        problems = list(fn(raw, source))
    except Exception as exc:  # noqa: BLE001
        return [Problem("warning", f"the `{name}:` section could not be checked: its "
                                   f"validator failed ({type(exc).__name__}: {exc})",
                        source.file, source.line or None,
                        hint="please report this as a supportbot bug",
                        code="section-unchecked")]
    return [p for p in problems if isinstance(p, Problem)]
