"""Each escalation signal: fires at the right turn with the right reason code, stays quiet when
disabled or below its threshold, and sets priority and queue as configured."""
from __future__ import annotations

import pytest

from supportbot.dialogue.events import BotReply, SessionStarted, UserMessage
from supportbot.dialogue.tracker import Tracker
from supportbot.escalation import Candidate, EscalationConfig, EscalationPolicy
from supportbot.escalation.testing import Script, make_parse


def policy(**raw: object) -> EscalationPolicy:
    return EscalationPolicy(EscalationConfig.from_mapping(raw))


def quiet(decision) -> bool:
    return not decision.handoff and not decision.ask_confirmation and not decision.reasons


# ------------------------------------------------------------------ explicit request
EXPLICIT = [
    ("en", "I want to talk to a human"),
    ("en", "can I speak to a real person?"),
    ("en", "connect me with an agent please"),
    ("en", "AGENT"),
    ("ru", "оператор"),
    ("ru", "хочу поговорить с живым человеком"),
    ("ru", "Позовите менеджера!"),
    ("ru", "соедините меня с оператором, пожалуйста"),
    ("hy", "օպերատոր"),
    ("hy", "ուզում եմ մարդու հետ խոսել"),
    ("hy", "կարո՞ղ եմ խոսել օպերատորի հետ"),
    ("hy", "կենդանի մարդ կա՞"),
    ("ky", "адам менен сүйлөшкүм келет"),
    ("ky", "оператор керек"),
    ("ky", "менеджерди чакырыңыз"),
    ("ky", "тирүү адам менен байланыштырып коюңузчу"),
]


@pytest.mark.parametrize("language,text", EXPLICIT)
def test_explicit_request_phrases_hand_off_at_once_in_four_languages(language, text):
    script = Script(policy(confirm_before_handoff=True))
    script.say("hi", "greet", reply="utter_greet", language=language)
    decision = script.say(text, reply="fallback", language=language)  # NLU did not get it
    assert decision.handoff and not decision.ask_confirmation  # never asks for confirmation
    assert decision.codes == ("explicit_request",)
    assert decision.queue == "default"


def test_explicit_request_by_intent_needs_a_small_confidence():
    assert Script().say("get me someone", "human_handoff", confidence=0.8,
                        reply="utter_handoff").codes == ("explicit_request",)
    assert quiet(Script().say("get me sth", "human_handoff", confidence=0.2,
                              reply="utter_handoff"))


def test_explicit_request_ignores_the_words_inside_longer_ordinary_sentences():
    texts = ["the agent who delivered my parcel left it at the wrong door",
             "my personal account page does not load",
             "how do I transfer money to a person with PayPal"]
    for text in texts:
        assert quiet(Script().say(text, "delivery_problem", reply="utter_delivery_problem"))


def test_explicit_request_custom_intent_and_phrases_and_disabling():
    custom = policy(explicit_request={"handoff_intent": "agent_please",
                                      "phrases": ["boss|chief please"], "priority": 3,
                                      "queue": "vip"})
    decision = Script(custom).say("boss please", reply="fallback")
    assert decision.codes == ("explicit_request",)
    assert (decision.priority, decision.queue) == (3, "vip")
    assert Script(custom).say("x", "agent_please").handoff
    off = policy(explicit_request={"enabled": False})
    decision = Script(off).say("I want to talk to a human", "human_handoff", reply="utter_x")
    assert quiet(decision)
    assert decision.signals["explicit_request"] == "off"
    no_builtin = policy(explicit_request={"builtin_phrases": False})
    assert quiet(Script(no_builtin).say("operator", reply="utter_x", intent="inform"))


# ------------------------------------------------------------------ unresolved
def test_unresolved_streak_fires_on_the_second_fallback_in_a_row():
    script = Script()
    assert quiet(script.say("hello", "greet", reply="utter_greet"))
    assert quiet(script.say("blorp fizz"))
    decision = script.say("wuzzle ding")
    assert decision.handoff
    assert decision.codes == ("unresolved_streak",)
    assert "2 messages in a row" in decision.reasons[0].explanation


def test_unresolved_streak_counts_only_consecutive_fallbacks():
    script = Script()
    script.say("blorp fizz")
    script.say("where is my order", "order_status", reply="utter_order_status")
    decision = script.say("wuzzle ding")
    assert decision.signals["unresolved_streak"] == 1
    assert not decision.handoff


