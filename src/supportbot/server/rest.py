"""The Rasa-compatible REST channel: `POST /webhooks/rest/webhook`, `GET /webhooks/rest/`.

A client written for Rasa's REST input channel works unchanged: the same request
(`{"sender", "message", "metadata"?, "input_channel"?}`) and the same reply list, one entry per
message (`recipient_id`, and `text` / `buttons` / `image` / `custom`; text is split on blank lines
and empty keys are left out, as Rasa's collecting output channel does).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from supportbot.dialogue.nlg import Reply
from supportbot.server.http import ApiError, body_schema, read_json
from supportbot.server.limits import RateLimiter, retry_after
from supportbot.server.runtime import BotRuntime
from supportbot.server.settings import ServerSettings

log = logging.getLogger("supportbot.server")

REST_CHANNEL = "rest"


class RestMessage(BaseModel):
    """A customer message, as Rasa's REST channel receives it."""

    model_config = ConfigDict(extra="allow")

    sender: str = Field(description="The conversation id (Rasa's sender id).")
    message: str = Field(description="The customer's text, or a button payload such as "
                                     "`/human_handoff`.")
    metadata: dict[str, Any] | None = Field(default=None, description="Passed to the bot with "
                                                                      "the message.")
    input_channel: str | None = Field(default=None, description="The channel name recorded "
                                                                "with the message (default rest).")

    @field_validator("sender", mode="before")
    @classmethod
    def _number_sender(cls, value: Any) -> Any:
        # Rasa accepts numeric sender ids (phone numbers, user ids) as they come
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class RestButton(BaseModel):
    title: str
    payload: str


class RestReply(BaseModel):
    """One bot message; keys without a value are left out."""

    recipient_id: str
    text: str | None = None
    buttons: list[RestButton] | None = None
    image: str | None = None
    custom: dict[str, Any] | None = None


def rasa_messages(recipient_id: str, replies: Iterable[Reply]) -> list[dict[str, Any]]:
    """Replies in the order and shape of Rasa's CollectingOutputChannel."""
    out: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        out.append({"recipient_id": recipient_id,
                    **{k: v for k, v in values.items() if v is not None}})

    for reply in replies:
        if reply.buttons:
            add(text=reply.text,
                buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons])
        elif reply.text:
            for part in reply.text.strip().split("\n\n"):
                add(text=part)
        if reply.custom:
            add(custom=dict(reply.custom))
        if reply.image:
            add(image=reply.image)
    return out


def rest_router(runtime: BotRuntime, limiter: RateLimiter,
                settings: ServerSettings) -> APIRouter:
    """The REST channel's routes, bound to the server's bot runtime."""
    router = APIRouter(tags=["REST channel"])

    @router.get("/webhooks/rest/", summary="REST channel health (Rasa-compatible)")
    async def rest_health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post(
        "/webhooks/rest/webhook",
        summary="Send a customer message; get the bot's replies (Rasa-compatible)",
        openapi_extra=body_schema(RestMessage),
        responses={200: {"model": list[RestReply]},
                   400: {"description": "invalid JSON, a missing field, or a message the bot "
                                        "cannot take (empty, bad sender id)"},
                   413: {"description": "body or message too long"},
                   429: {"description": "too many messages from this sender"}},
    )
    async def webhook(request: Request) -> JSONResponse:
        body = await read_json(request, RestMessage)
        assert body is not None
        if len(body.message) > settings.max_message_chars:
            raise ApiError(413, "message_too_long",
                           f"field 'message' is {len(body.message)} characters long; the limit "
                           f"is {settings.max_message_chars}")
        wait = limiter.acquire(f"sender:{body.sender}")
        if wait > 0:
            raise ApiError(429, "rate_limited",
                           f"too many messages from sender {body.sender!r}; retry in "
                           f"{retry_after(wait)} s", headers={"Retry-After": retry_after(wait)})
        if not runtime.accepting:
            raise ApiError(503, "shutting_down", "the server is shutting down; retry shortly",
                           headers={"Retry-After": "5"})
        turn = await runtime.handle(body.sender, body.message,
                                    channel=body.input_channel or REST_CHANNEL,
                                    metadata=body.metadata or {})
        log.debug("turn %s: action=%s reason=%s", body.sender, turn.action, turn.reason)
        return JSONResponse(rasa_messages(body.sender, turn.replies))

    return router
