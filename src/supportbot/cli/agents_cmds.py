"""`supportbot agents add|list|remove`: the agents who sign in to the web agent console
(`/agent`), and their tokens (stored hashed next to the handoff queue; shown once)."""
from __future__ import annotations

from typing import Annotated

import typer

from supportbot.cli.app import app
from supportbot.cli.queue_cmds import QueueUrl, _project_config, split_list
from supportbot.errors import HandoffError
from supportbot.handoff.config import HandoffConfig, resolve_queue_url
from supportbot.handoff.factory import open_queue
from supportbot.handoff.models import Agent

agents_app = typer.Typer(help="Agents of the web agent console and their sign-in tokens.",
                         no_args_is_help=True)
app.add_typer(agents_app, name="agents")


@agents_app.command("add")
def add(
    agent_id: Annotated[str, typer.Argument(help="Agent id.")],
    name: Annotated[str | None, typer.Option(help="Display name shown to customers.")] = None,
    skills: Annotated[str | None, typer.Option(help="Comma-separated queues (empty = all).")]
    = None,
    languages: Annotated[str | None, typer.Option(help="Comma-separated codes (empty = any).")]
    = None,
    max_concurrent: Annotated[int | None, typer.Option(
        "--max-concurrent", "--max", help="Conversations at once.")] = None,
    queue_url: QueueUrl = None,
) -> None:
    """Add an agent (or update one) and print a new sign-in token, once; earlier tokens of
    the agent stop working."""
    from supportbot.server.console.tokens import AgentTokens

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
            online=current.online))
        token = AgentTokens(q).issue(saved.id)
    typer.echo(f"Agent {saved.id}: name={saved.display_name} "
               f"skills={','.join(saved.skills) or 'all'} "
               f"languages={','.join(saved.languages) or 'any'} max={saved.max_concurrent}")
    typer.echo("Token (shown only now; sign in at /agent with it):")
    typer.echo(token)


@agents_app.command("list")
def list_agents(queue_url: QueueUrl = None) -> None:
    """List agents: skills, languages, limit, online, and whether they have a token."""
    from supportbot.server.console.tokens import AgentTokens

    config = _project_config() or HandoffConfig()
    with open_queue(resolve_queue_url(queue_url, config), config) as q:
        agents = q.agents()
        with_token = AgentTokens(q).has_token()
    if not agents:
        typer.echo("No agents. Add one with `supportbot agents add ID --name NAME`.")
        return
    typer.echo(f"{'ID':<16}{'NAME':<20}{'SKILLS':<20}{'LANGS':<12}{'MAX':>4}  {'ONLINE':<7}TOKEN")
    for a in agents:
        typer.echo(f"{a.id:<16.16}{a.display_name:<20.20}{(','.join(a.skills) or 'all'):<20.20}"
                   f"{(','.join(a.languages) or 'any'):<12.12}{a.max_concurrent:>4}  "
                   f"{('yes' if a.online else 'no'):<7}{'yes' if a.id in with_token else 'no'}")


@agents_app.command("remove")
def remove(agent_id: Annotated[str, typer.Argument(help="Agent id.")],
           queue_url: QueueUrl = None) -> None:
    """Revoke the agent's token and mark it offline (its profile stays, so the tickets it
    handled keep their history; it gets no new tickets)."""
    from supportbot.server.console.tokens import AgentTokens

    config = _project_config() or HandoffConfig()
    with open_queue(resolve_queue_url(queue_url, config), config) as q:
        q.get_agent(agent_id)  # unknown agent: one-line error
        removed = AgentTokens(q).revoke(agent_id)
        q.set_online(agent_id, False)
        held = q.list(status="assigned", agent_id=agent_id)
    typer.echo(f"Agent {agent_id}: token revoked ({removed}), marked offline.")
    if held:
        typer.echo(f"It still holds {len(held)} ticket(s): "
                   f"{', '.join(t.id for t in held)}; transfer them with "
                   "`supportbot queue transfer ID --to-queue QUEUE`.")