def test_unresolved_session_fires_on_the_third_fallback_in_the_session():
    script = Script()
    script.say("blorp fizz")
    script.say("how do I return an item", "faq", reply="kb:returns")
    script.say("wuzzle ding")
    script.say("where is my order", "order_status", reply="utter_order_status")
    decision = script.say("flibber flabber")
    assert decision.codes == ("unresolved_session",)
    assert decision.signals["unresolved_session"] == 3


def test_unresolved_thresholds_are_tunable_and_can_be_switched_off():
    lenient = policy(unresolved={"consecutive_fallbacks": 3, "session_fallbacks": 5})
    script = Script(lenient)
    script.say("blorp")
    assert quiet(script.say("wuzzle"))
    assert script.say("flibber").codes == ("unresolved_streak",)
    off = Script(policy(unresolved={"enabled": False}))
    for text in ("blorp", "wuzzle", "flibber", "zork"):
        assert quiet(off.say(text))


def test_counting_starts_again_in_a_new_session():
    script = Script()
    script.say("blorp fizz")
    script.tracker.append(SessionStarted())
    assert quiet(script.say("wuzzle ding"))


def test_counting_starts_again_after_a_person_handed_the_conversation_back():
    script = Script()
    script.say("blorp fizz")
    assert script.say("wuzzle ding").handoff
    assert quiet(script.say("still there?"))  # a person owns the conversation: bot keeps out
    script.end_handoff()
    assert quiet(script.say("one more gibberish"))
    assert script.say("and another").codes == ("unresolved_streak",)


# ------------------------------------------------------------------ loop
def test_loop_same_faq_entry_answered_again():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    script.say("ok, and delivery times?", "faq", reply="kb:delivery_times")
    decision = script.say("what is the process to send something back", "faq",
                          reply="kb:returns")
    assert decision.codes == ("loop_rephrase",)
    assert "2 turns ago" in decision.reasons[0].explanation
    assert "returns" in decision.reasons[0].explanation


def test_loop_same_intent_answered_again():
    script = Script()
    script.say("I forgot my password", "password_reset", reply="utter_password_reset")
    decision = script.say("how can I get into my account without the password",
                          "password_reset", reply="utter_password_reset")
    assert decision.codes == ("loop_rephrase",)


def test_loop_by_similar_wording_when_the_bot_no_longer_understands():
    script = Script()
    script.say("how do I reset my password", "password_reset", reply="utter_password_reset")
    decision = script.say("I need to reset my password, how?")  # now a fallback
    assert decision.codes == ("loop_rephrase",)
    assert decision.signals["loop_rephrase"] >= 0.7


def test_loop_window_limits_how_far_back_it_looks():
    script = Script(policy(loop={"window": 1}))
    script.say("how do I return an item?", "faq", reply="kb:returns")
    script.say("and delivery times?", "faq", reply="kb:delivery_times")
    assert quiet(script.say("what's the return process", "faq", reply="kb:returns"))


def test_loop_needs_an_answer_not_a_fallback():
    script = Script()
    script.say("how do i get my money back", reply="fallback")
    assert quiet(script.say("how do I get my money back for an order",
                            "refund_status", reply="utter_refund_status"))


def test_loop_is_not_a_new_order_number():
    script = Script()
    script.say("where is my order NW-123456", "order_status", reply="utter_order_status",
               entities={"order_id": "NW-123456"})
    decision = script.say("where is my order NW-654321", "order_status",
                          reply="utter_order_status", entities={"order_id": "NW-654321"})
    assert quiet(decision)


def test_loop_threshold_and_disabling():
    strict = Script(policy(loop={"similarity": 0.95}))
    strict.say("how do I reset my password", "password_reset", reply="utter_password_reset")
    assert quiet(strict.say("I need to reset my password, how?"))
    off = Script(policy(loop={"enabled": False}))
    off.say("how do I return an item?", "faq", reply="kb:returns")
    assert quiet(off.say("how to return an item?", "faq", reply="kb:returns"))


# ------------------------------------------------------------------ negative feedback
NEGATIVE = [
    ("en", "that didn't help"),
    ("en", "Thanks, but this doesn't answer my question"),
    ("ru", "не помогло"),
    ("ru", "это не ответ на мой вопрос"),
    ("hy", "չօգնեց"),
    ("hy", "սխալ պատասխան է"),
    ("ky", "жардам берген жок"),
    ("ky", "бул эмес, түшүнбөдүңүз"),
]


