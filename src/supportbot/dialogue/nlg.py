"""Response selection: pick a variation for the channel, language and slots; never repeat verbatim."""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportbot.project.types import Button, Response, ResponseVariation

log = logging.getLogger(__name__)
_SLOT = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


@dataclass(frozen=True)
class Reply:
    """One message to send: text and/or buttons, image, custom payload."""

    text: str | None
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.image:
            out["image"] = self.image
        if self.custom:
            out["custom"] = dict(self.custom)
        return out


def fill_template(text: str, slots: Mapping[str, Any]) -> str:
    """Replace `{slot}` with slot values; `{{`/`}}` are literal braces. Unknown slots stay as written."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = slots.get(name)
        if value is None:
            log.warning("response uses slot {%s}, which is not set", name)
            return match.group(0)
        return str(value)

    return _SLOT.sub(sub, text).replace("{{", "{").replace("}}", "}")


def _conditions_hold(variation: ResponseVariation, slots: Mapping[str, Any]) -> bool:
    return all(slots.get(c.name) == c.value for c in variation.condition)


def candidate_variations(response: Response, *, channel: str | None, language: str | None,
                         default_language: str, slots: Mapping[str, Any]) -> list[ResponseVariation]:
    """Variations allowed here, most specific first: channel match > any channel; language match >
    no language > default language; conditional variations that hold beat unconditional ones."""
    usable = [v for v in response.variations if _conditions_hold(v, slots)]
    conditional = [v for v in usable if v.condition]
    if conditional:
        usable = conditional
    by_channel = [v for v in usable if v.channel and v.channel == channel]
    usable = by_channel or [v for v in usable if not v.channel]
    for wanted in (language, None, default_language):
        if wanted is None:
            chosen = [v for v in usable if v.language is None]
        else:
            chosen = [v for v in usable if v.language == wanted]
            if wanted == default_language and not chosen:
                chosen = [v for v in usable if v.language is None]
        if chosen:
            return chosen
    return usable


def choose_variation(options: Sequence[ResponseVariation], times_sent_before: int,
                     last_text: str | None) -> ResponseVariation:
    """Rotate through the options; skip one whose text equals the last text sent."""
    n = len(options)
    for step in range(n):
        option = options[(times_sent_before + step) % n]
        if option.text is None or option.text != last_text:
            return option
    return options[times_sent_before % n]


def render(variation: ResponseVariation, slots: Mapping[str, Any]) -> Reply:
    return Reply(
        text=fill_template(variation.text, slots) if variation.text else None,
        buttons=tuple(Button(fill_template(b.title, slots), b.payload) for b in variation.buttons),
        image=variation.image,
        custom=variation.custom,
    )
