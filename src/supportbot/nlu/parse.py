"""The result of understanding one message."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class Entity:
    entity: str
    value: Any
    start: int
    end: int
    text: str
    extractor: str  # regex | lookup | payload | ...
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Parse:
    """What the NLU made of a message.

    `intent` is always the top-ranked intent (never `nlu_fallback`); `fallback` says whether the
    message counts as not understood (below threshold, ambiguous, out of scope, or unlike every
    training example). `familiarity` is the cosine between the message and its most similar
    training example (None when the NLU did not run).
    """

    text: str
    intent: str
    confidence: float
    ranking: tuple[IntentScore, ...] = ()
    entities: tuple[Entity, ...] = ()
    language: str = "en"
    fallback: bool = False
    fallback_reason: str | None = None  # low_confidence|ambiguous|out_of_scope|unfamiliar|None
    from_payload: bool = False  # came from a `/intent{...}` payload, NLU skipped
    retrieval_key: str | None = None  # `faq/x` payloads select a KB entry directly
    familiarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Parse:
        data = dict(data)
        data["ranking"] = tuple(IntentScore(**r) for r in data.get("ranking", ()))
        data["entities"] = tuple(Entity(**e) for e in data.get("entities", ()))
        return cls(**data)

    def to_rasa(self) -> dict[str, Any]:
        """Rasa's parse JSON shape (`rasa shell nlu` / `POST /model/parse`)."""
        intent = {"name": "nlu_fallback" if self.fallback else self.intent,
                  "confidence": self.confidence}
        return {
            "text": self.text,
            "intent": intent,
            "entities": [
                {k: v for k, v in asdict(e).items() if v is not None} for e in self.entities
            ],
            "intent_ranking": [{"name": r.name, "confidence": r.confidence} for r in self.ranking],
            "language": self.language,
        }