@pytest.mark.parametrize("language,text", NEGATIVE)
def test_negative_feedback_right_after_an_answer(language, text):
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns", language=language)
    decision = script.say(text, reply="fallback", language=language)
    assert "negative_feedback" in decision.codes
    assert decision.recover and not decision.handoff  # first a recovery move ...
    decision = script.say(NO[language], reply="fallback", language=language)
    assert decision.handoff and decision.codes == ("negative_feedback",)  # ... then a person


NO = {"en": "no", "ru": "нет", "hy": "ոչ", "ky": "жок"}


def test_a_rephrase_after_a_recovery_move_hands_off_with_the_loop_reason():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    first = script.say("how can I return an item", "faq", reply="kb:returns")
    assert first.recover and first.codes == ("loop_rephrase",)
    again = script.say("how do i send an item back", "faq", reply="kb:returns")
    assert again.handoff and "loop_rephrase" in again.codes


def test_a_yes_after_a_recovery_move_keeps_the_bot():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    assert script.say("that didn't help", reply="fallback").recover
    decision = script.say("yes, thanks", "affirm", reply="utter_happy")
    assert not decision.handoff and not decision.recover


def test_asking_for_a_person_after_a_recovery_move_keeps_the_first_reason():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    script.say("that didn't help", reply="fallback")
    decision = script.say("/human_handoff", "human_handoff", reply="utter_default",
                          confidence=1.0, from_payload=True)
    assert decision.handoff and decision.codes == ("explicit_request", "negative_feedback")


def test_recovery_can_be_turned_off():
    script = Script(policy(recovery={"enabled": False}))
    script.say("how do I return an item?", "faq", reply="kb:returns")
    assert script.say("that didn't help", reply="fallback").handoff


def test_negative_feedback_by_intent_and_by_a_plain_no():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    assert script.say("you are not helping", "negative_feedback",
                      reply="utter_sorry").codes == ("negative_feedback",)
    script = Script()
    script.say("when do you deliver", "delivery_time", reply="utter_delivery_time")
    assert script.say("no", "deny", reply="utter_ok").codes == ("negative_feedback",)


def test_negative_feedback_needs_a_preceding_answer():
    script = Script()
    script.say("hi", "greet", reply="utter_greet")
    assert quiet(script.say("no", "deny", reply="utter_ok"))
    script = Script()
    script.say("gibberish words", reply="fallback")
    assert "negative_feedback" not in script.say("that didn't help", reply="utter_sorry",
                                                 intent="negative_feedback").codes


def test_negative_feedback_custom_intents_and_disabling():
    custom = Script(policy(negative_feedback={"intents": ["unhappy"]}))
    custom.say("how do I return an item?", "faq", reply="kb:returns")
    # the deny intent no longer counts, but the built-in short cue "no" still does
    assert custom.say("no", "deny", reply="utter_ok").codes == ("negative_feedback",)
    custom = Script(policy(negative_feedback={"intents": ["unhappy"],
                                              "builtin_phrases": False}))
    custom.say("how do I return an item?", "faq", reply="kb:returns")
    assert quiet(custom.say("no", "deny", reply="utter_ok"))
    off = Script(policy(negative_feedback={"enabled": False}))
    off.say("how do I return an item?", "faq", reply="kb:returns")
    assert quiet(off.say("that didn't help", "negative_feedback", reply="utter_sorry"))


# ------------------------------------------------------------------ repeated reply
def test_repeated_reply_fires_on_the_second_repeat_of_a_template():
    script = Script(policy(loop={"enabled": False}))
    assert quiet(script.say("how much is shipping", "delivery_cost", reply="utter_shipping"))
    assert quiet(script.say("shipping price?", "delivery_cost", reply="utter_shipping"))
    decision = script.say("cost of delivery", "delivery_cost", reply="utter_shipping")
    assert decision.codes == ("repeated_reply",)
    assert "3rd time" in decision.reasons[0].explanation


def test_repeated_reply_counts_kb_entries_and_is_tunable():
    script = Script(policy(loop={"enabled": False}, repeated_reply={"repeats": 1}))
    script.say("returns?", "faq", reply="kb:returns")
    assert script.say("return policy", "faq", reply="kb:returns").codes == ("repeated_reply",)


