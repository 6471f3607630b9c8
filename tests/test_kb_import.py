"""`supportbot kb import`: CSV/TSV, Markdown, HTML and QnA Maker FAQs -> data/kb/*.yml that the
project's own KB reader loads unchanged, and that trains into a bot that answers paraphrases."""
from __future__ import annotations

import codecs
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supportbot.cli.app import app
from supportbot.kb.importers import (
    FaqImportError,
    ImportResult,
    dump_kb,
    import_faq,
    import_text,
    write_kb,
)
from supportbot.kb.importers.slug import entry_id, slugify, unique_id
from supportbot.project import load_project
from supportbot.project.types import Project

FIXTURES = Path(__file__).parent / "fixtures" / "kb_import"
PROJECT = {
    "config.yml": "language: en\nnlu:\n  embedding_model: null\n  languages: [en, ru, hy]\n",
    "domain.yml": """\
        version: "3.1"
        intents: [greet, goodbye, thank]
        responses:
          utter_greet:
          - text: Hello! How can I help?
          utter_goodbye:
          - text: Goodbye!
          utter_thank:
          - text: You're welcome!
        """,
    "data/nlu.yml": """\
        version: "3.1"
        nlu:
        - intent: greet
          examples: |
            - hi
            - hello
            - good morning
            - hey there
        - intent: goodbye
          examples: |
            - bye
            - goodbye
            - see you later
        - intent: thank
          examples: |
            - thanks
            - thank you very much
            - cheers
        """,
}
_ID = re.compile(r"[a-z0-9_]+")


