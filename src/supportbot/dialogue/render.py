"""Turning response names, KB entries and action replies into `Reply` objects."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from supportbot.dialogue.actions import ActionReply
from supportbot.dialogue.nlg import Reply, candidate_variations, choose_variation, render
from supportbot.dialogue.tracker import Tracker
from supportbot.project.types import Button, Response

log = logging.getLogger(__name__)


class Renderer:
    """Picks a variation of a response for the language and channel, never the text just sent."""

    def __init__(self, responses: Mapping[str, Response], default_language: str):
        self.responses = responses
        self.default_language = default_language

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
        return render(choose_variation(options, len(sent), last_text), slots)

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
