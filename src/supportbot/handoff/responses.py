"""Default customer-facing handoff messages in en, ru, hy, ky (package data, Rasa response format)."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from supportbot.handoff.hours import BusinessHours, format_next_open
from supportbot.handoff.routing import wait_minutes
from supportbot.project.types import Button, Response, ResponseVariation

LANGUAGES: tuple[str, ...] = ("en", "ru", "hy", "ky")

HANDOFF_RESPONSE_NAMES: tuple[str, ...] = (
    "utter_handoff_queued", "utter_handoff_queued_unknown_wait", "utter_handoff_closed_hours",
    "utter_handoff_timeout", "utter_handoff_cancelled", "utter_handoff_resolved", "utter_ask_csat",
    "utter_csat_thanks", "utter_handoff_agent_joined",
    "utter_handoff_email_offer", "utter_handoff_email_saved", "utter_handoff_email_invalid",
)


@lru_cache(maxsize=1)
def _load() -> dict[str, tuple[dict[str, Any], ...]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    folder = resources.files("supportbot.handoff") / "messages"
    for language in LANGUAGES:
        data = yaml.safe_load((folder / f"{language}.yml").read_text(encoding="utf-8"))
        for name, variations in (data.get("responses") or {}).items():
            for v in variations:
                merged.setdefault(name, []).append({
                    "text": v["text"],
                    "buttons": [{"title": str(b["title"]), "payload": str(b["payload"])}
                                for b in v.get("buttons", ())],
                    "language": v.get("language", language),
                })
    return {name: tuple(items) for name, items in merged.items()}


def default_handoff_responses() -> dict[str, list[dict[str, Any]]]:
    """`{response name: [{text, buttons: [{title, payload}], language}, ...]}` for every handoff
    message in every language. A project's own response of the same name replaces the default."""
    return {name: [dict(v, buttons=[dict(b) for b in v["buttons"]]) for v in items]
            for name, items in _load().items()}


def default_handoff_domain_responses() -> dict[str, Response]:
    """The same defaults as domain `Response` objects, ready to merge under a project's domain."""
    return {
        name: Response(name, tuple(
            ResponseVariation(text=v["text"], language=v["language"],
                              buttons=tuple(Button(b["title"], b["payload"]) for b in v["buttons"]))
            for v in items))
        for name, items in _load().items()
    }


def queued_message(position: int, wait_s: float | None) -> tuple[str, dict[str, Any]]:
    """Which response to send after enqueueing and its template values."""
    if wait_s is None:
        return "utter_handoff_queued_unknown_wait", {"position": position}
    return "utter_handoff_queued", {"position": position, "wait_minutes": wait_minutes(wait_s)}


def closed_hours_message(hours: BusinessHours, language: str | None,
                         at: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """`utter_handoff_closed_hours` and its `{next_open}` phrase in the customer's language."""
    opens = hours.next_open(at)
    phrase = format_next_open(opens, language, at) if opens else ""
    return "utter_handoff_closed_hours", {"next_open": phrase}
