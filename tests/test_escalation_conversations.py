"""Ordinary conversations must never be escalated; a few unhappy ones must be, at the right turn.

Each turn is (customer text, NLU intent or None for "not understood", the bot's candidate reply,
extra fields). Replies: a response name, `kb:<entry>`, `clarify:<ids>` or "fallback".
"""
from __future__ import annotations

import pytest

from supportbot.escalation import EscalationConfig, EscalationPolicy
from supportbot.escalation.testing import Script

ORDER = {"order_id": "NW-123456"}

ORDINARY: dict[str, list[tuple]] = {
    "faq answered": [
        ("hi", "greet", "utter_greet"),
        ("how long does delivery take?", "faq", "kb:delivery_times"),
        ("thanks!", "thank_you", "utter_welcome"),
        ("bye", "goodbye", "utter_goodbye"),
    ],
    "two different faqs": [
        ("what payment methods do you accept", "faq", "kb:payment_methods"),
        ("and can I pay in installments", "faq", "kb:installments"),
        ("great, thank you", "thank_you", "utter_welcome"),
    ],
    "greetings only": [
        ("hello", "greet", "utter_greet"),
        ("hello?", "greet", "utter_greet"),
        ("hey there", "greet", "utter_greet"),
    ],
    "thanks twice": [
        ("where is my order NW-123456", "order_status", "utter_order_status", ORDER),
        ("thank you", "thank_you", "utter_welcome"),
        ("thanks again, bye", "thank_you", "utter_welcome"),
    ],
    "rephrase after one fallback": [
        ("my thingy didnt arrive yet hmm", None, "fallback"),
        ("my order has not arrived", "delivery_problem", "utter_delivery_problem"),
        ("ok thanks", "thank_you", "utter_welcome"),
    ],
    "rephrase after one fallback, similar words": [
        ("how do i get moneys back", None, "fallback"),
        ("how do i get my money back", "refund_status", "utter_refund_status"),
    ],
    "order status with order number": [
        ("hi", "greet", "utter_greet"),
        ("where is my order NW-123456?", "order_status", "utter_order_status", ORDER),
        ("great, thanks", "thank_you", "utter_welcome"),
    ],
    "order number in caps": [
        ("ORDER NW-123456", "order_status", "utter_order_status", ORDER),
        ("ok", "affirm", "utter_anything_else"),
        ("no thanks", "deny", "utter_goodbye"),
    ],
    "caps code in a sentence": [
        ("Hi, my order NW-123456 STILL not here", "delivery_problem",
         "utter_delivery_problem", ORDER),
        ("ok I will wait, thanks", "thank_you", "utter_welcome"),
    ],
    "order number asked for, then given": [
        ("where is my order", "order_status", "utter_ask_order_id"),
        ("NW-123456", "inform", "utter_order_status", ORDER),
        ("thanks", "thank_you", "utter_welcome"),
    ],
    "three different orders": [
        ("status of NW-100001", "order_status", "utter_order_status",
         {"order_id": "NW-100001"}),
        ("and NW-100002?", "order_status", "utter_order_status", {"order_id": "NW-100002"}),
        ("and NW-100003?", "order_status", "utter_order_status", {"order_id": "NW-100003"}),
    ],
    "anything else? no": [
        ("do you ship to Germany", "faq", "kb:shipping_countries"),
        ("ok", "affirm", "utter_anything_else"),
        ("no", "deny", "utter_goodbye"),
    ],
    "clarification then a button": [
        ("refund", None, "clarify:refund_policy,refund_status"),
        ("/faq/refund_status", "faq", "kb:refund_status", {}, {"from_payload": True}),
        ("thank you", "thank_you", "utter_welcome"),
    ],
    "password reset": [
        ("I forgot my password", "password_reset", "utter_password_reset"),
        ("got it, it worked", "thank_you", "utter_welcome"),
    ],
    "return then refund": [
        ("how do I return an item", "faq", "kb:returns"),
        ("and when will I get my money back", "faq", "kb:refund_timing"),
        ("perfect", "affirm", "utter_anything_else"),
        ("that's all", "goodbye", "utter_goodbye"),
    ],
    "bot challenge": [
        ("are you a bot?", "bot_challenge", "utter_iamabot"),
        ("ok, what are your opening hours", "faq", "kb:opening_hours"),
    ],
    "mild complaint answered": [
        ("the parcel box was a bit damaged", "delivery_problem", "utter_delivery_problem"),
        ("ok, I will send photos", "inform", "utter_ok"),
    ],
    "polite customer with exclamation": [
        ("Hello!", "greet", "utter_greet"),
        ("Do you have the blue jacket in size M?", "stock_availability",
         "utter_stock_availability"),
        ("Great, thanks a lot!", "thank_you", "utter_welcome"),
    ],
    "acronyms in caps": [
        ("Can I get the invoice as PDF by SMS or email?", "invoice_request",
         "utter_invoice_request"),
        ("ok thx", "thank_you", "utter_welcome"),
    ],
    "discount code question": [
        ("my discount code WINTER24 does not work", "discount_code", "utter_discount_code"),
        ("I see, thanks", "thank_you", "utter_welcome"),
    ],
    "long but resolved conversation": [
        ("hi", "greet", "utter_greet"),
        ("what payment methods do you have", "faq", "kb:payment_methods"),
        ("how much is delivery", "faq", "kb:delivery_cost"),
        ("do you ship to Armenia", "faq", "kb:shipping_countries"),
        ("thanks", "thank_you", "utter_welcome"),
        ("and how do returns work", "faq", "kb:returns"),
        ("can I exchange a size", "exchange_item", "utter_exchange_item"),
        ("where do I find my invoice", "invoice_request", "utter_invoice_request"),
        ("is there a warranty", "faq", "kb:warranty"),
        ("thanks, bye", "goodbye", "utter_goodbye"),
    ],
    "ru: faq answered": [
        ("привет", "greet", "utter_greet"),
        ("сколько идёт доставка?", "faq", "kb:delivery_times"),
        ("спасибо", "thank_you", "utter_welcome"),
    ],
    "ru: order status": [
        ("где мой заказ NW-123456", "order_status", "utter_order_status", ORDER),
        ("понятно, спасибо", "thank_you", "utter_welcome"),
    ],
    "ru: rephrase after one fallback": [
        ("чо по деньгам", None, "fallback"),
        ("когда вернут деньги за возврат?", "refund_status", "utter_refund_status"),
        ("ок, спасибо", "thank_you", "utter_welcome"),
    ],
    "ru: anything else? no": [
        ("как вернуть товар", "faq", "kb:returns"),
        ("хорошо", "affirm", "utter_anything_else"),
        ("нет, спасибо", "deny", "utter_goodbye"),
    ],
    "hy: faq answered": [
        ("բարև", "greet", "utter_greet"),
        ("քանի՞ օրում է առաքվում", "faq", "kb:delivery_times"),
        ("շնորհակալություն", "thank_you", "utter_welcome"),
    ],
    "hy: order status": [
        ("որտե՞ղ է իմ պատվերը NW-123456", "order_status", "utter_order_status", ORDER),
        ("մերսի", "thank_you", "utter_welcome"),
    ],
    "hy: rephrase after one fallback": [
        ("փողս երբ", None, "fallback"),
        ("ե՞րբ կվերադարձնեք գումարս", "refund_status", "utter_refund_status"),
    ],
    "ky: faq answered": [
        ("салам", "greet", "utter_greet"),
        ("жеткирүү канча күн алат?", "faq", "kb:delivery_times"),
        ("рахмат", "thank_you", "utter_welcome"),
    ],
    "ky: order status": [
        ("NW-123456 заказы жөнөтүлдүбү?", "order_status", "utter_order_status", ORDER),
        ("чоң рахмат", "thank_you", "utter_welcome"),
    ],
    "ky: help wanted greeting": [
        ("салам, жардам керек эле", "greet", "utter_greet"),
        ("паролду унутуп калдым", "password_reset", "utter_password_reset"),
        ("рахмат, түшүндүм", "thank_you", "utter_welcome"),
    ],
    "mixed language switch": [
        ("hello", "greet", "utter_greet"),
        ("где мой заказ NW-123456", "order_status", "utter_order_status", ORDER),
        ("спасибо", "thank_you", "utter_welcome"),
    ],
    "similar but different questions": [
        ("where is my order", "order_status", "utter_ask_order_id"),
        ("where is my refund", "refund_status", "utter_refund_status"),
        ("ok", "affirm", "utter_anything_else"),
    ],
    "customer asks about the agent who delivered": [
        ("the delivery agent left my parcel with a neighbour, is that ok?",
         "delivery_problem", "utter_delivery_problem"),
        ("alright, thanks", "thank_you", "utter_welcome"),
    ],
}


