"""`supportbot queue ...` against a SQLite queue: a real subprocess for the agent's main path,
the same entry point in-process for the rest (to keep the suite fast)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supportbot.cli import main
from supportbot.handoff import Agent, Status, TicketRequest, TicketSummary, open_queue


def sb(cwd: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_QUEUE_URL"}
    env["HF_HUB_OFFLINE"] = "1"
    if url:
        env["SUPPORTBOT_QUEUE_URL"] = url
    return subprocess.run(
        [sys.executable, "-c", "from supportbot.cli import main; main()", "queue", *args],
        check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """Run `supportbot queue ...` in-process through `main()`; returns (exit code, out, err)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORTBOT_QUEUE_URL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["supportbot", "queue", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_agent_works_a_ticket_from_the_terminal(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    queue = open_queue(url)
    ticket = queue.enqueue(TicketRequest(
        "conv-1", channel="telegram", language="ru", queue="billing",
        reasons=[{"code": "explicit_request", "explanation": "asked for a person"}],
        transcript=[{"role": "customer", "text": "Где мой возврат?", "timestamp": 1.0}],
        summary=TicketSummary(intents=("refund_status",), slots={"order_id": "A-17"})))

    out = sb(tmp_path, "agent", "alice", "--skills", "billing", "--languages", "ru,en", url=url)
    assert out.returncode == 0, out.stderr
    assert queue.get_agent("alice") == Agent("alice", skills=("billing",), languages=("ru", "en"))

    code, listed, _ = cli("list", "--queue-url", url)
    assert code == 0 and ticket.id in listed and "explicit_request" in listed

    claimed = sb(tmp_path, "claim", "--agent", "alice", url=url)
    assert claimed.returncode == 0, claimed.stderr
    for expected in (ticket.id, "explicit_request", "order_id=A-17", "refund_status",
                     "Где мой возврат?"):
        assert expected in claimed.stdout

    code, _, err = cli("send", ticket.id, "Проверяю,", "минуту", "--agent", "alice",
                       "--queue-url", url)
    assert code == 0, err
    outbox = queue.pending_outbox("conv-1")
    assert [m.text for m in outbox if m.kind == "message"] == ["Проверяю, минуту"]

    code, _, _ = cli("resolve", ticket.id, "--agent", "alice", "--queue-url", url)
    assert code == 0 and queue.get(ticket.id).status == Status.RESOLVED

    code, stats, _ = cli("stats", "--queue-url", url)
    assert code == 0 and "billing" in stats and "alice" in stats


def test_errors_exit_1_without_traceback(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    queue = open_queue(url)
    queue.upsert_agent(Agent("bob"))
    ticket = queue.enqueue(TicketRequest("conv-1"))
    result = sb(tmp_path, "resolve", ticket.id, "--agent", "bob", url=url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "waiting, not assigned" in result.stderr
    cases = [
        (("claim", "--agent", "nobody"), "unknown agent 'nobody'"),
        (("show", "no-such-ticket"), "unknown ticket 'no-such-ticket'"),
        (("list", "--status", "open"), "unknown ticket status 'open'"),
        (("send", ticket.id, "hi", "--agent", "bob"), "waiting, not assigned"),
    ]
    for args, message in cases:
        code, _, err = cli(*args, "--queue-url", url)
        assert code == 1 and message in err, (args, err)


def test_default_queue_location_is_relative_to_the_working_directory(tmp_path: Path, cli) -> None:
    code, _, err = cli("agent", "carol")
    assert code == 0, err
    assert (tmp_path / ".supportbot" / "handoff.db").is_file()
    code, out, _ = cli("claim", "--agent", "carol")
    assert code == 0 and "No waiting ticket" in out


def test_backend_from_project_config(tmp_path: Path, cli) -> None:
    (tmp_path / "config.yml").write_text("language: en\nhandoff:\n  backend: sqlite:///var/q.db\n",
                                         encoding="utf-8")
    code, _, err = cli("agent", "dana")
    assert code == 0, err
    assert (tmp_path / "var" / "q.db").is_file()
    (tmp_path / "config.yml").write_text("handoff:\n  backend: redis://x\n", encoding="utf-8")
    code, _, err = cli("stats")
    assert code == 1 and "handoff.backend" in err and "config.yml" in err
