"""Printing turns for the terminal."""
from __future__ import annotations

import typer

from supportbot.bot import Turn


def print_turn(turn: Turn, debug: bool = False) -> None:
    for reply in turn.replies:
        if reply.text:
            typer.echo(f"bot> {reply.text}")
        for i, button in enumerate(reply.buttons, 1):
            typer.echo(f"     [{i}] {button.title}  ({button.payload})")
    if turn.handoff is not None:
        h = turn.handoff
        typer.echo(f"     -- handed to a person: ticket {h.ticket_id}, queue {h.queue}, "
                   f"status {h.status}")
    if not debug:
        return
    p = turn.parse
    ranking = ", ".join(f"{r.name} {r.confidence:.2f}" for r in p.ranking[:3])
    typer.secho(f"  intent={p.intent} conf={p.confidence:.2f} lang={p.language} "
                f"fallback={p.fallback}{'(' + p.fallback_reason + ')' if p.fallback_reason else ''}"
                f"{'' if p.familiarity is None else f' familiarity={p.familiarity:.2f}'}"
                f" ranking=[{ranking}]", fg="cyan")
    if p.entities:
        typer.secho("  entities=" + ", ".join(f"{e.entity}={e.value}" for e in p.entities),
                    fg="cyan")
    kb = turn.kb
    if kb.scores:
        typer.secho(f"  kb={kb.kind} " + ", ".join(f"{i} {s:.2f}" for i, s in kb.scores),
                    fg="cyan")
    if p.arbitrated:
        chosen = f"faq {p.faq_entry} {p.faq_score:.2f}" if p.faq_entry else (
            "not understood" if p.fallback else f"intent {p.intent}")
        typer.secho(f"  topic arbiter: {chosen}", fg="cyan")
    typer.secho(f"  action={turn.action} reason: {turn.reason}", fg="cyan")
    esc = turn.debug.get("escalation")
    if esc:
        typer.secho(f"  escalation: handoff={esc['handoff']} priority={esc['priority']} "
                    f"queue={esc['queue']} frustration={esc['frustration']:.2f}", fg="yellow")
        for reason in esc["reasons"]:
            typer.secho(f"    - {reason['code']}: {reason['explanation']}", fg="yellow")
        signals = ", ".join(f"{k}={v}" for k, v in esc.get("signals", {}).items())
        if signals:
            typer.secho(f"    signals: {signals}", fg="yellow")
