"""Command: run (the HTTP server)."""
from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from supportbot.cli.app import app
from supportbot.errors import SupportbotError


@app.command()
def run(
    model: Annotated[Path, typer.Option(
        "--model", "-m", help="Model archive, or a folder whose newest model (there or in its "
                              "models/) is served.")] = Path("."),
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 5005,
    host: Annotated[str, typer.Option(
        "--host", help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    store: Annotated[str | None, typer.Option(
        "--store", envvar="SUPPORTBOT_TRACKER_STORE", show_envvar=True,
        help="Tracker store url (default: sqlite:///.supportbot/conversations.db)")] = None,
    queue_url: Annotated[str | None, typer.Option(
        "--queue-url", envvar="SUPPORTBOT_QUEUE_URL", show_envvar=True,
        help="Handoff queue url (default: handoff.backend in ./config.yml, else "
             "sqlite:///.supportbot/handoff.db)")] = None,
    actions: Annotated[Path | None, typer.Option(
        "--actions", help="Python custom actions (actions.py or an actions/ package); default: "
                          "the project's actions/ when there is one.")] = None,
    project: Annotated[Path, typer.Option(
        "--project", help="Project folder whose actions/ and endpoints.yml are used.")] = Path("."),
    cors: Annotated[list[str] | None, typer.Option(
        "--cors", help="Allow browser calls from this origin (repeat; '*' for any; "
                       "default: $SUPPORTBOT_CORS_ORIGINS, else none).")] = None,
    max_body_bytes: Annotated[int | None, typer.Option(
        "--max-body-bytes", help="Larger request bodies get 413 (default: 65536).")] = None,
    rate_limit: Annotated[float | None, typer.Option(
        "--rate-limit", help="Messages per minute per sender; 0 = off (default: 60).")] = None,
    rate_burst: Annotated[int | None, typer.Option(
        "--rate-burst", help="Messages a sender may send at once (default: 20).")] = None,
    background_interval: Annotated[float | None, typer.Option(
        "--background-interval", help="Seconds between queue timeout / SLA / business-hours "
                                      "checks; 0 = off (default: 15).")] = None,
    shutdown_timeout: Annotated[float | None, typer.Option(
        "--shutdown-timeout", help="Seconds a shutdown waits for turns in flight "
                                   "(default: 30).")] = None,
    credentials: Annotated[Path | None, typer.Option(
        "--credentials", help="Rasa-style credentials.yml naming the channels to open (socketio, "
                              "telegram, slack, facebook, whatsapp); default: ./credentials.yml "
                              "when present. REST is always on.")] = None,
    log_level: Annotated[str, typer.Option(
        "--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the bot over HTTP: Rasa's REST channel, /model/parse, health checks, admin API."""
    try:
        import uvicorn

        from supportbot.server import ServerSettings, create_app
    except ImportError as exc:
        raise SupportbotError(f"the server needs the `server` extra ({exc.name} is missing): "
                              "pip install \"supportbot[server]\"") from None
    from supportbot.bot import Bot
    from supportbot.cli.bot_cmds import project_runtime, project_smtp
    from supportbot.cli.queue_cmds import _project_config
    from supportbot.handoff import resolve_queue_url
    from supportbot.model import latest_model
    from supportbot.server.settings import ADMIN_TOKEN_ENV
    from supportbot.stores import open_tracker_store
    from supportbot.stores.base import DEFAULT_TRACKER_STORE_URL

    level = log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter(f"{log_level!r}: use debug, info, warning or error",
                                 param_hint="--log-level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = ServerSettings.from_env(
        cors_origins=tuple(cors) if cors else None, max_body_bytes=max_body_bytes,
        rate_limit_per_minute=rate_limit, rate_limit_burst=rate_burst,
        background_interval=background_interval, shutdown_timeout=shutdown_timeout)
    archive = latest_model(model)
    registry, endpoint = project_runtime(project, actions)
    # the CLI's durable defaults (a library `Bot.load` writes no files by itself): the
    # conversations under .supportbot/, the queue `supportbot queue ...` works on
    tracker_store = open_tracker_store(store, DEFAULT_TRACKER_STORE_URL)
    queue = resolve_queue_url(queue_url, _project_config())
    bot = Bot.load(archive, tracker_store=tracker_store, queue=queue, actions=registry,
                   action_endpoint=endpoint, smtp=project_smtp(project))
    # channels: --credentials, else ./credentials.yml when there is one (REST is always on)
    from supportbot.channels import CREDENTIALS_FILE, read_credentials

    creds_path = credentials if credentials is not None else (
        Path(CREDENTIALS_FILE) if Path(CREDENTIALS_FILE).is_file() else None)
    creds = read_credentials(creds_path) if creds_path is not None else None
    web = create_app(bot, settings, models_folder=model if model.is_dir() else archive.parent,
                     model_path=archive, credentials=creds)

    typer.echo(f"supportbot serving {archive} on http://{host}:{port} "
               f"(REST: /webhooks/rest/webhook, API docs: /docs)")
    if creds is not None:
        opened = [name for name in creds.channels if name != "rest"]
        typer.echo(f"channels from {creds_path}: rest, {', '.join(opened) or '(none else)'}")
    if settings.admin_token is None:
        typer.echo(f"admin endpoints (PUT /model, /status) are off: set ${ADMIN_TOKEN_ENV}")
    server = uvicorn.Server(uvicorn.Config(
        web, host=host, port=port, log_level=log_level.lower(), lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout) or None,
        server_header=False))
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again under the
    # handler that was there before; a no-op one makes that graceful stop exit with status 0
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    if not server.started:
        raise SupportbotError(f"the server did not start on {host}:{port} (see the log above; "
                              "is the port in use?)")
