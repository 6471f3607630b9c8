"""Broken input never crashes or hangs: every case becomes a Problem naming file and line."""
from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from supportbot.errors import ProjectError
from supportbot.project import MAX_FILE_BYTES, load_project, validate_project

GOOD = {
    "config.yml": "language: en\nnlu:\n  embedding_model: null\n",
    "domain.yml": "intents: [greet]\nresponses:\n  utter_greet:\n  - text: hi\n",
    "data/nlu.yml": "nlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n",
}


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def only_error(root: Path):
    errors = [p for p in validate_project(root) if p.severity == "error"]
    assert len(errors) == 1, errors
    return errors[0]


def test_good_base_project_is_clean(tmp_path):
    assert validate_project(write(tmp_path, GOOD)) == []


@pytest.mark.parametrize("content, code, line", [
    ("nlu:\n- intent: greet\n  examples: [oops\n", "yaml-syntax", 4),
    ("nlu:\n  - intent: a\n - intent: b\n", "yaml-syntax", 3),
    ("- intent: greet\n  examples: |\n    - hi\n", "not-a-mapping", 1),
    ("just a sentence\n", "not-a-mapping", 1),
    (b"nlu:\n- intent: greet\n\x00\x01\x02", "binary", 3),
    (b"version: '3.1'\nnlu:\n- intent: gr\xfc\xdf\n", "encoding", 3),
    ("nlu:\n  intent: greet\n", "wrong-type", 1),
    ("nlu:\n- intent: bye\n  examples: 42\n", "wrong-type", 3),
    ("nlu:\n- intent: bye\n", "no-examples", 2),
    ("responses: [utter_a]\n", "wrong-type", 1),
    ("slots:\n- name\n", "wrong-type", 1),
    ("rules: yes\n", "wrong-type", 1),
])
def test_malformed_data_file_gives_one_error_with_file_and_line(tmp_path, content, code, line):
    root = write(tmp_path, {**GOOD, "data/extra.yml": content})
    problem = only_error(root)
    assert (problem.code, problem.file, problem.line) == (code, "data/extra.yml", line)
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert str(problem) in str(info.value)


def test_file_over_the_size_limit(tmp_path):
    root = write(tmp_path, GOOD)
    with open(root / "data" / "big.yml", "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1024)
    problem = only_error(root)
    assert problem.code == "too-large" and problem.file == "data/big.yml"
    assert "limit is 20 MB" in problem.message


def test_missing_directory_a_file_and_an_empty_directory(tmp_path):
    [missing] = validate_project(tmp_path / "nope")
    assert missing.code == "no-project" and "does not exist" in missing.message
    (tmp_path / "file.txt").write_text("x")
    [a_file] = validate_project(tmp_path / "file.txt")
    assert "is a file" in a_file.message
    (tmp_path / "empty").mkdir()
    [empty] = validate_project(tmp_path / "empty")
    assert empty.code == "no-project" and "supportbot init" in empty.hint
    with pytest.raises(ProjectError):
        load_project(tmp_path / "empty")


def test_project_without_any_training_data(tmp_path):
    root = write(tmp_path, {"config.yml": "language: en\n", "domain.yml": "intents: []\n"})
    problems = validate_project(root)
    assert [p.code for p in problems if p.severity == "error"] == ["no-data"]
    assert any(p.code == "no-data" and p.severity == "warning" for p in problems)


def test_empty_files_and_other_formats_warn(tmp_path):
    root = write(tmp_path, {**GOOD, "data/empty.yml": "", "data/old.md": "## intent:greet\n",
                            "data/notes.txt": "ignored"})
    warnings = {p.file: p for p in load_project(root).warnings}
    assert warnings["data/empty.yml"].code == "empty-file"
    assert warnings["data/old.md"].code == "not-read"
    assert "data/notes.txt" not in warnings


def test_bad_config_file_is_reported_and_the_rest_still_checked(tmp_path):
    root = write(tmp_path, {**GOOD, "config.yml": "- language\n",
                            "data/rules.yml": "rules:\n- rule: r\n  steps:\n  - intent: nope\n"})
    codes = {(p.file, p.code) for p in validate_project(root) if p.severity == "error"}
    assert codes == {("config.yml", "wrong-type"), ("data/rules.yml", "unknown-intent")}


def test_every_problem_is_collected_not_just_the_first(tmp_path):
    root = write(tmp_path, {**GOOD, "data/a.yml": "nlu: [", "data/b.yml": "- x\n",
                            "data/c.yml": "kb:\n- id: x\n  answer: y\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert {p.file for p in info.value.errors} == {"data/a.yml", "data/b.yml", "data/c.yml"}


def test_symlink_loop_in_data_does_not_hang(tmp_path):
    root = write(tmp_path, GOOD)
    (root / "data" / "loop").symlink_to(root / "data", target_is_directory=True)
    assert validate_project(root) == []


def test_alias_bomb_does_not_blow_up(tmp_path):
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    bomb += "nlu:\n- intent: greet\n  examples: *i\n"
    root = write(tmp_path, {**GOOD, "data/bomb.yml": bomb})
    problems = validate_project(root)
    assert any(p.severity == "error" and p.file == "data/bomb.yml" for p in problems)


@pytest.mark.parametrize("seed", range(12))
def test_random_garbage_never_raises(tmp_path, seed):
    rng = random.Random(seed)
    alphabet = "abc:- \n\t[]{}&*!|>'\"#%@`,?\\\x00\xff" + "я"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400)))
    root = write(tmp_path, {**GOOD, "domain.yml": GOOD["domain.yml"] + text})
    problems = validate_project(root)
    assert all(p.code != "internal" for p in problems), problems
