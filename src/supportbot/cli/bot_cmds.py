"""Commands: train, parse, shell."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from supportbot.cli.app import app

ProjectArg = Annotated[Path, typer.Argument(help="The bot project folder.")]


@app.command()
def train(
    project: ProjectArg = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the model "
                                                "archive (default: PROJECT/models).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if nothing changed.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Training cache: embeddings and warm-retrain state (default: "
                            "$SUPPORTBOT_CACHE_DIR, else PROJECT/.supportbot/cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Use and write no training "
                                           "cache.")] = False,
) -> None:
    """Train the bot in PROJECT and write a model archive."""
    from supportbot.embeddings import env_cache_dir
    from supportbot.model import read_manifest_from_archive
    from supportbot.training import train as run_training

    cache: Path | None = None
    if not no_cache:
        cache = cache_dir or env_cache_dir() or project / ".supportbot" / "cache"
    typer.echo(f"training cache: {cache if cache is not None else 'none (--no-cache)'}")
    archive = run_training(project, out, force=force, progress=True,
                           cache_dir=cache if cache is not None else False)
    manifest = read_manifest_from_archive(archive)
    typer.echo(f"model: {archive}")
    if manifest is not None:
        info = manifest.training
        nlu = info.get("nlu", {})
        typer.echo(f"  {info.get('examples')} examples, {info.get('intents')} intents, "
                   f"{info.get('kb_entries')} KB entries, trained in {info.get('seconds')} s")
        used = info.get("cache") or {}
        if used.get("folder"):
            typer.echo(f"  cache: {used.get('embeddings_reused')} embeddings reused, "
                       f"{used.get('embeddings_computed')} computed, training state "
                       f"{'reused' if used.get('state_reused') else 'not reused'}")
        if nlu:
            typer.echo("  cross-validation: " + ", ".join(
                f"{k}={v}" for k, v in nlu.items() if isinstance(v, (int, float, str))))


@app.command()
def parse(
    text: Annotated[str, typer.Argument(help="The message to understand.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model archive or folder.")] = Path("."),
) -> None:
    """Print the Rasa-shaped parse JSON of one message."""
    from supportbot.bot import Bot

    bot = Bot.load(model)
    typer.echo(json.dumps(bot.parse(text).to_rasa(), ensure_ascii=False, indent=2))


@app.command()
def shell(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model archive or folder.")] = Path("."),
    debug: Annotated[bool, typer.Option("--debug", help="Show intent, confidence, KB entry, "
                                        "escalation signals and the reason for each reply.")] = False,
    conversation: Annotated[str | None, typer.Option(help="Conversation id.")] = None,
    store: Annotated[str | None, typer.Option(help="Tracker store url "
                                                 "(default: in memory).")] = None,
    actions: Annotated[Path | None, typer.Option(
        "--actions", help="Python custom actions (actions.py or an actions/ package); default: "
                          "the project's actions/ when there is one.")] = None,
    project: Annotated[Path, typer.Option(
        "--project", help="Project folder whose actions/ and endpoints.yml are used.")] = Path("."),
) -> None:
    """Chat with the bot in the terminal. Type /quit to leave."""
    from supportbot.bot import Bot
    from supportbot.cli.queue_cmds import _project_config
    from supportbot.cli.render import print_turn
    from supportbot.errors import ConversationError
    from supportbot.handoff import resolve_queue_url

    registry, endpoint = project_runtime(project, actions)
    # the CLI's durable default: the queue `supportbot queue ...` works on (./config.yml's
    # handoff.backend, else .supportbot/handoff.db), so agents see the shell's handoffs
    queue = resolve_queue_url(None, _project_config())
    bot = Bot.load(model, tracker_store=store or "memory://", queue=queue, actions=registry,
                   action_endpoint=endpoint, smtp=project_smtp(project))
    conversation_id = conversation or f"shell-{uuid.uuid4().hex[:8]}"
    typer.echo(f"Chatting with the bot (conversation {conversation_id}). Type /quit to leave.")
    while True:
        try:
            text = input("you> ")
        except EOFError:
            break
        if text.strip() in ("/quit", "/exit"):
            break
        if not text.strip():
            continue
        try:
            turn = bot.handle(conversation_id, text, channel="shell")
        except ConversationError as exc:
            typer.echo(f"(not sent: {exc})")
            continue
        print_turn(turn, debug=debug)


def project_smtp(project: Path) -> Any:
    """The SMTP settings in the project's endpoints.yml (`email:`), or None."""
    from supportbot.project.endpoints import read_endpoints

    return read_endpoints(project).email if project.is_dir() else None


def project_runtime(project: Path, actions: Path | None = None) -> tuple[Any, Any]:
    """The project's Python actions and action endpoint, as the CLI runs them.

    Importing `actions/` runs the project's code: the CLI does this for the folder it is
    pointed at (as `rasa run actions` would); `Bot.load` never does it by itself.
    """
    from supportbot.dialogue.actions import find_project_actions, load_actions_module
    from supportbot.errors import ActionError
    from supportbot.project.endpoints import read_endpoints

    endpoint = read_endpoints(project).action_endpoint if project.is_dir() else None
    path = actions or find_project_actions(project)
    registry = None
    if path is not None:
        try:
            registry = load_actions_module(path)
        except ActionError:
            if actions is not None or endpoint is None:
                raise
            # an actions/ folder of rasa-sdk code, served by the action endpoint
    return registry, endpoint
