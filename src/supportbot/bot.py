"""`Bot`: a trained model plus conversation state — the library's main entry point."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from supportbot.dialogue.action_runner import ActionRunner
from supportbot.dialogue.action_server import ActionServerClient
from supportbot.dialogue.actions import ActionCallable, ActionRegistry
from supportbot.dialogue.conversation_log import ConversationLog, Outbound
from supportbot.dialogue.defaults import BUILTIN_RESPONSES
from supportbot.dialogue.events import (
    Event,
    SessionStarted,
    SlotSet,
    UserMessage,
)
from supportbot.dialogue.manager import DialogueManager
from supportbot.dialogue.nlg import Reply
from supportbot.dialogue.policy import DialoguePolicy, KBOutcome
from supportbot.dialogue.render import Renderer
from supportbot.dialogue.tracker import Tracker
from supportbot.embeddings import Encoder
from supportbot.errors import ConversationError, ModelError
from supportbot.escalation import EscalationConfig, EscalationPolicy
from supportbot.handoff import HandoffQueue, default_handoff_domain_responses, load_handoff_config
from supportbot.handoff.email import SmtpConfig
from supportbot.handover import BotQueue, HandoffFlow
from supportbot.kb.decision import decide as decide_kb
from supportbot.model import PROJECT_DIR, Manifest, extract_archive, latest_model
from supportbot.nlu.arbiter import ARBITER_DIR, TopicArbiter
from supportbot.nlu.greeting import strip_greeting
from supportbot.nlu.parse import Parse
from supportbot.project import load_project
from supportbot.project.endpoints import ActionEndpoint, action_endpoint_from_url
from supportbot.project.types import Project, Response
from supportbot.stores import TrackerStore, open_tracker_store
from supportbot.stores.locks import LockStore
from supportbot.textnorm import normalize_text

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
MAX_CONVERSATION_ID_CHARS = 256
# no C0/C1 control characters (\Z: a trailing newline is not silently accepted) and no lone
# surrogates (no database can store them)
_CONVERSATION_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]+\Z")


@dataclass(frozen=True)
class HandoffInfo:
    """The human-handoff state of a conversation after this turn."""

    ticket_id: str
    status: str
    queue: str
    priority: int
    reasons: tuple[dict[str, str], ...] = ()
    position: int | None = None
    estimated_wait_seconds: float | None = None


@dataclass(frozen=True)
class Turn:
    """What happened with one customer message."""

    conversation_id: str
    replies: tuple[Reply, ...]
    parse: Parse
    action: str
    reason: str
    handoff: HandoffInfo | None = None
    kb: KBOutcome = field(default_factory=KBOutcome)
    debug: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies if r.text]


class Bot:
    """A trained bot. Create with `Bot.load(model_path)`; talk to it with `handle`."""

    def __init__(self, project: Project, nlu: Any, kb: Any, entities: Any,
                 manifest: Manifest | None = None, tracker_store: TrackerStore | None = None,
                 queue: Any = None, actions: Mapping[str, ActionCallable] | None = None,
                 action_endpoint: ActionEndpoint | None = None,
                 lock_store: LockStore | str | None = None, smtp: SmtpConfig | None = None,
                 arbiter: TopicArbiter | None = None):
        self.project = project
        self.arbiter = arbiter
        self.nlu = nlu
        self.kb = kb
        self.entities = entities
        self.manifest = manifest
        self.log = ConversationLog(tracker_store or open_tracker_store(None), lock_store)
        self.store = self.log.store
        self.locks = self.log.locks
        self.responses: dict[str, Response] = {
            **BUILTIN_RESPONSES, **default_handoff_domain_responses(), **project.domain.responses}
        self.renderer = Renderer(self.responses, project.config.language,
                                 project.config.nlu.missing_translation)
        self.policy = DialoguePolicy(project.rules, self.responses,
                                     project.config.nlu.out_of_scope_intent,
                                     tuple(project.domain.forms))
        self.escalation = EscalationPolicy(EscalationConfig.from_mapping(
            project.config.escalation, project.config.source))
        self.queue = BotQueue(self.log, self.renderer, load_handoff_config(
            project.config.handoff, project.config.source), queue, smtp)
        self.handoff = HandoffFlow(self.queue, self.renderer)
        server = ActionServerClient(action_endpoint) if action_endpoint is not None else None
        self.actions = ActionRunner(actions if isinstance(actions, ActionRegistry)
                                    else ActionRegistry(actions), server)
        self.manager = DialogueManager(project, self.renderer, self.policy, self.escalation,
                                       self.handoff, self.actions, kb, self._search_kb,
                                       self._understand_in_context)
        self._payload_intents = (set(project.domain.intents) | set(project.nlu.intents())
                                 | {"affirm", "deny", "restart", "csat", "handoff_keep_waiting",
                                    "handoff_leave_message", "faq", "human_handoff",
                                    self.escalation.config.explicit_request.handoff_intent})

    @property
    def outbound(self) -> Outbound | None:
        """The output adapter for messages that do not answer a `handle` call (agent messages,
        "agent joined", the CSAT question): called with (conversation id, reply) by the outbox
        dispatcher; raising makes the dispatcher retry later with backoff. Without one, the
        conversation log is the delivery (callers read it)."""
        return self.log.outbound

    @outbound.setter
    def outbound(self, callback: Outbound | None) -> None:
        self.log.outbound = callback

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model: str | Path, *, tracker_store: TrackerStore | str | None = None,
             queue: HandoffQueue | str | None = None,
             actions: Mapping[str, ActionCallable] | None = None,
             action_endpoint: ActionEndpoint | str | None = None,
             lock_store: LockStore | str | None = None,
             smtp: SmtpConfig | None = None) -> Bot:
        """Load a model archive (or the newest one in a folder / its `models/` subfolder).

        `tracker_store`: a TrackerStore or url (`sqlite:///file.db`, `memory://`; default
        $SUPPORTBOT_TRACKER_STORE, else in memory);
        `queue`: a HandoffQueue or url (`sqlite:///file.db`, `postgresql://...`; default
        $SUPPORTBOT_QUEUE_URL, else a temporary SQLite database removed at exit). A library call
        writes no files it was not asked to, and the model's packed `handoff.backend` never
        chooses where transcripts go.
        `actions`: custom actions (an `ActionRegistry` or name -> callable);
        `action_endpoint`: a Rasa action server for the other custom actions (an
        ActionEndpoint or its url; default $SUPPORTBOT_ACTION_ENDPOINT, else none).
        `lock_store`: where the per-conversation locks live, a LockStore or url (`memory://`,
        `sqlite:///file.db`, `postgresql://...`, with `?timeout=`/`expiry=` seconds; default
        $SUPPORTBOT_LOCK_STORE, else the SQLite tracker database, so processes sharing it take
        turns, or in-process locks for other tracker stores).
        `smtp`: where agents' replies go by email when a customer left an address outside
        business hours (`read_endpoints(project).email`); without it no email is offered.
        """
        from supportbot.kb.index import KBIndex
        from supportbot.nlu.entities import EntityExtractor
        from supportbot.nlu.pipeline import NluModel

        archive = latest_model(Path(model))
        folder = extract_archive(archive)
        try:
            manifest = Manifest.read(folder)
            project = load_project(folder / PROJECT_DIR)
            settings = project.config.nlu
            encoder = Encoder(settings.embedding_model) if settings.embedding_model else None
            nlu = NluModel.load(folder / "nlu", encoder=encoder)
            kb = KBIndex.load(folder / "kb", encoder=encoder)
            entities = EntityExtractor.from_dict(json.loads((folder / "entities.json").read_text()))
            arbiter = (TopicArbiter.load(folder / ARBITER_DIR)
                       if (folder / ARBITER_DIR).is_dir() and encoder is not None else None)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt or hostile part of a model file
            # (RecursionError, MemoryError, a faiss RuntimeError, wrong JSON shapes, a packed
            # project that no longer loads...) is a ModelError, never a crash of the caller
            from supportbot.errors import ProjectError

            if isinstance(exc, ProjectError):
                raise ModelError(f"{archive}: the project packed in the model does not load "
                                 f"({exc}); retrain it") from None
            raise ModelError(f"{archive}: cannot load the model ({type(exc).__name__}: "
                             f"{str(exc)[:300]}); retrain it") from None
        finally:
            if folder != archive:
                shutil.rmtree(folder, ignore_errors=True)
        store = (tracker_store if isinstance(tracker_store, TrackerStore)
                 else open_tracker_store(tracker_store))
        bot = cls(project, nlu, kb, entities, manifest, store, queue, actions,
                  _action_endpoint(action_endpoint), lock_store=lock_store, smtp=smtp,
                  arbiter=arbiter)
        bot.queue.open()  # a mistyped queue URL fails here, not at the first handoff
        return bot

    def with_stores(self, *, tracker_store: TrackerStore | str | None = None,
                    queue: HandoffQueue | str | None = None,
                    lock_store: LockStore | str | None = None,
                    smtp: SmtpConfig | None | bool = True) -> Bot:
        """A bot sharing this one's trained model but with its own conversation state
        (the same defaults as `load`); `smtp` defaults to this bot's (None turns email off)."""
        store = (tracker_store if isinstance(tracker_store, TrackerStore)
                 else open_tracker_store(tracker_store))
        bot = Bot(self.project, self.nlu, self.kb, self.entities, self.manifest, store, queue,
                  self.actions.registry, self.actions.server.endpoint
                  if self.actions.server is not None else None, lock_store=lock_store,
                  smtp=self.queue.smtp if smtp is True else smtp or None, arbiter=self.arbiter)
        bot.queue.open()
        return bot

    def action(self, name: str) -> Callable[[ActionCallable], ActionCallable]:
        """Decorator: register a Python custom action on this bot (see ActionRegistry)."""
        return self.actions.registry.action(name)

    # ------------------------------------------------------------------ understanding
    def parse(self, text: str, previous_language: str | None = None) -> Parse:
        """Understand one message: language, intent ranking, entities (no conversation state).

        The text is normalized first (`supportbot.textnorm.normalize_text`); ConversationError
        for an empty, invisible-only or over-long message."""
        return self._understand(_clean_text(text), previous_language, with_nlu=True)

    def _understand(self, text: str, previous_language: str | None, with_nlu: bool) -> Parse:
        from supportbot.nlu.langid import detect_language
        from supportbot.nlu.multilingual import NEUTRAL
        from supportbot.nlu.payload import parse_payload

        settings = self.project.config.nlu
        # the message's own language ("" for "ok", an order number), else the conversation's
        own_language = detect_language(text, settings.languages, default=NEUTRAL)
        language = own_language or previous_language or self.project.config.language
        payload = parse_payload(text, intents=self._payload_intents)
        if payload is not None:
            return Parse(text=text, intent=payload.intent, confidence=1.0,
                         ranking=(), entities=tuple(payload.entities), language=language,
                         from_payload=True, retrieval_key=payload.retrieval_key)
        if not with_nlu:
            return Parse(text=text, intent="", confidence=0.0, language=language)
        result = self.nlu.predict([text])[0]
        rest = strip_greeting(text) if (result.fallback or result.intent == "greet") else None
        if rest is not None:  # "Hi, where is my parcel?": the question is what counts
            behind = self.nlu.predict([rest])[0]
            if not behind.fallback and behind.intent != "greet":
                result = behind
        parse = Parse(
            text=text, intent=result.intent, confidence=result.confidence,
            ranking=tuple(result.ranking), entities=tuple(self.entities.extract(text)),
            language=language, fallback=result.fallback, fallback_reason=result.fallback_reason,
            familiarity=result.familiarity, retrieval_key=result.retrieval_key,
            retrieval_ranking=result.retrieval_ranking,
        )
        return self._arbitrated(parse) if own_language else parse

    def _arbitrated(self, parse: Parse) -> Parse:
        """`parse` with the topic arbiter's choice between intents and FAQ entries, for a
        message in a language the fast model does not read (`supportbot.nlu.arbiter`)."""
        from supportbot.nlu.arbiter import arbitrate
        from supportbot.nlu.multilingual import FAST_LANGUAGES, neutral_vectors

        settings = self.project.config.nlu
        if (self.arbiter is None or not parse.ranking
                or parse.language.split("-")[0].lower() in FAST_LANGUAGES):
            return parse
        hits = self.kb.search(parse.text, language=parse.language) if len(self.kb) else []
        vector = neutral_vectors(self.nlu.routing.encoder if self.nlu.routing is not None
                                 else self.kb.ml_encoder, [parse.text], cache=False)[0]
        topic_probs, familiar = self.arbiter.opinion(vector)
        verdict = arbitrate([(r.name, r.confidence) for r in parse.ranking],
                            [(h.entry_id, h.score) for h in hits], topic_probs,
                            settings.out_of_scope_intent,
                            nlu_fallback=parse.fallback, familiar=familiar)
        if verdict.kind == "faq":
            return replace(parse, arbitrated=True, faq_entry=verdict.name,
                           faq_score=round(verdict.score, 4))
        if verdict.kind == "none":
            reason = ("out_of_scope" if verdict.reason == "out_of_scope"
                      else parse.fallback_reason or "low_confidence")
            return replace(parse, arbitrated=True, fallback=True, fallback_reason=reason)
        # an intent: always the NLU's own top intent (the pool keeps the NLU's order among
        # intents), now understood even where the NLU alone fell back
        return replace(parse, arbitrated=True, fallback=False, fallback_reason=None)

    # ------------------------------------------------------------------ conversation
    def handle(self, conversation_id: str, text: str, *, channel: str = "default",
               metadata: dict[str, Any] | None = None, customer_id: str | None = None) -> Turn:
        """Handle one customer message and return the bot's replies and reasons."""
        _check_conversation_id(conversation_id)
        text = _clean_text(text)
        with self.locks.lock(conversation_id):
            tracker = self.store.load(conversation_id)
            new: list[Event] = []

            def add(event: Event) -> None:
                tracker.append(event)
                new.append(event)

            self._maybe_start_session(tracker, add)
            # agent messages and notices written elsewhere (another process, a failed
            # delivery) go into the log before this message, and out before its replies
            outbox = self.queue.dispatcher.record(tracker, add)
            try:
                turn = self._handle_locked(tracker, add, text, channel, metadata or {},
                                           customer_id or conversation_id)
            except BaseException:
                # no half-turn: keep the customer's message, drop what the bot did after it
                # (replies the caller never got, actions that did not finish); the queue stays
                # the source of truth for a ticket opened before the failure
                self.store.append(conversation_id, _failed_turn_events(
                    new, text, channel, metadata or {},
                    tracker.language or self.project.config.language))
                raise
            self.store.append(conversation_id, new)
        if outbox:
            self.queue.dispatcher.send(outbox)
        return turn

    async def handle_async(self, conversation_id: str, text: str, **kwargs: Any) -> Turn:
        """`handle` run in a worker thread, for asyncio applications."""
        return await asyncio.to_thread(self.handle, conversation_id, text, **kwargs)

    def tracker(self, conversation_id: str) -> Tracker:
        """The stored conversation (raises ConversationError for an unknown id)."""
        if not self.store.exists(conversation_id):
            raise ConversationError(f"unknown conversation id {conversation_id!r}")
        return self.store.load(conversation_id)

    # ------------------------------------------------------------------ internals
    def _maybe_start_session(self, tracker: Tracker, add: Callable[[Event], None]) -> None:
        cfg = self.project.domain.session_config
        last = tracker.events[-1].timestamp if tracker.events else None
        expired = (last is not None and cfg.session_expiration_time > 0
                   and time.time() - last > cfg.session_expiration_time * 60)
        if last is None or expired:
            slots = tracker.slots if expired and cfg.carry_over_slots_to_new_session else {}
            add(SessionStarted())
            for name, value in slots.items():
                add(SlotSet(name=name, value=value))

    def _handle_locked(self, tracker: Tracker, add: Callable[[Event], None], text: str,
                       channel: str, metadata: dict[str, Any], customer_id: str) -> Turn:
        cid = tracker.conversation_id
        ticket = self.handoff.owner(tracker, add)
        if ticket is not None:
            parse = self._quiet_parse(text, tracker)
            add(UserMessage(text=text, parse=parse, channel=channel, metadata=metadata))
            owned, action, reason = self.handoff.while_owned(ticket, tracker, parse, channel, add)
            return Turn(cid, tuple(owned), parse, action, reason,
                        handoff=self.handoff.info(self.queue.backend.get(ticket.id)))
        parse = self.parse(text, previous_language=tracker.language)
        add(UserMessage(text=text, parse=parse, channel=channel, metadata=metadata))
        result = self.manager.respond(tracker, parse, channel, customer_id, add)
        info = self.handoff.info(result.ticket) if result.ticket is not None else None
        return Turn(cid, tuple(result.replies), parse, result.action, result.reason,
                    handoff=info, kb=result.kb, debug=result.debug)

    def _understand_in_context(self, text: str, language: str | None) -> Parse:
        return self._understand(text, language, with_nlu=True)

    def _quiet_parse(self, text: str, tracker: Tracker) -> Parse:
        """Language and payload only: while a person owns the conversation, no NLU runs."""
        return self._understand(text, tracker.language, with_nlu=False)

    def _search_kb(self, parse: Parse) -> KBOutcome:
        if parse.retrieval_key and parse.from_payload:
            key = parse.retrieval_key.split("/", 1)[1]
            if key in self.kb:
                return KBOutcome("answer", key, (key,), 1.0, ((key, 1.0),))
            return KBOutcome()
        if parse.arbitrated:  # the topic arbiter has chosen (an entry, or an intent / nothing)
            if parse.faq_entry is None or parse.faq_entry not in self.kb:
                return KBOutcome()
            return KBOutcome("answer", parse.faq_entry, (parse.faq_entry,), parse.faq_score,
                             ((parse.faq_entry, parse.faq_score),), chosen=True)
        if parse.from_payload or len(self.kb) == 0:
            return KBOutcome()
        decision = decide_kb(self.kb.search(parse.text, language=parse.language),
                             self.project.config.kb)
        return KBOutcome(decision.kind, decision.entry_id, decision.candidates, decision.score,
                         decision.scores[:3])



