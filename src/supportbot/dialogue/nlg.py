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


def has_language(response: Response, language: str | None, default_language: str) -> bool:
    """True when `response` has a variation for customers writing `language` (variations
    without `language:` are in the bot's main language, `default_language`)."""
    if not language or language == default_language:
        return True
    return any(v.language == language for v in response.variations)


# The one-line note sent before a reply that is not in the customer's language, by the
# customer's language; `{language}` is the bot's main language as named in LANGUAGE_NAMES.
# A project replaces it with a response `utter_untranslated_note` (with `language:` variations).
UNTRANSLATED_NOTES = {
    "en": "Sorry, this answer is only available {language}.",
    "ru": "Извините, этот ответ пока есть только {language}.",
    "hy": "Ներողություն, այս պատասխանը առայժմ հասանելի է միայն {language}։",
    "ky": "Кечиресиз, бул жооп азырынча {language} гана бар.",
}
LANGUAGE_NAMES = {  # customer's language -> bot's main language -> its name in the note
    "en": {"en": "in English", "ru": "in Russian", "hy": "in Armenian", "ky": "in Kyrgyz"},
    "ru": {"en": "на английском языке", "ru": "на русском языке", "hy": "на армянском языке",
           "ky": "на кыргызском языке"},
    "hy": {"en": "անգլերենով", "ru": "ռուսերենով", "hy": "հայերենով", "ky": "ղրղզերենով"},
    "ky": {"en": "англис тилинде", "ru": "орус тилинде", "hy": "армян тилинде",
           "ky": "кыргыз тилинде"},
}


def untranslated_note(language: str, main_language: str) -> str | None:
    """The built-in note for a customer writing `language` when the reply is in
    `main_language`; None when there is no built-in text for that pair."""
    template = UNTRANSLATED_NOTES.get(language)
    name = LANGUAGE_NAMES.get(language, {}).get(main_language)
    if template is None or name is None:
        return None
    return template.format(language=name)


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
