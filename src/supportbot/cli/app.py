"""The Typer application every command module registers on."""
import typer

from supportbot.cli.kb_cmds import kb_app

app = typer.Typer(
    name="supportbot",
    help="Train, validate and chat with supportbot customer-service bots.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
queue_app = typer.Typer(help="Work the human handoff queue from a terminal.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(kb_app, name="kb")
