"""The line-aware YAML reader: lines, YAML 1.2 scalars, and files that are not YAML at all."""
from __future__ import annotations

from pathlib import Path

from supportbot.project.yamlio import (
    MAX_FILE_BYTES,
    LineList,
    LineMap,
    line_of,
    parse_yaml,
    read_yaml_file,
    value_line,
)


def test_mappings_and_lists_remember_their_lines():
    data, problems = parse_yaml(
        "version: '3.1'\n"
        "nlu:\n"
        "- intent: greet\n"
        "  examples: |\n"
        "    - hi\n"
        "- intent: bye\n", "f.yml")
    assert problems == []
    assert isinstance(data, LineMap) and isinstance(data["nlu"], LineList)
    assert line_of(data, "nlu") == 2
    assert data["nlu"].item_lines == [3, 6]
    assert line_of(data["nlu"][1], "intent") == 6
    # the content of a `|` block starts on the line after the indicator
    assert value_line(data["nlu"][0], "examples") == 5


def test_scalars_follow_yaml_1_2_like_rasa():
    data, _ = parse_yaml("a: yes\nb: on\nc: 2024-01-31\nd: 0777\ne: true\nf: 0x1f\ng: ~\n", "f")
    assert data == {"a": "yes", "b": "on", "c": "2024-01-31", "d": 777, "e": True, "f": 31,
                    "g": None}


def test_duplicate_key_is_a_warning_with_both_lines():
    data, problems = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yml")
    assert data["a"] == 3
    [p] = problems
    assert (p.severity, p.file, p.line) == ("warning", "f.yml", 3)
    assert "first at line 1" in p.message


def test_syntax_error_names_the_line():
    _, [p] = parse_yaml("nlu:\n- intent: greet\n  examples: [unclosed\n", "data/nlu.yml")
    assert p.severity == "error" and p.file == "data/nlu.yml" and p.line is not None
    assert "YAML syntax error" in p.message


def test_several_documents_in_one_file_are_an_error():
    _, [p] = parse_yaml("a: 1\n---\nb: 2\n", "f.yml")
    assert "more than one YAML document" in p.message


def test_control_characters_and_deep_nesting_do_not_raise():
    _, [p] = parse_yaml("a: \x07\n", "f.yml")
    assert p.severity == "error" and p.line == 1 and "U+0007" in p.message
    _, problems = parse_yaml("[" * 50_000, "f.yml")
    assert problems and problems[0].severity == "error"


def test_binary_file(tmp_path: Path):
    path = tmp_path / "x.yml"
    path.write_bytes(b"nlu:\n\x89PNG\x00\x00garbage")
    data, [p] = read_yaml_file(path, "data/x.yml")
    assert data is None and p.code == "binary" and p.line == 2


def test_non_utf8_file_names_the_line(tmp_path: Path):
    path = tmp_path / "x.yml"
    path.write_bytes(b"nlu:\n- intent: greet\n  examples: |\n    - caf" + b"\xe9\n")
    data, [p] = read_yaml_file(path, "data/x.yml")
    assert data is None and p.code == "encoding" and p.line == 4
    assert "UTF-8" in p.hint


def test_utf8_bom_is_accepted(tmp_path: Path):
    path = tmp_path / "x.yml"
    path.write_bytes("\ufeffkey: значение\n".encode())
    data, problems = read_yaml_file(path, "x.yml")
    assert data == {"key": "значение"} and problems == []


def test_file_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path):
    path = tmp_path / "huge.yml"
    with open(path, "wb") as fh:  # sparse: costs no disk and no time
        fh.truncate(MAX_FILE_BYTES + 1)
    data, [p] = read_yaml_file(path, "data/huge.yml")
    assert data is None and p.code == "too-large"
    assert "20 MB" in p.message and p.file == "data/huge.yml"