def test_repeated_reply_exempts_small_talk_and_other_order_numbers():
    script = Script()
    for _ in range(4):
        assert quiet(script.say("hello", "greet", reply="utter_greet"))
    script = Script(policy(loop={"enabled": False}))
    for number in ("NW-100001", "NW-100002", "NW-100003"):
        assert quiet(script.say(f"status of {number}", "order_status",
                                reply="utter_order_status", entities={"order_id": number}))


def test_repeated_reply_exempt_list_is_configurable_and_signal_can_be_off():
    script = Script(policy(loop={"enabled": False},
                           smalltalk_templates=["utter_shipping"]))
    for text in ("shipping?", "shipping cost", "delivery price"):
        assert quiet(script.say(text, "delivery_cost", reply="utter_shipping"))
    script = Script(policy(loop={"enabled": False}, repeated_reply={"enabled": False}))
    for text in ("shipping?", "shipping cost", "delivery price"):
        assert quiet(script.say(text, "delivery_cost", reply="utter_shipping"))


# ------------------------------------------------------------------ long conversation
TOPICS = ["payment_methods", "delivery_cost", "stock_availability", "discount_code",
          "warranty_claim", "invoice_request", "change_address", "exchange_item",
          "repair_request", "delivery_time"]


def test_long_conversation_fires_after_eight_bot_turns():
    script = Script()
    for topic in TOPICS[:8]:
        assert quiet(script.say(f"question about {topic}", topic, reply=f"utter_{topic}"))
    decision = script.say("question about repairs", "repair_request",
                          reply="utter_repair_request_2")
    assert decision.codes == ("long_conversation",)
    assert decision.signals["long_conversation"] == 9


def test_long_conversation_restarts_after_thanks_and_is_tunable():
    script = Script()
    for topic in TOPICS[:5]:
        script.say(f"question about {topic}", topic, reply=f"utter_{topic}")
    script.say("thanks!", "thank_you", reply="utter_welcome")
    for topic in TOPICS[5:10]:
        assert quiet(script.say(f"question about {topic}", topic, reply=f"utter_{topic}"))
    short = Script(policy(long_conversation={"max_bot_turns": 2}))
    short.say("q1", "payment_methods", reply="utter_payment_methods")
    short.say("q2", "delivery_cost", reply="utter_delivery_cost")
    assert short.say("q3", "discount_code", reply="utter_discount_code").codes == (
        "long_conversation",)


# ------------------------------------------------------------------ frustration
FRUSTRATED = [
    ("en", "this is a stupid bot"),
    ("en", "THIS IS TERRIBLE!!!"),
    ("en", "what the fuck!!! where is my stuff"),
    ("ru", "тупой бот"),
    ("ru", "Ужасно!!! Где мой заказ, блин???"),
    ("hy", "հիմար բոտ"),
    ("hy", "ՍԱՐՍԱՓԵԼԻ Է, ԴՈՒ ԱՊՈՒՇ ԵՍ"),
    ("ky", "акмак бот"),
    ("ky", "ЗАКАЗЫМ КАЙДА, ЖАМАН!!!"),
]


@pytest.mark.parametrize("language,text", FRUSTRATED)
def test_frustration_hands_off_with_raised_priority_in_four_languages(language, text):
    decision = Script().say(text, "order_status", reply="utter_order_status",
                            language=language)
    assert decision.handoff
    assert "frustration" in decision.codes
    assert decision.frustration >= 0.6
    assert decision.priority == 2


def test_frustration_below_threshold_does_not_hand_off_but_raises_priority():
    script = Script()
    decision = script.say("WHERE IS MY ORDER???", "order_status", reply="utter_order_status")
    assert 0.3 <= decision.frustration < 0.6
    assert not decision.handoff and decision.priority == 1


def test_frustration_raises_the_priority_of_other_handoffs():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    decision = script.say("THAT DID NOT HELP!!!", reply="fallback")
    assert decision.codes == ("negative_feedback",)
    assert 0.3 <= decision.frustration < 0.6 and decision.priority == 0 + 1


def test_frustration_ignores_caps_order_codes_and_acronyms():
    for text in ("NW-123456", "order NW-123456 ASAP", "is PIN sent by SMS or by DHL?",
                 "my order NW-123456"):
        decision = Script().say(text, "order_status", reply="utter_order_status")
        assert decision.frustration < 0.3, text