def make_project(root: Path, files: dict[str, str] | None = None) -> Path:
    for name, text in {**PROJECT, **(files or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def load_back(result: ImportResult, root: Path) -> Project:
    """Write `result` into a fresh project and load it with the project loader."""
    make_project(root)
    write_kb(root / "data" / "kb" / "imported.yml", dump_kb(result.entries, result.source,
                                                            result.format))
    return load_project(root)


def assert_round_trip(result: ImportResult, root: Path) -> None:
    """The project's KB reader gives back exactly the imported entries, without problems."""
    project = load_back(result, root)
    assert [p for p in project.problems if "imported" in (p.file or "")] == []
    loaded = {e.id: e for e in project.kb}
    assert list(loaded) == [e.id for e in result.entries]
    for entry in result.entries:
        got = loaded[entry.id]
        assert _ID.fullmatch(entry.id), entry.id
        assert got.questions == entry.questions
        assert got.answer.text == entry.answer
        assert {lang: a.text for lang, a in got.translations.items()} == dict(entry.translations)
        assert got.tags == entry.tags
        assert got.url == entry.url


def by_question(result: ImportResult, question: str):
    return next(e for e in result.entries if question in e.questions)


def issue_lines(result: ImportResult, code: str) -> list[int | None]:
    return [i.where.line if i.where else None for i in result.issues if i.code == code]


# ---------------------------------------------------------------- each format, round trip
def test_csv_merges_rows_with_one_answer_and_reports_what_it_skips(tmp_path):
    result = import_faq(FIXTURES / "faq.csv")
    assert result.format == "csv"
    delivery = by_question(result, "How much does delivery cost?")
    assert delivery.questions == ("How much does delivery cost?", "What are your shipping fees?")
    assert delivery.tags == ("delivery", "shipping")
    assert delivery.url == "https://northwind.example/help/delivery"
    assert by_question(result, "Can I pay with PayPal?").answer == (
        "Yes & we also accept Visa and Mastercard.")  # an HTML entity in a plain cell
    assert by_question(result, "Where is my order?").answer == (
        "Track your parcel on our tracking page (https://track.northwind.example).\n"
        "It updates every hour.")
    assert by_question(result, "How do I return an item?").answer == (
        'You can return any item within 30 days:\n\n- open My orders\n'
        '- choose "Return item" and print the label')
    armenian = by_question(result, "Ինչպե՞ս վերադարձնել ապրանքը։")
    assert armenian.id == "inchpes_veradardznel_apranky"
    assert by_question(result, "Сколько стоит доставка?").id == "skolko_stoit_dostavka"
    # the lines (and data rows) of what was skipped: a question repeated with other case and
    # punctuation, an empty answer, an answer without a question
    assert issue_lines(result, "duplicate-question") == [11]
    assert issue_lines(result, "empty-answer") == [12]
    assert issue_lines(result, "empty-question") == [13]
    empty = next(i for i in result.issues if i.code == "empty-answer")
    assert str(empty).startswith(f"{FIXTURES / 'faq.csv'}:12 (row 9): warning:")
    assert "Do you sell gift cards?" in empty.message
    assert result.count("duplicate-answer") == 1
    assert_round_trip(result, tmp_path)


def test_tsv_with_an_id_column_groups_languages_into_translations(tmp_path):
    result = import_faq(FIXTURES / "faq_ids.tsv")
    assert result.format == "tsv"
    assert [e.id for e in result.entries] == ["opening_hours", "contact_phone"]
    hours = result.entries[0]
    assert len(hours.questions) == 4
    assert hours.answer == "We are open Monday to Friday, 8:00–20:00 CET."
    assert set(hours.translations) == {"ru", "hy"}
    assert hours.tags == ("service",)
    assert result.warnings == ()
    assert_round_trip(result, tmp_path)


def test_markdown_headings_become_questions_and_sections_tags(tmp_path):
    result = import_faq(FIXTURES / "faq.md")
    assert result.format == "markdown"
    assert [e.questions[0] for e in result.entries] == [
        "How long does delivery take?", "Сколько идёт доставка?", "How do I return an item?"]
    delivery = result.entries[0]
    assert delivery.tags == ("delivery",)  # the page title (# ...) is no tag
    assert delivery.answer == (
        "Orders inside the EU arrive in 2–4 working days; to other countries allow 5–10 "
        "working days. See delivery times (https://northwind.example/help/delivery-times).")
    returns = result.entries[2]
    assert returns.questions == ("How do I return an item?", "Can I send something back?")
    assert returns.answer.startswith("1. Open My orders and pick the order.\n2. Choose")
    assert "We refund within 5 working days" in returns.answer  # the #### sub-heading's text
    assert issue_lines(result, "empty-answer") == [20]
    assert issue_lines(result, "duplicate-answer") == [34]
    assert issue_lines(result, "duplicate-question") == [44]
    assert_round_trip(result, tmp_path)


def test_markdown_q_and_a_pairs(tmp_path):
    result = import_faq(FIXTURES / "faq_qa.md")
    assert [(e.questions[0], e.tags) for e in result.entries] == [
        ("Can I pay by invoice?", ("payments",)),
        ("Which cards do you accept?", ("payments",)),
        ("Можно ли оплатить наличными?", ("oplata",)),
    ]
    assert result.entries[0].answer == ("Yes, for orders up to 500 EUR. The invoice is due "
                                        "within 14 days.")
    assert result.entries[2].answer == "Нет, мы принимаем только безналичную оплату."
    assert_round_trip(result, tmp_path)


def test_html_json_ld_faqpage_wins_over_the_visible_markup(tmp_path):
    result = import_faq(FIXTURES / "faq.html")
    assert result.format == "html"
    assert [e.questions for e in result.entries] == [
        ("How do I change my delivery address?",),
        ("Terms & conditions: where can I read them?",),
        ("Как изменить адрес доставки?",),
    ]
    address = result.entries[0]
    assert address.answer == (
        "You can change the address until the order ships:\n\n"
        "- open My orders (https://northwind.example/account/orders)\n"
        "- choose Change address\n\nAfter that, contact the carrier.")
    assert address.url == "https://northwind.example/help/faq"
    assert result.entries[1].answer == ("Read them at northwind.example/terms – they were "
                                        "updated on 1 May 2025.")
    assert [i.where.detail for i in result.issues if i.code == "empty-answer" and i.where] == [
        "JSON-LD question 4"]
    assert_round_trip(result, tmp_path)


def test_html_details_and_definition_lists(tmp_path):
    result = import_faq(FIXTURES / "faq_details.html")
    password = result.entries[0]
    assert password.questions == ("I forgot my password — what now?",)
    assert password.answer == (
        "Click Forgot password? on the login page (https://northwind.example/help/login) and "
        "follow the link we email you.\n\nThe link is valid for 24 hours.")
    assert password.url == "https://northwind.example/help/#reset-password"
    assert password.tags == ("your_account",)
    privacy = by_question(result, "What data do you store about me?")
    assert privacy.questions == ("What data do you store about me?",
                                 "Which personal data do you keep?")  # two <dt>, one <dd>
    assert privacy.tags == ("privacy",)
    newsletter = by_question(result, "How do I unsubscribe from the newsletter?")
    assert newsletter.answer == ('Click "Unsubscribe" at the bottom of any newsletter, or write '
                                 "to privacy@northwind.example.")
    assert issue_lines(result, "empty-answer") == [19]
    assert not any("Call us" in e.answer for e in result.entries)  # the footer
    assert result.count("duplicate-answer") == 0
    assert_round_trip(result, tmp_path)


def test_html_headings_followed_by_paragraphs(tmp_path):
    result = import_faq(FIXTURES / "faq_headings.html")
    assert [(e.id, e.questions[0]) for e in result.entries] == [
        ("kak_otsledit_zakaz", "Как отследить заказ?"),
        ("mozhno_li_izmenit_zakaz", "Можно ли изменить заказ?"),
        ("what_payment_methods_do_you_accept", "What payment methods do you accept?"),
    ]
    assert result.entries[1].answer == ("Да, пока он не передан на склад:\n\n"
                                        "1. откройте заказ;\n2. нажмите «Изменить».")
    assert result.entries[2].answer == "Visa, Mastercard, PayPal & invoice."
    assert_round_trip(result, tmp_path)


def test_qnamaker_export(tmp_path):
    result = import_faq(FIXTURES / "qnamaker.tsv")
    assert result.format == "qnamaker"
    cancel = result.entries[0]
    assert cancel.questions == ("How do I cancel my order?", "Can I cancel an order?")  # QnaId 1
    assert cancel.answer == ("You can cancel an order until it ships:\n\n- open My orders\n"
                             "- choose Cancel order\n\n"
                             "See cancellations (https://northwind.example/help/cancel).")
    assert cancel.tags == ("orders", "audience:customers")
    assert cancel.url == "https://northwind.example/help/cancel"
    russian = by_question(result, "Как отменить заказ?")
    assert russian.answer.startswith("Заказ можно отменить") and russian.url is None
    armenia = by_question(result, "Do you ship to Armenia?")
    assert armenia.questions == ("Do you ship to Armenia?", "Is delivery to Armenia possible?")
    assert issue_lines(result, "duplicate-answer") == [6]
    assert issue_lines(result, "duplicate-question") == [7]
    assert issue_lines(result, "empty-answer") == [8]
    assert result.count("prompts") == 1
    assert_round_trip(result, tmp_path)


def test_qnamaker_metadata_language_makes_a_translation():
    text = ("Question\tAnswer\tSource\tMetadata\tQnaId\n"
            "Do you ship to Kyrgyzstan?\tYes, in 7 days.\tEditorial\tcategory:delivery\t7\n"
            "Доставляете в Кыргызстан?\tДа, за 7 дней.\tEditorial\tlanguage:ru\t7\n")
    result = import_text(text, "kb.tsv", "qnamaker")
    (entry,) = result.entries
    assert entry.answer == "Yes, in 7 days." and dict(entry.translations) == {"ru": "Да, за 7 дней."}


# ---------------------------------------------------------------- details
def test_format_detection_from_extension_and_content(tmp_path):
    tsv = tmp_path / "export.txt"
    tsv.write_text("Question\tAnswer\tSource\tMetadata\nHi?\tHello.\tEditorial\t\n")
    assert import_faq(tsv).format == "qnamaker"
    page = tmp_path / "saved"
    page.write_text("<!DOCTYPE html><html><body><details><summary>Q?</summary>A.</details>"
                    "</body></html>")
    assert import_faq(page).format == "html"
    semicolons = tmp_path / "faq.csv"
    semicolons.write_text("sep=;\nFrage;Antwort;Kategorie\nWo ist mein Paket?;Im Versand.;a, b\n")
    result = import_faq(semicolons)
    assert result.entries[0].questions == ("Wo ist mein Paket?",)
    assert result.entries[0].tags == ("a", "b")
    assert import_faq(semicolons, "csv").format == "csv"


def test_ids_are_ascii_unique_and_stable():
    assert slugify("How do I return an item?") == "how_do_i_return_an_item"
    assert slugify("Кыргызстанга жеткиресиздерби?") == "kyrgyzstanga_zhetkiresizderbi"
    assert slugify("Ինչպե՞ս վճարել") == "inchpes_vcharel"
    assert slugify("Crème brûlée?") == "creme_brulee"
    assert len(slugify("word " * 40)) <= 48
    assert entry_id("配送需要多长时间？") == entry_id("配送需要多长时间？")
    assert re.fullmatch(r"faq_[0-9a-f]{8}", entry_id("配送需要多长时间？"))
    taken = {"delivery"}
    assert [unique_id("delivery", taken) for _ in range(2)] == ["delivery_2", "delivery_3"]
    text = "question,answer\nWhat is X?,One.\nWhat is X!,Two.\nwhat is x,Three.\nWhat is X.,4\n"
    ids = [e.id for e in import_text(text, "x.csv", "csv").entries]
    assert ids == ["what_is_x"]  # the other three are the same question (case, punctuation)
    text = "question,answer\nWhat is X?,One.\nWhat is X now?,Two.\nWhat-is-X now,Three.\n"
    first = [e.id for e in import_text(text, "x.csv", "csv").entries]
    assert first == ["what_is_x", "what_is_x_now", "what_is_x_now_2"]
    assert first == [e.id for e in import_text(text, "x.csv", "csv").entries]


def test_ids_taken_elsewhere_in_the_project_are_avoided():
    text = "id,question,answer\ndelivery_cost,How much is shipping?,4.99 EUR.\n"
    result = import_text(text, "x.csv", "csv", taken_ids={"delivery_cost"})
    assert [e.id for e in result.entries] == ["delivery_cost_2"]
    assert result.count("id") == 1


def test_same_answer_under_two_explicit_ids_is_reported_not_merged():
    text = "id,question,answer\na,Question one?,Same.\nb,Question two?,Same.\n"
    result = import_text(text, "x.csv", "csv")
    assert [e.id for e in result.entries] == ["a", "b"]
    assert [i.level for i in result.issues if i.code == "duplicate-answer"] == ["warning"]


def test_answers_keep_paragraphs_bullets_and_links():
    text = textwrap.dedent("""\
        ## How do I pay?

        We accept:

        * Visa
        * PayPal, see [our payment page](https://shop.example/pay)

        Questions? Mail <help@shop.example>.
        """)
    (entry,) = import_text(text, "faq.md", "markdown").entries
    assert entry.answer == ("We accept:\n\n- Visa\n- PayPal, see our payment page "
                            "(https://shop.example/pay)\n\nQuestions? Mail help@shop.example.")


# ---------------------------------------------------------------- errors
def test_unreadable_input_names_the_file(tmp_path):
    with pytest.raises(FaqImportError, match="missing.csv: no such file"):
        import_faq(tmp_path / "missing.csv")
    workbook = tmp_path / "faq.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    with pytest.raises(FaqImportError, match=r"faq\.xlsx is a ZIP archive .*CSV"):
        import_faq(workbook)
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("question,answer\nКогда?,Завтра.\n".encode("cp1251"))
    with pytest.raises(FaqImportError, match=r"legacy\.csv is not UTF-8 .*--encoding"):
        import_faq(legacy)
    assert import_faq(legacy, encoding="cp1251").entries[0].answer == "Завтра."
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("Frage Eins,Antwort Eins\nWo?,Hier.\n")
    with pytest.raises(FaqImportError, match=r"no_header\.csv: the header has no question and "
                                             r"no answer column \(found 'Frage Eins'"):
        import_faq(no_header)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(FaqImportError, match=r"empty\.tsv is empty"):
        import_faq(empty)
    page = tmp_path / "about.html"
    page.write_text("<html><body><p>About us</p></body></html>")
    with pytest.raises(FaqImportError, match=r"no FAQ entries found in .*about\.html"):
        import_faq(page)


def test_utf16_excel_text_is_read(tmp_path):
    path = tmp_path / "excel.tsv"
    path.write_bytes(codecs.BOM_UTF16_LE + "question\tanswer\nԲարև?\tՈղջույն։\n".encode("utf-16-le"))
    assert import_faq(path).entries[0].questions == ("Բարև?",)


# ---------------------------------------------------------------- CLI
def run(*args: str):
    return CliRunner().invoke(app, ["kb", "import", *args])


def test_cli_writes_the_default_output_and_refuses_to_overwrite(tmp_path):
    root = make_project(tmp_path / "bot")
    result = run(str(FIXTURES / "faq_ids.tsv"), "--project", str(root))
    assert result.exit_code == 0, result.output
    target = root / "data" / "kb" / "faq_ids.yml"
    assert "entries   2 (5 questions, 2 translations)" in result.output
    assert f"{target} (written)" in result.output
    written = target.read_text(encoding="utf-8")
    assert written.startswith('version: "3.1"\n')
    assert [e.id for e in load_project(root).kb] == ["opening_hours", "contact_phone"]

    target.write_text("# edited by hand\n", encoding="utf-8")
    again = run(str(FIXTURES / "faq_ids.tsv"), "--project", str(root))
    assert again.exit_code == 1
    assert "already exists; pass --force" in again.output
    assert target.read_text(encoding="utf-8") == "# edited by hand\n"
    forced = run(str(FIXTURES / "faq_ids.tsv"), "--project", str(root), "--force")
    assert forced.exit_code == 0, forced.output
    assert target.read_text(encoding="utf-8") == written


def test_cli_dry_run_previews_and_writes_nothing(tmp_path):
    out = tmp_path / "kb.yml"
    result = run(str(FIXTURES / "faq.csv"), "--dry-run", "--preview", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert "- id: how_much_does_delivery_cost" in result.output
    assert "- id: skolko_stoit_dostavka" in result.output
    assert "how_do_i_return_an_item" not in result.output
    assert "# ... and 4 more entries" in result.output
    assert "(row 9): warning: question 'Do you sell gift cards?' has no answer" in result.output
    assert "skipped   3 (1 empty answer, 1 empty question, 1 duplicate question)" in result.output
    assert "(not written: dry run)" in result.output


def test_cli_errors_exit_1_with_the_file_named(tmp_path):
    result = run(str(tmp_path / "nope.md"))
    assert result.exit_code == 1
    assert "error:" in result.output and "nope.md: no such file" in result.output
    result = run(str(FIXTURES / "faq.csv"), "--format", "xlsx")
    assert result.exit_code == 1 and "unknown format 'xlsx'" in result.output
    wrong = run(str(FIXTURES / "faq.md"), "--format", "csv", "--dry-run")
    assert wrong.exit_code == 1 and "faq.md: the header has no question" in wrong.output


# ---------------------------------------------------------------- trains and answers
@pytest.fixture(scope="module")
def imported_bot(tmp_path_factory: pytest.TempPathFactory):
    """A small project whose whole KB was imported (CSV, QnA Maker, HTML), trained once."""
    import supportbot

    root = make_project(tmp_path_factory.mktemp("kb-import") / "bot")
    for name in ("faq.csv", "qnamaker.tsv", "faq_details.html"):
        result = run(str(FIXTURES / name), "--project", str(root))
        assert result.exit_code == 0, result.output
    model = supportbot.train(root, root / "models", cache_dir=False)
    return supportbot.Bot.load(model, queue=f"sqlite:///{root / 'handoff.db'}")


@pytest.mark.parametrize(("query", "expected"), [
    ("can I still cancel the order I placed?", "how_do_i_cancel_my_order"),
    ("do you deliver to Armenia", "do_you_ship_to_armenia"),
    ("how to stop the newsletter emails", "how_do_i_unsubscribe_from_the_newsletter"),
    ("what data do you keep on me", "what_data_do_you_store_about_me"),
    ("Ինչպե՞ս կարող եմ վերադարձնել ապրանքը", "inchpes_veradardznel_apranky"),
])
def test_imported_kb_trains_and_finds_paraphrases(imported_bot, query, expected):
    hits = imported_bot.kb.search(query)
    assert hits and hits[0].entry_id == expected, [(h.entry_id, h.score) for h in hits[:3]]


def test_imported_kb_answers_a_conversation(imported_bot):
    turn = imported_bot.handle("kb-import-1", "do you deliver to Armenia")
    assert turn.action == "kb_answer", (turn.action, turn.reason)
    assert turn.kb.entry_id == "do_you_ship_to_armenia"
    assert turn.replies[0].text == "Yes, delivery to Armenia takes 5-10 working days."
