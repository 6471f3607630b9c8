"""`supportbot queue ...`: work the human handoff queue from a terminal."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml

from supportbot.cli.app import app, queue_app  # noqa: F401
from supportbot.errors import HandoffError
from supportbot.handoff.config import (
    QUEUE_URL_ENV,
    HandoffConfig,
    load_handoff_config,
    resolve_queue_url,
)
from supportbot.handoff.factory import open_queue
from supportbot.handoff.models import Agent, Ticket
from supportbot.handoff.sqlqueue import SqlQueue

QueueUrl = Annotated[str | None, typer.Option(
    "--queue-url", envvar=QUEUE_URL_ENV, show_envvar=True,
    help="sqlite:///path.db, a file path or postgresql://... "
         "[default: handoff.backend in ./config.yml, else sqlite:///.supportbot/handoff.db]")]
AgentOpt = Annotated[str, typer.Option("--agent", "-a", help="Your agent id.")]


def _project_config() -> HandoffConfig | None:
    """The `handoff:` section of ./config.yml when there is one."""
    path = Path("config.yml")
    if not path.is_file():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise HandoffError(f"{path}: cannot read YAML ({exc}); fix the file or pass --queue-url") \
            from exc
    section = raw.get("handoff") if isinstance(raw, dict) else None
    return load_handoff_config(section, "config.yml") if section else None


def _open(url: str | None) -> SqlQueue:
    config = _project_config()
    return open_queue(resolve_queue_url(url, config), config)


def split_list(value: str | None, old: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated option as a tuple; `old` when the option was not given."""
    return old if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _print_ticket(ticket: Ticket) -> None:
    typer.echo(f"Ticket {ticket.id}  [{ticket.status.value}]  queue={ticket.queue}  "
               f"priority={ticket.priority}  language={ticket.language or '-'}  "
               f"channel={ticket.channel}  agent={ticket.agent_id or '-'}")
    typer.echo(f"Conversation {ticket.conversation_id}"
               + (f"  customer {ticket.customer_id}" if ticket.customer_id else ""))
    typer.echo("")
    typer.echo(ticket.summary.render())
    typer.echo("")
    typer.echo("Transcript:")
    if not ticket.transcript:
        typer.echo("  (empty)")
    for m in ticket.transcript:
        who = f"agent {m.agent_id}" if m.role == "agent" and m.agent_id else m.role
        typer.echo(f"  {_clock(m.timestamp)} {who:>10}: {m.text}")


