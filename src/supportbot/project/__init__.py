"""Bot projects: read config.yml, domain.yml (or domain/) and data/ into typed objects.

    from supportbot.project import load_project, validate_project

    project = load_project("path/to/bot")      # raises ProjectError listing every error
    problems = validate_project("path/to/bot")  # never raises for bad input
"""
from __future__ import annotations

from supportbot.project.builtins import BUILTIN_INTENTS, builtin_actions, register_builtin_action
from supportbot.project.loader import load_project, validate_project
from supportbot.project.sections import SectionValidator, register_section_validator
from supportbot.project.types import MISSING, Project, Source
from supportbot.project.yamlio import MAX_FILE_BYTES, line_of

__all__ = [
    "BUILTIN_INTENTS", "MAX_FILE_BYTES", "MISSING", "Project", "SectionValidator", "Source",
    "builtin_actions", "line_of", "load_project", "register_builtin_action",
    "register_section_validator", "validate_project",
]
