"""How upset one message sounds, as a score in 0..1 with the cues that produced it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supportbot.escalation.config import FrustrationConfig
from supportbot.escalation.lexicons import Lexicon
from supportbot.escalation.text import PhraseSet, caps_words, punctuation_runs, words


@dataclass(frozen=True)
class FrustrationScore:
    """The score and the cues found (for reasons and debug output)."""

    score: float
    profanity: tuple[str, ...] = ()
    insults: tuple[str, ...] = ()
    negative_words: tuple[str, ...] = ()
    caps_ratio: float = 0.0
    punctuation: tuple[str, ...] = ()
    parts: dict[str, float] = field(default_factory=dict)

    def cues(self) -> list[str]:
        """Short human-readable cue descriptions, strongest kinds first."""
        out = [f"insult '{w}'" for w in self.insults]
        out += [f"profanity '{w}'" for w in self.profanity]
        if self.caps_ratio:
            out.append("writing in capitals")
        out += [f"'{p}'" for p in self.punctuation[:1]]
        out += [f"'{w}'" for w in self.negative_words]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, **{k: v for k, v in self.parts.items() if v}}


class FrustrationScorer:
    """Scores messages with weighted cues combined as 1 - prod(1 - weight) (each cue adds)."""

    def __init__(self, config: FrustrationConfig, lexicon: Lexicon):
        builtin = config.builtin_lexicons
        self.config = config
        self.profanity = PhraseSet((lexicon.profanity if builtin else ()) + config.profanity)
        self.insults = PhraseSet((lexicon.insults if builtin else ()) + config.insults)
        self.negative = PhraseSet((lexicon.negative_words if builtin else ())
                                  + config.negative_words)
        self.acronyms = (lexicon.acronyms if builtin else ()) + config.ignore_acronyms

    def score(self, text: str) -> FrustrationScore:
        """Score one message."""
        cfg, weights = self.config, self.config.weights
        tokens = words(text)
        insults = self.insults.all(tokens)
        profanity = self.profanity.all(tokens)
        negative = self.negative.all(tokens)
        upper, considered = caps_words(text, self.acronyms)
        ratio = upper / considered if considered else 0.0
        shouting = upper >= cfg.min_caps_words and ratio >= cfg.min_caps_ratio
        runs = punctuation_runs(text)

        hits: dict[str, list[float]] = {
            "insult": [weights.insult] * len(insults),
            "profanity": [weights.profanity] * len(profanity),
            "negative_word": [weights.negative_word] * len(negative),
            "all_caps": [weights.all_caps * ratio] if shouting else [],
            # "!!!" counts fully, "!?" half; at most two runs count
            "punctuation": sorted((weights.punctuation if len(r) >= 3 else weights.punctuation / 2
                                   for r in runs), reverse=True)[:2],
        }
        remaining = 1.0
        parts: dict[str, float] = {}
        for kind, values in hits.items():
            kind_remaining = 1.0
            for value in values:
                kind_remaining *= 1.0 - value
            parts[kind] = round(1.0 - kind_remaining, 3)
            remaining *= kind_remaining
        return FrustrationScore(
            score=round(1.0 - remaining, 3),
            profanity=tuple(profanity), insults=tuple(insults), negative_words=tuple(negative),
            caps_ratio=round(ratio, 3) if shouting else 0.0, punctuation=tuple(runs),
            parts=parts)
