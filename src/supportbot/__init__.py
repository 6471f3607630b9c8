"""supportbot: rule-and-retrieval customer-service chatbots with a human handoff queue."""
from supportbot.errors import (
    ConversationError, HandoffError, ModelError, Problem, ProjectError, SupportbotError,
)

__version__ = "0.1.0"
__all__ = [
    "ConversationError", "HandoffError", "ModelError", "Problem", "ProjectError",
    "SupportbotError", "__version__",
]
