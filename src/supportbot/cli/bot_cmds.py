"""Commands: train, parse, shell."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer

from supportbot.cli.app import app

ProjectArg = Annotated[Path, typer.Argument(help="The bot project folder.")]


@app.command()
def train(
    project: ProjectArg = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the model "
                                                "archive (default: PROJECT/models).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if nothing changed.")] = False,
) -> None:
    """Train the bot in PROJECT and write a model archive."""
    from supportbot.model import read_manifest_from_archive
    from supportbot.training import train as run_training

    archive = run_training(project, out, force=force, progress=True)
    manifest = read_manifest_from_archive(archive)
    typer.echo(f"model: {archive}")
    if manifest is not None:
        info = manifest.training
        nlu = info.get("nlu", {})
        typer.echo(f"  {info.get('examples')} examples, {info.get('intents')} intents, "
                   f"{info.get('kb_entries')} KB entries, trained in {info.get('seconds')} s")
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
) -> None:
    """Chat with the bot in the terminal. Type /quit to leave."""
    from supportbot.bot import Bot
    from supportbot.cli.render import print_turn
    from supportbot.errors import ConversationError

    bot = Bot.load(model, tracker_store=store)
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
