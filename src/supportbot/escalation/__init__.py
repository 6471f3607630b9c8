"""Escalation: decide, on every turn, whether a conversation goes to a person, and why.

    from supportbot.escalation import Candidate, EscalationConfig, EscalationPolicy

    policy = EscalationPolicy(EscalationConfig.from_mapping(raw_escalation_section))
    decision = policy.check(tracker, parse, candidate)

See docs/escalation.md for the signals and the `escalation:` config section.
"""
from __future__ import annotations

from supportbot.escalation.config import EscalationConfig, validate_escalation_section
from supportbot.escalation.frustration import FrustrationScore, FrustrationScorer
from supportbot.escalation.policy import EscalationPolicy
from supportbot.escalation.types import REASON_CODES, Candidate, Decision, Reason

__all__ = [
    "REASON_CODES",
    "Candidate",
    "Decision",
    "EscalationConfig",
    "EscalationPolicy",
    "FrustrationScore",
    "FrustrationScorer",
    "Reason",
    "validate_escalation_section",
]
