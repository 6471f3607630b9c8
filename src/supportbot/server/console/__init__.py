"""The agent console: `GET /agent` (the page) and its API under `/agent/api`, signed in with a
per-agent token (`Authorization: Bearer <token>`; make one with `supportbot agents add`).

Every call acts as the signed-in agent, through `bot.queue`, so the queue's own rules hold:
an agent sees and claims only waiting tickets its skills and languages fit, never goes over
its `max_concurrent`, and sends / resolves / returns / transfers only tickets it holds.
`GET /agent/api/stream` is a server-sent event stream (read with fetch, so the token stays in
a header) that sends the agent's view of the queue whenever it changes (checked every second).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from supportbot.errors import HandoffError, UnknownTicketError
from supportbot.handoff.models import Agent, Ticket
from supportbot.server.console.tokens import AgentTokens
from supportbot.server.http import ApiError, read_json
from supportbot.server.runtime import BotRuntime
from supportbot.server.settings import ServerSettings

STATIC = Path(__file__).parent / "static"
MAX_STREAM_SECONDS = 300.0


class SendBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    queue: str | None = None
    agent: str | None = None


def ticket_row(ticket: Ticket, now: float) -> dict[str, Any]:
    """A ticket as a queue list row (no transcript)."""
    return {"id": ticket.id, "conversation_id": ticket.conversation_id,
            "status": ticket.status.value, "queue": ticket.queue, "priority": ticket.priority,
            "language": ticket.language, "channel": ticket.channel, "agent_id": ticket.agent_id,
            "reasons": [r.to_dict() for r in ticket.reasons],
            "created_at": ticket.created_at, "waited_seconds": ticket.waited(now),
            "sla_due_at": ticket.sla_due_at,
            "sla_seconds_left": (None if ticket.sla_due_at is None
                                 else ticket.sla_due_at - now),
            "sla_breached": ticket.sla_breached(now),
            "last_message": ticket.transcript[-1].text if ticket.transcript else None}


def ticket_detail(ticket: Ticket, now: float) -> dict[str, Any]:
    return {**ticket_row(ticket, now),
            "summary": ticket.summary.to_dict(), "summary_text": ticket.summary.render(),
            "transcript": [m.to_dict() for m in ticket.transcript], "csat": ticket.csat}


def agent_dict(agent: Agent, held: int) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.display_name, "skills": list(agent.skills),
            "languages": list(agent.languages), "max_concurrent": agent.max_concurrent,
            "online": agent.online, "held": held}


_TICKING = {"waited_seconds", "sla_seconds_left"}


def _change_key(data: dict[str, Any]) -> str:
    """The view without its ticking clocks: a change here is worth telling the console."""
    steady = {k: v for k, v in data.items() if k != "at"}
    for part in ("waiting", "assigned"):
        steady[part] = [{k: v for k, v in row.items() if k not in _TICKING}
                        for row in data[part]]
    return json.dumps(steady, default=str, sort_keys=True)


def console_router(runtime: BotRuntime, settings: ServerSettings) -> APIRouter:
    """The agent console's page and API, bound to the server's bot runtime."""
    router = APIRouter(tags=["agent console"])
    tokens_by_queue: dict[int, AgentTokens] = {}

    def tokens() -> AgentTokens:
        backend = runtime.bot.queue.backend
        store = tokens_by_queue.get(id(backend))
        if store is None:
            store = tokens_by_queue[id(backend)] = AgentTokens(backend)
        return store

    async def current_agent(request: Request) -> Agent:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
        agent_id = await asyncio.to_thread(tokens().verify, token) if token else None
        if agent_id is None:
            raise ApiError(401, "unauthorized", "sign in with your agent token "
                                                "('Authorization: Bearer <token>'); "
                                                "`supportbot agents add` makes one",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            return await asyncio.to_thread(runtime.bot.queue.backend.get_agent, agent_id)
        except HandoffError:
            raise ApiError(401, "unauthorized", f"agent {agent_id!r} no longer exists") from None

    signed_in = Depends(current_agent)

    def view(agent: Agent) -> dict[str, Any]:
        """What the agent sees: waiting tickets it may take, and its own assigned ones."""
        backend = runtime.bot.queue.backend
        now = time.time()
        waiting = [t for t in backend.list(status="waiting", with_transcript=True)
                   if agent.serves_queue(t.queue) and agent.speaks(t.language)]
        waiting.sort(key=lambda t: (-t.priority, t.waiting_since or t.created_at))
        mine = backend.list(status="assigned", agent_id=agent.id, with_transcript=True)
        others = sum(1 for t in backend.list(status="waiting")) - len(waiting)
        return {"agent": agent_dict(agent, len(mine)),
                "waiting": [ticket_row(t, now) for t in waiting],
                "assigned": [{**ticket_row(t, now), "messages": len(t.transcript)}
                             for t in mine],
                "waiting_for_others": others,
                "at_limit": len(mine) >= agent.max_concurrent, "at": now}

    def own_or_claimable(agent: Agent, ticket_id: str) -> Ticket:
        try:
            ticket = runtime.bot.queue.backend.get(ticket_id)
        except UnknownTicketError:
            raise ApiError(404, "unknown_ticket", f"no ticket {ticket_id!r}") from None
        status = ticket.status.value
        if status == "assigned" and ticket.agent_id == agent.id:
            return ticket
        if status == "waiting" and agent.serves_queue(ticket.queue) \
                and agent.speaks(ticket.language):
            return ticket
        raise ApiError(403, "forbidden", f"ticket {ticket_id} is {status}"
                       + (f" with {ticket.agent_id}" if ticket.agent_id else "")
                       + "; you can open waiting tickets you may take and your own")

    async def act(fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except UnknownTicketError as exc:
            raise ApiError(404, "unknown_ticket", str(exc)) from None
        except HandoffError as exc:
            raise ApiError(409, "conflict", str(exc)) from None

    @router.get("/agent", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    @router.get("/agent/console.js", include_in_schema=False)
    async def console_js() -> FileResponse:
        return FileResponse(STATIC / "console.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    @router.get("/agent/console.css", include_in_schema=False)
    async def console_css() -> FileResponse:
        return FileResponse(STATIC / "console.css", media_type="text/css",
                            headers={"Cache-Control": "no-cache"})

    @router.get("/agent/api/me", summary="The signed-in agent (marks it online)")
    async def me(agent: Agent = signed_in) -> dict[str, Any]:
        backend = runtime.bot.queue.backend
        if not agent.online:
            agent = await asyncio.to_thread(backend.set_online, agent.id, True)
        held = len(await asyncio.to_thread(backend.list, status="assigned", agent_id=agent.id))
        return agent_dict(agent, held)

    @router.get("/agent/api/tickets", summary="Waiting tickets this agent may take, and its "
                                              "assigned ones")
    async def tickets_list(agent: Agent = signed_in) -> dict[str, Any]:
        return await asyncio.to_thread(view, agent)

    @router.get("/agent/api/tickets/{ticket_id}", summary="One ticket with transcript and "
                                                          "summary")
    async def ticket_get(ticket_id: str, agent: Agent = signed_in) -> dict[str, Any]:
        ticket = await asyncio.to_thread(own_or_claimable, agent, ticket_id)
        return ticket_detail(ticket, time.time())

    @router.post("/agent/api/claim", summary="Claim the best waiting ticket this agent may take")
    async def claim_next(agent: Agent = signed_in) -> JSONResponse:
        ticket = await act(runtime.bot.queue.claim, agent.id)
        if ticket is None:
            return JSONResponse({"ticket": None})
        full = await act(runtime.bot.queue.backend.get, ticket.id)
        return JSONResponse({"ticket": ticket_detail(full, time.time())})

    @router.post("/agent/api/tickets/{ticket_id}/claim", summary="Claim this ticket")
    async def claim(ticket_id: str, agent: Agent = signed_in) -> dict[str, Any]:
        await act(runtime.bot.queue.claim, agent.id, ticket_id)
        full = await act(runtime.bot.queue.backend.get, ticket_id)
        return {"ticket": ticket_detail(full, time.time())}

    @router.post("/agent/api/tickets/{ticket_id}/messages", summary="Send the customer a "
                                                                    "message")
    async def send(ticket_id: str, request: Request, agent: Agent = signed_in) -> dict[str, Any]:
        body = await read_json(request, SendBody)
        assert body is not None
        if len(body.text) > settings.max_message_chars:
            raise ApiError(413, "message_too_long", f"the limit is {settings.max_message_chars}"
                                                    " characters")
        await act(runtime.bot.queue.send, ticket_id, agent.id, body.text)
        return {"status": "ok"}

    @router.post("/agent/api/tickets/{ticket_id}/resolve", summary="Resolve (the bot asks the "
                                                                   "customer for a score)")
    async def resolve(ticket_id: str, agent: Agent = signed_in) -> dict[str, Any]:
        ticket = await act(runtime.bot.queue.resolve, ticket_id, agent.id)
        return {"status": ticket.status.value}

    @router.post("/agent/api/tickets/{ticket_id}/return", summary="Hand the conversation back "
                                                                  "to the bot")
    async def return_to_bot(ticket_id: str, agent: Agent = signed_in) -> dict[str, Any]:
        ticket = await act(runtime.bot.queue.return_to_bot, ticket_id, agent.id)
        return {"status": ticket.status.value}

    @router.post("/agent/api/tickets/{ticket_id}/transfer",
                 summary="Transfer to a queue ({\"queue\": ...}) or an agent ({\"agent\": ...})")
    async def transfer(ticket_id: str, request: Request,
                       agent: Agent = signed_in) -> dict[str, Any]:
        body = await read_json(request, TransferBody)
        assert body is not None
        if not body.queue and not body.agent:
            raise ApiError(400, "bad_request", "send {\"queue\": NAME} or {\"agent\": ID}")
        current = await act(runtime.bot.queue.backend.get, ticket_id)
        if current.status.value != "assigned" or current.agent_id != agent.id:
            raise ApiError(403, "forbidden", f"ticket {ticket_id} is not yours to transfer")
        ticket = await act(runtime.bot.queue.transfer, ticket_id, body.queue or None,
                           body.agent or None)
        return {"status": ticket.status.value, "queue": ticket.queue,
                "agent_id": ticket.agent_id}

    @router.get("/agent/api/stream", summary="Server-sent events: the agent's queue view "
                                             "whenever it changes")
    async def stream(request: Request, agent: Agent = signed_in,
                     wait: float = MAX_STREAM_SECONDS) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(0.0, wait), MAX_STREAM_SECONDS)

        async def events() -> AsyncIterator[str]:
            last: str | None = None
            beat = loop.time()
            yield "retry: 1000\n\n"
            while True:
                fresh = await asyncio.to_thread(runtime.bot.queue.backend.get_agent, agent.id)
                data = await asyncio.to_thread(view, fresh)
                key = _change_key(data)
                # waiting times tick: refresh at least every 10 s so the clocks stay honest
                now = loop.time()
                if key != last or now - beat > 10:
                    yield f"event: queue\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                    last, beat = key, now
                if now >= deadline or not runtime.accepting or await request.is_disconnected():
                    return
                await asyncio.sleep(1.0)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router
