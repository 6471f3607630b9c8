"""Shared fixtures: the example bot is trained once per test session."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _default_state_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory):
    """Bots built without explicit stores keep their SQLite state in a temporary folder, not in
    the checkout's `.supportbot/`, so that no test run sees another one's conversations."""
    state = tmp_path_factory.mktemp("default-state")
    keys = ("SUPPORTBOT_TRACKER_STORE", "SUPPORTBOT_QUEUE_URL", "SUPPORTBOT_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["SUPPORTBOT_TRACKER_STORE"] = f"sqlite:///{state / 'conversations.db'}"
    os.environ["SUPPORTBOT_QUEUE_URL"] = f"sqlite:///{state / 'handoff.db'}"
    # an explicit embedding cache shared by the session's trainings (each starts empty in CI)
    os.environ["SUPPORTBOT_CACHE_DIR"] = str(state / "cache")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def example_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's example bot, trained once into a temporary folder."""
    import supportbot

    return supportbot.train(ROOT, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def trained_bot(example_model: Path, tmp_path_factory: pytest.TempPathFactory):
    from supportbot import Bot
    from supportbot.dialogue.actions import load_actions_module

    queue = tmp_path_factory.mktemp("queue") / "handoff.db"
    return Bot.load(example_model, queue=f"sqlite:///{queue}",
                    actions=load_actions_module(ROOT / "actions"))


@pytest.fixture()
def bot(trained_bot, tmp_path: Path):
    """The example bot with fresh conversation state and an empty SQLite queue."""
    return trained_bot.with_stores(tracker_store=f"sqlite:///{tmp_path / 'conversations.db'}",
                                   queue=f"sqlite:///{tmp_path / 'handoff.db'}")


@pytest.fixture()
def conversation_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    """A writable copy of the example bot project."""
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(ROOT / "config.yml", dest)
    shutil.copy(ROOT / "domain.yml", dest)
    shutil.copytree(ROOT / "data", dest / "data")
    return dest
