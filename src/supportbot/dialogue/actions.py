"""Custom actions: Python callables registered for an action name.

An action receives a read-only `ActionContext` (slots, latest message, events, language) and
returns an `ActionResult` (replies, slot values, a follow-up action, a handoff request) — or a
plain string / list of strings, read as text replies. Sync and async callables are accepted.

    actions = ActionRegistry()

    @actions.action("action_lookup_order")
    def lookup(ctx: ActionContext) -> ActionResult:
        order = ORDERS.get(ctx.slots["order_id"])
        if order is None:
            return ActionResult.say(response="utter_order_not_found")
        return ActionResult.say(response="utter_order_found", values=order)

    bot = Bot.load(model, actions=actions)
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from supportbot.errors import ActionError
from supportbot.project.types import Button

# ------------------------------------------------------------------ what an action reads


@dataclass(frozen=True)
class MessageView:
    """The customer's latest message as an action sees it."""

    text: str
    intent: str
    confidence: float
    entities: tuple[Mapping[str, Any], ...] = ()
    language: str = "en"


@dataclass(frozen=True)
class ActionContext:
    """A read-only view of the conversation, handed to a custom action."""

    conversation_id: str
    action: str
    slots: Mapping[str, Any]
    latest_message: MessageView | None
    events: tuple[Mapping[str, Any], ...]
    language: str
    active_form: str | None = None
    requested_slot: str | None = None
    channel: str = "default"
    domain: Mapping[str, Any] = field(default_factory=dict)

    def slot(self, name: str, default: Any = None) -> Any:
        """A slot's value (or `default` when it is not set)."""
        value = self.slots.get(name)
        return default if value is None else value


# ------------------------------------------------------------------ what an action returns


@dataclass(frozen=True)
class ActionReply:
    """One reply from an action: literal `text` (and buttons, image, custom payload), or the
    name of a domain `response` rendered in the customer's language with `values` filled in."""

    text: str | None = None
    response: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ActionResult:
    """What a custom action did.

    `slots`: slot values to set (None clears a slot); `followup`: an action to run next;
    `handoff`: a reason to hand the conversation to a person; `reject`: the action declined
    to run (Rasa's `ActionExecutionRejection`; a form's requested slot stays unfilled);
    `form`: activate this form (or "" to deactivate the active one).
    """

    replies: tuple[ActionReply, ...] = ()
    slots: Mapping[str, Any] = field(default_factory=dict)
    followup: str | None = None
    handoff: str | None = None
    reject: bool = False
    form: str | None = None

    @classmethod
    def say(cls, text: str | None = None, *, response: str | None = None,
            values: Mapping[str, Any] | None = None, slots: Mapping[str, Any] | None = None,
            buttons: Iterable[Button] = ()) -> ActionResult:
        """Shorthand for one reply (and optional slot values)."""
        reply = ActionReply(text=text, response=response, values=dict(values or {}),
                            buttons=tuple(buttons))
        return cls(replies=(reply,), slots=dict(slots or {}))


ActionOutput = ActionResult | str | list[str] | None
ActionCallable = Callable[[ActionContext], ActionOutput | Awaitable[ActionOutput]]


def as_result(output: Any, action: str) -> ActionResult:
    """Normalise what an action returned; raises TypeError naming the action otherwise."""
    if output is None:
        return ActionResult()
    if isinstance(output, ActionResult):
        return output
    if isinstance(output, str):
        return ActionResult(replies=(ActionReply(text=output),))
    if isinstance(output, (list, tuple)) and all(isinstance(t, str) for t in output):
        return ActionResult(replies=tuple(ActionReply(text=t) for t in output))
    raise TypeError(f"action {action!r} returned {type(output).__name__}; return an "
                    "ActionResult, a string, a list of strings or None")


# ------------------------------------------------------------------ the registry


class ActionRegistry(Mapping[str, ActionCallable]):
    """Action name -> callable. Use `@registry.action("name")` or `registry.add(name, fn)`."""

    def __init__(self, actions: Mapping[str, ActionCallable] | None = None):
        self._actions: dict[str, ActionCallable] = {}
        for name, fn in (actions or {}).items():
            self.add(name, fn)

    def add(self, name: str, fn: ActionCallable) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("an action needs a non-empty name")
        if name.startswith("utter_"):
            raise ValueError(f"action name {name!r} starts with `utter_`, which is reserved for "
                             "responses; choose another name (e.g. action_...)")
        if not callable(fn):
            raise TypeError(f"action {name!r}: {fn!r} is not callable")
        self._actions[name] = fn

    def action(self, name: str) -> Callable[[ActionCallable], ActionCallable]:
        """Decorator: register the function as action `name`."""

        def register(fn: ActionCallable) -> ActionCallable:
            self.add(name, fn)
            return fn

        return register

    def merged(self, other: Mapping[str, ActionCallable] | None) -> ActionRegistry:
        """A new registry with this one's actions plus `other`'s (other wins)."""
        out = ActionRegistry(self._actions)
        for name, fn in (other or {}).items():
            out.add(name, fn)
        return out

    def is_async(self, name: str) -> bool:
        return inspect.iscoroutinefunction(self._actions[name])

    def __getitem__(self, name: str) -> ActionCallable:
        return self._actions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions)

    def __len__(self) -> int:
        return len(self._actions)

    def __repr__(self) -> str:
        return f"ActionRegistry({sorted(self._actions)})"


def load_actions_module(path: str | Path) -> ActionRegistry:
    """Import a project's Python actions (`actions.py` or an `actions/` package) and return the
    `ActionRegistry` it defines as a module-level `actions` (or `registry`) variable.

    This executes the file: only call it on code you trust (the CLI does, for the project
    folder it runs in). A model archive never contains or loads Python code.
    """
    path = Path(path)
    init = path / "__init__.py" if path.is_dir() else path
    if not init.is_file():
        raise ActionError(f"{path}: no Python actions module here (expected "
                          "actions.py or actions/__init__.py)")
    name = f"supportbot_project_actions_{abs(hash(str(init.resolve())))}"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(path)] if path.is_dir() else None)
    if spec is None or spec.loader is None:
        raise ActionError(f"{init}: cannot import this file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    registry = getattr(module, "actions", None) or getattr(module, "registry", None)
    if not isinstance(registry, ActionRegistry):
        raise ActionError(f"{init}: define `actions = supportbot.ActionRegistry()` at "
                                  "module level and register actions on it")
    return registry


def find_project_actions(root: str | Path) -> Path | None:
    """The project's actions module (`actions/` or `actions.py` in `root`), if it has one."""
    root = Path(root)
    for candidate in (root / "actions", root / "actions.py"):
        if (candidate / "__init__.py").is_file() or candidate.is_file():
            return candidate
    return None


EMPTY: Mapping[str, Any] = MappingProxyType({})
