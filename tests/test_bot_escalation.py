"""Escalation through `Bot.handle` on the example bot: each signal hands off at the right turn
with the right reason; ordinary conversations never do."""
from __future__ import annotations

import pytest


def run(bot, conversation_id, messages):
    """Send messages; return the turns (stops early at a handoff)."""
    turns = []
    for text in messages:
        turn = bot.handle(conversation_id, text)
        turns.append(turn)
        if turn.handoff is not None:
            break
    return turns


def codes(turn):
    return {r["code"] for r in turn.handoff.reasons}


@pytest.mark.parametrize("text", [
    "I want to talk to a real person",
    "can I speak to an agent please",
    "Позовите оператора, пожалуйста",
    "Хочу поговорить с живым человеком",
    "Ուզում եմ խոսել օպերատորի հետ",
    "Адам менен сүйлөшкүм келет",
])
def test_explicit_request_hands_off_at_once(bot, conversation_id, text):
    turns = run(bot, conversation_id, ["hello", text])
    assert len(turns) == 2 and turns[-1].handoff is not None
    assert "explicit_request" in codes(turns[-1])
    assert turns[-1].handoff.status == "waiting"
    assert turns[-1].texts  # the customer is told about the queue


def test_two_fallbacks_in_a_row_hand_off_on_the_second(bot, conversation_id):
    turns = run(bot, conversation_id, ["hi", "blorp zanzibar quux", "flim flam wibble wobble"])
    assert [t.handoff is not None for t in turns] == [False, False, True]
    assert "unresolved_streak" in codes(turns[-1])


def test_negative_feedback_right_after_an_answer(bot, conversation_id):
    turns = run(bot, conversation_id, ["how long is the warranty on your products?",
                                       "that didn't help at all", "no"])
    assert turns[0].handoff is None and not turns[0].parse.fallback
    # first a recovery move that offers a person, then the handoff when it does not help
    assert turns[1].handoff is None and turns[1].action == "recovery"
    assert any(b.payload == "/human_handoff" for r in turns[1].replies for b in r.buttons)
    assert turns[-1].handoff is not None
    assert "negative_feedback" in codes(turns[-1])


def test_talk_to_a_person_button_of_a_recovery_move_hands_off(bot, conversation_id):
    turns = run(bot, conversation_id, ["how long is the warranty on your products?",
                                       "that didn't help at all"])
    button = next(b for r in turns[1].replies for b in r.buttons
                  if b.payload == "/human_handoff")
    turn = bot.handle(conversation_id, button.payload)
    assert turn.handoff is not None
    assert codes(turn) == {"explicit_request", "negative_feedback"}


def test_recovery_buttons_are_in_the_customers_language(bot, conversation_id):
    turns = run(bot, conversation_id, ["Как сбросить пароль?", "не помогло"])
    assert turns[-1].action == "recovery"
    titles = [b.title for r in turns[-1].replies for b in r.buttons]
    assert "Поговорить с сотрудником" in titles


def test_asking_again_in_other_words_after_an_answer_is_a_loop(bot, conversation_id):
    turns = run(bot, conversation_id, [
        "how do I reset my password",
        "how can I reset my password please",
        "how do i reset the password of my account",
    ])
    assert turns[0].handoff is None
    assert turns[1].handoff is None and turns[1].action == "recovery"
    assert turns[-1].handoff is not None
    assert codes(turns[-1]) & {"loop_rephrase", "repeated_reply"}


def test_frustration_hands_off_with_raised_priority(bot, conversation_id):
    turns = run(bot, conversation_id, ["where is my order?",
                                       "THIS IS RIDICULOUS!!! you stupid useless bot"])
    assert turns[-1].handoff is not None
    assert "frustration" in codes(turns[-1])
    assert turns[-1].handoff.priority > 0


def test_sensitive_billing_topic_goes_to_the_billing_queue(bot, conversation_id):
    turns = run(bot, conversation_id, ["I was charged twice for the same order"])
    assert turns[-1].handoff is not None
    assert "sensitive_topic" in codes(turns[-1])
    assert turns[-1].handoff.queue == "billing"


ORDINARY = [
    ["hi", "where is my order NW-123456?", "thanks", "bye"],
    ["hello", "how much does delivery cost?", "thank you"],
    ["do you deliver on saturdays?", "great, thanks"],
    ["I forgot my password", "thanks!"],
    ["how do I return an item?", "ok", "bye"],
    ["when will I get my refund?", "thank you very much"],
    ["what payment methods do you accept?", "cool"],
    ["can I pay with paypal?", "thanks"],
    ["my payment failed", "ok thanks"],
    ["I need an invoice for my order", "thanks"],
    ["hi there", "do you sell gift cards?", "thanks, bye"],
    ["how long is the warranty?", "great"],
    ["is there a student discount?", "ok"],
    ["which countries do you ship to?", "thanks"],
    ["Здравствуйте", "Где мой заказ?", "Спасибо"],
    ["Привет", "Как вернуть товар?", "Спасибо большое"],
    ["Բարև", "Որտե՞ղ է իմ պատվերը", "Շնորհակալություն"],
    ["Саламатсызбы", "Менин заказым кайда?", "Рахмат"],
    ["hi", "sdfkj sdfkj", "where is my order?", "thanks"],  # a rephrase after one fallback
    ["hey", "blah blah", "how much is shipping?", "thank you"],
    ["where's my parcel NW-998877", "thanks"],
    ["ORDER NW-123456 STATUS?", "thx"],
    ["can I exchange a shirt for a different size?", "thanks"],
    ["how do I reset my password", "got it, thanks"],
    ["do you have a phone number?", "thanks"],
    ["when is customer service open?", "ok bye"],
    ["can I collect my order in a shop?", "nice"],
    ["are you a bot?", "ok", "where is my order?"],
    ["is the blue sofa in stock?", "thanks"],
    ["do you have a discount code?", "thanks"],
    ["how do I change my delivery address?", "thank you"],
    ["I want to cancel my order", "thanks"],
]


@pytest.mark.parametrize("messages", ORDINARY, ids=[m[-2] if len(m) > 1 else m[0]
                                                    for m in ORDINARY])
def test_ordinary_conversations_are_never_escalated(bot, conversation_id, messages):
    for text in messages:
        turn = bot.handle(conversation_id, text)
        assert turn.handoff is None, (text, turn.handoff, turn.debug)
