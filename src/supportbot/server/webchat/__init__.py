"""The web chat: `GET /chat` (a full-page chat), `GET /chat/widget.js` (embed it anywhere with
one script tag), and its API:

- `POST /chat/api/{conversation_id}/messages` `{"text": ..., "display"?: ...}`: a customer
  message (a button's payload goes in `text`, its title in `display`);
- `GET /chat/api/{conversation_id}/events?after=<seq>`: server-sent events built from the
  conversation's stored events: `message` events (bot replies with buttons, agent messages, the
  customer's own messages) carry `id: <seq>`, so a reconnect (`after=` or `Last-Event-ID`)
  resumes right after the last one seen, with nothing lost or repeated; `status` events carry
  the conversation's language and its place in the human queue. `format=json` answers the same
  as one JSON object instead (long-poll: waits up to `wait` seconds for something new).
"""
from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from supportbot.dialogue.events import AgentMessage, BotReply, UserMessage
from supportbot.errors import HandoffError
from supportbot.server.http import ApiError, body_schema, read_json
from supportbot.server.limits import RateLimiter, retry_after
from supportbot.server.runtime import BotRuntime
from supportbot.server.settings import ServerSettings
from supportbot.server.webchat.hub import Hub, wait_for

WEBCHAT_CHANNEL = "webchat"
STATIC = Path(__file__).parent / "static"
# ids are made by the widget (crypto.randomUUID): long enough that nobody guesses another's
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{16,128}\Z")
MAX_STREAM_SECONDS = 60.0
DEFAULT_STREAM_SECONDS = 25.0


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(description="The customer's text or a button payload.")
    display: str | None = Field(default=None, description="What the customer sees for it (a "
                                                          "button's title).", max_length=200)


def _check_id(conversation_id: str) -> None:
    if not CONVERSATION_ID.match(conversation_id):
        raise ApiError(400, "bad_conversation_id",
                       "a web chat conversation id is 16-128 letters, digits, '-' or '_'")


def conversation_messages(runtime: BotRuntime, conversation_id: str,
                          after: int) -> tuple[list[dict[str, Any]], str | None]:
    """The chat-visible events after sequence number `after` (1-based index into the
    conversation's stored events), and the conversation's language."""
    bot = runtime.bot
    if not bot.store.exists(conversation_id):
        return [], None
    tracker = bot.store.load(conversation_id)
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for index in range(max(0, after), len(tracker.events)):
        event = tracker.events[index]
        seq = index + 1
        if isinstance(event, UserMessage):
            shown = event.metadata.get("display") if isinstance(event.metadata, dict) else None
            out.append({"seq": seq, "role": "user", "text": shown or event.text,
                        "ts": event.timestamp})
        elif isinstance(event, BotReply):
            if not event.text and not event.buttons:
                continue
            out.append({"seq": seq, "role": "bot", "text": event.text or "",
                        "buttons": [{"title": b.get("title", ""), "payload": b.get("payload", "")}
                                    for b in event.buttons], "ts": event.timestamp})
        elif isinstance(event, AgentMessage):
            if event.agent_id not in names:
                names[event.agent_id] = _agent_name(runtime, event.agent_id)
            out.append({"seq": seq, "role": "agent", "text": event.text,
                        "agent": names[event.agent_id], "ts": event.timestamp})
    return out, tracker.language


def _agent_name(runtime: BotRuntime, agent_id: str) -> str:
    try:
        return runtime.bot.queue.backend.get_agent(agent_id).display_name
    except HandoffError:
        return agent_id


