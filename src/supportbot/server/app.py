"""The ASGI application: `create_app(bot or model path, settings)`."""
from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportbot import __version__
from supportbot.bot import Bot
from supportbot.errors import ConversationError, ModelError
from supportbot.kb.decision import decide as decide_kb
from supportbot.nlu.parse import Parse
from supportbot.server.background import BackgroundTasks
from supportbot.server.http import ApiError, body_schema, error_body, read_json
from supportbot.server.limits import BodyLimitMiddleware, RateLimiter, retry_after
from supportbot.server.rest import rest_router
from supportbot.server.runtime import BotRuntime
from supportbot.server.settings import ADMIN_TOKEN_ENV, ServerSettings
from supportbot.stores.locks import LockTimeoutError

log = logging.getLogger("supportbot.server")

BotSource = Bot | Callable[[], Bot] | str | Path

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited",
                 503: "unavailable"}


class ParseRequest(BaseModel):
    """Rasa's `POST /model/parse` body."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(description="The message to understand.")
    message_id: str | None = None


class ReloadRequest(BaseModel):
    """`PUT /model`: the model to load (Rasa's `model_file`); none = the newest in the folder
    the server started from."""

    model_config = ConfigDict(extra="allow")

    model_file: str | None = None


def create_app(bot: BotSource, settings: ServerSettings | None = None, *,
               models_folder: str | Path | None = None,
               model_path: str | Path | None = None,
               credentials: Any = None) -> FastAPI:
    """The supportbot HTTP server as an ASGI app (serve it with uvicorn, or test it with
    FastAPI's TestClient).

    `bot`: a loaded `Bot`, a function returning one, or a model path (a file, or a folder whose
    newest model is loaded with the library defaults; the CLI's `supportbot run` chooses durable
    stores). `settings`: limits, CORS, admin token (default: `ServerSettings.from_env()`).
    `models_folder`: where `PUT /model` without a file finds the newest model (default: `bot`
    when it is a folder). `model_path`: the archive a given `Bot` was loaded from (shown by
    `/ready` and `/status`). `credentials`: the messaging channels to open besides REST (a
    credentials.yml path, a mapping shaped like it, or `supportbot.channels.Credentials`).
    """
    settings = settings if settings is not None else ServerSettings.from_env()
    if isinstance(bot, (str, Path)):
        path = Path(bot)
        if models_folder is None and path.is_dir():
            models_folder = path
        loaded = Bot.load(path)
        from supportbot.model import latest_model

        runtime = BotRuntime(loaded, latest_model(path), models_folder)
    elif isinstance(bot, Bot):
        runtime = BotRuntime(bot, model_path, models_folder)
    else:
        runtime = BotRuntime(bot(), model_path, models_folder)
    app = _build(runtime, settings)
    # --- channels (supportbot.channels): webhook routers, socket.io at /socket.io ---
    if credentials is not None:
        from supportbot.channels import mount_channels

        mount_channels(app, credentials)
    # --- end channels ---
    return app


def _build(runtime: BotRuntime, settings: ServerSettings) -> FastAPI:
    background = BackgroundTasks(runtime, settings.background_interval)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.accepting = True
        background.start()
        log.info("supportbot server ready (model %s)", runtime.info.path or "given in code")
        try:
            yield
        finally:
            runtime.accepting = False
            await background.stop()
            if runtime.in_flight:
                log.info("waiting for %d turn(s) in flight", runtime.in_flight)
            if not await asyncio.to_thread(runtime.wait_idle, settings.shutdown_timeout):
                log.warning("shutdown: %d turn(s) still running after %.0f s",
                            runtime.in_flight, settings.shutdown_timeout)
            log.info("supportbot server stopped")

    app = FastAPI(
        title="supportbot",
        version=__version__,
        description="Rasa-compatible REST channel and NLU parsing for a supportbot bot, plus "
                    "health checks and token-protected admin endpoints.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.background = background
    app.state.limiter = limiter

    # middleware: the last added is the outermost; CORS wraps everything so that even a 413
    # reaches a browser client readable
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "OPTIONS"],
                           allow_headers=["*"], allow_credentials=False)

    _install_error_handlers(app)
    app.include_router(rest_router(runtime, limiter, settings))
    # --- web chat (/chat) and agent console (/agent): supportbot.server.webchat / .console ---
    from supportbot.server.console import console_router
    from supportbot.server.webchat import webchat_router

    app.include_router(webchat_router(runtime, limiter, settings))
    app.include_router(console_router(runtime, settings))
    # --- end web chat and agent console ---

    def require_admin(request: Request) -> None:
        token = settings.admin_token
        if token is None:
            raise ApiError(403, "admin_disabled", "admin endpoints are off: set "
                                                  f"${ADMIN_TOKEN_ENV} to enable them")
        given = _bearer(request) or request.query_params.get("token")
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "unauthorized", "admin endpoint: send the admin token as "
                                                "'Authorization: Bearer <token>'",
                           headers={"WWW-Authenticate": "Bearer"})

    admin = [Depends(require_admin)]

    @app.get("/", response_class=PlainTextResponse, include_in_schema=False)
    async def hello() -> str:
        return f"Hello from supportbot: {__version__}"

    @app.get("/health", tags=["health"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["health"], summary="Readiness: a model is loaded and the server "
                                                "takes messages (503 while shutting down)")
    async def ready() -> JSONResponse:
        if not runtime.accepting:
            return JSONResponse({"status": "shutting_down"}, status_code=503)
        return JSONResponse({"status": "ready", "model": runtime.info.to_dict()})

    @app.post("/model/parse", tags=["NLU"], openapi_extra=body_schema(ParseRequest),
              summary="Rasa-shaped parse JSON of one message (no conversation state)")
    async def parse(request: Request) -> JSONResponse:
        body = await read_json(request, ParseRequest)
        assert body is not None
        if len(body.text) > settings.max_message_chars:
            raise ApiError(413, "message_too_long",
                           f"field 'text' is {len(body.text)} characters long; the limit is "
                           f"{settings.max_message_chars}")
        client = request.client.host if request.client is not None else "unknown"
        wait = limiter.acquire(f"client:{client}")
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many requests; retry in "
                                                f"{retry_after(wait)} s",
                           headers={"Retry-After": retry_after(wait)})
        bot = runtime.bot
        result = await asyncio.to_thread(rasa_parse, bot, body.text)
        if body.message_id is not None:
            result["message_id"] = body.message_id
        return JSONResponse(result)

    @app.get("/status", tags=["admin"], dependencies=admin,
             summary="Model, turns in flight and background checks (admin token)")
    async def status() -> dict[str, Any]:
        return {"model": runtime.info.to_dict(), "in_flight": runtime.in_flight,
                "accepting": runtime.accepting, "background": {
                    "running": background.running, "interval": background.interval,
                    **background.stats.to_dict()}}

    @app.put("/model", tags=["admin"], dependencies=admin,
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": ReloadRequest.model_json_schema()}}}},
             summary="Load a newly trained model without dropping conversations (admin token)")
    async def reload(request: Request) -> dict[str, Any]:
        body = await read_json(request, ReloadRequest, required=False)
        try:
            info = await runtime.reload(body.model_file if body is not None else None)
        except ModelError as exc:
            raise ApiError(400, "model_error", str(exc)) from None
        return {"status": "ok", "model": info.to_dict()}

    @app.get("/conversations/{conversation_id}/tracker", tags=["admin"], dependencies=admin,
             summary="A conversation's slots and events (admin token)")
    async def tracker(conversation_id: str) -> dict[str, Any]:
        bot = runtime.bot
        try:
            tr = await asyncio.to_thread(bot.tracker, conversation_id)
        except ConversationError:
            raise ApiError(404, "unknown_conversation",
                           f"no conversation with id {conversation_id!r}") from None
        latest = tr.latest_message
        return {"sender_id": conversation_id, "slots": tr.slots,
                "latest_message": latest.parse.to_rasa() if latest is not None else None,
                "events": [e.to_dict() for e in tr.events]}

    return app


def rasa_parse(bot: Bot, text: str) -> dict[str, Any]:
    """Rasa's parse JSON for `text`, with a Rasa-shaped `response_selector` when the FAQ
    knowledge base answers it (`faq/<entry id>`, as a Rasa ResponseSelector would name it)."""
    parsed = bot.parse(text)
    result = parsed.to_rasa(bot.responses)
    if "response_selector" not in result:
        selector = _kb_selector(bot, parsed)
        if selector is not None:
            result["response_selector"] = selector
    return result


def _kb_selector(bot: Bot, parsed: Parse) -> dict[str, Any] | None:
    if parsed.from_payload or len(bot.kb) == 0:
        return None
    if parsed.arbitrated:  # the topic arbiter chose for this message (supportbot.nlu.arbiter)
        if parsed.faq_entry is None or parsed.faq_entry not in bot.kb:
            return None
        entry_id, score = parsed.faq_entry, parsed.faq_score
        scores: tuple[tuple[str, float], ...] = ((entry_id, score),)
    else:
        decision = decide_kb(bot.kb.search(parsed.text, language=parsed.language),
                             bot.project.config.kb)
        if decision.kind != "answer" or decision.entry_id is None:
            return None
        entry_id, score, scores = decision.entry_id, decision.score, decision.scores
    answer = bot.kb.entry(entry_id).answer_for(parsed.language)
    key = f"faq/{entry_id}"
    return {
        "all_retrieval_intents": ["faq"],
        "default": {
            "response": {"responses": [{"text": answer.text}], "confidence": score,
                         "intent_response_key": key, "utter_action": f"utter_{key}"},
            "ranking": [{"confidence": s, "intent_response_key": f"faq/{e}"}
                        for e, s in scores],
        },
    }


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg', 'invalid value')}")
        return JSONResponse(error_body("bad_request", "; ".join(parts)), status_code=400)

    @app.exception_handler(ConversationError)
    async def conversation_error(request: Request, exc: ConversationError) -> JSONResponse:
        if isinstance(exc, LockTimeoutError):  # busy, not the client's fault: retry later
            return JSONResponse(error_body("busy", str(exc)), status_code=503,
                                headers={"Retry-After": "2"})
        return JSONResponse(error_body("bad_request", str(exc)), status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", error_id, request.method, request.url.path,
                  exc_info=(type(exc), exc, exc.__traceback__))
        return JSONResponse(error_body("internal_error", "the server could not handle this "
                                       f"request; quote error id {error_id} when reporting it",
                                       error_id=error_id), status_code=500)
