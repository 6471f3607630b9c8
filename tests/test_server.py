"""The HTTP server: the Rasa REST channel, /model/parse, health, limits, admin endpoints,
background checks, graceful shutdown, and `supportbot run` as a real process."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from supportbot.server import RateLimiter, ServerSettings, SettingsError, create_app

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK = "/webhooks/rest/webhook"
REPLY_KEYS = {"recipient_id", "text", "buttons", "image", "custom", "attachment"}
TOKEN = "s3cret-admin-token"


def settings(**changes) -> ServerSettings:
    """Test settings: no background loop, no admin token unless asked, generous limits."""
    base = {"background_interval": 0, "admin_token": None, "rate_limit_per_minute": 6000,
            "rate_limit_burst": 1000, "shutdown_timeout": 10}
    base.update(changes)
    return ServerSettings(**base)


@pytest.fixture()
def client(bot):
    with TestClient(create_app(bot, settings())) as c:
        yield c


def say(client: TestClient, sender, message: str, **extra):
    return client.post(WEBHOOK, json={"sender": sender, "message": message, **extra})


def assert_rasa_replies(replies, sender: str) -> None:
    assert isinstance(replies, list)
    for reply in replies:
        assert set(reply) <= REPLY_KEYS, reply
        assert reply["recipient_id"] == sender
        assert all(v is not None for v in reply.values())
        for button in reply.get("buttons", []):
            assert set(button) == {"title", "payload"}


# ---------------------------------------------------------------- REST channel
def test_rasa_rest_client_round_trip(client):
    assert client.get("/webhooks/rest/").json() == {"status": "ok"}
    # the exact payload a Rasa REST client sends (rasa-formats.md §3)
    r = client.post(WEBHOOK, json={"sender": "u1", "message": "how much does delivery cost?",
                                   "metadata": {}, "input_channel": "x"})
    assert r.status_code == 200
    replies = r.json()
    assert replies and replies[0]["text"]
    assert_rasa_replies(replies, "u1")

    # the order-status form continues over the channel, conversation kept by sender id
    asked = say(client, "u1", "where is my parcel?").json()
    assert_rasa_replies(asked, "u1")
    assert "order number" in " ".join(m.get("text", "") for m in asked).lower()
    found = say(client, "u1", "NW-123456").json()
    assert "NW-123456" in " ".join(m.get("text", "") for m in found)


def test_buttons_come_in_rasa_shape_and_handoff_works_over_rest(client):
    replies = say(client, "u-hand", "I want to talk to a real person").json()
    assert_rasa_replies(replies, "u-hand")
    assert replies
    ticket = client.app.state.runtime.bot.queue.backend.open_ticket_for("u-hand")
    assert ticket is not None
    # while a person owns the conversation the bot stays quiet: an empty list, as Rasa returns
    assert say(client, "u-hand", "hello?").json() == []
    replies = say(client, "u-btn", "/human_handoff").json()
    assert_rasa_replies(replies, "u-btn")


def test_numeric_sender_and_text_split_on_blank_lines(client):
    from supportbot.dialogue.nlg import Button, Reply
    from supportbot.server import rasa_messages

    assert say(client, 4917612345678, "hi").status_code == 200
    out = rasa_messages("7", [Reply("one\n\ntwo"), Reply("pick", (Button("A", "/a"),)),
                              Reply(None, image="https://x/i.png"), Reply("c", custom={"k": 1})])
    assert out == [{"recipient_id": "7", "text": "one"}, {"recipient_id": "7", "text": "two"},
                   {"recipient_id": "7", "text": "pick",
                    "buttons": [{"title": "A", "payload": "/a"}]},
                   {"recipient_id": "7", "image": "https://x/i.png"},
                   {"recipient_id": "7", "text": "c"}, {"recipient_id": "7", "custom": {"k": 1}}]


def test_body_without_json_content_type_is_read_like_rasa(client):
    r = client.post(WEBHOOK, content=json.dumps({"sender": "u-curl", "message": "hi"}),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"message": "hi"}).encode(), "'sender'"),
    (json.dumps({"sender": "u"}).encode(), "'message'"),
    (json.dumps({"sender": "u", "message": 5}).encode(), "'message' must be a string"),
    (json.dumps({"sender": "u", "message": "hi", "metadata": [1]}).encode(), "'metadata'"),
    (json.dumps({"sender": "u", "message": "   "}).encode(), "empty"),  # ConversationError
    (json.dumps({"sender": "", "message": "hi"}).encode(), "conversation id"),
])
def test_bad_requests_get_400_naming_the_problem(client, body, needle):
    r = client.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] in ("bad_request", "invalid_json")
    assert needle in r.json()["message"]


def test_internal_errors_are_500_with_an_error_id_and_no_trace(bot, caplog):
    app = create_app(bot, settings())

    def broken(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    bot.handle = broken
    with TestClient(app, raise_server_exceptions=False) as c, \
            caplog.at_level(logging.ERROR, logger="supportbot.server"):
        r = say(c, "u-err", "hi")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error" and body["error_id"] in body["message"]
    assert "hunter2" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if body["error_id"] in rec.getMessage()]
    assert logged and logged[0].exc_info is not None  # the stack trace is in the log


def test_unknown_route_is_a_json_404(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


# ---------------------------------------------------------------- limits
def test_oversized_payloads_get_413(bot):
    with TestClient(create_app(bot, settings(max_body_bytes=2000, max_message_chars=300))) as c:
        big = {"sender": "u-big", "message": "x" * 5000}
        assert c.post(WEBHOOK, json=big).status_code == 413
        # a streamed (chunked) body without Content-Length is cut off too
        chunks = (b"x" * 1000 for _ in range(5))
        r = c.post(WEBHOOK, content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        # within the byte limit but over the message length limit
        r = say(c, "u-big", "y" * 400)
        assert r.status_code == 413 and "'message'" in r.json()["message"]
        assert c.post("/model/parse", json={"text": "y" * 400}).status_code == 413
        assert say(c, "u-big", "hi").status_code == 200


def test_a_flood_from_one_sender_gets_429_while_others_are_served(bot):
    with TestClient(create_app(bot, settings(rate_limit_per_minute=60,
                                             rate_limit_burst=3))) as c:
        codes = [say(c, "flooder", "hi").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = say(c, "flooder", "hi")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "rate_limited"
        assert say(c, "someone-else", "hi").status_code == 200


def test_token_bucket_refills():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.acquire("a") == 0
    assert RateLimiter(per_minute=0, burst=1).acquire("a") == 0  # off


def test_cors_is_off_unless_configured(bot):
    preflight = {"origin": "https://shop.example", "access-control-request-method": "POST"}
    with TestClient(create_app(bot, settings())) as c:
        r = c.post(WEBHOOK, json={"sender": "u-c", "message": "hi"}, headers={
            "origin": "https://shop.example"})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(bot, settings(cors_origins=("https://shop.example",)))) as c:
        r = c.options(WEBHOOK, headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"
        r = c.options(WEBHOOK, headers={**preflight, "origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"


def test_settings_from_env():
    s = ServerSettings.from_env({"SUPPORTBOT_ADMIN_TOKEN": "tok-123", "SUPPORTBOT_CORS_ORIGINS":
                                 "https://a.example, https://b.example",
                                 "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "10",
                                 "SUPPORTBOT_MAX_BODY_BYTES": "1000"}, rate_limit_burst=4)
    assert s.admin_token == "tok-123" and s.cors_origins == ("https://a.example", "https://b.example")
    assert (s.rate_limit_per_minute, s.rate_limit_burst, s.max_body_bytes) == (10, 4, 1000)
    assert "tok-123" not in repr(s)
    with pytest.raises(SettingsError, match="SUPPORTBOT_MAX_BODY_BYTES"):
        ServerSettings.from_env({"SUPPORTBOT_MAX_BODY_BYTES": "lots"})
    with pytest.raises(SettingsError, match="rate_limit_burst"):
        ServerSettings(rate_limit_burst=0)


# ---------------------------------------------------------------- parse, health, docs
def test_model_parse_has_rasas_shape(client):
    r = client.post("/model/parse", json={"text": "where is my parcel?", "message_id": "m1"})
    assert r.status_code == 200
    data = r.json()
    assert data["text"] == "where is my parcel?" and data["message_id"] == "m1"
    assert set(data["intent"]) == {"name", "confidence"}
    assert data["intent"]["name"] == "order_status"
    assert data["intent_ranking"] and set(data["intent_ranking"][0]) == {"name", "confidence"}
    assert isinstance(data["entities"], list)
    assert client.post("/model/parse", json={}).status_code == 400


def test_model_parse_gives_a_response_selector_for_a_kb_hit(client):
    data = client.post("/model/parse", json={"text": "How do I delete my account?"}).json()
    selector = data["response_selector"]
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["default"]["response"]
    assert response["intent_response_key"] == "faq/account_deletion"
    assert response["utter_action"] == "utter_faq/account_deletion"
    assert "delete" in response["responses"][0]["text"].lower()
    assert 0 < response["confidence"] <= 1
    ranking = selector["default"]["ranking"]
    assert ranking[0] == {"confidence": ranking[0]["confidence"],
                          "intent_response_key": "faq/account_deletion"}


def test_model_parse_reports_the_faq_entry_the_bot_answers_in_another_language(client):
    # the topic arbiter chooses the FAQ entry over the NLU's intent: /model/parse says the same
    text = "Можно ли забрать заказ самому в вашем магазине?"
    data = client.post("/model/parse", json={"text": text}).json()
    response = data["response_selector"]["default"]["response"]
    assert response["intent_response_key"] == "faq/store_pickup"
    assert 0 < response["confidence"] <= 1
    reply = client.post(WEBHOOK, json={"sender": "ru-pickup", "message": text}).json()
    assert "Click & Collect" in reply[0]["text"]


def test_health_ready_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    paths = client.get("/openapi.json").json()["paths"]
    assert {WEBHOOK, "/webhooks/rest/", "/model/parse", "/health", "/ready", "/model"} <= set(paths)
    assert "requestBody" in paths[WEBHOOK]["post"]
    assert client.get("/docs").status_code == 200


# ---------------------------------------------------------------- admin, reload
def test_admin_endpoints_refuse_without_a_configured_token(client):
    r = client.put("/model", headers={"authorization": "Bearer anything"})
    assert r.status_code == 403 and "SUPPORTBOT_ADMIN_TOKEN" in r.json()["message"]
    assert client.get("/status").status_code == 403


def test_model_reload_needs_the_token_and_keeps_conversations(bot, example_model):
    app = create_app(bot, settings(admin_token=TOKEN), models_folder=example_model.parent)
    runtime = app.state.runtime
    with TestClient(app) as c:
        asked = say(c, "u-reload", "where is my parcel?").json()
        assert "order number" in " ".join(m.get("text", "") for m in asked).lower()

        assert c.put("/model").status_code == 401
        assert c.put("/model", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.put("/model", json={"model_file": "/no/such/model.tar.gz"},
                     headers={"authorization": f"Bearer {TOKEN}"}).status_code == 400
        old = runtime.bot
        r = c.put("/model", json={"model_file": str(example_model)},
                  headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.json()["model"]["model_file"] == str(example_model)
        new = runtime.bot
        assert new is not old
        assert new.store is old.store and new.locks is old.locks
        assert new.queue.backend is old.queue.backend
        # without a body: the newest model in the folder the server was given; ?token= works too
        assert c.put(f"/model?token={TOKEN}").status_code == 200

        # the form started before the reload finishes after it
        found = say(c, "u-reload", "NW-123456").json()
        assert "NW-123456" in " ".join(m.get("text", "") for m in found)

        auth = {"authorization": f"Bearer {TOKEN}"}
        tracker = c.get("/conversations/u-reload/tracker", headers=auth)
        assert tracker.status_code == 200
        texts = [e.get("text") for e in tracker.json()["events"] if e["type"] == "user"]
        assert texts == ["where is my parcel?", "NW-123456"]
        assert c.get("/conversations/nobody/tracker", headers=auth).status_code == 404
        assert c.get("/conversations/u-reload/tracker").status_code == 401
        status = c.get("/status", headers=auth).json()
        assert status["model"]["model_file"] and status["in_flight"] == 0


# ---------------------------------------------------------------- background, shutdown
def test_background_loop_sends_queue_timeout_notices(bot):
    bot.queue.config = bot.queue.config.model_copy(update={"claim_timeout": 0.05})
    app = create_app(bot, settings(background_interval=0.05, admin_token=TOKEN))
    runtime = app.state.runtime
    delivered: list[tuple[str, str | None]] = []
    runtime.subscribe(lambda cid, reply: delivered.append((cid, reply.text)))
    calls = []
    real = bot.queue.check_timeouts

    def counting():
        calls.append(time.monotonic())
        return real()

    bot.queue.check_timeouts = counting
    with TestClient(app) as c:
        assert say(c, "u-wait", "I want to talk to a real person").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(cid == "u-wait" for cid, _ in delivered):
            time.sleep(0.05)
        assert any(cid == "u-wait" and text for cid, text in delivered)
        background = c.get("/status", headers={"authorization": f"Bearer {TOKEN}"}).json()[
            "background"]
    assert len(calls) >= 2
    assert background["running"] and background["timeouts_notified"] == 1
    assert background["business_hours_open"] is True
    assert not app.state.background.running  # stopped with the app


def test_background_check_reports_each_sla_breach_once(bot, caplog):
    from supportbot.server import BackgroundTasks, BotRuntime

    bot.handle("u-sla", "I want to talk to a real person")
    ticket = bot.queue.backend.open_ticket_for("u-sla")
    assert ticket is not None and ticket.sla_due_at is not None
    tasks = BackgroundTasks(BotRuntime(bot), interval=1)
    tasks.tick()
    assert tasks.stats.sla_breaches == 0
    with caplog.at_level(logging.WARNING, logger="supportbot.server"):
        tasks.tick(now=ticket.sla_due_at + 1)
        tasks.tick(now=ticket.sla_due_at + 2)
    assert tasks.stats.sla_breaches == 1 and tasks.stats.runs == 3
    assert [r for r in caplog.records if ticket.id in r.getMessage() and "SLA" in r.getMessage()]


def test_background_loop_survives_a_failing_check(bot, caplog):
    app = create_app(bot, settings(background_interval=0.02))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("queue database locked")
        return []

    bot.queue.check_timeouts = flaky
    with caplog.at_level(logging.ERROR, logger="supportbot.server"), TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(calls) < 3:
            time.sleep(0.02)
    assert len(calls) >= 3 and app.state.background.stats.errors == 1


def test_shutdown_waits_for_turns_in_flight(bot):
    app = create_app(bot, settings())
    runtime = app.state.runtime
    real = bot.handle
    started = threading.Event()

    def slow(*args, **kwargs):
        started.set()
        time.sleep(0.5)
        return real(*args, **kwargs)

    bot.handle = slow

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://t") as client:
            request = asyncio.create_task(client.post(
                WEBHOOK, json={"sender": "u-slow", "message": "hi"}))
            while not started.is_set():
                await asyncio.sleep(0.01)
            assert runtime.in_flight == 1
        # the lifespan has ended: the turn finished before it did
        assert runtime.in_flight == 0 and not runtime.accepting
        response = await request
        return response

    response = asyncio.run(scenario())
    assert response.status_code == 200 and response.json()


# ---------------------------------------------------------------- the real command
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_supportbot_run_serves_rest_and_exits_cleanly_on_sigterm(example_model, tmp_path):
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SUPPORTBOT_ADMIN_TOKEN": TOKEN}
    env.pop("SUPPORTBOT_TRACKER_STORE", None)  # use the CLI's durable default under cwd
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", "from supportbot.cli import main; main()", "run",
             "--model", str(example_model), "--port", str(port), "--project", str(ROOT),
             "--background-interval", "1"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.25)
        r = httpx.post(f"{base}{WEBHOOK}", json={"sender": "cli-user", "message": "hi",
                                                   "metadata": {}}, timeout=30)
        assert r.status_code == 200, r.text
        assert_rasa_replies(r.json(), "cli-user")
        assert r.json() and r.json()[0]["text"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_path.read_text()
    assert "Traceback" not in output, output
    # the CLI chose its durable default: the conversation is on disk under the working folder
    assert (tmp_path / ".supportbot" / "conversations.db").is_file()