def _action_endpoint(value: ActionEndpoint | str | None) -> ActionEndpoint | None:
    """The action server to call: the argument, else $SUPPORTBOT_ACTION_ENDPOINT."""
    if value is None:
        value = os.environ.get("SUPPORTBOT_ACTION_ENDPOINT") or None
    if isinstance(value, str):
        return action_endpoint_from_url(value)
    return value


def _failed_turn_events(new: list[Event], text: str, channel: str, metadata: dict[str, Any],
                        language: str) -> list[Event]:
    """What a turn that raised leaves in the log: the events up to the customer's message
    (a message the turn had not recorded yet is recorded without NLU), nothing after it."""
    for i, event in enumerate(new):
        if isinstance(event, UserMessage):
            kept, dropped = new[: i + 1], len(new) - i - 1
            break
    else:
        kept, dropped = [*new, UserMessage(
            text=text, parse=Parse(text=text, intent="", confidence=0.0, language=language),
            channel=channel, metadata=metadata)], 0
    log.warning("a turn failed: the customer's message is kept, %d bot event(s) after it "
                "are dropped", dropped)
    return kept


def _clean_text(text: str) -> str:
    """The message as supportbot handles it (`normalize_text`), or ConversationError for a
    non-string, an empty or invisible-only, or an over-long message."""
    if not isinstance(text, str):
        raise ConversationError(f"message text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ConversationError("message text is empty")
    text = normalize_text(text)
    if not text:
        raise ConversationError("message text is empty (only invisible characters)")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ConversationError(
            f"message is {len(text)} characters long; the limit is {MAX_MESSAGE_CHARS}")
    return text


def _check_conversation_id(conversation_id: str) -> None:
    """ConversationError unless the id is a string of 1-256 characters, not all whitespace,
    without control characters (a trailing newline included) or lone surrogates."""
    if not isinstance(conversation_id, str):
        raise ConversationError(
            f"invalid conversation id {conversation_id!r}: it must be a string, got "
            f"{type(conversation_id).__name__}")
    if (not conversation_id.strip() or len(conversation_id) > MAX_CONVERSATION_ID_CHARS
            or not _CONVERSATION_ID.match(conversation_id)):
        raise ConversationError(
            f"invalid conversation id {conversation_id!r}: use 1-{MAX_CONVERSATION_ID_CHARS} "
            "printable characters (no control characters, line breaks or lone surrogates, "
            "not only spaces)")
