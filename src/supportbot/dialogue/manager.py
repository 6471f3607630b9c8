"""The dialogue manager owns a turn: given the tracker (ending with the customer's message) and
the parse, it decides and records the turn's events and replies.

Order of business: a CSAT score; a running form (answer, side question, stop, validation); the
dialogue policy's plan, adjusted for follow-ups; the escalation policy's verdict (keep, recover,
confirm, hand off); then the plan's steps run — responses, KB answers, forms, custom actions.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from supportbot.dialogue import forms as form_logic
from supportbot.dialogue.action_runner import ActionRunner
from supportbot.dialogue.actions import ActionResult
from supportbot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotReply,
    Event,
    SlotSet,
    UserMessage,
)
from supportbot.dialogue.intake import is_stop_request, looks_like_question
from supportbot.dialogue.nlg import Reply
from supportbot.dialogue.policy import (
    CLARIFY_RESPONSE,
    CONFIDENT_INTENT,
    AnswerFromKB,
    DialoguePolicy,
    KBOutcome,
    OfferChoices,
    Plan,
    PlanStep,
    Respond,
    RunAction,
)
from supportbot.dialogue.render import Renderer
from supportbot.dialogue.rules import continuation
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation import Candidate, Decision, EscalationPolicy, Reason
from supportbot.escalation.history import RECOVERY_ACTION
from supportbot.escalation.text import similarity, words
from supportbot.kb.decision import clarification_buttons
from supportbot.nlu.entities import fill_slots
from supportbot.nlu.parse import Parse
from supportbot.project.types import Button, FormDef, Project

if TYPE_CHECKING:
    from supportbot.handoff import Ticket
    from supportbot.handover import HandoffFlow

log = logging.getLogger(__name__)

FORM_STOP_CONFIRM = "form_stop_confirm"
ACTION_FAILED = "action_failed"
MAX_ACTIONS_PER_TURN = 10
FOLLOW_UP_MIN_SCORE = 0.4
ELLIPSIS_MAX_WORDS = 6
THANKS_RESPONSES = ("utter_thank_you", "utter_thanks", "utter_you_are_welcome")
# intents whose message, inside a form, is small talk rather than an answer
SMALLTALK_IN_FORMS = frozenset({"greet", "thank_you", "thankyou", "thanks", "goodbye",
                                "bot_challenge"})


@dataclass
class TurnResult:
    """What the manager did with one message."""

    replies: list[Reply]
    action: str
    reason: str
    ticket: Ticket | None = None
    kb: KBOutcome = field(default_factory=KBOutcome)
    debug: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Turn:
    """The working state of one turn."""

    tracker: Tracker
    parse: Parse
    channel: str
    customer_id: str
    add: Callable[[Event], None]
    kb: KBOutcome = field(default_factory=KBOutcome)
    replies: list[Reply] = field(default_factory=list)
    ticket: Ticket | None = None
    start: int = 0  # index of this turn's first event in the tracker

    @property
    def language(self) -> str:
        return self.parse.language


class DialogueManager:
    """Forms, custom actions, the dialogue policy, escalation and handoff for one turn."""

    def __init__(self, project: Project, renderer: Renderer, policy: DialoguePolicy,
                 escalation: EscalationPolicy, handoff: HandoffFlow, actions: ActionRunner,
                 kb: Any, search_kb: Callable[[Parse], KBOutcome],
                 understand: Callable[[str, str | None], Parse] | None = None):
        self.project = project
        self.domain = project.domain
        self.renderer = renderer
        self.policy = policy
        self.escalation = escalation
        self.handoff = handoff
        self.actions = actions
        self.kb = kb
        self.search_kb = search_kb
        self.understand = understand
        self.trigger_intents = _form_trigger_intents(project)

    # ------------------------------------------------------------------ the turn
    def respond(self, tracker: Tracker, parse: Parse, channel: str, customer_id: str,
                add: Callable[[Event], None]) -> TurnResult:
        """Decide and record the bot's side of this turn."""
        parse = self._closing_rescue(parse)
        turn = _Turn(tracker, parse, channel, customer_id, add,
                     start=_index_of_latest_message(tracker))
        csat = self.handoff.csat_answer(tracker, parse, channel, add)
        if csat is not None:
            return TurnResult(csat, "csat", "customer answered the CSAT question")
        form = self._active_form(tracker)
        self._fill_global_slots(turn, form)
        turn.kb = self.search_kb(parse)
        if form is not None:
            return self._form_turn(turn, form)
        return self._open_turn(turn)

    def _closing_rescue(self, parse: Parse) -> Parse:
        """"Thanks, bye" often splits the NLU between thank_you and goodbye and falls back;
        when the top intents are all closing small talk, or a closing phrase backs the top one,
        take the top intent."""
        if (not parse.fallback or parse.fallback_reason != "ambiguous" or parse.from_payload
                or not parse.ranking):
            return parse
        top = [r.name for r in parse.ranking[:2]]
        closing_intents = set(self.escalation.config.long_conversation.resolution_intents)
        cue = self.escalation.cues.closing.first(words(parse.text)) is not None
        if top[0] in closing_intents and (cue or set(top) <= closing_intents | {"greet"}):
            return replace(parse, fallback=False, fallback_reason=None)
        return parse

    # ------------------------------------------------------------------ no form running
    def _open_turn(self, turn: _Turn) -> TurnResult:
        plan = self.policy.decide(turn.tracker, turn.parse, turn.kb)
        plan = self._follow_up(plan, turn)
        plan = self._elliptical(plan, turn)
        plan = self._new_value_for_last_form(plan, turn)
        decision = self.escalation.check(turn.tracker, turn.parse, self._candidate(plan, turn))
        debug = {"escalation": decision.to_dict()}
        verdict = self._escalate(decision, turn, plan)
        if verdict is not None:
            verdict.debug = debug
            return verdict
        untranslated = self._untranslated_answer(plan, turn)
        if untranslated is not None:  # nlu.missing_translation: handoff
            decision = Decision(handoff=True, reasons=(Reason("language", untranslated),),
                                queue=self.escalation.config.default_queue)
            self._hand_off(decision, turn)
            return TurnResult(turn.replies, "handoff", untranslated, turn.ticket, turn.kb, debug)
        self._run_plan(plan, turn)
        return TurnResult(turn.replies, plan.action, plan.reason, turn.ticket, turn.kb, debug)

    def _untranslated_answer(self, plan: Plan, turn: _Turn) -> str | None:
        """Why a person who speaks the customer's language should answer: the plan's answer
        has no text in it and `nlu.missing_translation` is `handoff`; None otherwise."""
        if plan.is_fallback or not plan.steps:
            return None
        step = plan.steps[0]
        language = turn.language
        if isinstance(step, AnswerFromKB) and step.entry_id in self.kb:
            if self.renderer.needs_agent(language, entry=self.kb.entry(step.entry_id)):
                return (f"FAQ entry '{step.entry_id}' has no answer in '{language}'; an agent "
                        "who speaks it takes over")
        elif isinstance(step, Respond) and self.renderer.needs_agent(language,
                                                                    response=step.name):
            return (f"response '{step.name}' has no text in '{language}'; an agent who speaks "
                    "it takes over")
        return None

    def _escalate(self, decision: Decision, turn: _Turn, plan: Plan | None) -> TurnResult | None:
        """Hand off, ask "Shall I connect you?", or make a recovery move; None: carry on."""
        why = "; ".join(r.explanation for r in decision.reasons)
        if decision.handoff:
            self._hand_off(decision, turn)
            return TurnResult(turn.replies, "handoff", why, turn.ticket, turn.kb)
        if decision.ask_confirmation:
            turn.add(ActionExecuted(name="handoff_confirm", reason="; ".join(decision.codes)))
            data = {"fallback": bool(plan and plan.is_fallback), **decision.confirmation_data()}
            self._say("utter_handoff_confirm", turn, "handoff_confirm", why, data)
            return TurnResult(turn.replies, "handoff_confirm", why, None, turn.kb)
        if decision.recover:
            self._recover(decision, turn, plan)
            return TurnResult(turn.replies, RECOVERY_ACTION, why, None, turn.kb)
        return None

    def _follow_up(self, plan: Plan, turn: _Turn) -> Plan:
        """Same topic as the last answer: thanks in a sentence, or a follow-up question that
        another FAQ entry answers, is not asking the same thing again."""
        topic = _plan_topic(plan, turn.parse)
        if topic is None or topic != _last_topic(turn.tracker):
            return plan
        if self.escalation.cues.closing.first(words(turn.parse.text)) is not None:
            name = next((n for n in THANKS_RESPONSES if self.renderer.has(n)), None)
            if name is not None:
                return Plan(name, "the customer thanked the bot after its answer",
                            (Respond(name),))
        previous = turn.tracker.user_messages()[-2:-1]
        if previous and similarity(turn.parse.text, previous[0].text) >= \
                self.escalation.config.loop.similarity:
            return plan  # the same question in other words: the loop signal decides
        given = _kb_entries_given(turn.tracker)
        for entry, score in turn.kb.scores:
            if score >= FOLLOW_UP_MIN_SCORE and entry not in given and entry != plan.kb_entry:
                return Plan("kb_answer", f"follow-up on the same topic: KB entry {entry!r} "
                            f"scored {score:.2f}", (AnswerFromKB(entry),), kb_entry=entry)
        return plan

    def _elliptical(self, plan: Plan, turn: _Turn) -> Plan:
        """"And how much is it?" right after an answer: a short message the NLU cannot place on
        its own is read together with the previous question; a new answer from that reading
        (another FAQ entry or intent than the one just given) is a follow-up."""
        parse = turn.parse
        last = _last_topic(turn.tracker)
        if (not plan.is_fallback or parse.from_payload or self.understand is None
                or last is None or len(words(parse.text)) > ELLIPSIS_MAX_WORDS):
            return plan
        previous = turn.tracker.user_messages()[-2:-1]
        if not previous:
            return plan
        given = _kb_entries_given(turn.tracker)
        for context in (previous[0].text, _topic_words(last)):
            found = self._reading_with(context, turn, last, given)
            if found is not None:
                return found
        return plan

    def _reading_with(self, context: str, turn: _Turn, last: str,
                      given: set[str]) -> Plan | None:
        """A new answer for the message read together with `context`, if there is one."""
        assert self.understand is not None
        combined = self.understand(f"{context} {turn.parse.text}", turn.parse.language)
        kb = self.search_kb(combined)
        why = f"short follow-up read with {context!r}"
        if kb.kind == "answer" and kb.entry_id and kb.entry_id not in given:
            return Plan("kb_answer", f"{why}: KB entry {kb.entry_id!r} scored {kb.score:.2f}",
                        (AnswerFromKB(kb.entry_id),), kb_entry=kb.entry_id)
        name = f"utter_{combined.intent}"
        smalltalk = combined.intent in self.escalation.config.smalltalk_intents
        if (not combined.fallback and not smalltalk and self.renderer.has(name)
                and combined.confidence >= CONFIDENT_INTENT
                and f"intent:{combined.intent}" != last):
            return Plan(name, f"{why}: intent {combined.intent!r} "
                        f"({combined.confidence:.2f})", (Respond(name),))
        return None

    def _new_value_for_last_form(self, plan: Plan, turn: _Turn) -> Plan:
        """"Sorry, wrong one - it's NW-660212" after a form finished: a message the NLU is not
        sure about (or does not understand) but that names a new value for a slot of the
        session's last form runs that form again with the new value."""
        unsure = turn.parse.confidence < CONFIDENT_INTENT and plan.kb_entry is None
        if not (plan.is_fallback or unsure) or turn.parse.from_payload:
            return plan
        new = {e.name for e in turn.tracker.events[turn.start:] if isinstance(e, SlotSet)}
        last = _last_form(turn.tracker)
        form = self.domain.forms.get(last) if last else None
        if form is None or not new & set(form.required_slots):
            return plan
        slots = ", ".join(sorted(new & set(form.required_slots)))
        return Plan(f"form:{form.name}", f"new value for {slots} of form {form.name!r}",
                    (RunAction(form.name),))

    # ------------------------------------------------------------------ forms
    def _active_form(self, tracker: Tracker) -> FormDef | None:
        name = tracker.active_form
        return self.domain.forms.get(name) if name else None

    def _form_turn(self, turn: _Turn, form: FormDef) -> TurnResult:
        tracker, parse = turn.tracker, turn.parse
        requested = tracker.requested_slot
        latest = tracker.latest_reply
        if latest is not None and latest.action == FORM_STOP_CONFIRM:
            answer = self.escalation.confirmation_answer(parse)
            if answer == "affirm":
                self._deactivate(turn)
                self._say("utter_form_stopped", turn, "form_stopped",
                          f"customer left form {form.name!r}")
                return TurnResult(turn.replies, "form_stopped", f"left form {form.name!r}")
            if answer == "deny":
                self._ask(form, requested, turn)
                return TurnResult(turn.replies, form.name, "customer continues the form")
        if self.policy.form_rule_applies(tracker, form.name):
            return self._form_side_turn(turn, form, requested)  # the project's own rule
        if is_stop_request(parse.text):
            turn.add(ActionExecuted(name=FORM_STOP_CONFIRM, reason="customer asked to stop"))
            self._say("utter_form_stop_confirm", turn, FORM_STOP_CONFIRM,
                      f"customer asked to leave form {form.name!r}", {"form": form.name})
            return TurnResult(turn.replies, FORM_STOP_CONFIRM, "customer asked to stop")
        extraction = form_logic.extract(form, self.domain, parse, tracker.slots, requested)
        if not extraction.empty and not self._is_side_question(turn, form, extraction):
            return self._form_answer(turn, form, extraction)
        return self._form_side_turn(turn, form, requested)

    def _is_side_question(self, turn: _Turn, form: FormDef,
                          extraction: form_logic.Extraction) -> bool:
        """The message asks something else (answered, then the form asks again) rather than
        answering the form's question."""
        parse = turn.parse
        if extraction.requested_from_entity:
            return False
        if parse.from_payload:
            return extraction.empty
        confident = not parse.fallback and parse.confidence >= CONFIDENT_INTENT
        if confident and parse.intent in SMALLTALK_IN_FORMS and len(words(parse.text)) <= 4:
            return True
        if parse.intent in ("affirm", "deny", "inform") and not parse.fallback:
            return False
        has_response = confident and (self.renderer.has(f"utter_{parse.intent}")
                                      or self.policy.rule_applies(turn.tracker))
        other_intent = parse.intent not in self.trigger_intents.get(form.name, ())
        answerable = turn.kb.kind == "answer" or (has_response and other_intent)
        if extraction.empty or not extraction.values:
            # nothing valid was given: a question, or anything we can answer, is a side question
            return answerable or looks_like_question(parse.text)
        return looks_like_question(parse.text) and (answerable or has_response)

    def _form_answer(self, turn: _Turn, form: FormDef,
                     extraction: form_logic.Extraction) -> TurnResult:
        tracker = turn.tracker
        requested = tracker.requested_slot
        values, invalid = dict(extraction.values), dict(extraction.invalid)
        messages: list[Any] = []
        validator = form_logic.validation_action(form.name)
        if values and self._can_run(validator):
            values, invalid, messages = self._custom_validation(validator, form, values,
                                                                invalid, turn)
        invalid_slot = requested if requested in invalid else None
        ask = form_logic.ask_response(form.name, requested or "", self.renderer.responses)
        candidate = Candidate(action=form.name, template=ask, intent=turn.parse.intent,
                              asks=True, invalid_slot=invalid_slot)
        decision = self.escalation.check(tracker, turn.parse, candidate)
        debug = {"escalation": decision.to_dict(), "form": form.name,
                 "filled": values, "invalid": sorted(invalid)}
        if decision.handoff or decision.ask_confirmation:
            verdict = self._escalate(decision, turn, None)
            assert verdict is not None
            verdict.debug = debug
            return verdict
        turn.add(ActionExecuted(name=form.name, reason="customer answered the form"))
        for name, value in values.items():
            if tracker.slots.get(name) != value:
                turn.add(SlotSet(name=name, value=value))
        for name in invalid:
            if tracker.slots.get(name) is not None:
                turn.add(SlotSet(name=name, value=None))
        for message in messages:
            self._action_reply(message, turn, form.name, "validation message")
        if invalid_slot is not None:
            if not messages:
                response = invalid[invalid_slot]
                self._say(response, turn, form.name,
                          f"value for {invalid_slot!r} failed validation",
                          {"invalid_slot": invalid_slot, "ask": True})
            else:
                self._mark_invalid(turn, invalid_slot)
            if decision.recover:
                self._offer_person(turn, decision)
            self._ask(form, invalid_slot, turn)
            return TurnResult(turn.replies, form.name, f"{invalid_slot!r} is not valid",
                              turn.ticket, turn.kb, debug)
        self._continue_form(form, turn)
        return TurnResult(turn.replies, form.name, f"filled {sorted(values)}", turn.ticket,
                          turn.kb, debug)

    def _form_side_turn(self, turn: _Turn, form: FormDef, requested: str | None) -> TurnResult:
        """Answer the side question (or say it was not understood), then ask again."""
        plan = self.policy.decide(turn.tracker, turn.parse, turn.kb)
        if plan.runs(form.name):  # the form's own trigger: answer it, do not restart
            plan = self._answer_instead_of(form, plan, turn)
        decision = self.escalation.check(turn.tracker, turn.parse, self._candidate(plan, turn))
        debug = {"escalation": decision.to_dict(), "form": form.name, "side_question": True}
        verdict = self._escalate(decision, turn, plan)
        if verdict is not None:
            verdict.debug = debug
            return verdict
        self._run_plan(plan, turn)
        still = self._active_form(turn.tracker)
        if still is not None and still.name == form.name:
            self._ask(form, turn.tracker.requested_slot or requested, turn)
        return TurnResult(turn.replies, plan.action, plan.reason + f" (inside form "
                          f"{form.name!r})", turn.ticket, turn.kb, debug)

    def _answer_instead_of(self, form: FormDef, plan: Plan, turn: _Turn) -> Plan:
        """A question about the running form's own topic: the FAQ answer, else the intent's
        response, else nothing (the form just asks again)."""
        kb = turn.kb
        if kb.kind == "answer" and kb.entry_id:
            return Plan("kb_answer", f"side question inside form {form.name!r}: KB entry "
                        f"{kb.entry_id!r} scored {kb.score:.2f}", (AnswerFromKB(kb.entry_id),),
                        kb_entry=kb.entry_id)
        name = f"utter_{turn.parse.intent}"
        if self.renderer.has(name) and not turn.parse.fallback:
            return Plan(name, f"side question inside form {form.name!r}: intent "
                        f"{turn.parse.intent!r} ({turn.parse.confidence:.2f})", (Respond(name),))
        return Plan(form.name, f"form {form.name!r} is already running", ())

    def _activate(self, name: str, turn: _Turn) -> None:
        form = self.domain.forms[name]
        turn.add(ActionExecuted(name=name, reason="form activated"))
        turn.add(ActiveLoop(name=name))
        slots = turn.tracker.slots
        for slot in form.required_slots:
            for mapping in form_logic.slot_mappings(form, slot, self.domain):
                if (mapping.type == "from_trigger_intent" and slots.get(slot) is None
                        and not turn.parse.fallback
                        and (not mapping.intent or turn.parse.intent in mapping.intent)
                        and turn.parse.intent not in mapping.not_intent):
                    turn.add(SlotSet(name=slot, value=mapping.value))
                    break
            rule = form.validation.get(slot)
            value = turn.tracker.slots.get(slot)
            if rule is not None and value is not None and form_logic.is_invalid(
                    form_logic.validate_value(rule, value)):
                turn.add(SlotSet(name=slot, value=None))  # a stale value fails the form's rule
        self._continue_form(form, turn)

    def _continue_form(self, form: FormDef, turn: _Turn) -> None:
        missing = form_logic.missing_slots(form, turn.tracker.slots)
        if missing:
            self._ask(form, missing[0], turn)
            return
        turn.add(SlotSet(name=form_logic.REQUESTED_SLOT, value=None))
        turn.add(ActiveLoop(name=None))
        steps = continuation(self.policy.rules, form.name, turn.tracker.slots)
        self._run_steps([RunAction(a) for a in steps], turn, f"form {form.name!r} complete",
                        is_fallback=False)

    def _ask(self, form: FormDef, slot: str | None, turn: _Turn) -> None:
        if slot is None:
            self._continue_form(form, turn)
            return
        if turn.tracker.slots.get(form_logic.REQUESTED_SLOT) != slot:
            turn.add(SlotSet(name=form_logic.REQUESTED_SLOT, value=slot))
        data = {"ask": True, "form": form.name, "requested_slot": slot}
        for action in form_logic.ask_action(form.name, slot):
            if self.actions.has_callable(action) or (
                    action in self.domain.actions and self.actions.knows(action)):
                self._run_custom(action, turn, extra_data=data)
                return
        name = form_logic.ask_response(form.name, slot, self.renderer.responses)
        if name is None:
            self._say("utter_ask_value", turn, form.name, f"form {form.name!r} asks for {slot!r}",
                      data, values={"requested_slot": slot.replace("_", " ")})
            return
        self._say(name, turn, form.name, f"form {form.name!r} asks for {slot!r}", data)

    def _deactivate(self, turn: _Turn) -> None:
        if turn.tracker.active_form is not None:
            turn.add(SlotSet(name=form_logic.REQUESTED_SLOT, value=None))
            turn.add(ActiveLoop(name=None))

    def _custom_validation(self, action: str, form: FormDef, values: dict[str, Any],
                           invalid: dict[str, str], turn: _Turn
                           ) -> tuple[dict[str, Any], dict[str, str], list[Any]]:
        """Run `validate_<form>` on the extracted values (Rasa's FormValidationAction)."""
        probe = Tracker(turn.tracker.conversation_id, list(turn.tracker.events))
        for name, value in values.items():
            probe.append(SlotSet(name=name, value=value))
        outcome = self.actions.run(action, probe, self.domain, language=turn.language,
                                   channel=turn.channel)
        if not outcome.ok or outcome.result is None:
            return values, invalid, []
        result: ActionResult = outcome.result
        for name, value in result.slots.items():
            if value is None and name in values:
                values.pop(name)
                invalid[name] = form_logic.invalid_response_name(name, self.domain)
            elif name != form_logic.REQUESTED_SLOT:
                values[name] = value
                invalid.pop(name, None)
        if result.reject:
            for name in list(values):
                invalid[name] = form_logic.invalid_response_name(name, self.domain)
                values.pop(name)
        return values, invalid, list(result.replies)

    def _mark_invalid(self, turn: _Turn, slot: str) -> None:
        """Record (for the escalation signal) that the last reply re-asked an invalid slot."""
        turn.add(BotReply(text=None, action="form_invalid", reason=f"{slot!r} is not valid",
                          data={"invalid_slot": slot, "ask": True}))

    # ------------------------------------------------------------------ running a plan
    def _run_plan(self, plan: Plan, turn: _Turn) -> None:
        turn.add(ActionExecuted(name=plan.action, reason=plan.reason))
        self._run_steps(list(plan.steps), turn, plan.reason, plan.is_fallback, plan.action)

    def _run_steps(self, steps: list[PlanStep], turn: _Turn, reason: str, is_fallback: bool,
                   action: str | None = None) -> None:
        budget = MAX_ACTIONS_PER_TURN
        while steps and budget > 0 and turn.ticket is None:
            budget -= 1
            step = steps.pop(0)
            if not isinstance(step, RunAction):
                self._render_step(step, turn, action or step.key, reason, is_fallback)
                continue
            name = step.name
            if name == "action_listen":
                break
            if name in self.domain.forms:
                if turn.tracker.active_form and turn.tracker.active_form != name:
                    self._deactivate(turn)
                self._activate(name, turn)
                break
            if name == "action_deactivate_loop":
                self._deactivate(turn)
                continue
            if self.renderer.has(name):
                self._render_step(Respond(name), turn, action or name, reason, is_fallback)
                continue
            if self._can_run(name):
                followup = self._run_custom(name, turn)
                if followup:
                    steps.insert(0, RunAction(followup))
                steps.extend(RunAction(a) for a in continuation(self.policy.rules, name,
                                                                 turn.tracker.slots))
                continue
            log.warning("action %r is neither a response, a form nor a runnable custom action; "
                        "skipping it", name)

    def _render_step(self, step: PlanStep, turn: _Turn, action: str, reason: str,
                     is_fallback: bool) -> None:
        reply: Reply | None
        data: dict[str, Any] = {"fallback": is_fallback}
        if isinstance(step, AnswerFromKB):
            reply = self.renderer.kb_answer(self.kb.entry(step.entry_id), turn.language)
        elif isinstance(step, OfferChoices):
            ids = list(step.entry_ids)
            intro = self.renderer.response(CLARIFY_RESPONSE, turn.tracker, turn.language,
                                           turn.channel)
            buttons = clarification_buttons(
                {i: self.kb.entry(i) for i in ids if i in self.kb}, ids, turn.language)
            reply = Reply(intro.text if intro else None, buttons)
        else:
            reply = self.renderer.response(step.name, turn.tracker, turn.language, turn.channel)
        if reply is not None:
            self._record(reply, turn, step.key, action, reason, data)

    def _can_run(self, action: str) -> bool:
        return self.actions.has_callable(action) or (
            self.actions.knows(action) and not action.startswith("utter_"))

    def _run_custom(self, name: str, turn: _Turn,
                    extra_data: dict[str, Any] | None = None) -> str | None:
        """Run a custom action and apply its result; returns its follow-up action, if any."""
        turn.add(ActionExecuted(name=name, reason="custom action"))
        outcome = self.actions.run(name, turn.tracker, self.domain, language=turn.language,
                                   channel=turn.channel)
        if not outcome.ok or outcome.result is None:
            self._say("utter_action_failed", turn, ACTION_FAILED,
                      f"action {name!r} failed: {outcome.error}",
                      {"fallback": True, "failed_action": name})
            return None
        result = outcome.result
        for slot, value in result.slots.items():
            turn.add(SlotSet(name=slot, value=value))
        for reply in result.replies:
            self._action_reply(reply, turn, name, f"custom action {name!r}", extra_data)
        if result.form == "":
            self._deactivate(turn)
        elif result.form and result.form in self.domain.forms:
            self._activate(result.form, turn)
        if result.handoff:
            decision = Decision(handoff=True, reasons=(Reason(
                "action_request", f"Custom action '{name}' handed the conversation to a person: "
                f"{result.handoff}"),), queue=self.escalation.config.default_queue)
            self._hand_off(decision, turn)
            return None
        return result.followup

    def _action_reply(self, reply: Any, turn: _Turn, action: str, reason: str,
                      extra_data: dict[str, Any] | None = None) -> None:
        rendered = self.renderer.action_reply(reply, turn.tracker, turn.language, turn.channel)
        if rendered is not None:
            self._record(rendered, turn, reply.response or action, action, reason,
                         {"fallback": False, **(extra_data or {})})

    # ------------------------------------------------------------------ escalation moves
    def _hand_off(self, decision: Decision, turn: _Turn) -> None:
        self._deactivate(turn)
        turn.add(ActionExecuted(name="handoff", reason="; ".join(decision.codes)))
        replies, ticket = self.handoff.start(decision, turn.tracker, turn.parse, turn.channel,
                                             turn.customer_id, turn.add)
        turn.replies.extend(replies)
        turn.ticket = ticket

    def _recover(self, decision: Decision, turn: _Turn, plan: Plan | None) -> None:
        """One try to get the customer unstuck: the next-best FAQ entry, "did you mean", or an
        offer to talk to a person — always with a way to a person."""
        why = "recovery: " + "; ".join(r.explanation for r in decision.reasons)
        turn.add(ActionExecuted(name=RECOVERY_ACTION, reason="; ".join(decision.codes)))
        data = {"fallback": False, **decision.confirmation_data()}
        given = _kb_entries_given(turn.tracker)
        minimum = self.escalation.config.recovery.min_alternative_score
        current = plan.kb_entry if plan is not None else None
        alternatives = [e for e, s in turn.kb.scores
                        if s >= minimum and e not in given and e != current and e in self.kb]
        if len(alternatives) == 1:
            entry = self.kb.entry(alternatives[0])
            self._record(self.renderer.kb_answer(entry, turn.language), turn, f"kb:{entry.id}",
                         RECOVERY_ACTION, why, {**data, "kb_entry": entry.id})
            self._say("utter_did_that_help", turn, RECOVERY_ACTION, why, data)
            return
        if len(alternatives) > 1:
            intro = self.renderer.response(CLARIFY_RESPONSE, turn.tracker, turn.language,
                                           turn.channel)
            buttons = clarification_buttons({i: self.kb.entry(i) for i in alternatives},
                                            alternatives, turn.language)
            buttons = buttons + (self.renderer.person_button(turn.language),)
            self._record(Reply(intro.text if intro else None, buttons), turn,
                         "clarify:" + ",".join(alternatives), RECOVERY_ACTION, why, data)
            return
        self._say("utter_recovery_offer", turn, RECOVERY_ACTION, why, data)

    def _offer_person(self, turn: _Turn, decision: Decision) -> None:
        """A form answer failed again: the re-ask comes with a way to a person."""
        why = "recovery: " + "; ".join(r.explanation for r in decision.reasons)
        data = {"fallback": False, **decision.confirmation_data()}
        self._say("utter_recovery_offer", turn, RECOVERY_ACTION, why, data)

    # ------------------------------------------------------------------ helpers
    def _candidate(self, plan: Plan, turn: _Turn) -> Candidate:
        tags: tuple[str, ...] = ()
        if plan.kb_entry and plan.kb_entry in self.kb:
            tags = tuple(self.kb.entry(plan.kb_entry).tags)
        first = plan.steps[0] if plan.steps else None
        asks = isinstance(first, RunAction) and first.name in self.domain.forms
        return Candidate(action=plan.action, template=plan.template, text=None,
                         intent=turn.parse.intent, kb_entry=plan.kb_entry, kb_tags=tags,
                         is_fallback=plan.is_fallback, asks=asks)

    def _fill_global_slots(self, turn: _Turn, form: FormDef | None) -> None:
        """Slots any message may fill (Rasa's action_extract_slots); a running form's own
        slots are left to the form, which validates them."""
        tracker, parse = turn.tracker, turn.parse
        current = tracker.slots
        updates = fill_slots(parse.entities, self.domain, parse.intent, current,
                             text=parse.text, active_loop=tracker.active_form,
                             requested_slot=tracker.requested_slot)
        skip = set(form.required_slots) if form is not None else set()
        skip.add(form_logic.REQUESTED_SLOT)
        for name, value in updates.items():
            if name not in skip and current.get(name) != value:
                turn.add(SlotSet(name=name, value=value))

    def _say(self, name: str, turn: _Turn, action: str, reason: str,
             data: dict[str, Any] | None = None,
             values: dict[str, Any] | None = None) -> Reply | None:
        reply = self.renderer.response(name, turn.tracker, turn.language, turn.channel, values)
        if reply is None:
            return None
        self._record(reply, turn, name, action, reason, data or {})
        return reply

    def _record(self, reply: Reply, turn: _Turn, template: str, action: str, reason: str,
                data: dict[str, Any]) -> None:
        turn.replies.append(reply)
        turn.add(BotReply(text=reply.text, buttons=_button_dicts(reply.buttons),
                          template=template, action=action, reason=reason, data=dict(data)))