def handoff_status(runtime: BotRuntime, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's open ticket as the widget shows it, or None."""
    backend = runtime.bot.queue.backend
    ticket = backend.open_ticket_for(conversation_id)
    if ticket is None:
        return None
    if ticket.status.value == "waiting":
        position = backend.position(ticket.id)
        wait = backend.estimated_wait(ticket.queue, position)
        return {"status": "waiting", "position": position,
                "wait_minutes": None if wait is None else max(1, math.ceil(wait / 60))}
    return {"status": ticket.status.value,
            "agent": _agent_name(runtime, ticket.agent_id) if ticket.agent_id else None}


def _snapshot(runtime: BotRuntime, conversation_id: str,
              after: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    messages, language = conversation_messages(runtime, conversation_id, after)
    return messages, {"language": language, "handoff": handoff_status(runtime, conversation_id)}


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def webchat_router(runtime: BotRuntime, limiter: RateLimiter, settings: ServerSettings,
                   hub: Hub | None = None) -> APIRouter:
    """The web chat's page, widget and API, bound to the server's bot runtime."""
    hub = hub or Hub()
    runtime.subscribe(lambda conversation_id, reply: hub.notify(conversation_id))
    router = APIRouter(tags=["web chat"])

    @router.get("/chat", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "chat.html", media_type="text/html")

    @router.get("/chat/widget.js", include_in_schema=False)
    async def widget_js() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    @router.get("/chat/widget.css", include_in_schema=False)
    async def widget_css() -> FileResponse:
        return FileResponse(STATIC / "widget.css", media_type="text/css",
                            headers={"Cache-Control": "no-cache"})

    @router.post("/chat/api/{conversation_id}/messages", openapi_extra=body_schema(ChatMessage),
                 summary="A customer message from the web chat (replies arrive on the event "
                         "stream)")
    async def post_message(conversation_id: str, request: Request) -> JSONResponse:
        _check_id(conversation_id)
        body = await read_json(request, ChatMessage)
        assert body is not None
        if len(body.text) > settings.max_message_chars:
            raise ApiError(413, "message_too_long",
                           f"field 'text' is {len(body.text)} characters long; the limit is "
                           f"{settings.max_message_chars}")
        wait = limiter.acquire(f"sender:{conversation_id}")
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many messages; retry in "
                                                f"{retry_after(wait)} s",
                           headers={"Retry-After": retry_after(wait)})
        if not runtime.accepting:
            raise ApiError(503, "shutting_down", "the server is shutting down; retry shortly",
                           headers={"Retry-After": "5"})
        metadata = {"display": body.display} if body.display else {}
        try:
            turn = await runtime.handle(conversation_id, body.text, channel=WEBCHAT_CHANNEL,
                                        metadata=metadata)
        finally:
            hub.notify(conversation_id)
        return JSONResponse({"status": "ok", "action": turn.action})

    @router.get("/chat/api/{conversation_id}/events",
                summary="The conversation's messages and queue status after `after` (SSE, or "
                        "JSON long-poll with format=json)")
    async def events(conversation_id: str, request: Request, after: int = 0,
                     wait: float = DEFAULT_STREAM_SECONDS, format: str = "sse") -> Any:
        _check_id(conversation_id)
        last_id = request.headers.get("last-event-id", "")
        if last_id.isdigit():
            after = max(after, int(last_id))
        after = max(0, after)
        wait = min(max(0.0, wait), MAX_STREAM_SECONDS)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait

        if format == "json":
            with hub.listen(conversation_id) as ev:
                while True:
                    messages, status = await asyncio.to_thread(_snapshot, runtime,
                                                               conversation_id, after)
                    left = deadline - loop.time()
                    if messages or left <= 0:
                        return JSONResponse({"messages": messages, "status": status,
                                             "last_seq": messages[-1]["seq"] if messages
                                             else after})
                    await wait_for(ev, min(1.0, left))

        async def stream() -> AsyncIterator[str]:
            last = after
            last_status: dict[str, Any] | None = None
            quiet_since = loop.time()
            yield "retry: 1000\n\n"
            with hub.listen(conversation_id) as ev:
                while True:
                    messages, status = await asyncio.to_thread(_snapshot, runtime,
                                                               conversation_id, last)
                    for message in messages:
                        yield _sse("message", message, message["seq"])
                        last = message["seq"]
                    if status != last_status:
                        yield _sse("status", status)
                        last_status = status
                    now = loop.time()
                    if messages:
                        quiet_since = now
                    elif now - quiet_since > 15:
                        yield ": keep-alive\n\n"
                        quiet_since = now
                    if now >= deadline or not runtime.accepting:
                        return
                    if await request.is_disconnected():
                        return
                    await wait_for(ev, min(1.0, deadline - now))

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    return router
