"""The clinical core: ``evaluate(service, context, resources, now) -> Evaluation``. No I/O, no Flask.

Every topic is evaluated on the same findings and independently of the others, so an unreadable
resource, or a topic with nothing to say, never hides a cauda equina or red-flag card.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .clinical.criteria import EvaluationContext, evaluate_expression
from .clinical.findings import Finding, ResourceIssue, build_findings
from .knowledge import Knowledge

if TYPE_CHECKING:
    from .registry import Service

INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class RuleMatch:
    """A rule of a topic that fired, with the findings that made it fire."""

    rule: Mapping[str, Any]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class TopicMatch:
    """A topic with at least one fired rule; becomes one card."""

    topic: Mapping[str, Any]
    rules: tuple[RuleMatch, ...]

    @property
    def indicator(self) -> str:
        """Return the most urgent of the topic's minimum and its fired rules' indicators."""
        levels = [self.topic["indicator"], *(m.rule.get("indicator", "info") for m in self.rules)]
        return max(levels, key=INDICATOR_RANK.__getitem__)

    @property
    def findings(self) -> list[Finding]:
        """Return the triggering findings, once each, oldest first (undated last)."""
        unique = {f.reference: f for m in self.rules for f in m.findings}
        return sorted(unique.values(), key=lambda f: (f.date is None, f.date or 0, f.reference))  # type: ignore[return-value]


@dataclass
class Evaluation:
    """What the core concluded about one request."""

    matches: list[TopicMatch] = field(default_factory=list)
    issues: list[ResourceIssue] = field(default_factory=list)
    finding_count: int = 0


def match_topics(knowledge: Knowledge, findings: list[Finding], now: datetime) -> list[TopicMatch]:
    """Evaluate every topic's rules; return matched topics, most urgent first."""
    matched = []
    for topic in knowledge.topics:
        context = EvaluationContext(findings, now, knowledge.expressions[topic["topic"]])
        fired = []
        for rule in topic["rules"]:
            result = evaluate_expression(rule["when"], context)
            if result is not None:
                fired.append(RuleMatch(rule, tuple(result)))
        if fired:
            matched.append(TopicMatch(topic, tuple(fired)))
    matched.sort(key=lambda m: -INDICATOR_RANK[m.indicator])  # stable: knowledge order within a level
    return matched


def evaluate(service: "Service", context: Mapping[str, Any], resources: Iterable[Mapping[str, Any]],
             now: datetime) -> Evaluation:
    """Evaluate the patient's resources at ``now`` for a call of ``service`` with hook ``context``.

    ``resources`` are raw FHIR R4 Conditions and Observations (other types are skipped);
    each is parsed on its own, and the unreadable ones are returned as issues.
    """
    knowledge = service.knowledge
    finding_set = build_findings(resources, context["patientId"], knowledge.terminology, knowledge.laterality_rules,
                                 knowledge.screen)
    return Evaluation(match_topics(knowledge, finding_set.findings, now), finding_set.issues,
                      len(finding_set.findings))
