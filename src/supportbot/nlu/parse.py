"""The result of understanding one message."""
from __future__ import annotations

from collections.abc import Mapping
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
    # the full retrieval intent (`chitchat/ask_name`): from a `/faq/x` payload, or chosen by
    # the response selector when the NLU predicts a retrieval intent without falling back
    retrieval_key: str | None = None
    familiarity: float | None = None
    retrieval_ranking: tuple[IntentScore, ...] = ()  # the selector's ranking of the keys
    # set when the topic arbiter (supportbot.nlu.arbiter) chose between the intents and the
    # FAQ entries (a message the multilingual model reads): `faq_entry` is the entry it chose,
    # with its pooled score; None when it chose an intent or nothing
    arbitrated: bool = False
    faq_entry: str | None = None
    faq_score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Parse:
        data = dict(data)
        data["ranking"] = tuple(IntentScore(**r) for r in data.get("ranking", ()))
        data["entities"] = tuple(Entity(**e) for e in data.get("entities", ()))
        data["retrieval_ranking"] = tuple(IntentScore(**r)
                                          for r in data.get("retrieval_ranking", ()))
        return cls(**data)

    def to_rasa(self, responses: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Rasa's parse JSON shape (`rasa shell nlu` / `POST /model/parse`).

        With a retrieval key it has Rasa's `response_selector` entry (one selector, `default`);
        `responses` (the domain's, by name) fills in its `responses` texts.
        """
        intent = {"name": "nlu_fallback" if self.fallback else self.intent,
                  "confidence": self.confidence}
        result = {
            "text": self.text,
            "intent": intent,
            "entities": [
                {k: v for k, v in asdict(e).items() if v is not None} for e in self.entities
            ],
            "intent_ranking": [{"name": r.name, "confidence": r.confidence} for r in self.ranking],
            "language": self.language,
        }
        if self.retrieval_key:
            result["response_selector"] = self._response_selector(responses or {})
        return result

    def _response_selector(self, responses: Mapping[str, Any]) -> dict[str, Any]:
        key = self.retrieval_key or ""
        ranking = self.retrieval_ranking or (IntentScore(key, 1.0),)
        confidence = next((r.confidence for r in ranking if r.name == key), 1.0)
        return {
            "all_retrieval_intents": list(dict.fromkeys(r.name.split("/", 1)[0]
                                                        for r in ranking)),
            "default": {
                "response": {"responses": _response_texts(responses.get(f"utter_{key}")),
                             "confidence": confidence, "intent_response_key": key,
                             "utter_action": f"utter_{key}"},
                "ranking": [{"confidence": r.confidence, "intent_response_key": r.name}
                            for r in ranking],
            },
        }


def _response_texts(response: Any) -> list[dict[str, Any]]:
    """`[{"text": ...}, ...]` for a domain `Response` (or a list of such dicts)."""
    if response is None:
        return []
    if isinstance(response, list):
        return [dict(v) for v in response]
    variations = getattr(response, "variations", ())
    return [{"text": v.text} if not v.image else {"text": v.text, "image": v.image}
            for v in variations if v.text or v.image]
