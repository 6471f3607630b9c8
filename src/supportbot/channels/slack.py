"""Slack Events API channel: `POST /webhooks/slack/webhook` (events and interactivity).

Every request must carry a valid `X-Slack-Signature` (`v0=` HMAC-SHA256 of
`v0:{X-Slack-Request-Timestamp}:{raw body}` with the signing secret) and a timestamp at most
5 minutes old, else 401 and nothing is processed. `url_verification` is answered with its
challenge. Slack's retries (`X-Slack-Retry-Num`) of an event already taken are acknowledged and
dropped (by event id). Messages from bots (`bot_id`, `subtype: bot_message`), edits
(`message_changed`) and other subtypes are ignored. Buttons go out as Block Kit `actions`; a
pressed button (a `block_actions` interaction) comes back with its payload as the text.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from supportbot.channels.base import Channel
from supportbot.channels.sender import DeliveryError
from supportbot.dialogue.nlg import Reply
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")

SLACK_API = "https://slack.com/api"
MAX_AGE_SECONDS = 5 * 60


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack computes for `body`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_blocks(reply: Reply) -> list[dict[str, Any]]:
    """Block Kit for a reply with buttons: the text as a section, the buttons as actions."""
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": reply.text}})
    elements = [{"type": "button", "text": {"type": "plain_text", "text": b.title[:75],
                                            "emoji": True},
                 "value": (b.payload or b.title)[:2000], "action_id": f"button_{i}"}
                for i, b in enumerate(reply.buttons[:25])]
    blocks.append({"type": "actions", "elements": elements})
    return blocks


class SlackChannel(Channel):
    name = "slack"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        super().__init__(config, runtime)
        self.token = str(self.config["slack_token"])
        self.signing_secret = str(self.config["slack_signing_secret"])
        self.fixed_channel = self.config.get("slack_channel") or None
        self.use_threads = bool(self.config.get("use_threads"))
        self.base = self.api_url(SLACK_API)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str | None:
        """None when the request is Slack's; else why not."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp or not signature:
            return "missing signature headers"
        try:
            age = abs((now if now is not None else time.time()) - int(timestamp))
        except ValueError:
            return "bad timestamp"
        if age > MAX_AGE_SECONDS:
            return "timestamp older than 5 minutes"
        expected = slack_signature(self.signing_secret, timestamp, body)
        if not hmac.compare_digest(expected, signature):
            return "signature does not match"
        return None

    def router(self) -> APIRouter:
        router = APIRouter(tags=["Slack channel"])

        @router.get("/webhooks/slack/", summary="Slack channel health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @router.post("/webhooks/slack/webhook", summary="Slack Events API and interactivity")
        async def webhook(request: Request) -> Response:
            body = await request.body()
            problem = self.verify(request.headers, body)
            if problem is not None:
                log.warning("slack: request refused: %s", problem)
                return JSONResponse({"error": "unauthorized", "message": problem},
                                    status_code=401)
            content_type = request.headers.get("content-type", "")
            try:
                if content_type.startswith("application/x-www-form-urlencoded"):
                    form = parse_qs(body.decode())
                    payload = json.loads(form.get("payload", ["{}"])[0])
                    parsed = self.parse_interaction(payload)
                else:
                    data = json.loads(body or b"{}")
                    if data.get("type") == "url_verification":
                        return JSONResponse({"challenge": data.get("challenge")})
                    retry = request.headers.get("x-slack-retry-num")
                    parsed = self.parse_event(data, retry)
            except (ValueError, AttributeError):
                return JSONResponse({"error": "bad_request", "message": "invalid body"},
                                    status_code=400)
            if parsed is None:
                return Response(status_code=200)
            sender_id, text, metadata = parsed
            return Response(status_code=200, background=BackgroundTask(
                self.handle_message, sender_id, text, metadata))

        return router

    def parse_event(self, data: Mapping[str, Any], retry: str | None = None
                    ) -> tuple[str, str, dict[str, Any]] | None:
        if data.get("type") != "event_callback":
            return None
        event_id = str(data.get("event_id") or "")
        if event_id and self.seen.check_and_add(event_id):
            log.info("slack: event %s already taken (retry %s) is dropped", event_id, retry)
            return None
        event = data.get("event") or {}
        if event.get("type") not in ("message", "app_mention"):
            return None
        if event.get("bot_id") or event.get("subtype") or event.get("hidden"):
            return None  # our own / other bots' messages, edits, deletions, joins...
        user, text, channel = event.get("user"), event.get("text"), event.get("channel")
        if not user or not isinstance(text, str) or not channel:
            return None
        if event.get("type") == "message" and event.get("channel_type") not in (None, "im"):
            # in channels the bot answers when mentioned (the `app_mention` event); Slack also
            # sends the same text as a channel `message`, which is not answered twice
            return None
        text = _strip_mention(text)
        metadata: dict[str, Any] = {"out_channel": channel, "users": [user],
                                    "team_id": data.get("team_id")}
        thread = event.get("thread_ts") or (event.get("ts") if self.use_threads else None)
        if thread:
            metadata["thread_id"] = thread
        return str(user), text, metadata

    def parse_interaction(self, payload: Mapping[str, Any]
                          ) -> tuple[str, str, dict[str, Any]] | None:
        if payload.get("type") != "block_actions":
            return None
        actions = payload.get("actions") or []
        user = (payload.get("user") or {}).get("id")
        channel = (payload.get("channel") or {}).get("id") or \
            (payload.get("container") or {}).get("channel_id")
        if not actions or not user or not channel:
            return None
        value = actions[0].get("value")
        if not isinstance(value, str):
            return None
        trigger = payload.get("trigger_id")
        if trigger and self.seen.check_and_add(f"t{trigger}"):
            return None
        return str(user), value, {"out_channel": channel, "users": [user]}

    def message_payloads(self, reply: Reply, channel: str, thread: str | None
                         ) -> list[dict[str, Any]]:
        base: dict[str, Any] = {"channel": channel}
        if thread:
            base["thread_ts"] = thread
        out: list[dict[str, Any]] = []
        if reply.buttons:
            out.append({**base, "text": reply.text or "", "blocks": slack_blocks(reply)})
        elif reply.text:
            out.append({**base, "text": reply.text, "mrkdwn": True})
        if reply.image:
            out.append({**base, "text": reply.image,
                        "blocks": [{"type": "image", "image_url": reply.image,
                                    "alt_text": reply.text or "image"}]})
        if reply.custom:
            out.append({**base, **dict(reply.custom)})
        return out

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        channel = self.fixed_channel or metadata.get("out_channel") or recipient
        for body in self.message_payloads(reply, str(channel), metadata.get("thread_id")):
            response = await self.sender.post(
                f"{self.base}/chat.postMessage", body, what="chat.postMessage",
                headers={"Authorization": f"Bearer {self.token}"})
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if isinstance(answer, dict) and answer.get("ok") is False:
                log.error("slack: chat.postMessage refused: %s", answer.get("error"))
                raise DeliveryError(f"slack: {answer.get('error')}", response)


def _strip_mention(text: str) -> str:
    """`<@U0LAN0Z89> is it everything?` -> `is it everything?`."""
    import re

    return re.sub(r"<@[A-Z0-9]+>", "", text).strip()
