"""Tokenizer, BM25 and character n-gram similarity of the FAQ index."""
from __future__ import annotations

import math

import numpy as np
import pytest

from supportbot.kb.lexical import BM25_B, BM25_K1, Bm25, CharTfidf
from supportbot.kb.text import language_fit, script_of, words


def test_words_handle_latin_cyrillic_armenian():
    assert words("Hello, World! 24/7") == ["hello", "world", "24", "7"]
    assert words("Ёлка, Кеңсеңер?") == ["елка", "кеңсеңер"]
    assert words("Ինչպե՞ս կապվել") == ["ինչպես", "կապվել"]  # ՞ sits inside the word


def test_bm25_matches_the_okapi_formula():
    docs = ["a b", "a c c", "d"]
    bm25 = Bm25.fit(docs)
    n, avgdl = 3, 2.0

    def idf(df):
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def term(tf, dl, df):
        return idf(df) * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl))

    total = idf(1) + idf(1)  # query "c d": both words occur in one document
    expected = [0.0, term(2, 3, 1) / total, term(1, 1, 1) / total]
    assert np.allclose(bm25.scores("c d"), expected, atol=1e-6)


def test_bm25_unknown_words_lower_the_score_and_scores_stay_in_unit_interval():
    bm25 = Bm25.fit(["reset my password", "opening hours", "password"])
    known, diluted = bm25.scores("password"), bm25.scores("password zebra")
    assert diluted[0] < known[0] and diluted[2] < known[2]
    assert known.max() <= 1.0 and known.min() >= 0.0
    assert not bm25.scores("zebra").any() and not bm25.scores("?!").any()


def test_char_ngrams_match_inflected_forms():
    char = CharTfidf.fit(["потерял карту", "сколько стоит доставка", "քարտը կորել է"])
    ru = char.scores("карта потерялась")
    assert ru.argmax() == 0 and ru[0] > 0.3 and ru[1] < 0.1
    hy = char.scores("քարտ")
    assert hy.argmax() == 2 and hy[2] > 0.2


@pytest.mark.parametrize("klass", ["bm25", "char"])
def test_lexical_state_round_trips_through_arrays(klass):
    docs = ["reset my password", "opening hours", "Сколько стоит доставка?"]
    if klass == "bm25":
        model = Bm25.fit(docs)
        arrays, terms = model.to_arrays()
        copy = Bm25.from_arrays(arrays, terms)
    else:
        model = CharTfidf.fit(docs)
        copy = CharTfidf.from_arrays(model.to_arrays(), model.ngrams, model.n_features)
    for query in ["password reset", "доставка", "nothing here"]:
        assert np.array_equal(model.scores(query), copy.scores(query))


def test_script_detection_and_language_fit():
    assert script_of("Hello") == "latin" and script_of("Привет") == "cyrillic"
    assert script_of("Բարև") == "armenian" and script_of("123") == "other"
    assert language_fit("Картамды кантип бөгөттөйм?", "ky") == 2
    assert language_fit("Картамды кантип бөгөттөйм?", "ru") == 1
    assert language_fit("Как заблокировать карту?", "ru") == 2
    assert language_fit("How?", "hy") == 0 and language_fit("How?", None) == 0
