"""Facebook Messenger channel: `GET/POST /webhooks/facebook/webhook`.

`GET` answers Meta's verify-token handshake (`hub.mode=subscribe`, `hub.verify_token`,
`hub.challenge`). `POST` must carry `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
app secret), else 403 and nothing is processed. Text messages, quick-reply presses
(`message.quick_reply.payload`) and postbacks (`postback.payload`) become customer messages;
echoes, delivery and read receipts are ignored. Buttons go out as quick replies (at most 13,
titles cut to 20 characters).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from supportbot.channels.base import Channel, hub_signature_ok
from supportbot.dialogue.nlg import Reply
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")

GRAPH_API = "https://graph.facebook.com/v19.0"
SIGNATURE_HEADER = "x-hub-signature-256"


def verify_handshake(request: Request, verify_token: str) -> Response:
    """Meta's webhook subscription check: echo `hub.challenge` when the token matches."""
    import hmac

    params = request.query_params
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and \
            hmac.compare_digest(token.encode(), verify_token.encode()):
        return PlainTextResponse(params.get("hub.challenge", ""))
    log.warning("webhook verification with a wrong verify token refused")
    return JSONResponse({"error": "forbidden", "message": "wrong verify token"}, status_code=403)


class MetaChannel(Channel):
    """Shared webhook plumbing for Messenger and WhatsApp."""

    verify_key = "verify"
    secret_key = "secret"

    def router(self) -> APIRouter:
        router = APIRouter(tags=[f"{self.name.capitalize()} channel"])
        path = f"/webhooks/{self.name}/webhook"

        @router.get(f"/webhooks/{self.name}/", summary=f"{self.name} channel health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @router.get(path, summary=f"{self.name} webhook verification (hub.challenge)")
        async def verify(request: Request) -> Response:
            return verify_handshake(request, str(self.config[self.verify_key]))

        @router.post(path, summary=f"{self.name} webhook (signed with X-Hub-Signature-256)")
        async def webhook(request: Request) -> Response:
            body = await request.body()
            if not hub_signature_ok(str(self.config[self.secret_key]), body,
                                    request.headers.get(SIGNATURE_HEADER)):
                log.warning("%s: request with a missing or wrong signature refused", self.name)
                return JSONResponse({"error": "forbidden", "message": "invalid signature"},
                                    status_code=403)
            try:
                import json

                data = json.loads(body or b"{}")
            except ValueError:
                return JSONResponse({"error": "bad_request", "message": "invalid JSON"},
                                    status_code=400)
            messages = self.parse(data) if isinstance(data, dict) else []
            if not messages:
                return PlainTextResponse("success")
            return PlainTextResponse("success", background=BackgroundTask(self._process,
                                                                          messages))

        return router

    async def _process(self, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
        for sender_id, text, metadata in messages:
            await self.handle_message(sender_id, text, metadata)

    def parse(self, data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        raise NotImplementedError


class FacebookChannel(MetaChannel):
    name = "facebook"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        super().__init__(config, runtime)
        self.page_token = str(self.config["page-access-token"])
        self.base = self.api_url(GRAPH_API)

    def parse(self, data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        if data.get("object") != "page":
            return []
        out: list[tuple[str, str, dict[str, Any]]] = []
        for entry in data.get("entry") or []:
            for event in (entry or {}).get("messaging") or []:
                sender = str(((event or {}).get("sender") or {}).get("id") or "")
                if not sender:
                    continue
                message = event.get("message")
                postback = event.get("postback")
                text: str | None = None
                if isinstance(message, dict):
                    if message.get("is_echo"):
                        continue
                    mid = message.get("mid")
                    if mid and self.seen.check_and_add(str(mid)):
                        continue
                    quick = message.get("quick_reply") or {}
                    text = quick.get("payload") or message.get("text")
                elif isinstance(postback, dict):
                    mid = postback.get("mid")
                    if mid and self.seen.check_and_add(str(mid)):
                        continue
                    text = postback.get("payload") or postback.get("title")
                # delivery / read receipts, reactions: nothing to answer
                if isinstance(text, str) and text:
                    out.append((sender, text, {"page_id": (event.get("recipient") or {})
                                               .get("id")}))
        return out

    def message_payloads(self, recipient: str, reply: Reply) -> list[dict[str, Any]]:
        def wrap(message: dict[str, Any]) -> dict[str, Any]:
            return {"recipient": {"id": recipient}, "messaging_type": "RESPONSE",
                    "message": message}

        out: list[dict[str, Any]] = []
        if reply.buttons:
            if len(reply.buttons) > 13:
                log.warning("facebook: %d buttons; Messenger shows 13 quick replies",
                            len(reply.buttons))
            out.append(wrap({"text": reply.text or "\u2063", "quick_replies": [
                {"content_type": "text", "title": b.title[:20],
                 "payload": (b.payload or b.title)[:1000]} for b in reply.buttons[:13]]}))
        elif reply.text:
            out.append(wrap({"text": reply.text}))
        if reply.image:
            out.append(wrap({"attachment": {"type": "image",
                                            "payload": {"url": reply.image}}}))
        if reply.custom:
            out.append(wrap(dict(reply.custom)))
        return out

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        for body in self.message_payloads(recipient, reply):
            await self.sender.post(f"{self.base}/me/messages", body, what="message",
                                   params={"access_token": self.page_token})
