"""The escalation signals. Each looks at the current turn (message + candidate reply) and the
past turns that still count, and says whether it fires, why, and its raw value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supportbot.escalation.config import EscalationConfig
from supportbot.escalation.frustration import FrustrationScore, FrustrationScorer
from supportbot.escalation.history import (
    History,
    ReplyKinds,
    matches_any,
    same_subject,
)
from supportbot.escalation.lexicons import Lexicon
from supportbot.escalation.text import PhraseSet, similarity, words
from supportbot.escalation.types import Candidate, Reason
from supportbot.nlu.parse import Parse


@dataclass(frozen=True)
class Fired:
    """A signal that fired: its reason plus how it wants the handoff done."""

    reason: Reason
    priority: int = 0
    queue: str | None = None
    confirm: bool | None = None  # None: follow `confirm_before_handoff`


@dataclass(frozen=True)
class Outcome:
    """A signal's raw value (always) and what fired (if anything)."""

    value: Any
    fired: tuple[Fired, ...] = ()


OFF = Outcome("off")


@dataclass(frozen=True)
class Turn:
    """Everything the signals read about the current turn."""

    parse: Parse
    candidate: Candidate
    history: History
    tokens: tuple[str, ...]
    subject: frozenset[str]
    frustration: FrustrationScore | None


class Cues:
    """Compiled phrase lists (built-in lexicons plus config additions)."""

    def __init__(self, config: EscalationConfig, lexicon: Lexicon):
        er, nf, cc = config.explicit_request, config.negative_feedback, config.confirmation
        er_builtin = lexicon.handoff if er.builtin_phrases else None
        self.handoff = PhraseSet(
            (er_builtin.anywhere if er_builtin else ()) + er.phrases,
            (er_builtin.short_message if er_builtin else ()) + er.short_phrases)
        nf_builtin = lexicon.negative_feedback if nf.builtin_phrases else None
        self.negative_strong = PhraseSet((nf_builtin.anywhere if nf_builtin else ()) + nf.phrases)
        self.negative_weak = PhraseSet((), nf_builtin.short_message if nf_builtin else ())
        self.affirm = PhraseSet(lexicon.affirm.anywhere + cc.affirm_phrases,
                                lexicon.affirm.short_message)
        self.deny = PhraseSet(lexicon.deny.anywhere + cc.deny_phrases, lexicon.deny.short_message)
        self.closing = PhraseSet(lexicon.closing.anywhere, lexicon.closing.short_message)


# ------------------------------------------------------------------ explicit request
def explicit_request(turn: Turn, config: EscalationConfig, cues: Cues) -> Outcome:
    """The customer asks for a person: the handoff intent, or a handoff phrase."""
    cfg = config.explicit_request
    if not cfg.enabled:
        return OFF
    parse = turn.parse
    by_intent = (parse.intent == cfg.handoff_intent and parse.confidence >= cfg.min_confidence
                 and not parse.fallback)
    sure = by_intent and (parse.confidence >= cfg.confirm_below or parse.from_payload)
    phrase = None if sure else cues.handoff.first(turn.tokens)
    if phrase is not None:
        why = f"The customer asked to talk to a person ('{phrase}')."
        return Outcome(f"phrase '{phrase}'", (_fired("explicit_request", why, cfg),))
    if not by_intent:
        return Outcome(None)
    value = f"intent {parse.intent} ({parse.confidence:.2f})"
    why = (f"The customer asked to talk to a person (intent '{parse.intent}', "
           f"confidence {parse.confidence:.2f}).")
    fired = _fired("explicit_request", why, cfg)
    if not sure:  # the NLU is unsure and no phrase says it: ask "Shall I connect you?" first
        fired = Fired(fired.reason, fired.priority, fired.queue, True)
    return Outcome(value, (fired,))


# ------------------------------------------------------------------ unresolved
def unresolved(turn: Turn, config: EscalationConfig) -> tuple[Outcome, Outcome]:
    """N fallbacks in a row, or M in the session (only when this turn is a fallback too)."""
    cfg = config.unresolved
    if not cfg.enabled:
        return OFF, OFF
    past = turn.history.replied_turns()
    session = sum(t.fallback for t in past)
    streak = 0
    for t in reversed(past):
        if not t.fallback:
            break
        streak += 1
    if not turn.candidate.is_fallback:
        return Outcome(0), Outcome(session)
    streak, session = streak + 1, session + 1
    if streak >= cfg.consecutive_fallbacks:
        why = f"The bot did not understand {streak} messages in a row."
        return Outcome(streak, (_fired("unresolved_streak", why, cfg),)), Outcome(session)
    if session >= cfg.session_fallbacks:
        why = f"The bot did not understand {session} messages in this conversation."
        return Outcome(streak), Outcome(session, (_fired("unresolved_session", why, cfg),))
    return Outcome(streak), Outcome(session)


