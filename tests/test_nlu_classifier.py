"""Intent classifier: training, calibration, fallback, persistence (tf-idf only: fast)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from supportbot.errors import ModelError
from supportbot.nlu.cv import assign_folds, fold_count
from supportbot.nlu.fallback import (
    AMBIGUOUS,
    DEFAULT_THRESHOLD,
    LOW_CONFIDENCE,
    OUT_OF_SCOPE,
    FallbackPolicy,
    tune_threshold,
)
from supportbot.nlu.pipeline import NluModel
from supportbot.project.types import Example, FallbackSettings, NluSettings

TFIDF = NluSettings(embedding_model=None)

DATA = {
    "greet": ["hello", "hi there", "good morning", "hey", "hello, anybody there?", "hi bot"],
    "goodbye": ["bye", "see you later", "goodbye", "bye bye, thanks", "talk to you later"],
    "lost_card": ["I lost my card", "my card was stolen", "card missing, please block it",
                  "someone stole my bank card", "can't find my card anywhere"],
    "faq/opening_hours": ["when are you open", "what are your opening hours",
                          "what time do you close today"],
    "faq/fees": ["how much does a transfer cost", "what are the fees for a transfer"],
    "out_of_scope": ["what is the weather tomorrow", "tell me a joke", "who won the game",
                     "give me a recipe for pasta", "what is the capital of france"],
}


def examples(data: dict[str, list[str]] = DATA) -> list[Example]:
    return [Example(text, intent) for intent, texts in data.items() for text in texts]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> NluModel:
    return NluModel.train(examples(), TFIDF, cache_dir=tmp_path_factory.mktemp("cache"))


def test_retrieval_intents_are_classified_as_their_base_intent(model):
    assert model.intents == ["faq", "goodbye", "greet", "lost_card", "out_of_scope"]
    assert model.predict(["what are your opening hours"])[0].intent == "faq"


def test_ranking_is_complete_sorted_and_sums_to_one(model):
    for result in model.predict(["hello there", "my card got stolen", "qwerty"]):
        confidences = [r.confidence for r in result.ranking]
        assert sorted(r.name for r in result.ranking) == model.intents
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0, abs=1e-6)
        assert result.confidence == confidences[0]
        assert result.intent == result.ranking[0].name


def test_training_phrases_are_recognised_with_high_confidence(model):
    for result, intent in zip(model.predict(["hello", "goodbye", "I lost my card"]),
                              ["greet", "goodbye", "lost_card"]):
        assert result.intent == intent
        assert not result.fallback
        assert result.confidence > 0.5


def test_calibration_report_comes_from_cross_validation(model):
    report = model.report
    assert report["folds"] == 5 and report["cv_reused"] is False
    assert 0.0 <= report["cv_accuracy"] <= 1.0 and 0.0 <= report["cv_macro_f1"] <= 1.0
    assert report["threshold_source"] == "cross-validation"
    assert report["threshold"] == model.threshold
    assert model.temperature > 0


def test_out_of_scope_prediction_is_a_fallback(model):
    result = model.predict(["what is the weather like tomorrow"])[0]
    assert result.intent == "out_of_scope"
    assert result.fallback and result.fallback_reason == OUT_OF_SCOPE


def test_per_intent_threshold_overrides_the_global_one(tmp_path):
    fb = FallbackSettings(threshold=0.2, per_intent={"greet": 0.999})
    model = NluModel.train(examples(), replace(TFIDF, fallback=fb), cache_dir=tmp_path)
    greet, bye = model.predict(["hello", "goodbye"])
    assert greet.intent == "greet" and greet.fallback
    assert greet.fallback_reason == LOW_CONFIDENCE
    assert bye.intent == "goodbye" and not bye.fallback
    assert model.threshold == 0.2 and model.report["threshold_source"] == "config"


def test_ambiguity_threshold_makes_close_calls_fall_back(tmp_path):
    fb = FallbackSettings(threshold=0.0, ambiguity_threshold=1.0)
    model = NluModel.train(examples(), replace(TFIDF, fallback=fb), cache_dir=tmp_path)
    result = model.predict(["hello"])[0]
    assert result.intent == "greet"
    assert result.fallback and result.fallback_reason == AMBIGUOUS


def test_policy_decisions_follow_rasa_semantics():
    policy = FallbackPolicy(0.5, 0.1, {"greet": 0.9}, "out_of_scope")
    assert policy.decide([("book", 0.8), ("cancel", 0.1)]) is None
    assert policy.decide([("book", 0.4), ("cancel", 0.1)]) == LOW_CONFIDENCE
    assert policy.decide([("book", 0.55), ("cancel", 0.5)]) == AMBIGUOUS
    assert policy.decide([("greet", 0.85), ("bye", 0.05)]) == LOW_CONFIDENCE
    assert policy.decide([("out_of_scope", 0.99), ("bye", 0.01)]) == OUT_OF_SCOPE
    assert policy.decide([("book", 0.7)]) is None


def test_cyrillic_and_armenian_are_classified_through_char_ngrams(tmp_path):
    data = {
        "lost_card": ["я потерял карту", "у меня украли карту", "карта потерялась",
                      "Ես կորցրել եմ քարտս", "իմ քարտը գողացել են"],
        "balance": ["какой у меня баланс", "сколько денег на счёте", "покажи баланс счёта",
                    "որքա՞ն է իմ հաշվի մնացորդը", "ցույց տուր մնացորդը"],
        "greet": ["привет", "здравствуйте", "добрый день", "բարև", "բարև ձեզ"],
    }
    model = NluModel.train(examples(data), TFIDF, cache_dir=tmp_path)
    unseen = {"потеряла карточку": "lost_card", "баланс на счету": "balance",
              "քարտս կորել է": "lost_card", "հաշվի մնացորդ": "balance", "привет всем": "greet"}
    predicted = [r.intent for r in model.predict(list(unseen))]
    assert predicted == list(unseen.values())


def test_save_load_round_trip_gives_identical_predictions(model, tmp_path):
    model.save(tmp_path / "nlu")
    loaded = NluModel.load(tmp_path / "nlu")
    texts = ["hello", "where is my card", "opening hours?", "zzz", "пока"]
    assert np.array_equal(model.probabilities(texts), loaded.probabilities(texts))
    assert [r.fallback_reason for r in model.predict(texts)] == \
        [r.fallback_reason for r in loaded.predict(texts)]
    assert loaded.threshold == model.threshold and loaded.intents == model.intents
    assert {p.suffix for p in (tmp_path / "nlu").iterdir()} == {".json", ".npy"}


def test_training_is_deterministic(tmp_path):
    first = NluModel.train(examples(), TFIDF, cache_dir=tmp_path / "a")
    second = NluModel.train(list(reversed(examples())), TFIDF, cache_dir=tmp_path / "b")
    first.save(tmp_path / "m1")
    second.save(tmp_path / "m2")
    for path in sorted((tmp_path / "m1").iterdir()):
        assert path.read_bytes() == (tmp_path / "m2" / path.name).read_bytes(), path.name


def test_load_refuses_pickled_arrays(model, tmp_path):
    model.save(tmp_path / "nlu")
    np.save(tmp_path / "nlu" / "bias.npy", np.array([{"x": 1}], dtype=object),
            allow_pickle=True)
    with pytest.raises(ModelError, match="retrain"):
        NluModel.load(tmp_path / "nlu")


def test_load_reports_a_missing_model(tmp_path):
    with pytest.raises(ModelError, match="nlu.json"):
        NluModel.load(tmp_path / "nowhere")


def test_retraining_after_a_small_change_reuses_out_of_fold_scores(tmp_path):
    data = {name: texts * 1 for name, texts in DATA.items()}
    base = examples(data)
    NluModel.train(base, TFIDF, cache_dir=tmp_path)
    changed = base + [Example("hiya", "greet")]
    warm = NluModel.train(changed, TFIDF, cache_dir=tmp_path)
    cold = NluModel.train(changed, TFIDF, cache_dir=tmp_path, reuse=False)
    assert warm.report["cv_reused"] is True and cold.report["cv_reused"] is False
    texts = ["hiya", "hello", "my card is gone", "bye"]
    assert [r.intent for r in warm.predict(texts)] == [r.intent for r in cold.predict(texts)]
    assert np.allclose(warm.probabilities(texts), cold.probabilities(texts), atol=0.05)


def test_a_new_intent_forces_full_cross_validation(tmp_path):
    NluModel.train(examples(), TFIDF, cache_dir=tmp_path)
    more = examples() + [Example("thank you", "thanks"), Example("thanks a lot", "thanks")]
    model = NluModel.train(more, TFIDF, cache_dir=tmp_path)
    assert model.report["cv_reused"] is False and model.report["folds"] == 5


def test_tiny_data_and_single_intent_train(tmp_path):
    two_each = {"greet": ["hi", "hello"], "bye": ["bye", "goodbye"], "thanks": ["thanks", "ty"]}
    model = NluModel.train(examples(two_each), TFIDF, cache_dir=tmp_path)
    assert model.predict(["hello"])[0].intent == "greet"
    single = NluModel.train([Example("hi", "greet"), Example("hello", "greet")], TFIDF,
                            cache_dir=tmp_path)
    result = single.predict(["anything at all"])[0]
    assert result.intent == "greet" and result.confidence == pytest.approx(1.0)
    assert single.report["folds"] == 0 and single.threshold == DEFAULT_THRESHOLD
    with pytest.raises(ModelError, match="no NLU training examples"):
        NluModel.train([], TFIDF, cache_dir=tmp_path)


def test_folds_are_stratified_and_stable():
    texts = [f"text {i}" for i in range(40)]
    labels = np.array([i % 4 for i in range(40)])
    folds = assign_folds(texts, labels, 5)
    assert np.array_equal(folds, assign_folds(texts, labels, 5))
    for label in range(4):
        assert sorted(np.bincount(folds[labels == label], minlength=5)) == [2, 2, 2, 2, 2]
    assert fold_count(10_000, 77) == 3 and fold_count(200, 10) == 5
    assert fold_count(100, 1) == 0 and fold_count(3, 2) == 0


def test_threshold_tuning_separates_out_of_scope_from_correct_predictions():
    # three classes, the last one is out_of_scope; OOS examples get flat low-confidence rows
    confident = np.array([[0.9, 0.05, 0.05]] * 20 + [[0.05, 0.9, 0.05]] * 20)
    oos_flat = np.array([[0.45, 0.3, 0.25]] * 10)
    probs = np.vstack([confident, oos_flat])
    y = np.array([0] * 20 + [1] * 20 + [2] * 10)
    choice = tune_threshold(probs, y, ["a", "b", "out_of_scope"], 0.0, oos_index=2)
    assert 0.45 < choice.threshold <= 0.9
    assert choice.out_of_scope_recall == 1.0 and choice.in_scope_accuracy == 1.0


def test_threshold_tuning_without_negatives_keeps_the_default():
    probs = np.array([[0.9, 0.1]] * 10 + [[0.1, 0.9]] * 10)
    y = np.array([0] * 10 + [1] * 10)
    assert tune_threshold(probs, y, ["a", "b"], 0.1).threshold == DEFAULT_THRESHOLD


def test_threshold_tuning_without_out_of_scope_counts_right_against_wrong():
    rows = [[0.9, 0.1]] * 10 + [[0.55, 0.45]] * 10 + [[0.5, 0.5]] * 3 + [[0.95, 0.05]]
    probs = np.array(rows)
    y = np.array([0] * 20 + [1] * 4)  # the last four are predicted 0 but are 1: wrong
    choice = tune_threshold(probs, y, ["a", "b"], 0.0)
    assert 0.5 < choice.threshold <= 0.55
    assert choice.in_scope_accuracy == pytest.approx(20 / 24)
    assert choice.error_rejection == pytest.approx(3 / 4)


def test_familiarity_threshold_is_tuned_when_confidence_cannot_tell():
    # out-of-scope examples look confident (0.9) but are unlike the training data (familiarity
    # 0.2); in-scope examples are familiar (0.6-0.9): only a familiarity threshold separates them
    probs = np.array([[0.9, 0.05, 0.05]] * 40 + [[0.9, 0.05, 0.05]] * 10)
    y = np.array([0] * 40 + [2] * 10)
    familiarity = np.concatenate([np.linspace(0.6, 0.9, 40), np.full(10, 0.2)])
    choice = tune_threshold(probs, y, ["a", "b", "out_of_scope"], 0.0, oos_index=2,
                            familiarity=familiarity)
    assert 0.2 < choice.familiarity_threshold <= 0.6
    assert choice.out_of_scope_recall == 1.0 and choice.in_scope_accuracy == 1.0
    # given in the config, it is kept; without familiarity data it stays off
    assert tune_threshold(probs, y, ["a", "b", "out_of_scope"], 0.0, oos_index=2,
                          familiarity=familiarity,
                          familiarity_threshold=0.0).familiarity_threshold == 0.0
    assert tune_threshold(probs, y, ["a", "b", "out_of_scope"], 0.0,
                          oos_index=2).familiarity_threshold == 0.0


def test_familiarity_stays_at_the_novelty_floor_when_it_does_not_help():
    probs = np.array([[0.9, 0.1]] * 20 + [[0.45, 0.55]] * 5)
    y = np.array([0] * 20 + [0] * 5)  # the last five are wrong, and confidence already says so
    familiarity = np.concatenate([np.linspace(0.5, 0.9, 20), np.linspace(0.3, 0.9, 5)])
    choice = tune_threshold(probs, y, ["a", "b"], 0.0, familiarity=familiarity)
    # below the least familiar correct example: no correct answer is lost to familiarity
    assert 0.0 < choice.familiarity_threshold < 0.5
    assert choice.in_scope_accuracy == pytest.approx(20 / 25)


def test_familiarity_index_single_and_batch_paths_agree(model):
    from supportbot.nlu.familiarity import FamiliarityIndex

    assert model.familiar is not None and len(model.familiar) > 0
    texts = ["hello there", "my card got stolen yesterday", "пока", "", "zxqv wkkk"]
    batch = model.familiar.scores(model.space.transform(texts))
    single = [model.familiar.one(*model.space.one(t)) for t in texts]
    assert np.allclose(batch, single, atol=1e-4)
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    # a training example is as familiar as it gets; its reading is unchanged by a round trip
    training_text = "hi there"
    assert model.familiar.one(*model.space.one(training_text)) == pytest.approx(1.0, abs=1e-3)
    assert isinstance(FamiliarityIndex.build(model.space.transform(texts)), FamiliarityIndex)


def test_single_text_path_matches_the_batch_path(model):
    texts = ["hello there", "my card got stolen yesterday", "пока", "", "!!!"]
    batch = model.probabilities(texts)
    single = np.vstack([model.probabilities([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-6)
