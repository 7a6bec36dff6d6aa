"""Evaluate the criteria written as data in cards/ over normalized findings.

An expression is one of (JSON):
  {"all": [e, ...]}   every part matches          {"any": [e, ...]}   at least one part matches
  {"not": e}          e does not match              {"at_least": n, "of": [e, ...]}
  {"use": "name"}     a named definition (the topic's own, then cards/definitions.json)
  {"finding": {...}}  findings of a concept, filtered (see ``_finding``)
  {"trend": {...}}    a series of values that is not falling (see ``_trend``)
Evaluating returns the findings that made it match (possibly none, e.g. for "not"), or None.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from .findings import Finding

Expression = Mapping[str, Any]
Matched = list[Finding] | None

# unit aliases -> UCUM, and conversions to the unit a rule compares in
UNIT_ALIASES = {"°C": "Cel", "C": "Cel", "degC": "Cel", "°F": "[degF]", "F": "[degF]", "degF": "[degF]",
                "IU/L": "U/L", "[iU]/L": "U/L", "{score}": "1", "score": "1", "ml": "mL"}
CONVERSIONS: dict[tuple[str, str], Callable[[Decimal], Decimal]] = {
    ("[degF]", "Cel"): lambda v: (v - 32) * 5 / 9,
    ("Cel", "[degF]"): lambda v: v * 9 / 5 + 32,
    ("L", "mL"): lambda v: v * 1000,
}


@dataclass(frozen=True)
class EvaluationContext:
    """What an expression is evaluated against: the findings, the clock and named definitions."""

    findings: Sequence[Finding]
    now: datetime
    definitions: Mapping[str, Expression]


def evaluate_expression(expression: Expression, context: EvaluationContext) -> Matched:
    """Return the findings that satisfy ``expression`` (possibly empty), or None if it does not hold."""
    if "all" in expression:
        collected: list[Finding] = []
        for part in expression["all"]:
            matched = evaluate_expression(part, context)
            if matched is None:
                return None
            collected.extend(matched)
        return _unique(collected)
    if "any" in expression:
        results = [evaluate_expression(part, context) for part in expression["any"]]
        hits = [m for m in results if m is not None]
        return _unique([f for m in hits for f in m]) if hits else None
    if "not" in expression:
        return [] if evaluate_expression(expression["not"], context) is None else None
    if "at_least" in expression:
        hits = [m for m in (evaluate_expression(p, context) for p in expression["of"]) if m is not None]
        return _unique([f for m in hits for f in m]) if len(hits) >= expression["at_least"] else None
    if "use" in expression:
        return evaluate_expression(context.definitions[expression["use"]], context)
    if "finding" in expression:
        return _finding(expression["finding"], context)
    if "trend" in expression:
        return _trend(expression["trend"], context)
    raise ValueError(f"unknown expression keys: {sorted(expression)}")


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.reference + "|" + ",".join(sorted(finding.concepts)), finding)
    return list(seen.values())


def _as_set(value: str | Sequence[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    return frozenset([value] if isinstance(value, str) else value)


def candidates(spec: Mapping[str, Any], context: EvaluationContext) -> list[Finding]:
    """Return the findings that pass every filter of a finding clause except laterality."""
    concepts = _as_set(spec["concept"])
    wants_negated = spec.get("answer", "yes") == "no"
    sites, excluded_sites = _as_set(spec.get("site")), _as_set(spec.get("site_excludes"))
    excluded_text = tuple(spec.get("text_excludes", ()))
    found = []
    for finding in context.findings:
        if not (finding.negated_concepts if wants_negated else finding.concepts) & concepts:
            continue
        if not finding.current and not spec.get("include_history", False):
            continue
        if "resource" in spec and finding.resource_type != spec["resource"]:
            continue
        if sites and not finding.sites & sites:
            continue
        if finding.sites & excluded_sites or any(phrase in finding.text for phrase in excluded_text):
            continue
        if not _in_window(finding, spec, context.now):
            continue
        if "value" in spec and not _value_holds(finding, spec["value"]):
            continue
        found.append(finding)
    return found


def _in_window(finding: Finding, spec: Mapping[str, Any], now: datetime) -> bool:
    if finding.date is None:
        if "onset_at_least_days" in spec:
            return False
        return "within_days" not in spec or spec.get("undated_counts", False)
    age = now - finding.date
    if "within_days" in spec and age > timedelta(days=spec["within_days"]):
        return False
    if "onset_at_least_days" in spec and age < timedelta(days=spec["onset_at_least_days"]):
        return False
    return True


def _finding(spec: Mapping[str, Any], context: EvaluationContext) -> Matched:
    found = candidates(spec, context)
    if spec.get("laterality") == "bilateral":
        found = _bilateral(found)
    return found or None


def _bilateral(found: list[Finding]) -> list[Finding]:
    """Return an explicitly bilateral finding, or a left and a right finding together."""
    both = [f for f in found if f.laterality == "bilateral"]
    if both:
        return both
    left = [f for f in found if f.laterality == "left"]
    right = [f for f in found if f.laterality == "right"]
    return left + right if left and right else []


def to_unit(quantity: tuple[Decimal, str], unit: str) -> Decimal | None:
    """Return the quantity's value in ``unit`` (UCUM), or None when it cannot be converted."""
    value, given = quantity
    given = UNIT_ALIASES.get(given, given)
    unit = UNIT_ALIASES.get(unit, unit)
    if given == unit:
        return value
    convert = CONVERSIONS.get((given, unit))
    return convert(value).quantize(Decimal("0.001")) if convert else None


def _value_holds(finding: Finding, rule: Mapping[str, Any]) -> bool:
    if finding.quantity is None:
        return False
    value = to_unit(finding.quantity, rule.get("unit", "1"))
    if value is None:
        return False
    if "at_least" in rule and value < Decimal(str(rule["at_least"])):
        return False
    if "at_most" in rule and value > Decimal(str(rule["at_most"])):
        return False
    if "at_least_times_upper_limit" in rule:
        limit = to_unit(finding.upper_limit, rule["unit"]) if finding.upper_limit else None
        limit = limit if limit is not None else Decimal(str(rule["default_upper_limit"]))
        if value < Decimal(str(rule["at_least_times_upper_limit"])) * limit:
            return False
    return True


def _trend(spec: Mapping[str, Any], context: EvaluationContext) -> Matched:
    """Match a dated series of at least ``min_count`` values whose latest is not below its earliest."""
    series = sorted((f for f in candidates(spec, context) if f.date is not None and f.quantity is not None),
                    key=lambda f: f.date)  # type: ignore[arg-type, return-value]
    if len(series) < spec.get("min_count", 2):
        return None
    earliest, latest = series[0].quantity[0], series[-1].quantity[0]  # type: ignore[index]
    if spec.get("direction", "not-falling") == "not-falling" and latest < earliest:
        return None
    return series