# ------------------------------------------------------------------ loop
def candidate_topic(candidate: Candidate, parse: Parse, config: EscalationConfig) -> str | None:
    """`kb:<entry>` or `intent:<name>` of what the bot is about to answer, if it is an answer."""
    if candidate.is_fallback or candidate.asks or candidate.action in config.clarify_actions:
        return None
    if candidate.kb_entry:
        return f"kb:{candidate.kb_entry}"
    if matches_any(candidate.template, config.smalltalk_templates):
        return None
    intent = candidate.intent or parse.intent
    if parse.fallback or not intent or intent in config.smalltalk_intents:
        return None
    return f"intent:{intent}"


def loop(turn: Turn, config: EscalationConfig) -> Outcome:
    """The customer asks again, in other words, something the bot answered a few turns ago."""
    cfg = config.loop
    if not cfg.enabled:
        return OFF
    topic = candidate_topic(turn.candidate, turn.parse, config)
    if turn.candidate.asks or _answers_a_question(turn.history):
        return Outcome(None)  # an answer to the bot's question is not a loop
    recent = turn.history.replied_turns()[-cfg.window:]
    best = 0.0
    smalltalk = not turn.parse.fallback and turn.parse.intent in config.smalltalk_intents
    for back, past in enumerate(reversed(recent), start=1):
        if not past.answered or not same_subject(past.subject, turn.subject):
            continue
        if turn.subject - past.subject:
            continue  # the message brings something new (an order number, a product...)
        ago = "the previous turn" if back == 1 else f"{back} turns ago"
        if topic is not None and past.topic == topic:
            what = (f"FAQ entry '{topic[3:]}'" if topic.startswith("kb:")
                    else f"intent '{topic[7:]}'")
            why = (f"The customer asked again what the bot already answered {ago} "
                   f"(same {what}).")
            return Outcome(f"same {topic}", (_fired("loop_rephrase", why, cfg),))
        if (smalltalk or turn.parse.from_payload or past.message.parse.from_payload
                or (topic is not None and past.topic is not None)):
            continue  # the NLU tells the two questions apart; trust it
        if len(turn.tokens) < cfg.min_words or len(words(past.message.text)) < cfg.min_words:
            continue
        score = similarity(turn.parse.text, past.message.text)
        best = max(best, score)
        if score >= cfg.similarity:
            why = (f"The customer asked again, in other words, what the bot already answered "
                   f"{ago} ({score:.0%} similar to \"{_short(past.message.text)}\").")
            return Outcome(round(score, 3), (_fired("loop_rephrase", why, cfg),))
    return Outcome(round(best, 3))


def _answers_a_question(history: History) -> bool:
    """The bot's last reply asked the customer for something (a form's question)."""
    replied = history.replied_turns()
    return bool(replied) and bool(replied[-1].replies[-1].data.get("ask"))


# ------------------------------------------------------------------ forms
def form_validation(turn: Turn, config: EscalationConfig) -> Outcome:
    """The answer to a form's question failed validation `failures` times in a row."""
    cfg = config.form_validation
    slot = turn.candidate.invalid_slot
    if not cfg.enabled:
        return OFF
    if slot is None:
        return Outcome(0)
    count = turn.history.invalid_streak(slot) + 1
    if count < cfg.failures:
        return Outcome(count)
    why = (f"The customer's answer for '{slot}' did not pass validation {count} times in a "
           "row.")
    return Outcome(count, (_fired("form_validation", why, cfg),))


# ------------------------------------------------------------------ negative feedback
def negative_feedback(turn: Turn, config: EscalationConfig, cues: Cues,
                      kinds: ReplyKinds) -> Outcome:
    """Right after an answer, the customer says it did not help."""
    cfg = config.negative_feedback
    if not cfg.enabled:
        return OFF
    replied = turn.history.replied_turns()
    previous = replied[-1] if replied else None
    if previous is None or not previous.answered:
        return Outcome(None)
    parse = turn.parse
    cue = cues.negative_strong.first(turn.tokens)
    if cue is None and kinds.is_answer(previous.replies[-1]):
        # weak cues ("no", the deny intent) count only when the answer was the last thing the
        # bot said, and not in a polite closing ("no thanks")
        weak = None
        if (parse.intent in cfg.intents and parse.confidence >= cfg.min_confidence
                and not parse.fallback):
            weak = f"intent {parse.intent} ({parse.confidence:.2f})"
        else:
            phrase = cues.negative_weak.first(turn.tokens)
            weak = f"'{phrase}'" if phrase else None
        if weak and cues.closing.first(turn.tokens) is None:
            cue = weak
    elif cue is not None:
        cue = f"'{cue}'"
    if cue is None:
        return Outcome(None)
    why = f"The customer said the bot's last answer did not help ({cue})."
    return Outcome(cue, (_fired("negative_feedback", why, cfg),))


