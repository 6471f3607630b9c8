"""Commands: bot_cmds (filled in by its module owner)."""
from supportbot.cli.app import app, queue_app  # noqa: F401
