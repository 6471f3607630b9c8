"""Turning response names, KB entries and action replies into `Reply` objects.

The reply language: a response variation (or KB answer translation) in the customer's language
when there is one. When there is none, `missing_translation` (config.yml `nlu:`) says what to
do: `note` (the default) answers in the bot's main language after a one-line note in the
customer's language (`utter_untranslated_note` when the project defines it, else a built-in
text for en/ru/hy/ky); `handoff` asks the dialogue manager to hand the conversation to an agent
who speaks the language (`needs_agent`), and still renders the answer with the note for the
case where no handoff happens.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from supportbot.dialogue.actions import ActionReply
from supportbot.dialogue.nlg import (
    Reply,
    candidate_variations,
    choose_variation,
    has_language,
    render,
    untranslated_note,
)
from supportbot.dialogue.tracker import Tracker
from supportbot.project.types import Button, KBEntry, Response

log = logging.getLogger(__name__)


class Renderer:
    """Picks a variation of a response for the language and channel, never the text just sent."""

    NOTE_RESPONSE = "utter_untranslated_note"
    MODES = ("note", "handoff")

    def __init__(self, responses: Mapping[str, Response], default_language: str,
                 missing_translation: str = "note"):
        self.responses = responses
        self.default_language = default_language
        if missing_translation not in self.MODES:
            raise ValueError(f"missing_translation must be one of {self.MODES}, "
                             f"not {missing_translation!r}")
        self.missing_translation = missing_translation

    # ------------------------------------------------------------------ reply language
    def translated(self, name: str, language: str | None) -> bool:
        """True when response `name` can be sent in `language` (or it is no response)."""
        response = self.responses.get(name)
        return response is None or has_language(response, language, self.default_language)

    def kb_translated(self, entry: KBEntry, language: str | None) -> bool:
        """True when the FAQ entry's answer exists in `language`."""
        return (not language or language == self.default_language
                or language in entry.translations)

    def needs_agent(self, language: str | None, *, response: str | None = None,
                    entry: KBEntry | None = None) -> bool:
        """With `missing_translation: handoff`: True when the reply about to be sent (a response
        or an FAQ entry's answer) has no text in the customer's language, so the conversation
        should go to an agent who speaks it."""
        if self.missing_translation != "handoff" or not language:
            return False
        if entry is not None and not self.kb_translated(entry, language):
            return True
        return response is not None and not self.translated(response, language)

    def note(self, language: str | None) -> str | None:
        """The one-line note for a customer writing `language` that the reply is in the main
        language (None when the customer writes the main language or no note is known)."""
        if not language or language == self.default_language:
            return None
        custom = self.responses.get(self.NOTE_RESPONSE)
        if custom is not None:
            for variation in custom.variations:
                if variation.language == language and variation.text:
                    return variation.text
        return untranslated_note(language, self.default_language)

    def _with_note(self, reply: Reply, language: str | None) -> Reply:
        note = self.note(language)
        if note is None or not reply.text:
            return reply
        return Reply(f"{note}\n{reply.text}", reply.buttons, reply.image, reply.custom)

    def kb_answer(self, entry: KBEntry, language: str | None) -> Reply:
        """The FAQ entry's answer for a customer writing `language`: its translation, else the
        main-language answer after the untranslated note."""
        answer = entry.answer_for(language)
        reply = Reply(answer.text, answer.buttons)
        if self.kb_translated(entry, language):
            return reply
        return self._with_note(reply, language)

    def has(self, name: str) -> bool:
        return name in self.responses

    def response(self, name: str, tracker: Tracker, language: str | None, channel: str,
                 values: Mapping[str, Any] | None = None) -> Reply | None:
        """A variation of response `name` with slots (and `values`) filled in."""
        response = self.responses.get(name)
        if response is None:
            log.warning("action %r is not a response; skipping it", name)
            return None
        slots = {**tracker.slots, **(values or {})}
        options = candidate_variations(response, channel=channel,
                                       language=language or self.default_language,
                                       default_language=self.default_language, slots=slots)
        if not options:
            return None
        sent = [r for r in tracker.bot_replies(session_only=False) if r.template == name]
        last_text = tracker.latest_reply.text if tracker.latest_reply else None
        reply = render(choose_variation(options, len(sent), last_text), slots)
        if name != self.NOTE_RESPONSE and not has_language(response, language,
                                                           self.default_language):
            reply = self._with_note(reply, language)
        return reply

    def action_reply(self, reply: ActionReply, tracker: Tracker, language: str | None,
                     channel: str) -> Reply | None:
        """A custom action's reply: a named response, or literal text and buttons."""
        if reply.response:
            rendered = self.response(reply.response, tracker, language, channel, reply.values)
            if rendered is not None and reply.buttons:
                rendered = Reply(rendered.text, rendered.buttons + reply.buttons,
                                 rendered.image, rendered.custom)
            return rendered
        if not (reply.text or reply.buttons or reply.image or reply.custom):
            return None
        return Reply(reply.text, tuple(reply.buttons), reply.image, reply.custom)

    def person_button(self, language: str | None, payload: str = "/human_handoff") -> Button:
        """The "Talk to a person" button in the customer's language."""
        response = self.responses.get("utter_talk_to_a_person")
        title = "Talk to a person"
        if response is not None:
            wanted = language or self.default_language
            for variation in response.variations:
                if variation.language == wanted and variation.text:
                    title = variation.text
                    break
        return Button(title, payload)
