"""FAQ knowledge base: hybrid dense + lexical index with calibrated scores and clarification."""
from __future__ import annotations

from supportbot.kb.decision import (
    KBDecision,
    clarification_buttons,
    decide,
    entry_id_from_payload,
    faq_payload,
)
from supportbot.kb.index import KBHit, KBIndex

__all__ = ["KBDecision", "KBHit", "KBIndex", "clarification_buttons", "decide",
           "entry_id_from_payload", "faq_payload"]
