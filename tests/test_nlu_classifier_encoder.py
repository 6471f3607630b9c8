"""The intent classifier with the real sentence encoder (all-MiniLM-L6-v2), on a handful of texts."""
from __future__ import annotations

import numpy as np
import pytest

from supportbot.embeddings import Encoder
from supportbot.nlu.pipeline import NluModel
from supportbot.project.types import Example, NluSettings

TEXTS = ["how do I reset my card PIN?", "Где моя карта?", "Ո՞րտեղ է իմ քարտը",
         "what's the exchange rate for euros today?", "hi", ""]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Encoder:
    return Encoder(cache_dir=tmp_path_factory.mktemp("emb"))


def test_fast_path_matches_sentence_transformers(encoder, tmp_path):
    assert encoder.use_fast
    reference = Encoder(cache_dir=tmp_path, fast=False)
    fast = encoder.encode(TEXTS, use_cache=False)
    single = np.vstack([encoder.encode([t], use_cache=False) for t in TEXTS])
    slow = reference.encode(TEXTS, use_cache=False)
    assert fast.shape == (len(TEXTS), 384) and fast.dtype == np.float32
    norms = np.linalg.norm(slow, axis=1)
    assert np.allclose(np.linalg.norm(fast, axis=1), norms, atol=1e-5)
    # float16-stored weights, float32 math; the unpadded single-text path
    assert np.allclose((fast * slow).sum(axis=1), norms ** 2, atol=1e-4)
    assert np.allclose((single * slow).sum(axis=1), norms ** 2, atol=1e-4)


def test_text_the_model_cannot_read_gets_no_meaningless_vector(encoder):
    """MiniLM maps Armenian words and emoji to [UNK]: their vectors would all be alike, so they
    are scaled down by the share of unknown word pieces (to zero for emoji only)."""
    vectors = encoder.encode(["😡😡😡", "ցտեսություն", "my order 😡", "where is my order?"],
                             use_cache=False)
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[0] == 0.0 and norms[1] == 0.0
    assert 0.5 < norms[2] < 1.0 and norms[3] == pytest.approx(1.0, abs=1e-5)


def test_single_message_is_encoded_once_for_classifier_and_kb(encoder, monkeypatch):
    """Serving encodes one message for the classifier and again for the KB search: the
    second call must reuse the first encoding, and a caller editing its copy changes nothing."""
    calls = []
    real = encoder._encode_uncached

    def counting(texts, batch_size, progress):
        calls.append(list(texts))
        return real(texts, batch_size, progress)

    monkeypatch.setattr(encoder, "_encode_uncached", counting)
    text = "is my new card on its way?"
    first = encoder.encode([text], use_cache=False)
    first[0, :] = 0.0  # the caller's copy, not the remembered vector
    second = encoder.encode([text], use_cache=False)
    assert calls == [[text]]
    assert np.isclose(np.linalg.norm(second[0]), 1.0, atol=1e-5)
    encoder.encode(["something else entirely"], use_cache=False)
    assert len(calls) == 2


def test_classifier_with_embeddings_generalises_to_paraphrases(encoder, tmp_path):
    data = {
        "card_arrival": ["when will my card arrive", "my new card has not come yet",
                         "how long does card delivery take"],
        "exchange_rate": ["what is the exchange rate", "how much is a dollar in euros",
                          "currency conversion rates"],
        "greet": ["hello", "hi there", "good morning"],
    }
    examples = [Example(t, intent) for intent, texts in data.items() for t in texts]
    model = NluModel.train(examples, NluSettings(), encoder=encoder, cache_dir=tmp_path)
    assert model.weights.dense.shape == (384, 3)
    unseen = ["is my card in the post yet?", "convert pounds to yen", "hey!"]
    assert [r.intent for r in model.predict(unseen)] == ["card_arrival", "exchange_rate",
                                                         "greet"]
    model.save(tmp_path / "nlu")
    loaded = NluModel.load(tmp_path / "nlu", encoder=encoder)
    assert np.allclose(loaded.probabilities(unseen), model.probabilities(unseen), atol=1e-6)


def test_nearest_example_evidence_is_consistent_and_survives_saving(encoder, tmp_path):
    from supportbot.nlu.pipeline import with_evidence

    data = {
        "card_arrival": ["when will my card arrive", "my new card has not come yet",
                         "how long does card delivery take", "card still not delivered",
                         "is my card on its way"],
        "exchange_rate": ["what is the exchange rate", "how much is a dollar in euros",
                          "currency conversion rates", "euro to pound rate today",
                          "what rate do you use to convert money"],
        "greet": ["hello", "hi there", "good morning", "hey", "good evening"],
        "out_of_scope": ["tell me a joke", "what's the weather", "who won the match",
                         "recommend a movie", "how tall is everest"],
    }
    examples = [Example(t, intent) for intent, texts in data.items() for t in texts]
    model = NluModel.train(examples, NluSettings(), encoder=encoder, cache_dir=tmp_path)
    index = model.familiar
    assert index is not None and index.n_classes == 4 and len(index) == 15  # in scope only
    texts = ["is my card in the post yet?", "hello", "tell me a joke"]
    familiarity, evidence = index.neighbours(model.space.transform(texts))
    for i, text in enumerate(texts):
        fam, ev = index.one_with_evidence(*model.space.one(text))
        assert fam == pytest.approx(float(familiarity[i]), abs=1e-4)
        assert np.allclose(ev, evidence[i], atol=1e-4)
    greet = model.intents.index("greet")
    oos = model.intents.index("out_of_scope")
    assert evidence[1].argmax() == greet and evidence[1, greet] == pytest.approx(1.0, abs=1e-2)
    assert evidence[:, oos].max() == 0.0  # out-of-scope examples are not indexed ...
    shifted = with_evidence(np.zeros((3, 4), np.float32), evidence, 2.0, oos)
    others = np.delete(evidence, oos, axis=1)  # ... and get a neutral share of the evidence
    assert np.allclose(shifted[:, oos], 2.0 * np.median(others, axis=1))
    assert "neighbour_weight" in model.report
    model.save(tmp_path / "nlu")
    loaded = NluModel.load(tmp_path / "nlu", encoder=encoder)
    assert loaded.neighbour_weight == model.neighbour_weight
    assert np.allclose(loaded.probabilities(texts), model.probabilities(texts), atol=1e-5)
    assert [r.familiarity for r in loaded.predict(texts)] == [r.familiarity
                                                              for r in model.predict(texts)]
