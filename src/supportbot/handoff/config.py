"""The `handoff:` section of config.yml, validated with messages a support-ops person can act on."""
from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supportbot.errors import Problem, ProjectError
from supportbot.handoff.hours import WEEKDAYS, BusinessHours, load_timezone, parse_range
from supportbot.project.types import Source

DEFAULT_QUEUE_URL = "sqlite:///.supportbot/handoff.db"
QUEUE_URL_ENV = "SUPPORTBOT_QUEUE_URL"


class AgentDefaults(BaseModel):
    """Settings for agents registered without their own (e.g. from the CLI)."""

    model_config = ConfigDict(extra="forbid")
    max_concurrent: int = Field(3, ge=1, le=100)
    skills: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class BusinessHoursConfig(BaseModel):
    """`business_hours:` — weekday ranges in `timezone`, plus holidays. Missing days are closed."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    mon: list[str] = Field(default_factory=list)
    tue: list[str] = Field(default_factory=list)
    wed: list[str] = Field(default_factory=list)
    thu: list[str] = Field(default_factory=list)
    fri: list[str] = Field(default_factory=list)
    sat: list[str] = Field(default_factory=list)
    sun: list[str] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        load_timezone(value)
        return value

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _ranges(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if value is None:
            return []
        if isinstance(value, list):
            for item in value:
                parse_range(str(item))
        return value

    def to_hours(self) -> BusinessHours:
        return BusinessHours.from_spec({d: getattr(self, d) for d in WEEKDAYS},
                                       timezone=self.timezone, holidays=self.holidays)


class HandoffConfig(BaseModel):
    """Everything the human queue needs from config.yml (all keys optional)."""

    model_config = ConfigDict(extra="forbid")
    backend: str = DEFAULT_QUEUE_URL  # sqlite:///path.db (relative to the project), postgresql://...
    queues: list[str] = Field(default_factory=lambda: ["default"])
    sla: dict[str, float] = Field(default_factory=lambda: {"default": 600.0})  # seconds per queue
    claim_timeout: float = Field(300.0, gt=0)  # seconds before the customer is offered a message
    ask_csat: bool = True
    agent_defaults: AgentDefaults = Field(default_factory=AgentDefaults)
    business_hours: BusinessHoursConfig | None = None  # None = always open
    wait_estimate_window: int = Field(20, ge=1, le=1000)  # recent claims used for wait estimates

    @field_validator("sla")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for queue, seconds in value.items():
            if seconds <= 0:
                raise ValueError(f"SLA for queue {queue!r} must be a positive number of seconds")
        return value

    @field_validator("queues")
    @classmethod
    def _queues(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one queue, e.g. [default]")
        if len(set(value)) != len(value):
            raise ValueError("queue names must be unique")
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme and scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"backend {value!r} is not supported; use sqlite:///path.db, a file "
                             "path or postgresql://user@host/db")
        return value

    def hours(self) -> BusinessHours:
        """The business-hours schedule (always open when none is configured)."""
        return self.business_hours.to_hours() if self.business_hours else BusinessHours.always()


def resolve_queue_url(explicit: str | None = None, config: HandoffConfig | None = None) -> str:
    """Queue URL by precedence: explicit > $SUPPORTBOT_QUEUE_URL > config `backend` > default."""
    return (explicit or os.environ.get(QUEUE_URL_ENV)
            or (config.backend if config else None) or DEFAULT_QUEUE_URL)


_ALL_KEYS = sorted(set(HandoffConfig.model_fields) | set(BusinessHoursConfig.model_fields)
                   | set(AgentDefaults.model_fields))


def _path(loc: tuple[Any, ...]) -> str:
    out = "handoff"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_handoff_section(raw: Any, source: Source | str | None = None) -> list[Problem]:
    """Problems in the `handoff:` mapping of config.yml (empty list = valid). Each names the key
    path and the file."""
    src = source if isinstance(source, Source) else Source(source or "config.yml")
    file, line = src.file, src.line or None
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [Problem("error", f"handoff: must be a mapping of settings, not "
                        f"{type(raw).__name__}", file, line,
                        "see docs/handoff.md for the keys", "handoff_config")]
    problems: list[Problem] = []
    try:
        config = HandoffConfig.model_validate(dict(raw))
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = _path(loc)
            if err["type"] == "extra_forbidden":
                key = str(loc[-1])
                close = difflib.get_close_matches(key, _ALL_KEYS, n=1)
                problems.append(Problem(
                    "error", f"{where}: unknown key {key!r}", file, line,
                    f"did you mean {close[0]!r}?" if close else "see docs/handoff.md for the keys",
                    "handoff_config"))
                continue
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem("error", f"{where}: {message}", file, line,
                                    _hint(loc), "handoff_config"))
        return problems
    known = set(config.queues) | {"default"}
    for queue in config.sla:
        if queue not in known:
            problems.append(Problem(
                "warning", f"handoff.sla.{queue}: queue {queue!r} is not in handoff.queues",
                file, line, f"add it to queues or remove it (queues: {', '.join(config.queues)})",
                "handoff_config"))
    for skill in config.agent_defaults.skills:
        if skill not in known:
            problems.append(Problem(
                "warning", f"handoff.agent_defaults.skills: {skill!r} is not in handoff.queues",
                file, line, "agents with this skill will never see a ticket", "handoff_config"))
    return problems


def _hint(loc: tuple[Any, ...]) -> str | None:
    if loc and loc[0] == "business_hours":
        return 'e.g. business_hours: {timezone: Europe/Moscow, mon: ["09:00-18:00"]}'
    if loc and loc[0] == "sla":
        return "e.g. sla: {default: 600, billing: 300} (seconds)"
    return None


def load_handoff_config(raw: Any, source: Source | str | None = None) -> HandoffConfig:
    """The validated config; ProjectError listing every problem when it is invalid."""
    problems = validate_handoff_section(raw, source)
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    return HandoffConfig.model_validate(dict(raw or {}))
