"""supportbot: rule-and-retrieval customer-service chatbots with a human handoff queue.

    import supportbot
    model = supportbot.train("path/to/project")
    bot = supportbot.Bot.load(model)
    turn = bot.handle("conversation-1", "where is my parcel?")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supportbot.errors import (
    ActionError,
    ConversationError,
    HandoffError,
    ModelError,
    Problem,
    ProjectError,
    SupportbotError,
)

if TYPE_CHECKING:
    from supportbot.bot import Bot, Turn
    from supportbot.dialogue.actions import (
        ActionContext,
        ActionRegistry,
        ActionReply,
        ActionResult,
        load_actions_module,
    )
    from supportbot.project import load_project
    from supportbot.training import train

__version__ = "0.3.0"
__all__ = [
    "ActionContext", "ActionError", "ActionRegistry", "ActionReply", "ActionResult", "Bot",
    "ConversationError", "HandoffError", "ModelError", "Problem", "ProjectError",
    "SupportbotError", "Turn", "__version__", "load_actions_module", "load_project", "train",
]

_LAZY = {"Bot": "supportbot.bot", "Turn": "supportbot.bot", "train": "supportbot.training",
         "load_project": "supportbot.project",
         **dict.fromkeys(("ActionContext", "ActionRegistry", "ActionReply", "ActionResult",
                          "load_actions_module"), "supportbot.dialogue.actions")}


def __getattr__(name: str) -> Any:
    """Import the heavy parts (torch, faiss) only when they are used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'supportbot' has no attribute {name!r}")