def test_frustration_threshold_weights_and_disabling():
    touchy = Script(policy(frustration={"threshold": 0.3, "mild_threshold": 0.1}))
    assert touchy.say("WHERE IS MY ORDER", "order_status",
                      reply="utter_order_status").codes == ("frustration",)
    custom = Script(policy(frustration={"negative_words": ["meh"],
                                        "weights": {"negative_word": 0.7}}))
    assert custom.say("meh", "chitchat", reply="utter_chitchat").codes == ("frustration",)
    off = Script(policy(frustration={"enabled": False}))
    decision = off.say("stupid bot!!!", "bot_challenge", reply="utter_iamabot")
    assert quiet(decision) and decision.frustration == 0.0


# ------------------------------------------------------------------ sensitive topics
SENSITIVE = {"sensitive_topics": {"topics": {
    "billing": {"intents": ["billing_dispute"], "kb_tags": ["billing"], "queue": "billing",
                "priority": 1},
    "fraud": {"intents": ["report_fraud"], "queue": "fraud", "priority": 3},
}}}


def test_sensitive_intent_routes_to_its_queue_with_its_priority():
    decision = Script(policy(**SENSITIVE)).say("someone used my card", "report_fraud",
                                               reply="utter_report_fraud")
    assert decision.handoff and decision.codes == ("sensitive_topic",)
    assert (decision.queue, decision.priority) == ("fraud", 3)


def test_sensitive_kb_tag_routes_to_its_queue():
    decision = Script(policy(**SENSITIVE)).say("why was I charged twice", "faq",
                                               reply="kb:double_charge", kb_tags=("billing",))
    assert decision.codes == ("sensitive_topic",)
    assert decision.queue == "billing"


def test_sensitive_topic_ignores_unsure_parses_and_can_be_off():
    p = policy(**SENSITIVE)
    assert quiet(Script(p).say("fraud?", "report_fraud", confidence=0.3,
                               reply="utter_report_fraud"))
    off = policy(sensitive_topics={**SENSITIVE["sensitive_topics"], "enabled": False})
    assert quiet(Script(off).say("someone used my card", "report_fraud",
                                 reply="utter_report_fraud"))


def test_sensitive_topic_queue_wins_and_frustration_adds_priority():
    decision = Script(policy(**SENSITIVE)).say("I WAS CHARGED TWICE, THIS IS TERRIBLE!!!",
                                               "billing_dispute", reply="utter_billing")
    assert decision.codes == ("frustration", "sensitive_topic")
    assert (decision.queue, decision.priority) == ("billing", 1 + 2)


# ------------------------------------------------------------------ confirmation
def confirming(**raw: object) -> Script:
    return Script(policy(confirm_before_handoff=True, **raw))


@pytest.mark.parametrize("yes", ["yes", "да", "այո", "ооба"])
def test_confirmation_yes_hands_off_with_the_original_reasons(yes):
    script = confirming()
    script.say("blorp fizz")
    asked = script.say("wuzzle ding")
    assert asked.ask_confirmation and not asked.handoff
    assert asked.codes == ("unresolved_streak",)
    question = script.tracker.events[-1]
    assert isinstance(question, BotReply) and question.action == "handoff_confirm"
    assert question.data["handoff_reasons"][0]["code"] == "unresolved_streak"
    decision = script.say(yes, reply="fallback")  # NLU may not know the word
    assert decision.handoff and not decision.ask_confirmation
    assert decision.codes == ("unresolved_streak",)
    assert decision.signals["confirmation"] == "affirm"


@pytest.mark.parametrize("no", ["no", "нет", "ոչ", "жок"])
def test_confirmation_no_keeps_the_bot_and_resets_the_counters(no):
    script = confirming()
    script.say("blorp fizz")
    assert script.say("wuzzle ding").ask_confirmation
    decision = script.say(no, reply="utter_ok")
    assert quiet(decision)
    assert decision.signals["confirmation"] == "deny"
    assert quiet(script.say("zork zork"))  # streak starts again from 1
    assert script.say("blip blop").ask_confirmation


def test_confirmation_by_intent_and_payload():
    script = confirming()
    script.say("blorp fizz")
    script.say("wuzzle ding")
    assert script.say("/affirm", "affirm", confidence=1.0, from_payload=True,
                      reply="utter_ok").handoff


def test_confirmation_ignored_question_is_judged_as_a_normal_turn():
    script = confirming()
    script.say("blorp fizz")
    script.say("wuzzle ding")
    decision = script.say("where is my order", "order_status", reply="utter_order_status")
    assert quiet(decision)
    assert decision.signals["confirmation"] == "unanswered"


