"""WhatsApp Cloud API channel: `GET/POST /webhooks/whatsapp/webhook`.

Keys (supportbot's own; Rasa has no WhatsApp Cloud channel): `access_token`, `phone_number_id`,
`verify_token`, `app_secret`. The handshake and the `X-Hub-Signature-256` check are Meta's, as
for Messenger. Text messages, reply-button and list presses (`interactive.button_reply.id` /
`list_reply.id`, the payload) and template quick-reply buttons (`button.payload`) become
customer messages; `statuses` (sent / delivered / read receipts) are ignored. Up to 3 buttons go
out as interactive reply buttons, 4-10 as an interactive list.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from supportbot.channels.facebook import GRAPH_API, MetaChannel
from supportbot.dialogue.nlg import Reply
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")


class WhatsAppChannel(MetaChannel):
    name = "whatsapp"
    verify_key = "verify_token"
    secret_key = "app_secret"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        super().__init__(config, runtime)
        self.token = str(self.config["access_token"])
        self.phone_number_id = str(self.config["phone_number_id"])
        self.base = self.api_url(GRAPH_API)

    def parse(self, data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        if data.get("object") != "whatsapp_business_account":
            return []
        out: list[tuple[str, str, dict[str, Any]]] = []
        for entry in data.get("entry") or []:
            for change in (entry or {}).get("changes") or []:
                value = (change or {}).get("value") or {}
                if (change or {}).get("field", "messages") != "messages":
                    continue
                names = {c.get("wa_id"): (c.get("profile") or {}).get("name")
                         for c in value.get("contacts") or [] if isinstance(c, dict)}
                for message in value.get("messages") or []:
                    parsed = self._message(message, names, value.get("metadata") or {})
                    if parsed is not None:
                        out.append(parsed)
        return out

    def _message(self, message: Any, names: Mapping[Any, Any], meta: Mapping[str, Any]
                 ) -> tuple[str, str, dict[str, Any]] | None:
        if not isinstance(message, dict) or not message.get("from"):
            return None
        mid = message.get("id")
        if mid and self.seen.check_and_add(str(mid)):
            return None
        kind = message.get("type")
        text: Any = None
        if kind == "text":
            text = (message.get("text") or {}).get("body")
        elif kind == "interactive":
            interactive = message.get("interactive") or {}
            reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
            text = reply.get("id") or reply.get("title")
        elif kind == "button":
            button = message.get("button") or {}
            text = button.get("payload") or button.get("text")
        if not isinstance(text, str) or not text:
            return None  # images, reactions, system messages, unsupported types
        sender = str(message["from"])
        return sender, text, {"wa_id": sender, "name": names.get(sender),
                              "phone_number_id": meta.get("phone_number_id")}

    def message_payloads(self, to: str, reply: Reply) -> list[dict[str, Any]]:
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        out: list[dict[str, Any]] = []
        buttons = reply.buttons
        if buttons and len(buttons) <= 3:
            out.append({**base, "type": "interactive", "interactive": {
                "type": "button", "body": {"text": (reply.text or "\u2063")[:1024]},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": (b.payload or b.title)[:256],
                                                "title": b.title[:20]}} for b in buttons]}}})
        elif buttons:
            if len(buttons) > 10:
                log.warning("whatsapp: %d buttons; a list shows 10", len(buttons))
            out.append({**base, "type": "interactive", "interactive": {
                "type": "list", "body": {"text": (reply.text or "\u2063")[:4096]},
                "action": {"button": "Choose", "sections": [{"rows": [
                    {"id": (b.payload or b.title)[:200], "title": b.title[:24]}
                    for b in buttons[:10]]}]}}})
        elif reply.text:
            out.append({**base, "type": "text", "text": {"body": reply.text[:4096]}})
        if reply.image:
            out.append({**base, "type": "image", "image": {"link": reply.image}})
        if reply.custom:
            out.append({**base, **dict(reply.custom)})
        return out

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        for body in self.message_payloads(recipient, reply):
            await self.sender.post(f"{self.base}/{self.phone_number_id}/messages", body,
                                   what="message",
                                   headers={"Authorization": f"Bearer {self.token}"})
