"""`supportbot validate` and `supportbot init`, run the way a user runs them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from supportbot.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "projects"
SCRIPT = Path(sys.executable).parent / "supportbot"


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `supportbot.cli.main` in-process; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["supportbot", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "config.yml").write_text("language: en\nnlu:\n  embedding_model: null\n")
    (tmp_path / "domain.yml").write_text("intents: [greet]\nrespones: {}\n")
    (tmp_path / "data" / "nlu.yml").write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n")
    (tmp_path / "data" / "rules.yml").write_text(
        "rules:\n- rule: r\n  steps:\n  - intent: greet\n  - action: utter_greet\n")
    (tmp_path / "data" / "bad.yml").write_bytes(b"nlu: [\x00")
    return tmp_path


def test_validate_a_valid_project_exits_0(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "validate",
                           str(FIXTURES / "rasa_init_3x"))
    assert code == 0
    assert "data/stories.yml:5: warning: stories are read" in out
    assert out.strip().endswith("Project is valid: 0 errors, 1 warning.")


def test_validate_prints_one_line_per_problem_and_exits_1(monkeypatch, capsys, broken):
    code, out, err = run_cli(monkeypatch, capsys, "validate", str(broken))
    assert code == 1 and "Traceback" not in out + err
    lines = out.splitlines()
    assert "data/bad.yml:1: error: file contains binary data (a NUL byte), not YAML text " \
           "(remove it or replace it with a UTF-8 text file)" in lines
    assert any(line.startswith("data/rules.yml:5: error: rule 'r' uses response "
                               "'utter_greet', which is never defined") for line in lines)
    assert any(line.startswith("domain.yml:2: error: unknown top-level key 'respones'")
               and "did you mean 'responses'?" in line for line in lines)
    assert lines[-1] == "Project is invalid: 3 errors, 0 warnings."


def test_validate_json(monkeypatch, capsys, broken):
    code, out, _ = run_cli(monkeypatch, capsys, "validate", "--json", str(broken))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["errors"] == 3
    first = report["problems"][0]
    assert set(first) == {"severity", "file", "line", "message", "hint", "code"}


def test_validate_defaults_to_the_current_folder(monkeypatch, capsys):
    monkeypatch.chdir(FIXTURES / "supportbot_full")
    code, out, _ = run_cli(monkeypatch, capsys, "validate")
    # the custom slot mapping, and ru in nlu.languages without every translation
    assert code == 0 and "Project is valid: 0 errors, 2 warnings." in out
    assert "warning: language 'ru' (nlu.languages): 3 of 5 responses" in out
    code, _, _ = run_cli(monkeypatch, capsys, "validate", "--fail-on-warnings")
    assert code == 1


def test_validate_missing_folder(monkeypatch, capsys, tmp_path):
    code, out, _ = run_cli(monkeypatch, capsys, "validate", str(tmp_path / "nope"))
    assert code == 1 and "does not exist" in out


def test_init_copies_the_example_bot_and_refuses_to_overwrite(monkeypatch, capsys, tmp_path):
    example = FIXTURES / "rasa_init_3x"
    monkeypatch.setenv("SUPPORTBOT_EXAMPLE_DIR", str(example))
    target = tmp_path / "newbot"
    code, out, _ = run_cli(monkeypatch, capsys, "init", str(target))
    assert code == 0 and "supportbot validate" in out
    assert (target / "data" / "nlu.yml").read_text() == (example / "data" / "nlu.yml").read_text()
    assert run_cli(monkeypatch, capsys, "validate", str(target))[0] == 0

    (target / "config.yml").write_text("changed")
    code, _, err = run_cli(monkeypatch, capsys, "init", str(target))
    assert code == 1 and "not empty" in err and "--force" in err
    assert (target / "config.yml").read_text() == "changed"
    code, _, _ = run_cli(monkeypatch, capsys, "init", "--force", str(target))
    assert code == 0 and (target / "config.yml").read_text() != "changed"


def test_init_without_an_example_bot_explains(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SUPPORTBOT_EXAMPLE_DIR", str(tmp_path / "none"))
    empty_pkg = tmp_path / "pkg" / "src" / "supportbot"
    empty_pkg.mkdir(parents=True)
    monkeypatch.setattr("supportbot.__file__", str(empty_pkg / "__init__.py"))
    code, _, err = run_cli(monkeypatch, capsys, "init", str(tmp_path / "bot"))
    assert code == 1 and "cannot find the example bot" in err
    assert "SUPPORTBOT_EXAMPLE_DIR" in err


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_installed_script_never_shows_a_traceback(broken):
    result = subprocess.run([str(SCRIPT), "validate", str(broken)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "Project is invalid" in result.stdout


def test_train_keeps_its_cache_in_the_project_unless_told_otherwise(monkeypatch, capsys,
                                                                     tmp_path):
    """The CLI's durable default is PROJECT/.supportbot/cache (printed); --cache-dir names
    another folder and --no-cache uses none."""
    import shutil

    monkeypatch.delenv("SUPPORTBOT_CACHE_DIR", raising=False)
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "rasa_2x_form", project)  # tf-idf only: fast
    default = project / ".supportbot" / "cache"
    code, out, _ = run_cli(monkeypatch, capsys, "train", str(project), "--out",
                           str(tmp_path / "m1"))
    assert code == 0 and f"training cache: {default}" in out.splitlines()
    assert (default / "nlu-train").is_dir()
    code, out, _ = run_cli(monkeypatch, capsys, "train", str(project), "--out",
                           str(tmp_path / "m2"), "--cache-dir", str(tmp_path / "elsewhere"))
    assert code == 0 and f"training cache: {tmp_path / 'elsewhere'}" in out
    assert "training state reused" not in out and (tmp_path / "elsewhere").is_dir()
    code, out, _ = run_cli(monkeypatch, capsys, "train", str(project), "--out",
                           str(tmp_path / "m1"), "--force")
    assert code == 0 and "training state reused" in out
    shutil.rmtree(project / ".supportbot")
    code, out, _ = run_cli(monkeypatch, capsys, "train", str(project), "--out",
                           str(tmp_path / "m3"), "--no-cache")
    assert code == 0 and "training cache: none (--no-cache)" in out
    assert not (project / ".supportbot").exists()
