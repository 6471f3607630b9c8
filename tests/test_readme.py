"""The README's Python API examples run as written, and a minimal NLU-only project trains."""
from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.fixture()
def project_copy(tmp_path: Path, monkeypatch) -> Path:
    """The example project copied to a temporary folder, which becomes the current directory."""
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_python_api_example_runs(project_copy: Path):
    blocks = _python_blocks("Python API")
    assert blocks, "the README lost its Python API example"
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 -- our own README
    lines = out.getvalue().splitlines()
    intent, confidence, language, fallback = lines[0].split()
    assert intent == "order_status" and language == "en"
    assert 0.0 < float(confidence) <= 1.0 and fallback == "False"
    assert "EUR" in lines[2]  # the delivery-cost answer
    assert lines[3].startswith("utter_delivery_cost - intent 'delivery_cost'")
    assert lines[-2] == "None"  # no handoff for a delivery-cost question
    ticket_id, queue, position = lines[-1].split()
    assert len(ticket_id) >= 8 and queue and int(position) >= 1
    assert list((project_copy / "models").glob("*.tar.gz"))
    # the async variant the README mentions
    bot = namespace["bot"]
    turn = asyncio.run(bot.handle_async("conversation-2", "how much does delivery cost?"))
    assert turn.replies


def test_nlu_only_project_is_enough(tmp_path: Path):
    """README: a config.yml with just `language: en` and a data/nlu.yml is a project."""
    import supportbot

    (tmp_path / "data").mkdir()
    (tmp_path / "config.yml").write_text("language: en\n")
    (tmp_path / "data" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  examples: |\n    - hello\n    - hi there\n    - good morning\n"
        "    - hey\n    - good evening\n"
        "- intent: order_status\n  examples: |\n    - where is my order\n"
        "    - has my parcel shipped\n    - track my package\n    - when will my order arrive\n"
        "    - what is the status of my order\n")
    bot = supportbot.Bot.load(supportbot.train(tmp_path), tracker_store="memory://")
    assert bot.parse("where is my parcel?").intent == "order_status"
    assert bot.parse("hello there").intent == "greet"
