"""The conversation as the escalation signals see it: the past turns that still count.

Counting restarts at a new session, at a handoff (requested or ended) and when the customer
turns down the offer to talk to a person. The current turn (the tracker's latest UserMessage)
is not a past turn; the signals look at it together with the candidate reply.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import translate
from functools import cached_property, lru_cache
from typing import Any

from supportbot.dialogue.events import (
    BotReply,
    HandoffEnded,
    HandoffRequested,
    UserMessage,
)
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation.config import EscalationConfig
from supportbot.escalation.text import codes, normalize

RECOVERY_ACTION = "recovery"


@lru_cache(maxsize=64)
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(translate(p) for p in patterns)) if patterns else None


def matches_any(name: str | None, patterns: Sequence[str]) -> bool:
    """Whether `name` matches one of the glob `patterns` (`utter_greet*`)."""
    rx = _globs(tuple(patterns))
    return name is not None and rx is not None and rx.match(name) is not None


@dataclass(frozen=True)
class PastTurn:
    """One earlier customer message with the bot replies that followed it."""

    message: UserMessage
    replies: tuple[BotReply, ...]
    fallback: bool  # the bot did not understand it
    answered: bool  # the bot gave a real answer (not a fallback, clarification or question)
    topic: str | None  # `kb:<entry>` or `intent:<name>` of the answer, when there was one

    @cached_property
    def subject(self) -> frozenset[str]:
        """Entity values and codes the message was about."""
        return subject_of(self.message.parse.entities, self.message.text)

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(r.template for r in self.replies if r.template)

    @property
    def replied(self) -> bool:
        return bool(self.replies)


class ReplyKinds:
    """Classifies bot replies using the config's action and template lists."""

    def __init__(self, config: EscalationConfig):
        self.config = config

    def is_fallback(self, reply: BotReply) -> bool:
        flag = reply.data.get("fallback", reply.data.get("is_fallback"))
        if isinstance(flag, bool):
            return flag
        return reply.action in self.config.fallback_actions

    def is_confirmation(self, reply: BotReply) -> bool:
        return reply.action == self.config.confirmation.action

    def is_clarification(self, reply: BotReply) -> bool:
        return (reply.action in self.config.clarify_actions
                or bool(reply.template and reply.template.startswith("clarify:")))

    def is_recovery(self, reply: BotReply) -> bool:
        return reply.action == RECOVERY_ACTION

    def is_answer(self, reply: BotReply) -> bool:
        """A real answer: not a fallback, clarification, handoff question, a question the bot
        asks (a form's), or small talk."""
        return not (self.is_fallback(reply) or self.is_confirmation(reply)
                    or self.is_clarification(reply) or bool(reply.data.get("ask"))
                    or matches_any(reply.template, self.config.smalltalk_templates))


def kb_entry_of(reply: BotReply) -> str | None:
    """The KB entry a reply answered with (`kb:<id>` template or `data["kb_entry"]`)."""
    entry = reply.data.get("kb_entry")
    if isinstance(entry, str) and entry:
        return entry
    if reply.template and reply.template.startswith("kb:"):
        return reply.template[3:]
    return None


def subject_of(entities: Sequence[Any], text: str) -> frozenset[str]:
    """What a message is about: its entity values and the codes (words with digits) in it."""
    values = {normalize(str(getattr(e, "value", ""))) for e in entities}
    return frozenset(v for v in values if v) | codes(text)


def same_subject(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two messages are about the same thing unless both name things and those differ."""
    return not (a and b and a != b)


@dataclass(frozen=True)
class History:
    """Past turns that still count, and what the bot asked last."""

    turns: tuple[PastTurn, ...]
    pending_confirmation: BotReply | None  # the last reply asked "Shall I connect you?"
    pending_recovery: BotReply | None = None  # the last turn was a recovery move

    def replied_turns(self) -> list[PastTurn]:
        return [t for t in self.turns if t.replied]

    def recovery_tried(self, window: int) -> BotReply | None:
        """The latest recovery move within the last `window` turns, if any."""
        for past in list(self.turns)[-window:][::-1]:
            for reply in past.replies:
                if reply.action == RECOVERY_ACTION:
                    return reply
        return None

    def invalid_streak(self, slot: str) -> int:
        """How many turns in a row, just before this one, re-asked `slot` as invalid."""
        count = 0
        for past in reversed(self.turns):
            if not any(r.data.get("invalid_slot") == slot for r in past.replies):
                break
            count += 1
        return count


def build_history(tracker: Tracker, config: EscalationConfig,
                  is_deny: Callable[[UserMessage], bool]) -> History:
    """Past turns of the current session since the last reset point, oldest first."""
    kinds = ReplyKinds(config)
    events = tracker.session_events()
    current = None
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], UserMessage):
            current = i
            break
    past = events[:current] if current is not None else events

    turns: list[PastTurn] = []
    message: UserMessage | None = None
    replies: list[BotReply] = []
    last_reply: BotReply | None = None

    def close() -> None:
        if message is not None:
            turns.append(_turn(message, tuple(replies), kinds, config))

    for event in past:
        if isinstance(event, (HandoffRequested, HandoffEnded)):
            message, replies, last_reply = None, [], None
            turns.clear()
        elif isinstance(event, UserMessage):
            close()
            if last_reply is not None and kinds.is_confirmation(last_reply) and is_deny(event):
                turns.clear()  # "no, thanks": the customer wants to go on with the bot
            message, replies, last_reply = event, [], None
        elif isinstance(event, BotReply) and message is not None:
            replies.append(event)
            last_reply = event
    close()
    pending = last_reply if last_reply is not None and kinds.is_confirmation(last_reply) else None
    recovering = None
    if turns and any(kinds.is_recovery(r) for r in turns[-1].replies):
        recovering = next(r for r in turns[-1].replies if kinds.is_recovery(r))
    return History(tuple(turns), pending, recovering)


def _turn(message: UserMessage, replies: tuple[BotReply, ...], kinds: ReplyKinds,
          config: EscalationConfig) -> PastTurn:
    fallback = any(kinds.is_fallback(r) for r in replies)
    answers = [r for r in replies if kinds.is_answer(r)]
    topic = None
    if answers and not fallback:
        entry = next((e for e in map(kb_entry_of, answers) if e), None)
        parse = message.parse
        if entry:
            topic = f"kb:{entry}"
        elif not parse.fallback and parse.intent not in config.smalltalk_intents:
            topic = f"intent:{parse.intent}"
    return PastTurn(message, replies, fallback, bool(answers) and not fallback, topic)