def test_confirmation_per_signal_override():
    script = confirming(unresolved={"confirm": False})
    script.say("blorp fizz")
    assert script.say("wuzzle ding").handoff
    script = Script(policy(loop={"confirm": True}))
    script.say("how do I return an item?", "faq", reply="kb:returns")
    decision = script.say("how do I return an item", "faq", reply="kb:returns")
    assert decision.ask_confirmation and not decision.handoff


def test_confirmation_without_stored_reasons_still_hands_off():
    tracker = Tracker("c1")
    tracker.append(UserMessage(text="blorp", parse=make_parse("blorp")))
    tracker.append(BotReply(text="Shall I?", action="handoff_confirm"))
    parse = make_parse("yes", "affirm")
    tracker.append(UserMessage(text="yes", parse=parse))
    decision = EscalationPolicy().check(tracker, parse, Candidate("utter_ok", "utter_ok"))
    assert decision.handoff and decision.codes == ("explicit_request",)


# ------------------------------------------------------------------ whole policy
def test_disabled_policy_never_hands_off():
    script = Script(policy(enabled=False))
    assert quiet(script.say("I want a human", "human_handoff", reply="utter_handoff"))


def test_several_signals_give_several_reasons_in_a_stable_order():
    script = Script()
    script.say("how do I return an item?", "faq", reply="kb:returns")
    decision = script.say("that didn't help, stupid bot, get me a human", reply="fallback")
    assert decision.codes == ("explicit_request", "negative_feedback", "frustration")
    assert all(r.explanation.endswith(".") for r in decision.reasons)


def test_signals_report_every_raw_value():
    decision = Script().say("hello", "greet", reply="utter_greet")
    assert set(decision.signals) == {
        "explicit_request", "unresolved_streak", "unresolved_session", "loop_rephrase",
        "negative_feedback", "repeated_reply", "long_conversation", "frustration",
        "sensitive_topic", "form_validation", "action_request"}
    assert decision.to_dict()["signals"] == decision.signals


def test_a_no_to_anything_else_after_an_answer_is_not_negative_feedback():
    tracker = Tracker("c1")
    first = make_parse("how do I return an item", "faq")
    tracker.append(UserMessage(text=first.text, parse=first))
    tracker.append(BotReply(text="Send it back within 30 days.", template="kb:returns",
                            action="kb_answer", data={"fallback": False}))
    tracker.append(BotReply(text="Anything else?", template="utter_anything_else",
                            action="kb_answer", data={"fallback": False}))
    parse = make_parse("no", "deny")
    tracker.append(UserMessage(text="no", parse=parse))
    decision = EscalationPolicy().check(tracker, parse, Candidate("utter_goodbye",
                                                                  "utter_goodbye"))
    assert quiet(decision)
    # ...while a clear complaint still counts
    parse = make_parse("that didn't help", None)
    tracker.events[-1] = UserMessage(text=parse.text, parse=parse)
    decision = EscalationPolicy().check(tracker, parse, Candidate("fallback", "utter_default",
                                                                  is_fallback=True))
    assert decision.codes == ("negative_feedback",)


@pytest.mark.parametrize("text,answer", [
    ("yes, no problem", "affirm"), ("don't connect me", "deny"), ("no thanks", "deny"),
    ("sure, go ahead", "affirm"), ("да, соедините", "affirm"), ("не надо", "deny"),
    ("I don't know", None),
])
def test_confirmation_answer_takes_the_cue_said_first(text, answer):
    assert EscalationPolicy().confirmation_answer(make_parse(text)) == answer


def test_an_unsure_handoff_intent_without_a_phrase_asks_first():
    script = Script()
    unsure = script.say("ուզում եմ ականջակալները հետ ուղարկել", "human_handoff",
                        confidence=0.34, language="hy", reply="utter_human_handoff")
    assert unsure.ask_confirmation and not unsure.handoff
    assert unsure.codes == ("explicit_request",)
    sure = Script().say("I want to talk to someone", "human_handoff", confidence=0.8,
                        reply="utter_human_handoff")
    assert sure.handoff
    phrase = Script().say("get me a real person", "human_handoff", confidence=0.34,
                          reply="utter_human_handoff")
    assert phrase.handoff  # the phrase backs the unsure intent
