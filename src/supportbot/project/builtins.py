"""Intents and actions every project knows without declaring them."""
from __future__ import annotations

BUILTIN_INTENTS: frozenset[str] = frozenset(
    {"restart", "back", "out_of_scope", "session_start", "nlu_fallback"})

_BUILTIN_ACTIONS: set[str] = {
    "action_listen", "action_restart", "action_session_start", "action_default_fallback",
    "action_deactivate_loop", "action_revert_fallback_events", "action_default_ask_affirmation",
    "action_default_ask_rephrase", "action_two_stage_fallback", "action_unlikely_intent",
    "action_back", "action_send_text", "action_extract_slots",
    # supportbot's own
    "action_handoff", "action_end_handoff",
}

# actions that run as a loop, so `active_loop: <name>` may name them
LOOP_ACTIONS: frozenset[str] = frozenset({"action_two_stage_fallback"})


def builtin_actions() -> frozenset[str]:
    """Every action name supportbot (or a module registered with it) executes itself."""
    return frozenset(_BUILTIN_ACTIONS)


def register_builtin_action(name: str) -> None:
    """Declare that supportbot executes action `name` (so validation does not warn about it)."""
    if not name or not isinstance(name, str):
        raise ValueError("action name must be non-empty text")
    _BUILTIN_ACTIONS.add(name)
