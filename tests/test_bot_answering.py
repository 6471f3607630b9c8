"""Answering through `Bot.handle` on the example bot: KB, languages, rules, fallback,
clarification, no verbatim repeats, retraining."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import supportbot
from supportbot.errors import ConversationError

ARMENIAN = re.compile(r"[\u0530-\u058F]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
KYRGYZ_LETTERS = re.compile(r"[ңөүҢӨҮ]")

# Paraphrases written for this test: none of them is a question in data/kb or an NLU example.
KB_PARAPHRASES = [
    ("is it possible to pay in us dollars rather than euro", "currency"),
    ("do university students get some kind of reduction", "student_discount"),
    ("could you send my package to a parcel locker instead of my flat", "parcel_lockers"),
    ("where can I find the instruction booklet for my coffee machine as pdf", "product_manual"),
    ("I need a replacement part for my vacuum cleaner, do you sell those", "spare_parts"),
    ("does the courier also come on a saturday", "weekend_delivery"),
    ("how can I see what's still left on my voucher card", "gift_card_balance"),
    ("can I secure my login with 2fa", "two_factor"),
    ("is there a lowest amount I have to spend to place an order", "minimum_order"),
    ("which products am I not allowed to send back", "return_exceptions"),
]


@pytest.mark.parametrize(("text", "entry_id"), KB_PARAPHRASES)
def test_paraphrased_kb_question_gets_the_right_entry(bot, conversation_id, text, entry_id):
    turn = bot.handle(conversation_id, text)
    assert turn.action == "kb_answer", (turn.action, turn.reason)
    assert turn.kb.entry_id == entry_id
    assert turn.replies[0].text == bot.kb.entry(entry_id).answer.text


@pytest.mark.parametrize(("text", "language"), [
    ("where is my order NW-123456?", "en"),
    ("Где мой заказ? Уже неделю жду", "ru"),
    ("Որտե՞ղ է իմ պատվերը", "hy"),
    ("Менин заказым кайда? Качан келет?", "ky"),
    ("How long do I have to return something?", "en"),
    ("Сколько дней есть на возврат товара?", "ru"),
    ("Քանի՞ օր ունեմ ապրանքը վերադարձնելու համար", "hy"),
    ("Товарды канча күндүн ичинде кайтарсам болот?", "ky"),
])
def test_questions_are_answered_in_the_customers_language(bot, conversation_id, text, language):
    turn = bot.handle(conversation_id, text)
    assert turn.parse.language == language
    assert not turn.parse.fallback or turn.action == "kb_answer", turn.reason
    reply = " ".join(turn.texts)
    assert reply
    if language == "hy":
        assert ARMENIAN.search(reply), reply
    elif language == "ky":
        assert KYRGYZ_LETTERS.search(reply), reply
    elif language == "ru":
        assert CYRILLIC.search(reply) and not KYRGYZ_LETTERS.search(reply), reply
    else:
        assert not CYRILLIC.search(reply) and not ARMENIAN.search(reply), reply


@pytest.mark.parametrize("text", ["hi", "hello there", "Здравствуйте", "Բարև ձեզ", "Саламатсызбы"])
def test_greetings_go_through_rules(bot, conversation_id, text):
    bot.handle(conversation_id, "where is my parcel?")  # not the conversation's first message
    turn = bot.handle(conversation_id, text)
    assert turn.action.startswith("rule:"), (turn.action, turn.reason)
    assert turn.parse.intent == "greet"


def test_greeting_at_conversation_start_uses_the_welcome_rule(bot, conversation_id):
    turn = bot.handle(conversation_id, "hello")
    assert turn.action.startswith("rule:")
    assert turn.replies


@pytest.mark.parametrize("text", ["asdkjh qwpoeiru zxcmvn", "purple elephants dance on tuesdays",
                                  "what's the capital of mongolia"])
def test_nonsense_falls_back(bot, conversation_id, text):
    turn = bot.handle(conversation_id, text)
    assert turn.parse.fallback
    assert turn.handoff is None
    assert turn.action in ("fallback", "utter_out_of_scope"), turn.action


def test_close_kb_candidates_produce_a_clarification_whose_buttons_select_the_entry(
        bot, conversation_id):
    turn = bot.handle(conversation_id, "do I get the shipping money back when I return stuff")
    assert turn.action == "clarify", (turn.action, turn.reason, turn.kb)
    buttons = turn.replies[0].buttons
    payloads = [b.payload for b in buttons]
    assert "/faq/return_shipping_cost" in payloads and "/faq/refund_delivery_cost" in payloads
    follow = bot.handle(conversation_id, "/faq/refund_delivery_cost")
    assert follow.action == "kb_answer"
    assert follow.kb.entry_id == "refund_delivery_cost"
    assert follow.replies[0].text == bot.kb.entry("refund_delivery_cost").answer.text


def test_the_same_text_is_never_sent_twice_in_a_row(bot, conversation_id):
    texts = ["hi", "hi", "thanks", "thank you!", "thanks a lot", "where is my order?",
             "where is my order??", "bye", "goodbye"]
    sent: list[str] = []
    for text in texts:
        turn = bot.handle(conversation_id, text)
        assert turn.replies or turn.handoff is not None, text
        sent.extend(turn.texts)
    for previous, current in itertools.pairwise(sent):
        assert previous != current


def test_slots_fill_from_entities_and_template_the_reply(bot, conversation_id):
    turn = bot.handle(conversation_id, "what's the status of order NW-654321")
    assert any(e.entity == "order_id" for e in turn.parse.entities)
    assert bot.tracker(conversation_id).slots.get("order_id") in ("NW-654321", "NW654321")
    assert "654321" in " ".join(turn.texts)


def test_payload_skips_nlu(bot, conversation_id):
    turn = bot.handle(conversation_id, '/order_status{"order_id": "NW-111222"}')
    assert turn.parse.from_payload and turn.parse.intent == "order_status"
    assert bot.tracker(conversation_id).slots["order_id"] == "NW-111222"


def test_bad_input_gets_a_clear_error(bot, conversation_id):
    with pytest.raises(ConversationError, match="empty"):
        bot.handle(conversation_id, "   ")
    with pytest.raises(ConversationError, match="limit"):
        bot.handle(conversation_id, "x" * 100_000)
    with pytest.raises(ConversationError, match="conversation id"):
        bot.handle("", "hello")
    with pytest.raises(ConversationError, match="unknown conversation"):
        bot.tracker("never-seen")


def test_parse_api(trained_bot):
    p = trained_bot.parse("I forgot my password")
    assert p.intent == "password_reset"
    assert 0.0 <= p.confidence <= 1.0
    assert p.ranking[0].name == p.intent
    assert p.language == "en"
    assert p.fallback is False


def test_unchanged_project_is_not_retrained_and_an_edit_is(project_copy: Path, tmp_path: Path):
    out = tmp_path / "models"
    first = supportbot.train(project_copy, out)
    again = supportbot.train(project_copy, out)
    assert again == first
    nlu_file = project_copy / "data" / "intents" / "conversation.yml"
    text = nlu_file.read_text()
    nlu_file.write_text(text.replace("examples: |\n", "examples: |\n    - hiya folks\n", 1))
    edited = supportbot.train(project_copy, out)
    assert edited != first
    assert supportbot.train(project_copy, out, force=True) != edited