# ------------------------------------------------------------------ scripted feel
def repeated_reply(turn: Turn, config: EscalationConfig) -> Outcome:
    """The bot is about to send a response it already sent `repeats` times this session."""
    cfg = config.repeated_reply
    if not cfg.enabled:
        return OFF
    cand = turn.candidate
    template = cand.template or (f"kb:{cand.kb_entry}" if cand.kb_entry else None)
    if (template is None or cand.is_fallback or cand.asks
            or cand.action in config.clarify_actions
            or matches_any(template, config.smalltalk_templates)):
        return Outcome(0)
    sent = sum(1 for t in turn.history.turns
               if template in t.templates and same_subject(t.subject, turn.subject))
    if sent < cfg.repeats:
        return Outcome(sent)
    why = (f"The bot was about to send '{template}' for the {_ordinal(sent + 1)} time in this "
           "conversation.")
    return Outcome(sent, (_fired("repeated_reply", why, cfg),))


def long_conversation(turn: Turn, config: EscalationConfig, cues: Cues) -> Outcome:
    """More than `max_bot_turns` bot turns since the conversation last got anywhere."""
    cfg = config.long_conversation
    if not cfg.enabled:
        return OFF

    def resolved(parse: Parse) -> bool:
        if not parse.fallback and parse.intent in cfg.resolution_intents:
            return True
        return cues.closing.first(words(parse.text)) is not None

    if resolved(turn.parse):
        return Outcome(0)
    count = 1  # this turn
    for past in reversed(turn.history.turns):
        if count > cfg.max_bot_turns or resolved(past.message.parse):
            break
        count += past.replied
    if count <= cfg.max_bot_turns:
        return Outcome(count)
    why = f"{count} bot turns in this conversation without the customer's issue being resolved."
    return Outcome(count, (_fired("long_conversation", why, cfg),))


# ------------------------------------------------------------------ frustration
def frustration(turn: Turn, config: EscalationConfig) -> Outcome:
    """The message sounds upset (score at or above the threshold)."""
    cfg = config.frustration
    score = turn.frustration
    if not cfg.enabled or score is None:
        return OFF
    if score.score < cfg.threshold:
        return Outcome(score.to_dict())
    cues = ", ".join(score.cues()) or "several cues"
    why = f"The customer sounds frustrated (score {score.score:.2f}: {cues})."
    return Outcome(score.to_dict(), (Fired(Reason("frustration", why), 0, cfg.queue,
                                           cfg.confirm),))


def make_scorer(config: EscalationConfig, lexicon: Lexicon) -> FrustrationScorer | None:
    return FrustrationScorer(config.frustration, lexicon) if config.frustration.enabled else None


# ------------------------------------------------------------------ sensitive topics
def sensitive_topic(turn: Turn, config: EscalationConfig) -> Outcome:
    """An intent or KB tag configured as always-human, routed to the topic's queue."""
    cfg = config.sensitive_topics
    if not cfg.enabled:
        return OFF
    cand, parse = turn.candidate, turn.parse
    intent = cand.intent or parse.intent
    intent_ok = (not cand.is_fallback and not parse.fallback
                 and parse.confidence >= cfg.min_confidence)
    hits: list[tuple[str, str, Any]] = []
    for name, topic in cfg.topics.items():
        tags = sorted(set(cand.kb_tags) & set(topic.kb_tags))
        if intent_ok and intent in topic.intents:
            hits.append((name, f"intent '{intent}'", topic))
        elif tags:
            hits.append((name, f"FAQ tag '{tags[0]}'", topic))
    if not hits:
        return Outcome(None)
    hits.sort(key=lambda h: -h[2].priority)
    name, via, topic = hits[0]
    why = f"Topic '{name}' always goes to a person ({via})."
    if len(hits) > 1:
        why += " Also: " + ", ".join(f"'{h[0]}'" for h in hits[1:]) + "."
    return Outcome(name, (Fired(Reason("sensitive_topic", why), topic.priority, topic.queue,
                                topic.confirm),))


# ------------------------------------------------------------------ helpers
def _fired(code: str, why: str, cfg: Any) -> Fired:
    return Fired(Reason(code, why), cfg.priority, cfg.queue, cfg.confirm)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
