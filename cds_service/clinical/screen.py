"""Decide cheaply, on the raw resource, whether it could matter to any rule (before validation).

A chart is mostly vitals, labs and unrelated problems. A resource is skipped only when it certainly
yields no finding a rule could use: its codes and texts name no concept of any value set; its status
means it is ignored anyway; or it is a plain measurement below the lowest threshold any rule applies
to what it measures (a 36.8 Cel temperature can never be a fever). When in doubt, it is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping

from ..terminology import Terminology
from . import filters
from .criteria import to_unit
from .findings import findings_only


@dataclass(frozen=True)
class ResourceScreen:
    """Screening knowledge: the terminology, and per concept the lowest value any rule can use."""

    terminology: Terminology
    value_floors: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)

    def may_matter(self, resource: Mapping[str, Any]) -> bool:
        """Return False only when the raw resource certainly yields nothing a rule uses."""
        try:
            if resource["resourceType"] == "Condition":
                if not self._names_a_concept(resource.get("code")):
                    return False
                verification = resource.get("verificationStatus") or {}
                return not any(coding.get("code") in filters.IGNORED_VERIFICATION_STATUSES
                               for coding in verification.get("coding") or ())
            if resource.get("status") not in filters.COUNTED_OBSERVATION_STATUSES:
                return False
            if not self._part_names_a_concept(resource) and not any(
                    self._part_names_a_concept(component) for component in resource.get("component") or ()):
                return False
            return not self._below_every_floor(resource)
        except Exception:  # noqa: BLE001 - whatever is odd about it, let the guarded parser decide and report
            return True

    def _part_names_a_concept(self, part: Mapping[str, Any]) -> bool:
        """Return True when the code, coded value or string value of an Observation or component names a concept."""
        return (self._names_a_concept(part.get("code")) or self._names_a_concept(part.get("valueCodeableConcept"))
                or self._names_a_concept(part.get("valueString")))

    def _names_a_concept(self, element: Any) -> bool:
        if element is None:
            return False
        if element.__class__ is str:
            return self.terminology.names_anything(element)
        for coding in element.get("coding") or ():
            if self.terminology.codes_anything(coding.get("system"), coding.get("code")):
                return True
        text = element.get("text")
        return text.__class__ is str and self.terminology.names_anything(text)

    def _below_every_floor(self, observation: Mapping[str, Any]) -> bool:
        """Return True for a plain measurement below the floor of every concept its code names."""
        quantity = observation.get("valueQuantity")
        if observation.get("component") or not isinstance(quantity, dict) or "valueCodeableConcept" in observation:
            return False
        value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(unit, str):
            return False
        code = observation.get("code") or {}
        concepts = self.terminology.concepts_for_codings((c.get("system"), c.get("code")) for c in code.get("coding") or ())
        named = self.terminology.concepts_for_text(code.get("text"))
        concepts = findings_only(concepts | named.affirmed | named.negated)
        if not concepts or not concepts <= self.value_floors.keys():
            return False
        for concept in concepts:
            floor_unit, floor = self.value_floors[concept]
            converted = to_unit((Decimal(str(value)), unit), floor_unit)
            if converted is None or converted >= floor:
                return False
        return True


def value_floors(expressions: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, Decimal]]:
    """Return, per concept, the lowest ``at_least`` of its clauses when every clause reading it has one.

    A concept read anywhere without a plain lower bound (no value test, ``at_most``, a multiple of the
    reference range, a negated answer, a trend) gets no floor and is never screened by value.
    """
    uses: dict[str, list[Mapping[str, Any] | None]] = {}
    for expression in expressions:
        for clause in _clauses(expression):
            concepts = [clause["concept"]] if isinstance(clause["concept"], str) else clause["concept"]
            value = clause.get("value") if clause.get("answer", "yes") == "yes" and not clause.get("trend") else None
            for concept in concepts:
                uses.setdefault(concept, []).append(value)
    floors = {}
    for concept, values in uses.items():
        if all(v is not None and set(v) == {"unit", "at_least"} for v in values):
            units = {v["unit"] for v in values}  # type: ignore[index]
            if len(units) == 1:
                floors[concept] = (units.pop(), min(Decimal(str(v["at_least"])) for v in values))  # type: ignore[index]
    return floors


def _clauses(expression: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if "finding" in expression:
        yield expression["finding"]
    if "trend" in expression:
        yield {**expression["trend"], "trend": True}
    for key in ("all", "any", "of"):
        for part in expression.get(key, ()):
            yield from _clauses(part)
    if "not" in expression:
        yield from _clauses(expression["not"])