def play(turns: list[tuple], **config: object) -> Script:
    script = Script(EscalationPolicy(EscalationConfig.from_mapping(config)))
    for turn in turns:
        text, intent, reply = turn[:3]
        entities = turn[3] if len(turn) > 3 else None
        extra = turn[4] if len(turn) > 4 else {}
        script.say(text, intent, reply=reply, entities=entities, **extra)
    return script


def test_there_are_at_least_thirty_ordinary_conversations():
    assert len(ORDINARY) >= 30


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_conversation_never_escalates(name):
    script = play(ORDINARY[name])
    for (text, *_), decision in zip(ORDINARY[name], script.decisions):
        assert not decision.handoff and not decision.ask_confirmation, (
            f"{name}: {text!r} escalated: {decision.reasons}")
        assert decision.priority == 0, f"{name}: {text!r} priority {decision.priority}"


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_conversation_never_asks_for_confirmation_either(name):
    script = play(ORDINARY[name], confirm_before_handoff=True)
    assert not script.escalated


UNHAPPY: list[tuple[str, list[tuple], int, tuple[str, ...]]] = [
    ("stuck in fallbacks", [
        ("hi", "greet", "utter_greet"),
        ("my thingy is broken kinda", None, "fallback"),
        ("the gadget from last week, broken", None, "fallback"),
    ], 2, ("unresolved_streak",)),
    ("asks the same faq again", [
        ("how do returns work", "faq", "kb:returns"),
        ("so how do I send it back", "faq", "kb:returns"),
    ], 1, ("loop_rephrase",)),
    ("answer did not help, in Russian", [
        ("как сбросить пароль", "password_reset", "utter_password_reset"),
        ("не помогло", None, "fallback"),
    ], 1, ("negative_feedback",)),
    ("asks for a person, in Armenian", [
        ("բարև", "greet", "utter_greet"),
        ("ուզում եմ մարդու հետ խոսել", None, "fallback"),
    ], 1, ("explicit_request",)),
    ("insults the bot, in Kyrgyz", [
        ("заказым кайда", "order_status", "utter_ask_order_id"),
        ("акмак бот", None, "fallback"),
    ], 1, ("frustration",)),
]


@pytest.mark.parametrize("name,turns,at,codes", UNHAPPY, ids=[u[0] for u in UNHAPPY])
def test_unhappy_conversation_escalates_at_the_right_turn(name, turns, at, codes):
    script = play(turns)
    for i, decision in enumerate(script.decisions):
        assert decision.handoff == (i == at) or (i == at and decision.recover), \
            f"turn {i}: {decision.reasons}"
    decision = script.decisions[at]
    assert decision.codes == codes
    if decision.recover:  # a recoverable signal: a recovery move first; "no" hands off
        language = script.tracker.language or "en"
        after = script.say(NO[language], "deny", language=language, reply="utter_goodbye")
        assert after.handoff and after.codes == codes


NO = {"en": "no", "ru": "нет", "hy": "ոչ", "ky": "жок"}
