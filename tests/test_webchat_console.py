"""The web chat (`/chat`) and the agent console (`/agent`) over HTTP: the widget's event
stream (resume without loss or duplicates), queue status, agent tokens, the console API with
the queue's limits, skills and languages, and the whole customer <-> agent flow."""
from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from supportbot.handoff import Agent
from supportbot.server import ServerSettings, create_app
from supportbot.server.console.tokens import AgentTokens

STATIC = Path(__file__).resolve().parents[1] / "src" / "supportbot" / "server"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def settings() -> ServerSettings:
    return ServerSettings(background_interval=0, rate_limit_per_minute=6000,
                          rate_limit_burst=1000, shutdown_timeout=5)


@pytest.fixture()
def client(bot):
    with TestClient(create_app(bot, settings())) as c:
        yield c


@pytest.fixture()
def cid() -> str:
    return f"web-{uuid.uuid4().hex}"


def add_agent(bot, agent_id: str, **kwargs) -> dict[str, str]:
    bot.queue.backend.upsert_agent(Agent(id=agent_id, name=agent_id.title(), **kwargs))
    token = AgentTokens(bot.queue.backend).issue(agent_id)
    return {"Authorization": f"Bearer {token}"}


def say(client, cid: str, text: str, **extra):
    r = client.post(f"/chat/api/{cid}/messages", json={"text": text, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def poll(client, cid: str, after: int = 0) -> dict:
    r = client.get(f"/chat/api/{cid}/events", params={"after": after, "wait": 0,
                                                       "format": "json"})
    assert r.status_code == 200, r.text
    return r.json()


def sse(client, cid: str, after: int = 0, headers=None) -> list[tuple[str, str | None, dict]]:
    r = client.get(f"/chat/api/{cid}/events", params={"after": after, "wait": 0},
                   headers=headers or {})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in r.text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(": ")
            fields[key] = value
        if "event" in fields:
            out.append((fields["event"], fields.get("id"), json.loads(fields["data"])))
    return out


# ---------------------------------------------------------------- pages and static files
def test_pages_and_widget_are_served(client):
    page = client.get("/chat")
    assert page.status_code == 200 and "/chat/widget.js" in page.text
    js = client.get("/chat/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/chat/widget.css").status_code == 200
    console = client.get("/agent")
    assert console.status_code == 200 and "/agent/console.js" in console.text
    assert client.get("/agent/console.js").status_code == 200
    assert client.get("/agent/console.css").status_code == 200


def test_static_scripts_never_put_text_in_as_html():
    for path in (STATIC / "webchat/static/widget.js", STATIC / "console/static/console.js"):
        code = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{path.name} uses {sink}"


# ---------------------------------------------------------------- the web chat
def test_faq_answer_arrives_on_the_stream(client, cid):
    assert poll(client, cid)["messages"] == []  # unknown conversation: nothing yet
    say(client, cid, "how much is delivery?")
    data = poll(client, cid)
    roles = [m["role"] for m in data["messages"]]
    assert roles[0] == "user" and "bot" in roles
    assert data["messages"][0]["text"] == "how much is delivery?"
    assert any(m["text"] for m in data["messages"] if m["role"] == "bot")
    assert data["status"] == {"language": "en", "handoff": None}
    assert data["last_seq"] == data["messages"][-1]["seq"]


def test_stream_resumes_after_the_last_seen_event_without_loss_or_duplicates(client, cid):
    say(client, cid, "hello")
    first = sse(client, cid)
    seqs = [int(i) for kind, i, _ in first if kind == "message"]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) >= 2
    assert any(kind == "status" for kind, _, _ in first)
    last = seqs[-1]
    say(client, cid, "how much is delivery?")
    # the reconnect names the last id it saw, by query or by Last-Event-ID (EventSource)
    by_query = [d["seq"] for k, _, d in sse(client, cid, after=last) if k == "message"]
    by_header = [d["seq"] for k, _, d in sse(client, cid, headers={"Last-Event-ID": str(last)})
                 if k == "message"]
    assert by_query == by_header and by_query and min(by_query) == last + 1
    everything = [d["seq"] for k, _, d in sse(client, cid) if k == "message"]
    assert everything == seqs + by_query


def test_button_title_is_shown_for_its_payload(client, cid):
    say(client, cid, "/greet", display="Hello there")
    assert poll(client, cid)["messages"][0]["text"] == "Hello there"


def test_bad_ids_and_bodies_are_refused(client):
    assert client.post("/chat/api/short/messages", json={"text": "hi"}).status_code == 400
    assert client.get("/chat/api/bad%20id%20with%20spaces!/events").status_code == 400
    good = f"web-{uuid.uuid4().hex}"
    assert client.post(f"/chat/api/{good}/messages", json={}).status_code == 400
    assert client.post(f"/chat/api/{good}/messages",
                       json={"text": "x" * 6000}).status_code == 413


def test_queue_position_reaches_the_widget(client, bot, cid):
    other = f"web-{uuid.uuid4().hex}"
    say(client, other, "I want to talk to a real person")
    say(client, cid, "I want to talk to a real person")
    status = poll(client, cid)["status"]["handoff"]
    assert status["status"] == "waiting" and status["position"] == 2
    bot.queue.backend.cancel(bot.queue.backend.open_ticket_for(other).id)
    assert poll(client, cid)["status"]["handoff"]["position"] == 1  # live: the line moved


# ---------------------------------------------------------------- agent tokens
def test_tokens_are_stored_hashed_and_checked(bot, tmp_path):
    headers = add_agent(bot, "anna")
    token = headers["Authorization"].split()[1]
    tokens = AgentTokens(bot.queue.backend)
    assert tokens.verify(token) == "anna"
    assert tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.verify("sbat_nope_nope") is None and tokens.verify("") is None
    db = sqlite3.connect(bot.queue.backend.path)
    rows = db.execute(f"SELECT key_id, salt, hash FROM {tokens.table}").fetchall()
    secret = token.split("_", 2)[2]
    assert len(rows) == 1 and secret and secret not in json.dumps(rows)
    assert tokens.has_token() == {"anna"}
    tokens.revoke("anna")
    assert AgentTokens(bot.queue.backend).verify(token) is None


def test_console_needs_a_valid_token(client, bot):
    assert client.get("/agent/api/tickets").status_code == 401
    bad = client.get("/agent/api/tickets", headers={"Authorization": "Bearer sbat_x_y"})
    assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
    headers = add_agent(bot, "anna")
    me = client.get("/agent/api/me", headers=headers).json()
    assert me["id"] == "anna" and me["online"] is True


# ---------------------------------------------------------------- the console flow
def test_customer_and_agent_end_to_end_over_http(client, bot, cid):
    headers = add_agent(bot, "anna", languages=("en",))
    say(client, cid, "how much is delivery?")
    say(client, cid, XSS)
    say(client, cid, "I want to talk to a real person")
    handoff = poll(client, cid)["status"]["handoff"]
    assert handoff["status"] == "waiting" and handoff["position"] == 1

    view = client.get("/agent/api/tickets", headers=headers).json()
    assert len(view["waiting"]) == 1
    row = view["waiting"][0]
    assert row["conversation_id"] == cid and row["language"] == "en"
    assert row["reasons"] and {"code", "explanation"} <= set(row["reasons"][0])
    assert row["sla_due_at"] is not None and row["waited_seconds"] >= 0
    assert "priority" in row and row["sla_breached"] is False

    detail = client.get(f"/agent/api/tickets/{row['id']}", headers=headers).json()
    texts = [m["text"] for m in detail["transcript"]]
    assert "how much is delivery?" in texts and XSS in texts  # raw text; pages use textContent
    assert detail["summary_text"] and detail["summary"]["reasons"]

    claimed = client.post(f"/agent/api/tickets/{row['id']}/claim", headers=headers)
    assert claimed.status_code == 200 and claimed.json()["ticket"]["status"] == "assigned"
    assert poll(client, cid)["status"]["handoff"] == {"status": "assigned", "agent": "Anna"}
    before = poll(client, cid)["last_seq"]
    r = client.post(f"/agent/api/tickets/{row['id']}/messages", headers=headers,
                    json={"text": "Hi, I'm Anna. Checking now."})
    assert r.status_code == 200
    new = poll(client, cid, after=before)["messages"]
    assert [(m["role"], m["text"], m["agent"]) for m in new] == [
        ("agent", "Hi, I'm Anna. Checking now.", "Anna")]

    assert client.post(f"/agent/api/tickets/{row['id']}/resolve",
                       headers=headers).json()["status"] == "resolved"
    data = poll(client, cid)
    assert data["status"]["handoff"] is None
    csat = data["messages"][-1]
    assert csat["role"] == "bot" and len(csat["buttons"]) == 5
    say(client, cid, csat["buttons"][4]["payload"], display=csat["buttons"][4]["title"])
    assert bot.queue.backend.get(row["id"]).csat == 5
    after_csat = poll(client, cid)["last_seq"]
    say(client, cid, "how much is delivery?")
    answer = poll(client, cid, after=after_csat)["messages"]
    assert answer[0]["role"] == "user" and any(m["role"] == "bot" for m in answer[1:])


def test_console_respects_languages_limits_and_ownership(client, bot):
    ru_only = add_agent(bot, "ivan", languages=("ru",))
    solo = add_agent(bot, "sam", max_concurrent=1)
    ids = []
    for _ in range(2):
        c = f"web-{uuid.uuid4().hex}"
        say(client, c, "I want to talk to a real person")
        ids.append(bot.queue.backend.open_ticket_for(c).id)

    view = client.get("/agent/api/tickets", headers=ru_only).json()
    assert view["waiting"] == [] and view["waiting_for_others"] == 2
    assert client.get(f"/agent/api/tickets/{ids[0]}", headers=ru_only).status_code == 403
    assert client.post(f"/agent/api/tickets/{ids[0]}/claim", headers=ru_only).status_code == 409
    assert client.post("/agent/api/claim", headers=ru_only).json() == {"ticket": None}

    assert client.post("/agent/api/claim", headers=solo).json()["ticket"]["id"] == ids[0]
    refused = client.post(f"/agent/api/tickets/{ids[1]}/claim", headers=solo)
    assert refused.status_code == 409 and "limit" in refused.json()["message"]
    assert client.get("/agent/api/tickets", headers=solo).json()["at_limit"] is True
    # someone else's ticket: no sending, resolving or transferring
    other = add_agent(bot, "olga")
    assert client.post(f"/agent/api/tickets/{ids[0]}/messages", headers=other,
                       json={"text": "hi"}).status_code == 409
    assert client.post(f"/agent/api/tickets/{ids[0]}/resolve", headers=other).status_code == 409
    assert client.post(f"/agent/api/tickets/{ids[0]}/transfer", headers=other,
                       json={"queue": "default"}).status_code == 403
    # transfer back to the line, then return a claimed one to the bot
    moved = client.post(f"/agent/api/tickets/{ids[0]}/transfer", headers=solo,
                        json={"queue": "default"})
    assert moved.status_code == 200 and moved.json()["status"] == "waiting"
    assert client.post(f"/agent/api/tickets/{ids[1]}/claim", headers=solo).status_code == 200
    back = client.post(f"/agent/api/tickets/{ids[1]}/return", headers=solo)
    assert back.json()["status"] == "returned"


def test_console_stream_sends_the_queue_view(client, bot):
    headers = add_agent(bot, "anna")
    say(client, f"web-{uuid.uuid4().hex}", "I want to talk to a real person")
    r = client.get("/agent/api/stream", params={"wait": 0}, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    block = next(b for b in r.text.split("\n\n") if b.startswith("event: queue"))
    data = json.loads(block.split("data: ", 1)[1])
    assert len(data["waiting"]) == 1 and data["agent"]["id"] == "anna"
    assert client.get("/agent/api/stream", params={"wait": 0}).status_code == 401


def test_agents_cli_add_list_remove(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from supportbot.cli.app import app

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'q.db'}"
    runner = CliRunner()
    added = runner.invoke(app, ["agents", "add", "alice", "--name", "Alice", "--skills",
                                "billing", "--languages", "ru,en", "--max-concurrent", "2",
                                "--queue-url", url])
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("sbat_")
    listed = runner.invoke(app, ["agents", "list", "--queue-url", url])
    assert "alice" in listed.output and "billing" in listed.output and token not in listed.output
    from supportbot.handoff.factory import open_queue

    with open_queue(url) as q:
        assert AgentTokens(q).verify(token) == "alice"
        assert q.get_agent("alice").max_concurrent == 2
    removed = runner.invoke(app, ["agents", "remove", "alice", "--queue-url", url])
    assert removed.exit_code == 0
    with open_queue(url) as q:
        assert AgentTokens(q).verify(token) is None and not q.get_agent("alice").online