@queue_app.command("list")
def list_tickets(
    status: Annotated[str | None, typer.Option(
        help="waiting | assigned | resolved | returned | cancelled [default: open tickets]")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    queue_url: QueueUrl = None,
) -> None:
    """List tickets, oldest first (waiting and assigned ones unless --status is given)."""
    with _open(queue_url) as q:
        if status is None:
            tickets = [t for s in ("waiting", "assigned")
                       for t in q.list(status=s, queue=queue, agent_id=agent)]
            tickets.sort(key=lambda t: t.created_at)
        else:
            tickets = q.list(status=status, queue=queue, agent_id=agent)
    now = time.time()
    if not tickets:
        typer.echo("No tickets.")
        return
    typer.echo(f"{'ID':<13}{'STATUS':<10}{'QUEUE':<12}{'PRIO':>4}  {'LANG':<5}{'AGENT':<12}"
               f"{'AGE':>6}  REASONS")
    for t in tickets[:limit]:
        typer.echo(f"{t.id:<13}{t.status.value:<10}{t.queue:<12.12}{t.priority:>4}  "
                   f"{(t.language or '-'):<5}{(t.agent_id or '-'):<12.12}"
                   f"{_ago(now - t.created_at):>6}  {', '.join(r.code for r in t.reasons)}")
    if len(tickets) > limit:
        typer.echo(f"... {len(tickets) - limit} more (use --limit)")


@queue_app.command()
def claim(
    agent: AgentOpt,
    ticket: Annotated[str | None, typer.Option("--ticket", "-t",
                                               help="Claim this ticket instead of the next one.")]
    = None,
    queue_url: QueueUrl = None,
) -> None:
    """Take the next ticket you may handle (or --ticket ID) and show its summary and transcript."""
    with _open(queue_url) as q:
        claimed = q.claim(agent, ticket)
    if claimed is None:
        typer.echo(f"No waiting ticket for agent {agent!r} (check its skills and languages with "
                   "`supportbot queue stats`).")
        return
    _print_ticket(claimed)
    typer.echo("")
    typer.echo(f"Reply: supportbot queue send {claimed.id} --agent {agent} \"...\"   "
               f"Close: supportbot queue resolve {claimed.id} --agent {agent}")


@queue_app.command()
def show(ticket: Annotated[str, typer.Argument(help="Ticket id.")],
         queue_url: QueueUrl = None) -> None:
    """Show one ticket's summary and transcript."""
    with _open(queue_url) as q:
        _print_ticket(q.get(ticket))


@queue_app.command()
def send(
    ticket: Annotated[str, typer.Argument(help="Ticket id.")],
    text: Annotated[list[str], typer.Argument(help="Message to the customer.")],
    agent: AgentOpt,
    queue_url: QueueUrl = None,
) -> None:
    """Send a message to the customer of a ticket you hold."""
    with _open(queue_url) as q:
        message = q.agent_send(ticket, agent, " ".join(text))
    typer.echo(f"Queued for delivery to {message.channel} conversation {message.conversation_id}"
               " (the running server delivers it within its background interval, or the "
               "conversation's next turn does).")


@queue_app.command()
def resolve(
    ticket: Annotated[str, typer.Argument(help="Ticket id.")],
    agent: AgentOpt,
    to_bot: Annotated[bool, typer.Option("--to-bot", help="Hand the conversation back to the bot "
                                         "instead of closing it as resolved.")] = False,
    queue_url: QueueUrl = None,
) -> None:
    """Close a ticket you hold as resolved (or give it back to the bot with --to-bot)."""
    with _open(queue_url) as q:
        done = q.return_to_bot(ticket, agent) if to_bot else q.resolve(ticket, agent)
    typer.echo(f"Ticket {done.id} {done.status.value}.")


@queue_app.command()
def transfer(
    ticket: Annotated[str, typer.Argument(help="Ticket id.")],
    to_queue: Annotated[str | None, typer.Option("--to-queue", help="Put it back in line here.")]
    = None,
    to_agent: Annotated[str | None, typer.Option("--to-agent", help="Give it to this agent.")]
    = None,
    queue_url: QueueUrl = None,
) -> None:
    """Move a ticket to another queue (one of handoff.queues in ./config.yml, or one that
    already has tickets or agents) or straight to another agent."""
    config = _project_config()
    with open_queue(resolve_queue_url(queue_url, config), config) as q:
        known = set((config or HandoffConfig()).queues) | {"default"} | set(q.stats().queues)
        moved = q.transfer(ticket, queue=to_queue, agent_id=to_agent, known_queues=known)
    typer.echo(f"Ticket {moved.id} is {moved.status.value} in queue {moved.queue}"
               + (f" with {moved.agent_id}." if moved.agent_id else "."))


@queue_app.command("agent")
def agent_cmd(
    agent_id: Annotated[str, typer.Argument(help="Agent id.")],
    name: Annotated[str | None, typer.Option(help="Display name shown to customers.")] = None,
    skills: Annotated[str | None, typer.Option(help="Comma-separated queues (empty = all).")]
    = None,
    languages: Annotated[str | None, typer.Option(help="Comma-separated codes (empty = any).")]
    = None,
    max_concurrent: Annotated[int | None, typer.Option("--max", help="Open tickets at once.")]
    = None,
    offline: Annotated[bool, typer.Option("--offline", help="Mark the agent offline.")] = False,
    queue_url: QueueUrl = None,
) -> None:
    """Register an agent or update its profile (unspecified settings are kept)."""
    config = _project_config() or HandoffConfig()
    with open_queue(resolve_queue_url(queue_url, config), config) as q:
        try:
            current = q.get_agent(agent_id)
        except HandoffError:
            d = config.agent_defaults
            current = Agent(agent_id, skills=tuple(d.skills), languages=tuple(d.languages),
                            max_concurrent=d.max_concurrent)

        saved = q.upsert_agent(Agent(
            agent_id, name=current.name if name is None else name,
            skills=split_list(skills, current.skills), languages=split_list(languages, current.languages),
            max_concurrent=current.max_concurrent if max_concurrent is None else max_concurrent,
            online=not offline))
    typer.echo(f"Agent {saved.id}: name={saved.display_name} skills={','.join(saved.skills) or 'all'}"
               f" languages={','.join(saved.languages) or 'any'} max={saved.max_concurrent} "
               f"{'online' if saved.online else 'offline'}")


@queue_app.command()
def stats(queue_url: QueueUrl = None) -> None:
    """Waiting and assigned tickets per queue, agents online, oldest wait."""
    with _open(queue_url) as q:
        snapshot = q.stats()
        agents = q.agents()
    typer.echo(f"{'QUEUE':<16}{'WAITING':>8}{'ASSIGNED':>10}{'AGENTS':>8}{'OLDEST':>9}")
    for name, c in snapshot.queues.items():
        typer.echo(f"{name:<16.16}{c.waiting:>8}{c.assigned:>10}{c.agents_online:>8}"
                   f"{_ago(c.oldest_waiting_s):>9}")
    typer.echo(f"{'total':<16}{snapshot.waiting:>8}{snapshot.assigned:>10}"
               f"{snapshot.agents_online:>8}{_ago(snapshot.oldest_waiting_s):>9}")
    if agents:
        typer.echo("")
        for a in agents:
            typer.echo(f"agent {a.id:<12} {'online ' if a.online else 'offline'} "
                       f"skills={','.join(a.skills) or 'all'} "
                       f"languages={','.join(a.languages) or 'any'} max={a.max_concurrent}")