def _button_dicts(buttons: tuple[Button, ...]) -> tuple[dict[str, str], ...]:
    return tuple({"title": b.title, "payload": b.payload} for b in buttons)


def _plan_topic(plan: Plan, parse: Parse) -> str | None:
    if plan.is_fallback or plan.action in ("clarify", RECOVERY_ACTION):
        return None
    if plan.kb_entry:
        return f"kb:{plan.kb_entry}"
    if plan.action == f"utter_{parse.intent}":
        return f"intent:{parse.intent}"
    return None


def _last_topic(tracker: Tracker) -> str | None:
    """The topic of the bot's latest real answer in this session."""
    for reply in reversed(tracker.bot_replies()):
        if reply.data.get("fallback") or reply.data.get("ask"):
            return None
        if reply.template and reply.template.startswith("kb:"):
            return reply.template
        if reply.action and reply.action == reply.template and reply.template.startswith(
                "utter_"):
            return "intent:" + reply.template[len("utter_"):]
        return None
    return None


def _topic_words(topic: str) -> str:
    """The head word of a topic name: `intent:delivery_time` -> "delivery",
    `kb:refund_status` -> "refund" (intent and entry names put the subject first)."""
    name = topic.split(":", 1)[-1].split("/", 1)[-1]
    return name.split("_", 1)[0]


def _index_of_latest_message(tracker: Tracker) -> int:
    for i in range(len(tracker.events) - 1, -1, -1):
        if isinstance(tracker.events[i], UserMessage):
            return i
    return len(tracker.events)


def _last_form(tracker: Tracker) -> str | None:
    """The form that ran most recently in this session."""
    for event in reversed(tracker.session_events()):
        if isinstance(event, ActiveLoop) and event.name:
            return event.name
    return None


def _kb_entries_given(tracker: Tracker) -> set[str]:
    return {r.template[3:] for r in tracker.bot_replies()
            if r.template and r.template.startswith("kb:")}


def _form_trigger_intents(project: Project) -> dict[str, tuple[str, ...]]:
    """Form name -> intents whose rules activate it (their messages belong to the form)."""
    out: dict[str, list[str]] = {}
    for rule in project.rules:
        intents = [s.value for s in rule.steps if s.kind == "intent"]
        for step in rule.steps:
            if step.kind == "action" and step.value in project.domain.forms:
                out.setdefault(step.value, []).extend(intents)
    return {k: tuple(v) for k, v in out.items()}
