"""Ordinary conversations with the example bot (Northwind Shop) that must resolve.

Issue "Conversations that resolve": everyday multi-turn conversations in English, Russian,
Armenian and Kyrgyz — answers to the bot's questions, follow-ups on the same topic, side
questions inside forms, thanks after an answer, a corrected order number, "never mind" inside a
form, greetings and goodbyes — go through `Bot.handle` and none of them hands off. The
order-status and return flows complete in every language, and the forms behave as documented
(invalid order numbers are re-asked, stopping leaves the form, a side question is answered and
the question asked again in the same turn).

Conversations are data: `(name, steps)` per language. A step is the customer's message, or
`(message, *expected)` where every expected string must appear (case-insensitive) in the bot's
replies of that turn (`SIDE`: the turn answers a side question and the form asks again). No turn
may hand off, offer a person, make a recovery move or say it did not understand. On failure the
whole transcript is shown turn by turn.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from supportbot.dialogue.events import ActionExecuted, SlotSet

Step = str | tuple[str, ...]

# What every "what's your order number?" question (ask and invalid re-ask) shows, in all
# languages; the delivery-cost answers (responses and FAQ) all name the free-delivery threshold.
ASKS_ORDER = "NW-123456"
DELIVERY_COST = "50 EUR"
# A side question inside a form: answered (not taken as the form's answer) and asked again,
# i.e. at least two replies and the turn's action is not the form itself.
SIDE = "<side question answered>"
FORMS = ("order_status_form", "return_form")
# Turns where the bot did not understand, or steered towards a person: none in these.
NOT_RESOLVING = ("handoff", "handoff_confirm", "recovery", "fallback")

# --------------------------------------------------------------------------- conversations
EN: list[tuple[str, list[Step]]] = [
    ("greet_track_thanks_bye", [
        "hi",
        ("where is my parcel?", ASKS_ORDER),
        ("NW-123456", "https://track.example.com/dhl/JJD0140123456", "DHL"),
        "ok thanks",
        "bye",
    ]),
    ("greeting_and_question_in_one_message", [
        ("Hi, where is my parcel?", ASKS_ORDER),
        ("NW-123456", "JJD0140123456"),
        "thanks, bye",
    ]),
    ("lowercase_number_without_dash", [
        "hey can u check my order pls",
        ("nw482913", "JJD0140482913", "delayed"),
        "great, thank you!",
    ]),
    ("number_in_first_message", [
        ("hi, could you tell me where order NW-118204 is?", "1Z999AA10118204", "UPS"),
        "cool thanks",
    ]),
    ("delivery_cost_while_asked_for_number", [
        ("where is my package", ASKS_ORDER),
        ("how much is delivery?", SIDE, DELIVERY_COST, ASKS_ORDER),
        ("NW-654321", "https://track.example.com/dpd/01505654321"),
        "ok thanks",
    ]),
    ("invalid_number_then_good_one", [
        ("i want to track my order", ASKS_ORDER),
        ("NW12", ASKS_ORDER),
        ("sorry NW-301557", "JJD0140301557"),
        "thanks a lot",
    ]),
    ("unknown_number_corrected", [
        ("where is my order", ASKS_ORDER),
        ("NW-999999", "NW-999999"),
        ("oh sorry wrong one, it's NW-660212", "ZX4660212"),
        "perfect, thanks",
    ]),
    ("return_full_flow_then_refund_question", [
        ("I'd like to return something", ASKS_ORDER),
        "NW-111222",
        "the coffee grinder",
        ("it's way too loud", "RL-111222-"),
        ("how long does the refund take?", "5-7"),
        "ok great, bye",
    ]),
    ("return_with_reason_button", [
        ("need to send back a jacket", ASKS_ORDER),
        "nw118204",
        "winter jacket",
        ("Wrong size", "RL-118204-"),
        "thanks!",
        "bye",
    ]),
    ("return_never_mind", [
        ("i want to return an item", ASKS_ORDER),
        ("never mind", "stop"),
        ("yes", "stopped"),
        "bye",
    ]),
    ("return_window_asked_inside_return_form", [
        ("I want to return my headphones", ASKS_ORDER),
        ("how long do I have to return it?", SIDE, "30", ASKS_ORDER),
        "NW-654321",
        "wireless headphones",
        ("they don't fit well", "RL-654321-"),
        "thank you",
    ]),
    ("payment_failed_then_thanks", [
        "my payment keeps getting declined",
        "ok I'll try another card, thanks",
        "bye",
    ]),
    ("delivery_time_then_cost_follow_up", [
        "how long does delivery take to germany?",
        ("and how much is it?", DELIVERY_COST),
        "perfect thanks",
    ]),
    ("shipping_abroad_then_cost", [
        "do you ship to switzerland?",
        ("how much does that cost?", "14.99"),
        "ok thank you",
    ]),
    ("password_reset_thanks", [
        "forgot my password and cant log in",
        "ok got it thanks",
        "bye",
    ]),
    ("bot_question_then_tracking", [
        ("are you a bot?", "bot"),
        ("ok, where is my order then", ASKS_ORDER),
        ("NW-772310", "01505772310"),
        "thx",
    ]),
]

RU: list[tuple[str, list[Step]]] = [
    ("greet_track_thanks_bye", [
        "привет",
        ("где моя посылка?", ASKS_ORDER),
        ("NW-123456", "JJD0140123456", "отправлен"),
        "спасибо",
        "пока",
    ]),
    ("greeting_and_question_in_one_message", [
        ("Здравствуйте, где моя посылка?", ASKS_ORDER),
        ("NW-123456", "JJD0140123456"),
        "спасибо, до свидания",
    ]),
    ("status_lowercase_number_with_space", [
        "добрый день, хочу узнать статус заказа",
        ("nw 482913", "JJD0140482913"),
        "спасибо большое",
    ]),
    ("delivery_cost_while_asked_for_number", [
        ("где мой заказ", ASKS_ORDER),
        ("а сколько стоит доставка?", SIDE, DELIVERY_COST, ASKS_ORDER),
        ("NW-118204", "1Z999AA10118204"),
        "ок спасибо",
    ]),
    ("invalid_number_then_good_one", [
        ("хочу отследить заказ", ASKS_ORDER),
        ("NW12", ASKS_ORDER),
        ("NW-660212", "ZX4660212"),
    ]),
    ("return_full_flow", [
        ("хочу вернуть товар", ASKS_ORDER),
        "NW-111222",
        "кофемолка",
        ("очень сильно шумит", "RL-111222-"),
        "спасибо, до свидания",
    ]),
    ("return_button_reason_then_refund_question", [
        ("как оформить возврат кроссовок?", ASKS_ORDER),
        "NW-123456",
        "кроссовки",
        ("Не подошёл размер", "RL-123456-"),
        ("а когда вернут деньги?", "5-7"),
        "понятно, спасибо",
    ]),
    ("return_never_mind", [
        ("хочу вернуть куртку", ASKS_ORDER),
        ("не надо", "Остановиться"),
        ("да", "остановил"),
        "пока",
    ]),
    ("return_window_asked_inside_return_form", [
        ("хочу сдать наушники обратно", ASKS_ORDER),
        ("а сколько дней у меня есть на возврат?", SIDE, "30", ASKS_ORDER),
        "NW-654321",
        "наушники",
        ("не понравился звук", "RL-654321-"),
    ]),
    ("payment_failed_then_thanks", [
        "не проходит оплата картой",
        "ладно, попробую другую карту, спасибо",
        "до свидания",
    ]),
    ("delivery_time_then_cost_follow_up", [
        "сколько идёт доставка в германию?",
        ("а сколько стоит?", DELIVERY_COST),
        "понятно, спасибо",
    ]),
    ("unknown_number_corrected", [
        ("где мой заказ?", ASKS_ORDER),
        ("NW-123465", "NW-123465"),
        ("ой, ошибся, правильный NW-123456", "JJD0140123456"),
        "спасибо",
    ]),
    ("password_reset_thanks", [
        "забыла пароль от аккаунта",
        "спасибо",
        "пока",
    ]),
    ("bot_question_then_tracking", [
        ("вы бот?", "бот"),
        ("ладно. где мой заказ NW-772310?", "01505772310"),
        "спасибо",
    ]),
]

HY: list[tuple[str, list[Step]]] = [
    ("greet_track_thanks_bye", [
        "բարև",
        ("որտե՞ղ է իմ ծանրոցը", ASKS_ORDER),
        ("NW-123456", "JJD0140123456", "ուղարկված է"),
        "շնորհակալություն",
        "ցտեսություն",
    ]),
    ("greeting_and_question_in_one_message", [
        ("Բարև, որտե՞ղ է իմ ծանրոցը", ASKS_ORDER),
        ("NW-123456", "JJD0140123456"),
        "շնորհակալություն, ցտեսություն",
    ]),
    ("status_lowercase_number", [
        "ուզում եմ իմանալ պատվերիս կարգավիճակը",
        ("nw482913", "JJD0140482913"),
        "մերսի",
    ]),
    ("delivery_cost_while_asked_for_number", [
        ("որտեղ է պատվերս", ASKS_ORDER),
        ("իսկ առաքումը որքա՞ն արժե", SIDE, DELIVERY_COST, ASKS_ORDER),
        ("NW-118204", "1Z999AA10118204"),
        "լավ, շնորհակալ եմ",
    ]),
    ("invalid_number_then_good_one", [
        ("ուզում եմ հետևել պատվերիս", ASKS_ORDER),
        ("NW12", ASKS_ORDER),
        ("NW-660212", "ZX4660212"),
    ]),
    ("return_full_flow", [
        ("ուզում եմ վերադարձնել ապրանքը", ASKS_ORDER),
        "NW-111222",
        "սրճաղաց",
        ("շատ աղմկոտ է", "RL-111222-"),
        "շնորհակալություն, ցտեսություն",
    ]),
    ("return_with_reason_button", [
        ("ինչպե՞ս վերադարձնեմ կոշիկները", ASKS_ORDER),
        "NW-123456",
        "վազքի կոշիկներ",
        ("Չափսը չի համապատասխանում", "RL-123456-"),
        "շնորհակալ եմ",
    ]),
    ("return_never_mind", [
        ("ուզում եմ ապրանք վերադարձնել", ASKS_ORDER),
        ("պետք չէ", "Դադարեցնե"),
        ("այո", "դադարեցրի"),
        "ցտեսություն",
    ]),
    ("return_window_asked_inside_return_form", [
        ("ուզում եմ ականջակալները հետ ուղարկել", ASKS_ORDER),
        ("քանի՞ օր ունեմ վերադարձնելու համար", SIDE, "30", ASKS_ORDER),
        "NW-654321",
        "անլար ականջակալներ",
        ("ձայնը լավը չէ", "RL-654321-"),
    ]),
    ("payment_failed_then_thanks", [
        "վճարումը չի անցնում",
        "լավ, կփորձեմ ուրիշ քարտով, շնորհակալություն",
        "ցտեսություն",
    ]),
    ("delivery_time_then_cost_follow_up", [
        "քանի՞ օրում է առաքվում պատվերը",
        ("իսկ որքա՞ն արժե", DELIVERY_COST),
        "պարզ է, շնորհակալություն",
    ]),
    ("unknown_number_corrected", [
        ("որտե՞ղ է իմ պատվերը", ASKS_ORDER),
        ("NW-123465", "NW-123465"),
        ("ներեցեք, սխալվեցի, ճիշտը NW-123456 է", "JJD0140123456"),
        "շնորհակալություն",
    ]),
    ("password_reset_thanks", [
        "մոռացել եմ գաղտնաբառս",
        "շնորհակալություն",
        "ցտեսություն",
    ]),
]

KY: list[tuple[str, list[Step]]] = [
    ("greet_track_thanks_bye", [
        "салам",
        ("посылкам кайда?", ASKS_ORDER),
        ("NW-123456", "JJD0140123456", "жөнөтүлгөн"),
        "рахмат",
        "кош болуңуз",
    ]),
    ("greeting_and_question_in_one_message", [
        ("Саламатсызбы, посылкам кайда?", ASKS_ORDER),
        ("NW-123456", "JJD0140123456"),
        "рахмат, кош болуңуз",
    ]),
    ("status_lowercase_number", [
        "заказымдын абалын билгим келет",
        ("nw482913", "JJD0140482913"),
        "чоң рахмат",
    ]),
    ("delivery_cost_while_asked_for_number", [
        ("заказым кайда", ASKS_ORDER),
        ("жеткирүү канча турат?", SIDE, DELIVERY_COST, ASKS_ORDER),
        ("NW-118204", "1Z999AA10118204"),
        "макул, рахмат",
    ]),
    ("invalid_number_then_good_one", [
        ("заказымды көзөмөлдөгүм келет", ASKS_ORDER),
        ("NW12", ASKS_ORDER),
        ("NW-660212", "ZX4660212"),
    ]),
    ("return_full_flow", [
        ("товарды кайтаргым келет", ASKS_ORDER),
        "NW-111222",
        "кофе майдалагыч",
        ("абдан катуу үн чыгарат", "RL-111222-"),
        "рахмат, кош болуңуз",
    ]),
    ("return_with_reason_button", [
        ("кроссовкаларды кантип кайтарам?", ASKS_ORDER),
        "NW-123456",
        "кроссовка",
        ("Өлчөмү туура келген жок", "RL-123456-"),
        "рахмат",
    ]),
    ("return_never_mind", [
        ("товар кайтаргым келет", ASKS_ORDER),
        ("керек эмес", "Токтотобузбу"),
        ("ооба", "токтоттум"),
        "кош болуңуз",
    ]),
    ("return_window_asked_inside_return_form", [
        ("наушникти кайтаргым келет", ASKS_ORDER),
        ("кайтарууга канча күнүм бар?", SIDE, "30", ASKS_ORDER),
        "NW-654321",
        "зымсыз наушник",
        ("үнү жакпады", "RL-654321-"),
    ]),
    ("payment_failed_then_thanks", [
        "төлөм өтпөй жатат",
        "макул, башка карта менен аракет кылам, рахмат",
        "кош болуңуз",
    ]),
    ("delivery_time_then_cost_follow_up", [
        "жеткирүү канча убакыт алат?",
        ("анан канча турат?", DELIVERY_COST),
        "түшүндүм, рахмат",
    ]),
    ("unknown_number_corrected", [
        ("заказым кайда?", ASKS_ORDER),
        ("NW-123465", "NW-123465"),
        ("кечиресиз, ката жаздым, туурасы NW-123456", "JJD0140123456"),
        "рахмат",
    ]),
    ("password_reset_thanks", [
        "сырсөзүмдү унутуп калдым",
        "рахмат",
        "кош болуңуз",
    ]),
]

CONVERSATIONS: dict[str, list[tuple[str, list[Step]]]] = {"en": EN, "ru": RU, "hy": HY, "ky": KY}

# Conversations the bot still gets wrong: (language, name) -> what goes wrong. Each one is
# marked xfail(strict=True), so it fails the run once the bot gets it right.
_CLOSING = ("thanks and goodbye in one message: thank_you and goodbye score about the same, "
            "the parse is 'ambiguous' and the bot answers 'sorry, I didn't understand'")
# (hy, return_window_asked_inside_return_form) was one until the multilingual encoder (issue
# 12): the Armenian request now parses as return_item instead of an ambiguous human_handoff
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _cases() -> list[Any]:
    cases = []
    for language, conversations in CONVERSATIONS.items():
        for name, steps in conversations:
            marks = []
            why = KNOWN_FAILURES.get((language, name))
            if why is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=why))
            cases.append(pytest.param(language, steps, id=f"{language}-{name}", marks=marks))
    return cases


# --------------------------------------------------------------------------- helpers
def _step(step: Step) -> tuple[str, tuple[str, ...]]:
    if isinstance(step, str):
        return step, ()
    return step[0], tuple(step[1:])


def _describe(number: int, text: str, turn: Any) -> str:
    parse = turn.parse
    lines = [f"{number}. customer: {text!r}",
             (f"   parse: intent={parse.intent} confidence={parse.confidence:.2f} "
              f"language={parse.language} fallback={parse.fallback}"),
             f"   action={turn.action!r} handoff={turn.handoff is not None}",
             f"   reason={turn.reason!r}"]
    for reply in turn.replies:
        buttons = [b.title for b in reply.buttons]
        lines.append(f"   bot: {reply.text!r}" + (f" buttons={buttons}" if buttons else ""))
    return "\n".join(lines)


def talk(bot: Any, cid: str, steps: list[Step]) -> tuple[list[Any], list[str], str]:
    """Run the conversation; returns the turns, the problems found and the transcript."""
    turns, problems, transcript = [], [], []
    for number, step in enumerate(steps, 1):
        text, expected = _step(step)
        turn = bot.handle(cid, text)
        turns.append(turn)
        transcript.append(_describe(number, text, turn))
        said = "\n".join(turn.texts).casefold()
        if turn.handoff is not None or turn.action == "handoff":
            problems.append(f"turn {number} ({text!r}) handed off: {turn.reason}")
        elif turn.action in NOT_RESOLVING:
            problems.append(f"turn {number} ({text!r}) was not resolved: action "
                            f"{turn.action!r} ({turn.reason})")
        if not turn.texts:
            problems.append(f"turn {number} ({text!r}) got no reply text")
        for piece in expected:
            if piece == SIDE:
                if turn.action in FORMS or len(turn.texts) < 2:
                    problems.append(f"turn {number} ({text!r}): the side question was not "
                                    f"answered before the form asked again")
            elif piece.casefold() not in said:
                problems.append(f"turn {number} ({text!r}): expected {piece!r} in the replies")
    return turns, problems, "\n".join(transcript)


def events_of(bot: Any, cid: str, kind: type) -> list[Any]:
    return [e for e in bot.tracker(cid).events if isinstance(e, kind)]


# --------------------------------------------------------------------------- the conversations
def test_there_are_at_least_forty_conversations_in_four_languages():
    assert sum(len(c) for c in CONVERSATIONS.values()) >= 40
    assert all(len(c) >= 10 for c in CONVERSATIONS.values())


@pytest.mark.parametrize(("language", "steps"), _cases())
def test_ordinary_conversation_resolves_without_handoff(bot, conversation_id, language, steps):
    _turns, problems, transcript = talk(bot, conversation_id, steps)
    print(f"\n[{language}]\n{transcript}")
    assert not problems, "\n".join(problems) + "\n\n" + transcript
    tracker = bot.tracker(conversation_id)
    assert tracker.open_ticket_id is None
    assert not any(e.name == "handoff" for e in events_of(bot, conversation_id, ActionExecuted))


# --------------------------------------------------------------------------- flows complete
ORDER_STATUS_FLOW = {
    "en": ("where is my parcel?", "shipped"),
    "ru": ("где моя посылка?", "отправлен"),
    "hy": ("որտե՞ղ է իմ ծանրոցը", "ուղարկված է"),
    "ky": ("посылкам кайда?", "жөнөтүлгөн"),
}


@pytest.mark.parametrize("language", list(ORDER_STATUS_FLOW))
def test_order_status_flow_completes(bot, conversation_id, language):
    question, status = ORDER_STATUS_FLOW[language]
    ask = bot.handle(conversation_id, question)
    transcript = _describe(1, question, ask)
    assert ask.handoff is None, transcript
    assert any(ASKS_ORDER in t for t in ask.texts), transcript
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form == "order_status_form", transcript
    assert tracker.requested_slot == "order_id", transcript

    answer = bot.handle(conversation_id, "NW-123456")
    transcript += "\n" + _describe(2, "NW-123456", answer)
    print(f"\n[{language}]\n{transcript}")
    assert answer.handoff is None, transcript
    final = "\n".join(answer.texts)
    assert "NW-123456" in final, transcript
    assert "DHL" in final, transcript
    assert "https://track.example.com/dhl/JJD0140123456" in final, transcript
    assert status in final, transcript  # the status word in the customer's language
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form is None
    assert tracker.requested_slot is None
    assert tracker.slots["order_id"] == "NW-123456"
    assert tracker.slots["carrier"] == "DHL"
    assert tracker.slots["tracking_link"] == "https://track.example.com/dhl/JJD0140123456"
    assert tracker.slots["order_state"] == status
    names = [e.name for e in events_of(bot, conversation_id, ActionExecuted)]
    assert "action_lookup_order" in names
    assert "handoff" not in names


RETURN_FLOW = {
    "en": (["I want to return something", "NW-111222", "coffee grinder", "it's too loud"],
           "return"),
    "ru": (["Хочу вернуть товар", "NW-111222", "кофемолка", "слишком громко шумит"], "возврат"),
    "hy": (["Ուզում եմ վերադարձնել ապրանքը", "NW-111222", "սրճաղաց", "շատ աղմկոտ է"],
           "վերադարձ"),
    "ky": (["Товарды кайтаргым келет", "NW-111222", "кофе майдалагыч", "өтө катуу үн чыгарат"],
           "кайтаруу"),
}


@pytest.mark.parametrize("language", list(RETURN_FLOW))
def test_return_flow_completes(bot, conversation_id, language):
    messages, word = RETURN_FLOW[language]
    transcript = ""
    asked = ("order_id", "return_item", "return_reason")
    turns = []
    for number, (text, slot) in enumerate(zip(messages[:3], asked), 1):
        turn = bot.handle(conversation_id, text)
        turns.append(turn)
        transcript += _describe(number, text, turn) + "\n"
        assert turn.handoff is None, transcript
        tracker = bot.tracker(conversation_id)
        assert tracker.active_form == "return_form", transcript
        assert tracker.requested_slot == slot, transcript
    last = bot.handle(conversation_id, messages[3])
    transcript += _describe(4, messages[3], last)
    print(f"\n[{language}]\n{transcript}")
    assert last.handoff is None, transcript
    assert any(ASKS_ORDER in t for t in turns[0].texts), transcript
    final = "\n".join(last.texts)
    label = re.search(r"RL-111222-[0-9A-F]{4}", final)
    assert label is not None, transcript
    assert "NW-111222" in final, transcript
    assert word.casefold() in final.casefold(), transcript  # answered in the customer's language
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form is None
    assert tracker.requested_slot is None
    assert tracker.slots["return_label"] == label.group(0)
    assert tracker.slots["order_id"] == "NW-111222"
    assert tracker.slots.get("return_item") is None  # cleared by action_create_return
    assert tracker.slots.get("return_reason") is None
    filled = {e.name: e.value for e in events_of(bot, conversation_id, SlotSet)
              if e.name in ("return_item", "return_reason") and e.value is not None}
    assert filled["return_item"] == messages[2]
    assert filled["return_reason"] == messages[3]
    names = [e.name for e in events_of(bot, conversation_id, ActionExecuted)]
    assert "action_create_return" in names
    assert "handoff" not in names


def test_the_same_return_gives_the_same_label_reference(bot):
    """The reference depends on the order, item and reason only (case and spacing aside)."""
    first, _, t1 = talk(bot, "conv-label-1", list(RETURN_FLOW["en"][0]))
    second, _, t2 = talk(bot, "conv-label-2", ["i want to return something", "nw111222",
                                               "Coffee  Grinder", "IT'S TOO LOUD"])
    a = re.search(r"RL-\d{6}-[0-9A-F]{4}", "\n".join(first[-1].texts))
    b = re.search(r"RL-\d{6}-[0-9A-F]{4}", "\n".join(second[-1].texts))
    assert a and b, t1 + "\n\n" + t2
    assert a.group(0) == b.group(0)


# --------------------------------------------------------------------------- form behaviour
@pytest.mark.parametrize(("language", "start"), [
    ("en", "where's my order?"), ("ru", "где мой заказ?"),
    ("hy", "որտե՞ղ է իմ պատվերը"), ("ky", "заказым кайда?"),
], ids=["en", "ru", "hy", "ky"])
def test_invalid_order_number_is_explained_and_asked_again(bot, conversation_id, language,
                                                           start):
    talk(bot, conversation_id, [start])
    turn = bot.handle(conversation_id, "NW12")
    transcript = _describe(2, "NW12", turn)
    assert turn.handoff is None, transcript
    assert turn.action == "order_status_form", transcript
    # the explanation (NW + 6 digits, like NW-123456) and the question again
    assert len(turn.texts) >= 2, transcript
    assert all(ASKS_ORDER in t for t in turn.texts), transcript
    assert "6" in turn.texts[0], transcript
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form == "order_status_form"
    assert tracker.requested_slot == "order_id"
    assert tracker.slots.get("order_id") is None
    # a good number afterwards completes the form
    done = bot.handle(conversation_id, "NW-123456")
    assert "JJD0140123456" in "\n".join(done.texts), _describe(3, "NW-123456", done)
    assert bot.tracker(conversation_id).active_form is None


@pytest.mark.parametrize(("language", "messages"), [
    ("en", ["I want to return my shoes", "NW-123456", "never mind", "yes"]),
    ("ru", ["хочу вернуть кроссовки", "NW-123456", "не надо", "да"]),
    ("hy", ["ուզում եմ վերադարձնել կոշիկները", "NW-123456", "պետք չէ", "այո"]),
    ("ky", ["кроссовканы кайтаргым келет", "NW-123456", "керек эмес", "ооба"]),
], ids=["en", "ru", "hy", "ky"])
def test_never_mind_then_yes_leaves_the_form(bot, conversation_id, language, messages):
    turns, problems, transcript = talk(bot, conversation_id, messages)
    assert not problems, "\n".join(problems) + "\n\n" + transcript
    assert turns[1].action == "return_form", transcript
    assert turns[2].action == "form_stop_confirm", transcript
    assert turns[3].action == "form_stopped", transcript
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form is None
    assert tracker.requested_slot is None
    names = [e.name for e in events_of(bot, conversation_id, ActionExecuted)]
    assert "action_create_return" not in names
    # the conversation goes on normally afterwards
    after = bot.handle(conversation_id, {"en": "thanks", "ru": "спасибо",
                                         "hy": "շնորհակալություն", "ky": "рахмат"}[language])
    assert after.handoff is None and after.action != "return_form", _describe(5, "thanks", after)


def test_never_mind_then_no_continues_the_form(bot, conversation_id):
    turns, problems, transcript = talk(bot, conversation_id, [
        "I want to return something", "never mind", ("no", ASKS_ORDER),
        "NW-250118", "smartwatch", ("screen is scratched", "RL-250118-")])
    assert not problems, "\n".join(problems) + "\n\n" + transcript
    assert turns[2].action == "return_form", transcript
    assert bot.tracker(conversation_id).active_form is None


@pytest.mark.parametrize(("language", "start", "question"), [
    pytest.param("en", "where is my parcel", "how much is delivery?", id="en"),
    pytest.param("ru", "где моя посылка", "сколько стоит доставка?", id="ru"),
    # an expected failure until the multilingual encoder (issue 12): 'որտեղ է ծանրոցս' was
    # not understood (order_status 0.11) and the form never started
    pytest.param("hy", "որտեղ է ծանրոցս", "որքա՞ն արժե առաքումը", id="hy"),
    pytest.param("ky", "посылкам кайда", "жеткирүү канча турат?", id="ky"),
])
def test_side_question_is_answered_and_the_form_asks_again(bot, conversation_id, language,
                                                           start, question):
    talk(bot, conversation_id, [start])
    turn = bot.handle(conversation_id, question)
    transcript = _describe(2, question, turn)
    assert turn.handoff is None, transcript
    assert len(turn.texts) >= 2, transcript
    assert DELIVERY_COST in turn.texts[0], transcript  # the answer ...
    assert ASKS_ORDER in turn.texts[-1], transcript  # ... and the question again
    tracker = bot.tracker(conversation_id)
    assert tracker.active_form == "order_status_form"
    assert tracker.requested_slot == "order_id"
    assert tracker.slots.get("order_id") is None


def test_side_question_in_the_return_form_keeps_what_was_given(bot, conversation_id):
    turns, problems, transcript = talk(bot, conversation_id, [
        "i'd like to return an item", "NW-772310",
        "do I have to pay for the return shipping?",
        "sunglasses", ("changed my mind", "RL-772310-")])
    assert not problems, "\n".join(problems) + "\n\n" + transcript
    assert len(turns[2].texts) >= 2, transcript
    assert bot.tracker(conversation_id).active_form is None
