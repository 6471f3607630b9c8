"""`supportbot` command line. Each command group lives in its own module."""
from __future__ import annotations

import sys

from supportbot.cli import agents_cmds, bot_cmds, project_cmds, queue_cmds, server_cmds  # noqa: F401  (register commands)
from supportbot.cli.app import app
from supportbot.errors import SupportbotError


def main() -> None:
    """Entry point: no traceback ever reaches a user for an error we anticipated."""
    try:
        sys.exit(app(standalone_mode=False) or 0)
    except SupportbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 -- click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "Please report this at the supportbot issue tracker.", file=sys.stderr)
        sys.exit(2)
