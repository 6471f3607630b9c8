"""The knowledge base format under data/kb/ (any file with a top-level `kb:`)."""
from __future__ import annotations

import textwrap
from pathlib import Path

from supportbot.project import load_project, validate_project

BASE = {
    "config.yml": "language: en\nnlu:\n  embedding_model: null\n  languages: [en, ru, hy]\n",
    "domain.yml": "intents: [human_handoff]\n",
    "data/nlu.yml": "nlu:\n- intent: human_handoff\n  examples: |\n    - a human\n"
                    "    - operator please\n",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def with_kb(tmp_path: Path, kb: str, name: str = "data/kb/faq.yml") -> Path:
    return write(tmp_path, {**BASE, name: kb})


def test_full_entry_and_short_entry(tmp_path):
    root = with_kb(tmp_path, """\
        version: "3.1"
        kb:
        - id: delivery_cost
          questions:
          - How much does delivery cost?
          - Сколько стоит доставка?
          answer: "Standard delivery costs 4.99."
          tags: [delivery, money]
          url: https://shop.example/help/delivery
        - id: returns
          questions: ["Can I return an item?"]
          answer:
            text: Within 30 days.
            buttons:
            - {title: Talk to a person, payload: /human_handoff}
            languages:
              ru: В течение 30 дней.
              hy:
                text: 30 օրվա ընթացքում։
                buttons: [{title: Օպերատոր, payload: /human_handoff}]
        """)
    cost, returns = load_project(root).kb
    assert cost.id == "delivery_cost" and len(cost.questions) == 2
    assert cost.answer.text == "Standard delivery costs 4.99."
    assert cost.tags == ("delivery", "money") and cost.url.endswith("/delivery")
    assert (cost.source.file, cost.source.line) == ("data/kb/faq.yml", 3)
    assert returns.answer.buttons[0].payload == "/human_handoff"
    assert returns.translations["ru"].text == "В течение 30 дней."
    assert returns.answer_for("hy").buttons[0].title == "Օպերատոր"
    assert returns.answer_for("de") is returns.answer


def test_kb_may_stand_in_any_data_file_next_to_other_keys(tmp_path):
    root = write(tmp_path, {**BASE, "data/nlu.yml": BASE["data/nlu.yml"] +
                            "kb:\n- id: a\n  questions: ['q?']\n  answer: yes\n"})
    assert [e.id for e in load_project(root).kb] == ["a"]


def test_kb_problems_are_errors_with_lines(tmp_path):
    root = with_kb(tmp_path, """\
        kb:
        - id: empty_answer
          questions: ["What?"]
          answer: "  "
        - id: no_questions
          answer: Something.
        - questions: ["Who?"]
          answer: Nobody.
        - id: dup
          questions: ["One?"]
          answer: One.
        - id: dup
          questions: ["Two?"]
          answer: Two.
        - id: typo
          questons: ["Three?"]
          answer: Three.
        - id: bad_lang
          questions: ["Four?"]
          answer:
            text: Four.
            languages:
              Russian: Четыре.
        - id: text_missing
          questions: ["Five?"]
          answer: {buttons: []}
        """)
    problems = [p for p in validate_project(root) if p.severity == "error"]
    found = {(p.code, p.line) for p in problems}
    assert ("kb-answer", 4) in found
    assert ("kb-questions", 5) in found
    assert ("kb-id", 7) in found
    assert ("duplicate-kb-id", 12) in found
    assert ("unknown-key", 16) in found
    assert ("language", 23) in found
    assert ("kb-answer", 26) in found
    typo = next(p for p in problems if p.code == "unknown-key")
    assert "did you mean 'questions'" in typo.hint
    dup = next(p for p in problems if p.code == "duplicate-kb-id")
    assert "data/kb/faq.yml:9" in dup.message


def test_kb_must_be_a_list(tmp_path):
    root = with_kb(tmp_path, "kb:\n  id: x\n  questions: [a]\n  answer: b\n")
    [p] = [p for p in validate_project(root) if p.severity == "error"]
    assert p.code == "wrong-type" and p.line == 1


def test_question_under_two_entries_and_unknown_translation_language_warn(tmp_path):
    root = with_kb(tmp_path, """\
        kb:
        - id: a
          questions: ["Where is my parcel?"]
          answer: A.
        - id: b
          questions: ["where is my  parcel?"]
          answer:
            text: B.
            languages: {de: Bee.}
        """)
    warnings = load_project(root).warnings
    assert any(w.code == "duplicate-kb-question" and w.line == 5 for w in warnings)
    assert any(w.code == "language" and "'de'" in w.message for w in warnings)


def test_kb_id_shared_by_a_file_entry_and_a_retrieval_intent_is_an_error(tmp_path):
    root = with_kb(tmp_path, "kb:\n- id: hours\n  questions: ['When open?']\n  answer: 8-20\n")
    write(root, {"data/faq.yml": """\
        nlu:
        - intent: faq/hours
          examples: |
            - opening hours
        responses:
          utter_faq/hours:
          - text: 8 to 20
        """})
    problems = validate_project(root)
    assert any(p.code == "duplicate-kb-id" and p.severity == "error" for p in problems)
