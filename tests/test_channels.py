"""Channels from credentials.yml: socket.io (a real client against uvicorn), Telegram, Slack,
Messenger and WhatsApp webhooks with the platforms' documented sample payloads, signatures,
button mapping both ways, and delivery through a stand-in platform API on loopback that fails
its first call (retries)."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Self

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from supportbot.channels import Credentials, OutboundSender, read_credentials
from supportbot.channels.sender import DeliveryError
from supportbot.channels.slack import slack_signature
from supportbot.dialogue.nlg import Reply
from supportbot.errors import ProjectError
from supportbot.project.types import Button
from supportbot.server import ServerSettings, create_app

FIXTURES = Path(__file__).parent / "fixtures" / "channels"
TG_SECRET = "tg-secret-token"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FB_SECRET = "fb-app-secret"
WA_SECRET = "wa-app-secret"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving `app` on a free loopback port in a thread."""

    def __init__(self, app: Any):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class StandIn:
    """A stand-in platform API: records every call; the first call to a path listed in
    `fail_first` gets a 503."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first: set[str] = set()
        self._failed: set[str] = set()
        app = FastAPI()

        @app.post("/{path:path}")
        async def any_call(path: str, request: Request) -> JSONResponse:
            body = await request.json()
            if path in self.fail_first and path not in self._failed:
                self._failed.add(path)
                self.calls.append({"path": path, "json": body, "failed": True})
                return JSONResponse({"ok": False, "error": "try again"}, status_code=503)
            self.calls.append({"path": path, "json": body, "failed": False,
                               "query": dict(request.query_params),
                               "auth": request.headers.get("authorization")})
            return JSONResponse({"ok": True, "result": {}})

        self.app = app

    def sent(self, suffix: str) -> list[dict[str, Any]]:
        return [c["json"] for c in self.calls
                if ("/" + c["path"]).endswith(suffix) and not c["failed"]]

    def wait_for(self, suffix: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.sent(suffix)) < count:
            assert time.monotonic() < deadline, f"no {suffix} call: {self.calls}"
            time.sleep(0.02)
        return self.sent(suffix)


@pytest.fixture(scope="module")
def standin():
    stand = StandIn()
    with ServerThread(stand.app) as server:
        stand.url = server.url  # type: ignore[attr-defined]
        yield stand


def settings() -> ServerSettings:
    return ServerSettings(background_interval=0, rate_limit_per_minute=6000,
                          rate_limit_burst=1000, shutdown_timeout=10)


def credentials(api: str) -> dict[str, Any]:
    fast = {"api_url": api, "retry_attempts": 3, "retry_backoff": 0.01}
    return {
        "rest": None,
        "socketio": {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered",
                     "session_persistence": True},
        "telegram": {"access_token": "123:ABC", "verify": "northwind_bot",
                     "secret_token": TG_SECRET, **fast},
        "slack": {"slack_token": "xoxb-test", "slack_signing_secret": SLACK_SECRET, **fast},
        "facebook": {"verify": "fb-verify", "secret": FB_SECRET, "page-access-token": "PAGE",
                     **fast},
        "whatsapp": {"access_token": "WA-TOKEN", "phone_number_id": "123456123",
                     "verify_token": "wa-verify", "app_secret": WA_SECRET, **fast},
    }


@pytest.fixture()
def client(bot, standin):
    standin.calls.clear()
    standin.fail_first.clear()
    standin._failed.clear()
    app = create_app(bot, settings(), credentials=credentials(standin.url))
    with TestClient(app) as c:
        yield c


def user_messages(client: TestClient, conversation_id: str) -> list[Any]:
    bot = client.app.state.runtime.bot
    if not bot.store.exists(conversation_id):
        return []
    return bot.store.load(conversation_id).user_messages(session_only=False)


def hub_sig(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_agent_message(client: TestClient, conversation_id: str, text: str) -> None:
    """An agent message as the handoff queue publishes it (bot.outbound -> runtime.subscribe)."""
    client.app.state.runtime.bot.outbound(conversation_id, Reply(text))


BUTTONS = Reply("How can I help?", (Button("Track my order", "/order_status"),
                                    Button("Talk to a person", "/human_handoff")))


# ---------------------------------------------------------------- credentials.yml
def test_credentials_file_env_expansion_and_errors_with_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("SB_TEST_TG_TOKEN", "999:XYZ")
    path = tmp_path / "credentials.yml"
    path.write_text("rest:\nsocketio:\n  session_persistence: true\ntelegram:\n"
                    "  access_token: ${SB_TEST_TG_TOKEN}\n  verify: my_bot\n"
                    "rasa_addons.core.channels.webexteams.WebexTeamsInput:\n  x: 1\n")
    creds = read_credentials(path)
    assert set(creds.channels) == {"rest", "socketio", "telegram"}
    assert creds.channels["telegram"]["access_token"] == "999:XYZ"
    assert creds.channels["socketio"]["bot_message_evt"] == "bot_uttered"

    path.write_text("slack:\n  slack_token: ${SB_TEST_UNSET_VAR}\n")
    with pytest.raises(ProjectError) as err:
        read_credentials(path)
    text = str(err.value)
    assert "credentials.yml:2" in text and "SB_TEST_UNSET_VAR" in text
    assert "slack_signing_secret" in text
    with pytest.raises(ProjectError, match="not found"):
        read_credentials(tmp_path / "nope.yml")


# ---------------------------------------------------------------- socket.io
def test_rasa_socketio_client_session_request_user_uttered_bot_uttered(bot):
    socketio = pytest.importorskip("socketio")
    app = create_app(bot, settings(), credentials={"socketio": {"session_persistence": True}})
    with ServerThread(app) as server:
        client = socketio.Client(reconnection=False)
        got: list[Any] = []
        confirmed = threading.Event()
        session: list[str] = []

        @client.on("session_confirm")
        def on_confirm(data: Any) -> None:
            session.append(data)
            confirmed.set()

        @client.on("bot_uttered")
        def on_bot(data: Any) -> None:
            got.append(data)

        client.connect(server.url, socketio_path="socket.io", transports=["polling"])
        try:
            client.emit("session_request", {"session_id": None})
            assert confirmed.wait(10)
            session_id = session[0]
            assert isinstance(session_id, str) and session_id
            client.emit("user_uttered", {"message": "hi", "session_id": session_id,
                                         "customData": {"language": "en"}})
            deadline = time.monotonic() + 20
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert got, "no bot_uttered"
            for message in got:
                assert set(message) <= {"text", "quick_replies", "attachment"} or \
                    isinstance(message, dict)
            tracker = bot.store.load(session_id)
            assert tracker.latest_message.channel == "socketio"
            assert tracker.latest_message.metadata == {"language": "en"}
            # an agent message after a handoff reaches the session's room
            count = len(got)
            bot.outbound(session_id, Reply("Hi, this is Anna from support."))
            deadline = time.monotonic() + 10
            while len(got) == count and time.monotonic() < deadline:
                time.sleep(0.05)
            assert got[-1] == {"text": "Hi, this is Anna from support."}
        finally:
            client.disconnect()


def test_socketio_buttons_are_rasa_quick_replies():
    from supportbot.channels.socketio_channel import socketio_messages

    assert socketio_messages(BUTTONS) == [{"text": "How can I help?", "quick_replies": [
        {"content_type": "text", "title": "Track my order", "payload": "/order_status"},
        {"content_type": "text", "title": "Talk to a person", "payload": "/human_handoff"}]}]
    assert socketio_messages(Reply("a\n\nb", image="http://x/y.png")) == [
        {"text": "a"}, {"text": "b"},
        {"attachment": {"type": "image", "payload": {"src": "http://x/y.png"}}}]


# ---------------------------------------------------------------- Telegram
TG_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def test_telegram_message_is_answered_through_the_api(client, standin):
    r = client.post("/webhooks/telegram/webhook", json=fixture("telegram_message.json"),
                    headers=TG_HEADERS)
    assert r.status_code == 200
    sent = standin.wait_for("/sendMessage")
    assert all(m["chat_id"] == "1111111" for m in sent)
    assert standin.calls[0]["path"] == "bot123:ABC/sendMessage"
    [msg] = user_messages(client, "1111111")
    assert msg.text == "/start" and msg.channel == "telegram"


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
def test_telegram_wrong_secret_is_403_and_nothing_is_handled(client, standin, headers):
    r = client.post("/webhooks/telegram/webhook", json=fixture("telegram_message.json"),
                    headers=headers)
    assert r.status_code == 403
    assert user_messages(client, "1111111") == []
    assert standin.calls == []


def test_telegram_button_press_sends_the_payload_and_edits_are_ignored(client, standin):
    for name in ("telegram_edited_message.json", "telegram_bot_message.json"):
        assert client.post("/webhooks/telegram/webhook", json=fixture(name),
                           headers=TG_HEADERS).status_code == 200
    assert user_messages(client, "1111111") == []
    client.post("/webhooks/telegram/webhook", json=fixture("telegram_callback_query.json"),
                headers=TG_HEADERS)
    [msg] = user_messages(client, "1111111")
    assert msg.text == "/human_handoff"
    standin.wait_for("/answerCallbackQuery")
    # the same update again (Telegram re-delivers) is not handled twice
    client.post("/webhooks/telegram/webhook", json=fixture("telegram_callback_query.json"),
                headers=TG_HEADERS)
    assert len(user_messages(client, "1111111")) == 1


def test_telegram_buttons_become_an_inline_keyboard(client):
    channel = client.app.state.channels.channels["telegram"]
    [(method, body)] = channel.message_payloads("42", BUTTONS)
    assert method == "sendMessage"
    assert body["reply_markup"] == {"inline_keyboard": [
        [{"text": "Track my order", "callback_data": "/order_status"}],
        [{"text": "Talk to a person", "callback_data": "/human_handoff"}]]}
    long = "/inform" + json.dumps({"order_number": "x" * 80})
    data = channel.callback_data(long)
    assert len(data.encode()) <= 64
    parsed = channel.parse_update({"update_id": 5, "callback_query": {
        "id": "1", "data": data, "message": {"chat": {"id": 42}}, "from": {"id": 42}}})
    assert parsed[1] == long


def test_agent_message_after_handoff_is_retried_until_delivered(client, standin):
    client.post("/webhooks/telegram/webhook", json=fixture("telegram_message.json"),
                headers=TG_HEADERS)
    standin.wait_for("/sendMessage")
    standin.fail_first.add("bot123:ABC/sendMessage")
    before = len(standin.sent("/sendMessage"))
    deliver_agent_message(client, "1111111", "Hi, Anna here. Let me check.")
    sent = standin.wait_for("/sendMessage", before + 1)
    assert sent[-1] == {"chat_id": "1111111", "text": "Hi, Anna here. Let me check."}
    assert any(c["failed"] for c in standin.calls)


# ---------------------------------------------------------------- Slack
def slack_post(client: TestClient, body: bytes, *, secret: str = SLACK_SECRET,
               ts: int | None = None, extra: dict[str, str] | None = None,
               content_type: str = "application/json"):
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {"X-Slack-Request-Timestamp": stamp, "Content-Type": content_type,
               "X-Slack-Signature": slack_signature(secret, stamp, body), **(extra or {})}
    return client.post("/webhooks/slack/webhook", content=body, headers=headers)


def test_slack_url_verification_and_message(client, standin):
    body = json.dumps(fixture("slack_url_verification.json")).encode()
    r = slack_post(client, body)
    assert r.json() == {"challenge": fixture("slack_url_verification.json")["challenge"]}
    r = slack_post(client, json.dumps(fixture("slack_message_im.json")).encode())
    assert r.status_code == 200
    sent = standin.wait_for("/chat.postMessage")
    assert all(m["channel"] == "D024BE91L" for m in sent)
    assert standin.calls[-1]["auth"] == "Bearer xoxb-test"
    [msg] = user_messages(client, "U2147483697")
    assert msg.text == "Hello hello can you hear me?" and msg.channel == "slack"


def test_slack_bad_or_old_signature_is_401_and_nothing_is_handled(client, standin):
    body = json.dumps(fixture("slack_message_im.json")).encode()
    assert slack_post(client, body, secret="not-the-secret").status_code == 401
    assert slack_post(client, body, ts=int(time.time()) - 301).status_code == 401
    assert client.post("/webhooks/slack/webhook", content=body).status_code == 401
    assert user_messages(client, "U2147483697") == []
    assert standin.calls == []


def test_slack_retries_bots_and_edits_are_not_handled_twice(client, standin):
    body = json.dumps(fixture("slack_message_im.json")).encode()
    slack_post(client, body)
    r = slack_post(client, body, extra={"X-Slack-Retry-Num": "1",
                                        "X-Slack-Retry-Reason": "http_timeout"})
    assert r.status_code == 200
    for name in ("slack_bot_message.json", "slack_message_changed.json"):
        slack_post(client, json.dumps(fixture(name)).encode())
    assert len(user_messages(client, "U2147483697")) == 1


def test_slack_mention_and_button_press(client, standin):
    slack_post(client, json.dumps(fixture("slack_app_mention.json")).encode())
    [msg] = user_messages(client, "U061F7AUR")
    assert msg.text == "is it everything a river should be?"
    assert msg.metadata["out_channel"] == "C0LAN2Q65"
    from urllib.parse import urlencode

    form = urlencode({"payload": json.dumps(fixture("slack_block_actions.json"))}).encode()
    slack_post(client, form, content_type="application/x-www-form-urlencoded")
    [msg] = user_messages(client, "UA8RXUSPL")
    assert msg.text == "/human_handoff"


def test_slack_buttons_become_blocks(client):
    channel = client.app.state.channels.channels["slack"]
    [body] = channel.message_payloads(BUTTONS, "C1", None)
    assert body["text"] == "How can I help?"
    actions = body["blocks"][-1]
    assert actions["type"] == "actions"
    assert [(e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("Track my order", "/order_status"), ("Talk to a person", "/human_handoff")]


# ---------------------------------------------------------------- Messenger and WhatsApp
@pytest.mark.parametrize("name,verify", [("facebook", "fb-verify"), ("whatsapp", "wa-verify")])
def test_meta_verify_token_handshake(client, name, verify):
    url = f"/webhooks/{name}/webhook"
    r = client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": verify,
                                "hub.challenge": "1158201444"})
    assert r.status_code == 200 and r.text == "1158201444"
    r = client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                "hub.challenge": "1158201444"})
    assert r.status_code == 403


def test_messenger_message_quick_reply_and_receipts(client, standin):
    url = "/webhooks/facebook/webhook"
    for name in ("facebook_delivery.json", "facebook_echo.json", "facebook_message.json",
                 "facebook_quick_reply.json"):
        body = json.dumps(fixture(name)).encode()
        r = client.post(url, content=body, headers={"X-Hub-Signature-256":
                                                    hub_sig(FB_SECRET, body)})
        assert r.status_code == 200
    texts = [m.text for m in user_messages(client, "USER_ID")]
    assert texts == ["hello, world!", "/human_handoff"]
    sent = standin.wait_for("/me/messages")
    assert sent[0]["recipient"] == {"id": "USER_ID"}
    assert standin.calls[0]["query"] == {"access_token": "PAGE"}
    channel = client.app.state.channels.channels["facebook"]
    [body] = channel.message_payloads("USER_ID", BUTTONS)
    assert body["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Track my order", "payload": "/order_status"},
        {"content_type": "text", "title": "Talk to a person", "payload": "/human_handoff"}]


@pytest.mark.parametrize("name,secret", [("facebook", FB_SECRET), ("whatsapp", WA_SECRET)])
def test_meta_bad_signature_is_403_and_nothing_is_handled(client, standin, name, secret):
    fx = "facebook_message.json" if name == "facebook" else "whatsapp_text.json"
    body = json.dumps(fixture(fx)).encode()
    url = f"/webhooks/{name}/webhook"
    for headers in ({}, {"X-Hub-Signature-256": hub_sig("wrong", body)},
                    {"X-Hub-Signature-256": "sha1=" + "0" * 40}):
        assert client.post(url, content=body, headers=headers).status_code == 403
    assert user_messages(client, "USER_ID") == []
    assert user_messages(client, "16315551181") == []
    assert standin.calls == []


def test_whatsapp_text_button_reply_and_statuses(client, standin):
    url = "/webhooks/whatsapp/webhook"
    for name in ("whatsapp_status.json", "whatsapp_text.json", "whatsapp_button_reply.json"):
        body = json.dumps(fixture(name)).encode()
        r = client.post(url, content=body,
                        headers={"X-Hub-Signature-256": hub_sig(WA_SECRET, body)})
        assert r.status_code == 200
    texts = [m.text for m in user_messages(client, "16315551181")]
    assert texts == ["this is a text message", "/human_handoff"]
    sent = standin.wait_for("123456123/messages")
    assert sent[0]["to"] == "16315551181" and sent[0]["messaging_product"] == "whatsapp"
    assert standin.calls[0]["auth"] == "Bearer WA-TOKEN"
    channel = client.app.state.channels.channels["whatsapp"]
    [body] = channel.message_payloads("1", BUTTONS)
    assert body["interactive"]["type"] == "button"
    assert body["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "/order_status", "title": "Track my order"}},
        {"type": "reply", "reply": {"id": "/human_handoff", "title": "Talk to a person"}}]
    many = Reply("pick", tuple(Button(f"Option {i}", f"/opt{i}") for i in range(5)))
    [body] = channel.message_payloads("1", many)
    assert body["interactive"]["type"] == "list"
    assert len(body["interactive"]["action"]["sections"][0]["rows"]) == 5


# ---------------------------------------------------------------- sender
def test_sender_gives_up_after_bounded_attempts_and_logs(standin, caplog):
    import asyncio

    async def go() -> None:
        sender = OutboundSender("test", attempts=2, backoff=0.01)
        try:
            with pytest.raises(DeliveryError):
                await sender.post("http://127.0.0.1:1/nothing-listens", {"a": 1})
        finally:
            await sender.aclose()

    asyncio.run(go())
    assert "failed after 2 attempts" in caplog.text


def test_rest_channel_still_works_with_channels_on(client):
    r = client.post("/webhooks/rest/webhook", json={"sender": "rest-u", "message": "hi"})
    assert r.status_code == 200 and isinstance(r.json(), list)


def test_credentials_object_is_accepted():
    creds = Credentials.from_mapping({"socketio": None})
    assert "socketio" in creds and "rest" in creds
