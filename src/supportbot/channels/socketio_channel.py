"""Rasa's socket.io channel, so that Rasa web chat widgets connect unchanged.

`session_request {session_id?}` -> `session_confirm <session id>`;
`user_uttered {message, session_id, customData?}` -> one `bot_uttered` per message:
`{"text"}`, `{"text", "quick_replies": [{"content_type": "text", "title", "payload"}]}`,
`{"attachment": {"type": "image", "payload": {"src"}}}` or a custom payload as it is.
With `session_persistence: true` the conversation id is the session id (the client's room, so
agent messages reach every tab of the session); otherwise it is the socket id.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import socketio
from fastapi import APIRouter

from supportbot.channels.base import Channel
from supportbot.dialogue.nlg import Reply
from supportbot.errors import SupportbotError
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")


def socketio_messages(reply: Reply) -> list[dict[str, Any]]:
    """A reply as Rasa's SocketIOOutput emits it."""
    out: list[dict[str, Any]] = []
    if reply.buttons:
        parts = (reply.text or "").strip().split("\n\n") or [reply.text or ""]
        out.extend({"text": part} for part in parts)
        out[-1]["quick_replies"] = [{"content_type": "text", "title": b.title,
                                     "payload": b.payload or b.title} for b in reply.buttons]
    elif reply.text:
        out.extend({"text": part} for part in reply.text.strip().split("\n\n"))
    if reply.image:
        out.append({"attachment": {"type": "image", "payload": {"src": reply.image}}})
    if reply.custom:
        out.append(dict(reply.custom))
    return out


class SocketIOChannel(Channel):
    """python-socketio `AsyncServer`, mounted at `/socket.io` by `mount_channels`."""

    name = "socketio"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        super().__init__(config, runtime)
        self.user_event = str(self.config.get("user_message_evt") or "user_uttered")
        self.bot_event = str(self.config.get("bot_message_evt") or "bot_uttered")
        self.persistence = bool(self.config.get("session_persistence"))
        self.namespace = self.config.get("namespace") or None
        self.metadata_key = str(self.config.get("metadata_key") or "customData")
        origins = self.config.get("cors_allowed_origins", "*")
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=origins,
                                        logger=False, engineio_logger=False)
        self._register()

    def router(self) -> APIRouter:
        return APIRouter()  # the socket.io server is an ASGI app of its own: see asgi_app()

    def asgi_app(self) -> socketio.ASGIApp:
        """The ASGI app to mount at `/socket.io` (it takes every path below the mount)."""
        return socketio.ASGIApp(self.sio, socketio_path=None)

    def _register(self) -> None:
        sio, ns = self.sio, self.namespace

        @sio.on("connect", namespace=ns)
        async def connect(sid: str, environ: Any, auth: Any = None) -> bool:
            log.debug("socketio: %s connected", sid)
            return True

        @sio.on("disconnect", namespace=ns)
        async def disconnect(sid: str, *args: Any) -> None:
            log.debug("socketio: %s disconnected", sid)

        @sio.on("session_request", namespace=ns)
        async def session_request(sid: str, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id") or uuid.uuid4().hex
            session_id = str(session_id)
            if self.persistence:
                await sio.enter_room(sid, session_id, namespace=ns)
            await sio.emit("session_confirm", session_id, room=sid, namespace=ns)

        @sio.on(self.user_event, namespace=ns)
        async def user_uttered(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict):
                log.warning("socketio: %s sent %s without a message object", sid,
                            self.user_event)
                return
            if self.persistence:
                if not data.get("session_id"):
                    log.warning("socketio: a message without a session_id is ignored; send "
                                "`session_request` first")
                    return
                sender_id = str(data["session_id"])
            else:
                sender_id = sid
            metadata = data.get(self.metadata_key, data.get("metadata")) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            text = data.get("message")
            if not isinstance(text, str):
                text = "" if text is None else str(text)
            await self._turn(sender_id, text, metadata)

    async def _turn(self, sender_id: str, text: str, metadata: dict[str, Any]) -> None:
        if not self.runtime.accepting:
            return
        try:
            turn = await self.runtime.handle(sender_id, text, channel=self.name,
                                             metadata=metadata)
        except SupportbotError as exc:
            log.warning("socketio: message from %s not handled: %s", sender_id, exc)
            return
        except Exception:
            log.exception("socketio: turn for %s failed", sender_id)
            return
        await self.emit_replies(sender_id, turn.replies)

    async def emit_replies(self, room: str, replies: Iterable[Reply]) -> None:
        for reply in replies:
            for message in socketio_messages(reply):
                await self.sio.emit(self.bot_event, message, room=room, namespace=self.namespace)

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        # the room is the session id (persistence) or the socket id: both are the conversation id
        await self.emit_replies(recipient, [reply])

    async def shutdown(self) -> None:
        await super().shutdown()
