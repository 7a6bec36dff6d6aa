"""Turn topic matches into CDS Hooks 2.0 cards ('Card Attributes'), from the templates in cards/topics.

Templates are filled by substituting into parsed values (never by rendering JSON as text).
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

from .clinical.findings import Finding, ResourceIssue
from .engine import Evaluation, TopicMatch

OVERRIDE_REASON_SYSTEM = "https://posterior-thigh-cds.example.org/fhir/CodeSystem/override-reason"
READ_ISSUES_EXTENSION = "org.posterior-thigh-cds.unreadable-resources"


def render_response(evaluation: Evaluation, context: Mapping[str, Any], topic_system: str) -> dict[str, Any]:
    """Return the CDS Hooks response body: cards most urgent first, unreadable resources as an extension."""
    cards = [render_card(match, context, topic_system, evaluation.issues) for match in evaluation.matches]
    response: dict[str, Any] = {"cards": cards}
    if evaluation.issues:
        response["extension"] = {READ_ISSUES_EXTENSION: [
            {"resource": issue.reference, "reason": issue.reason} for issue in evaluation.issues]}
    return response


def render_card(match: TopicMatch, context: Mapping[str, Any], topic_system: str,
                issues: list[ResourceIssue]) -> dict[str, Any]:
    """Return one card for a matched topic."""
    topic = match.topic
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": topic["summary"],
        "indicator": match.indicator,
        "detail": render_detail(match, issues),
        "source": {
            "label": topic["source"]["label"],
            "url": topic["source"]["url"],
            "topic": {"system": topic_system, "code": topic["topic"], "display": topic["title"]},
        },
    }
    if topic.get("links"):
        card["links"] = [{"label": link["label"], "url": link["url"], "type": "absolute"} for link in topic["links"]]
    if topic.get("suggestions"):
        card["suggestions"] = [
            {"label": s["label"], "uuid": str(uuid.uuid4()), "isRecommended": s.get("isRecommended", False),
             "actions": [_substitute(action, context) for action in s["actions"]]}
            for s in topic["suggestions"]
        ]
        card["selectionBehavior"] = topic["selectionBehavior"]
    card["overrideReasons"] = [{"code": r["code"], "system": OVERRIDE_REASON_SYSTEM, "display": r["display"]}
                               for r in topic["overrideReasons"]]
    return card


def render_detail(match: TopicMatch, issues: list[ResourceIssue]) -> str:
    """Return the markdown detail: reasoning, triggering findings with dates, advice, sources."""
    topic = match.topic
    lines = [topic["description"], "", "**Why this card**"]
    lines += [f"- {m.rule['description']}" for m in match.rules]
    lines += ["", "**Findings that triggered it**"]
    lines += [f"- {describe_finding(f)}" for f in match.findings] or ["- (no single finding; see rules above)"]
    lines += ["", "**Consider**", topic["advice"]]
    lines += [m.rule["advice"] for m in match.rules if m.rule.get("advice")]
    if topic.get("safety_net"):
        lines += ["", f"**Safety net:** {topic['safety_net']}"]
    if issues:
        lines += ["", f"_Note: {len(issues)} record(s) could not be read and were not evaluated._"]
    cited = {key for m in match.rules for key in m.rule["cites"]}
    lines += ["", "**Sources**"]
    lines += [f"- [{c['label']}]({c['url']})" for c in topic["citations"] if c["key"] in cited]
    return "\n".join(lines)


def describe_finding(finding: Finding) -> str:
    """Return one line naming a finding, its date, side and value, and the resource it came from."""
    parts = [finding.display]
    if finding.negated:
        parts.append("answered no")
    if finding.quantity is not None:
        parts.append(f"{finding.quantity[0].normalize():f} {finding.quantity[1]}")
    if finding.laterality:
        parts.append(finding.laterality)
    if not finding.current:
        parts.append("historic")
    when = finding.date.date().isoformat() if finding.date else "undated"
    return f"{', '.join(parts)} — {when} ({finding.reference})"


def _substitute(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace {{context.x}} tokens inside string values of a parsed template."""
    if isinstance(value, str):
        for key, item in context.items():
            if isinstance(item, str):
                value = value.replace("{{context.%s}}" % key, item)
        return value
    if isinstance(value, list):
        return [_substitute(v, context) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, context) for k, v in value.items()}
    return value
