"""Running a custom action: a registered Python callable, else the Rasa action server.

A failure (exception, timeout, server error, bad return value) never escapes: the caller gets
an `ActionOutcome` with `error` set, logs it with the conversation id and apologises.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from supportbot.dialogue.actions import (
    ActionCallable,
    ActionContext,
    ActionRegistry,
    ActionResult,
    MessageView,
    as_result,
)
from supportbot.dialogue.tracker import Tracker
from supportbot.project.types import Domain

if TYPE_CHECKING:
    from supportbot.dialogue.action_server import ActionServerClient

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class ActionOutcome:
    """A custom action's result, or why it failed."""

    action: str
    result: ActionResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None


class ActionRunner:
    """Finds and runs custom actions by name."""

    def __init__(self, registry: ActionRegistry | None = None,
                 server: ActionServerClient | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.registry = registry or ActionRegistry()
        self.server = server
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="supportbot-action")

    def knows(self, name: str) -> bool:
        """Whether `name` can run here (a registered callable, or any name with a server)."""
        return name in self.registry or self.server is not None

    def has_callable(self, name: str) -> bool:
        return name in self.registry

    def run(self, name: str, tracker: Tracker, domain: Domain, *, language: str,
            channel: str = "default") -> ActionOutcome:
        """Run action `name` on the conversation; never raises."""
        if name in self.registry:
            return self._run_python(name, self.registry[name], tracker, domain, language, channel)
        if self.server is not None:
            try:
                result = self.server.run(name, tracker, domain, latest_input_channel=channel)
            except Exception as exc:  # noqa: BLE001 - any failure must not break the turn
                return self._failed(name, tracker, f"action server: {exc}")
            return ActionOutcome(name, result)
        return self._failed(name, tracker, "no Python callable is registered for it and no "
                                           "action endpoint is configured")

    def _run_python(self, name: str, fn: ActionCallable, tracker: Tracker, domain: Domain,
                    language: str, channel: str) -> ActionOutcome:
        context = action_context(name, tracker, domain, language, channel)

        def call() -> Any:
            output = fn(context)
            if inspect.isawaitable(output):
                return asyncio.run(_awaited(output))
            return output

        future = self._pool.submit(call)
        try:
            output = future.result(timeout=self.timeout)
        except FutureTimeout:
            return self._failed(name, tracker, f"timed out after {self.timeout:g} s")
        except Exception as exc:
            log.exception("action %s raised (conversation %s)", name,
                          tracker.conversation_id)
            return ActionOutcome(name, None, f"{type(exc).__name__}: {exc}")
        try:
            return ActionOutcome(name, as_result(output, name))
        except TypeError as exc:
            return self._failed(name, tracker, str(exc))

    def _failed(self, name: str, tracker: Tracker, why: str) -> ActionOutcome:
        log.error("action %s failed (conversation %s): %s", name, tracker.conversation_id, why)
        return ActionOutcome(name, None, why)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def action_context(name: str, tracker: Tracker, domain: Domain, language: str,
                   channel: str = "default") -> ActionContext:
    """The read-only view a Python action gets."""
    latest = tracker.latest_message
    message = None
    if latest is not None:
        p = latest.parse
        message = MessageView(
            text=latest.text, intent=p.intent, confidence=p.confidence,
            entities=tuple({"entity": e.entity, "value": e.value, "start": e.start,
                            "end": e.end, "role": e.role, "group": e.group}
                           for e in p.entities),
            language=p.language)
    slots = {s: None for s in domain.slots}
    slots.update(tracker.slots)
    return ActionContext(
        conversation_id=tracker.conversation_id, action=name, slots=MappingProxyType(slots),
        latest_message=message, events=tuple(e.to_dict() for e in tracker.events),
        language=language, active_form=tracker.active_form,
        requested_slot=tracker.requested_slot, channel=channel)
