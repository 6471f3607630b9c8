"""Telegram Bot API webhook channel: `POST /webhooks/telegram/webhook`.

Checks `X-Telegram-Bot-Api-Secret-Token` against `secret_token` (403 when it differs or is
missing; without a configured `secret_token` the webhook is unauthenticated and a warning is
logged). Text messages and inline-keyboard presses (`callback_query.data`, the button payload)
become customer messages; edits, bots' messages, channel posts and non-text updates are
ignored. Buttons go out as an inline keyboard whose `callback_data` is the payload.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from supportbot.channels.base import Channel
from supportbot.channels.sender import DeliveryError
from supportbot.dialogue.nlg import Reply
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")

TELEGRAM_API = "https://api.telegram.org"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
_CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        super().__init__(config, runtime)
        self.token = str(self.config["access_token"])
        self.secret = self.config.get("secret_token") or None
        self.base = f"{self.api_url(TELEGRAM_API)}/bot{self.token}"
        # long payloads do not fit callback_data: they travel as a short key
        self._long_payloads: OrderedDict[str, str] = OrderedDict()

    # ------------------------------------------------------------------ inbound
    def router(self) -> APIRouter:
        router = APIRouter(tags=["Telegram channel"])

        @router.get("/webhooks/telegram/", summary="Telegram channel health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @router.post("/webhooks/telegram/webhook", summary="Telegram webhook (Bot API updates)")
        async def webhook(request: Request) -> Response:
            if self.secret is not None:
                given = request.headers.get(SECRET_HEADER, "")
                if not hmac.compare_digest(given.encode(), str(self.secret).encode()):
                    log.warning("telegram: update with a wrong secret token refused")
                    return JSONResponse({"error": "forbidden",
                                         "message": "wrong secret token"}, status_code=403)
            try:
                update = await request.json()
            except ValueError:
                return JSONResponse({"error": "bad_request", "message": "invalid JSON"},
                                    status_code=400)
            parsed = self.parse_update(update) if isinstance(update, dict) else None
            if parsed is None:
                return Response("success", media_type="text/plain")
            sender_id, text, metadata, callback_id = parsed
            return Response("success", media_type="text/plain", background=BackgroundTask(
                self._process, sender_id, text, metadata, callback_id))

        return router

    def parse_update(self, update: Mapping[str, Any]
                     ) -> tuple[str, str, dict[str, Any], str | None] | None:
        """(chat id, text, metadata, callback query id) of an update worth answering."""
        update_id = update.get("update_id")
        if update_id is not None and self.seen.check_and_add(f"u{update_id}"):
            return None  # Telegram re-sent an update we already took
        query = update.get("callback_query")
        if isinstance(query, dict):
            message = query.get("message") or {}
            chat = message.get("chat") or {}
            data = query.get("data")
            if not isinstance(data, str) or "id" not in chat:
                return None
            data = self._long_payloads.get(data, data)
            return str(chat["id"]), data, self._metadata(query.get("from"), chat), \
                str(query.get("id")) if query.get("id") is not None else None
        message = update.get("message")
        if not isinstance(message, dict):
            return None  # edited_message, channel_post, my_chat_member, ...
        sender = message.get("from") or {}
        if sender.get("is_bot"):
            return None
        text = message.get("text")
        chat = message.get("chat") or {}
        if not isinstance(text, str) or "id" not in chat:
            return None  # stickers, photos, service messages
        return str(chat["id"]), text, self._metadata(sender, chat), None

    @staticmethod
    def _metadata(sender: Any, chat: Mapping[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"chat_id": chat.get("id"), "chat_type": chat.get("type")}
        if isinstance(sender, dict):
            meta["user_id"] = sender.get("id")
            if sender.get("language_code"):
                meta["language_code"] = sender["language_code"]
        return meta

    async def _process(self, sender_id: str, text: str, metadata: dict[str, Any],
                       callback_id: str | None) -> None:
        if callback_id is not None:
            try:  # stop the button's spinner; best effort
                await self.sender.post(f"{self.base}/answerCallbackQuery",
                                       {"callback_query_id": callback_id},
                                       what="answerCallbackQuery")
            except DeliveryError:
                pass  # logged by the sender; the message is handled all the same
        await self.handle_message(sender_id, text, metadata)

    # ------------------------------------------------------------------ outbound
    def callback_data(self, payload: str) -> str:
        if len(payload.encode()) <= _CALLBACK_DATA_MAX:
            return payload
        key = "sb:" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self._long_payloads[key] = payload
        while len(self._long_payloads) > 4096:
            self._long_payloads.popitem(last=False)
        return key

    def message_payloads(self, chat_id: str, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
        """(method, body) calls that send `reply`."""
        calls: list[tuple[str, dict[str, Any]]] = []
        if reply.buttons:
            keyboard = [[{"text": b.title, "callback_data": self.callback_data(b.payload or
                                                                              b.title)}]
                        for b in reply.buttons]
            calls.append(("sendMessage", {"chat_id": chat_id, "text": reply.text or "\u2063",
                                          "reply_markup": {"inline_keyboard": keyboard}}))
        elif reply.text:
            calls.append(("sendMessage", {"chat_id": chat_id, "text": reply.text}))
        if reply.image:
            calls.append(("sendPhoto", {"chat_id": chat_id, "photo": reply.image}))
        if reply.custom:
            custom = dict(reply.custom)
            calls.append(("sendMessage", {"chat_id": chat_id, **custom}))
        return calls

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        for method, body in self.message_payloads(recipient, reply):
            await self.sender.post(f"{self.base}/{method}", body, what=method)

    async def startup(self) -> None:
        if self.secret is None:
            log.warning("telegram: no `secret_token` in credentials.yml: anyone who knows the "
                        "webhook URL can post updates; set one")
        url = self.config.get("webhook_url")
        if url:  # in the background: the server does not wait for Telegram to start
            self._register = asyncio.ensure_future(self._set_webhook(str(url)))

    async def _set_webhook(self, url: str) -> None:
        if url:
            body: dict[str, Any] = {"url": url, "allowed_updates": ["message", "callback_query"]}
            if self.secret is not None:
                body["secret_token"] = self.secret
            try:
                await self.sender.post(f"{self.base}/setWebhook", body, what="setWebhook")
            except DeliveryError:
                log.error("telegram: could not register the webhook %s", url)
