"""Reading a bot project is reading untrusted files: no symlinks out of the project, only
regular files, a cap on YAML alias expansion, types checked, an upfront intent limit; any YAML
either loads or is a ProjectError with file:line (security findings 5, 6 and 10)."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportbot.errors import ModelError, ProjectError
from supportbot.project import load_project, validate_project

NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: bye
  examples: |
    - bye
    - see you
"""
DOMAIN = """\
version: "3.1"
intents: [greet, bye]
responses:
  utter_greet:
  - text: Hello!
"""
CONFIG = """\
language: en
nlu:
  embedding_model: null
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "config.yml").write_text(CONFIG)
    (root / "domain.yml").write_text(DOMAIN)
    (root / "data" / "nlu.yml").write_text(NLU)
    return root


def _errors(root: Path) -> list:
    return [p for p in validate_project(root) if p.severity == "error"]


def _validate_within(root: Path, seconds: float) -> list:
    """validate_project in a thread that must finish in time (a FIFO used to hang it)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(validate_project(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"validate did not finish within {seconds} s"
    return out[0]


# ------------------------------------------------------------------ finding 5
def test_a_data_file_linking_outside_the_project_is_refused(project: Path,
                                                            tmp_path: Path) -> None:
    secret = tmp_path / "secret.yml"
    secret.write_text('nlu:\n- intent: leak\n  examples: |\n    - hunter2 password\n'
                      '    - hunter3 password\n')
    (project / "data" / "leak.yml").symlink_to(secret)
    errors = _errors(project)
    assert [(e.file, e.code) for e in errors] == [("data/leak.yml", "outside-link")]
    with pytest.raises(ProjectError):
        load_project(project)


def test_a_domain_folder_linking_outside_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "extra.yml").write_text("responses:\n  utter_bye:\n  - text: Bye!\n")
    (project / "domain").symlink_to(outside, target_is_directory=True)
    errors = _errors(project)
    assert [(e.file, e.code) for e in errors] == [("domain/extra.yml", "outside-link")]


def test_links_inside_the_project_still_work(project: Path) -> None:
    (project / "shared").mkdir()
    (project / "shared" / "more.yml").write_text(
        "nlu:\n- intent: thanks\n  examples: |\n    - thanks\n    - thank you\n")
    (project / "data" / "more.yml").symlink_to(project / "shared" / "more.yml")
    loaded = load_project(project)
    assert "thanks" in loaded.nlu.intents()
    assert "data/more.yml" in loaded.files


def test_a_packed_model_holds_no_outside_file(project: Path, tmp_path: Path) -> None:
    """The leaked file never reaches a model archive: training stops at the error."""
    import supportbot

    secret = tmp_path / "secret.yml"
    secret.write_text("nlu:\n- intent: leak\n  examples: |\n    - hunter2\n    - hunter3\n")
    (project / "data" / "leak.yml").symlink_to(secret)
    with pytest.raises(ProjectError, match="outside the project"):
        supportbot.train(project, tmp_path / "models", cache_dir=False)
    assert not list((tmp_path / "models").glob("*.tar.gz"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_data_file_is_refused_without_reading(project: Path) -> None:
    os.mkfifo(project / "data" / "pipe.yml")
    os.mkfifo(project / "domain.yaml")
    started = time.perf_counter()
    problems = _validate_within(project, 20)
    assert time.perf_counter() - started < 20
    errors = {(p.file, p.code) for p in problems if p.severity == "error"}
    assert errors == {("data/pipe.yml", "not-a-file"), ("domain.yaml", "not-a-file")}


def test_a_device_is_refused(tmp_path: Path) -> None:
    from supportbot.project.yamlio import read_yaml_file

    data, problems = read_yaml_file(Path("/dev/zero"), "data/zero.yml")
    assert data is None and [p.code for p in problems] == ["not-a-file"]


# ------------------------------------------------------------------ finding 6
BOMB = """\
version: "3.1"
intents: [greet, bye]
responses:
  utter_c:
  - custom:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_with_file_and_line(project: Path) -> None:
    assert len(BOMB.encode()) < 700
    (project / "domain.yml").write_text(BOMB)
    started = time.perf_counter()
    errors = _errors(project)
    assert time.perf_counter() - started < 10
    assert [(e.file, e.code) for e in errors] == [("domain.yml", "alias-bomb")]
    assert errors[0].line is not None and 6 <= errors[0].line <= 14


def test_a_recursive_alias_is_refused(project: Path) -> None:
    (project / "domain.yml").write_text(DOMAIN + "slots:\n  s: &s\n    x: [*s]\n")
    assert [e.code for e in _errors(project)] == ["alias-loop"]


def test_ordinary_aliases_and_merge_keys_still_load(project: Path) -> None:
    (project / "domain.yml").write_text(DOMAIN + """\
  utter_bye:
  - text: &bye Goodbye!
  - text: *bye
  utter_custom:
  - custom: &payload {kind: card, items: [1, 2, 3]}
  - custom:
      <<: *payload
      extra: true
""")
    loaded = load_project(project)
    variations = loaded.domain.responses["utter_custom"].variations
    assert variations[1].custom["extra"] is True and variations[1].custom["kind"] == "card"


# ------------------------------------------------------------------ finding 10 (project parts)
def test_embedding_model_folder_that_is_no_model_is_an_error(project: Path,
                                                             tmp_path: Path) -> None:
    (project / "config.yml").write_text("language: en\nnlu:\n  embedding_model: /etc\n")
    errors = _errors(project)
    assert [(e.file, e.line, e.code) for e in errors] == [("config.yml", 3, "model")]
    empty = tmp_path / "models" / "not-a-model"
    empty.mkdir(parents=True)
    (project / "config.yml").write_text(f"nlu:\n  embedding_model: {empty}\n")
    assert [e.code for e in _errors(project)] == ["model"]


def test_a_number_as_intent_name_is_an_error(project: Path) -> None:
    (project / "data" / "nlu.yml").write_text(NLU + "- intent: 42\n  examples: |\n    - x\n")
    errors = _errors(project)
    assert [(e.file, e.line, e.code) for e in errors] == [("data/nlu.yml", 11, "wrong-type")]
    assert '"42"' in (errors[0].hint or "")


def test_too_many_intents_are_refused_before_training(project: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['version: "3.1"', "nlu:"]
    for i in range(8):
        lines += [f"- intent: i{i}", "  examples: |", f"    - text {i}", f"    - other {i}"]
    (project / "data" / "nlu.yml").write_text("\n".join(lines) + "\n")
    (project / "domain.yml").write_text("responses:\n  utter_x:\n  - text: x\n")
    monkeypatch.setenv("SUPPORTBOT_MAX_INTENTS", "5")
    errors = _errors(project)
    assert [(e.file, e.code) for e in errors] == [("data/nlu.yml", "too-many-intents")]
    assert errors[0].line == 25  # the first example of i5, the sixth intent


def test_a_huge_intent_count_fails_fast_with_an_estimate(monkeypatch) -> None:
    """50,000 intents: refused before any examples x intents matrix is allocated."""
    from supportbot.nlu.pipeline import NluModel
    from supportbot.project.types import Example, NluSettings, Source

    examples = [Example(text=f"t{i}", intent=f"i{i}", source=Source("data/nlu.yml", i + 1))
                for i in range(50_000)]
    started = time.perf_counter()
    with pytest.raises(ModelError, match="50000 intents; the limit is 2000"):
        NluModel.train(examples, NluSettings(embedding_model=None))
    assert time.perf_counter() - started < 10
    monkeypatch.setenv("SUPPORTBOT_MAX_INTENTS", "100000")
    with pytest.raises(ModelError, match="MB budget"):
        NluModel.train(examples, NluSettings(embedding_model=None))


def test_queue_transfer_to_an_unknown_queue_fails(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from supportbot.cli import main
    from supportbot.handoff import Status, TicketRequest, open_queue

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORTBOT_QUEUE_URL", raising=False)
    url = f"sqlite:///{tmp_path}/q.db"
    queue = open_queue(url)
    ticket = queue.enqueue(TicketRequest("conv-1", channel="rest", queue="billing"))

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["supportbot", "queue", *args, "--queue-url", url])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert run("transfer", ticket.id, "--to-queue", "nosuch") == 1
    assert "no queue 'nosuch'" in capsys.readouterr().err
    assert queue.get(ticket.id).queue == "billing"
    assert run("transfer", ticket.id, "--to-queue", "default") == 0
    moved = queue.get(ticket.id)
    assert moved.queue == "default" and moved.status == Status.WAITING


# ------------------------------------------------------------------ property-based
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(
                         ["intent", "examples", "- hi", "utter_greet", "text", "3.1", "nlu",
                          "responses", "slots", "forms", "embedding_model", "pipeline",
                          "policies", "handoff", "escalation", "&a", "*a", "{x}", "[", "|"]))
_KEYS = st.sampled_from(["version", "nlu", "intent", "examples", "responses", "intents",
                         "entities", "slots", "forms", "rules", "stories", "kb", "text",
                         "custom", "buttons", "payload", "title", "language", "pipeline",
                         "policies", "embedding_model", "handoff", "escalation", "name",
                         "mappings", "type", "steps", "synonym", "regex", "lookup",
                         "utter_greet", "greet", "fallback", "threshold", "queues", "sla",
                         "word_ngrams", "char_ngrams", "session_config", "actions"])
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=25)
_DOCS = st.dictionaries(_KEYS, _VALUES, max_size=5)


def _check_outcome(root: Path) -> None:
    """The project loads, or every error is a ProjectError problem with a file (and never an
    internal error)."""
    try:
        load_project(root)
    except ProjectError as exc:
        for problem in exc.problems:
            assert problem.code != "internal", str(problem)
            if problem.severity == "error" and problem.code not in ("no-data", "no-project"):
                assert problem.file is not None, str(problem)


@pytest.mark.parametrize("target", ["domain.yml", "data/nlu.yml", "config.yml"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=_DOCS)
def test_random_yaml_documents_load_or_give_project_errors(project: Path, target: str,
                                                           doc) -> None:
    (project / target).write_text(yaml.safe_dump(doc, allow_unicode=True))
    _check_outcome(project)


_EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(
    ["", ":", "- ", "  ", "\n", "&a ", "*a", "[", "]", "{", "}", "'", '"', "|", ">", "#",
     "!!python/object:os.system ", "<<: *a\n", "\t", "\x00", "\ufeff", "42", "null", "---\n"]),
    st.integers(0, 3)), min_size=1, max_size=6)


@pytest.mark.parametrize("target", ["domain.yml", "data/nlu.yml", "config.yml"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=_EDITS)
def test_mutated_yaml_loads_or_gives_project_errors(project: Path, target: str, edits) -> None:
    original = {"domain.yml": DOMAIN, "data/nlu.yml": NLU, "config.yml": CONFIG}[target]
    text = original
    for at, insert, cut in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut:]
    (project / target).write_text(text, encoding="utf-8")
    _check_outcome(project)
