"""Turn Conditions and Observations into normalized findings; the rules never read raw FHIR.

A finding is one statement about the patient: a Condition, an Observation, one component of a
panel, or the answer to the generic LOINC 75325-1 "Symptom" question. Status rules and negation
are applied here once (see ``filters``); what remains carries the concepts it names, whether it
is affirmed or negated, its date, laterality, body sites, value and the resource it came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..fhir.models import SUPPORTED_TYPES, UnreadableResource, parse_resource
from ..terminology import ICD10CM, Terminology, normalize_code, normalize_text
from . import filters

if TYPE_CHECKING:
    from .screen import ResourceScreen

MCODE_LATERALITY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
MCODE_LOCATION = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-body-location-qualifier"
SYMPTOM_QUESTION = "symptom-question"
# value sets that qualify a finding (where, which side) rather than name one
QUALIFIER_PREFIXES = ("site-", "qualifier-", "laterality-")
LATERALITY_CONCEPTS = {"laterality-left": "left", "laterality-right": "right", "laterality-bilateral": "bilateral"}
_LATERALITY_WORDS = (("bilateral", "bilateral"), ("bilaterally", "bilateral"), ("both legs", "bilateral"),
                     ("both sides", "bilateral"), ("both thighs", "bilateral"), ("left", "left"), ("right", "right"))


@dataclass(frozen=True)
class Finding:
    """One normalized statement about the patient."""

    reference: str
    display: str
    concepts: frozenset[str]
    resource_type: str
    date: datetime | None = None
    current: bool = True
    negated_concepts: frozenset[str] = frozenset()
    laterality: str | None = None
    sites: frozenset[str] = frozenset()
    quantity: tuple[Decimal, str] | None = None
    upper_limit: tuple[Decimal, str] | None = None
    text: str = ""

    @property
    def negated(self) -> bool:
        """Return True when the finding only says that something is absent ("answered no")."""
        return not self.concepts and bool(self.negated_concepts)


@dataclass(frozen=True)
class ResourceIssue:
    """A resource that could not be evaluated, and why (no patient data in ``reason``)."""

    reference: str
    reason: str


@dataclass
class FindingSet:
    """Findings of one request plus the resources that could not be read."""

    findings: list[Finding] = field(default_factory=list)
    issues: list[ResourceIssue] = field(default_factory=list)


@dataclass(frozen=True)
class LateralityRule:
    """ICD-10-CM laterality: in codes starting with ``prefix``, the character at ``position``."""

    prefix: str
    position: int
    values: Mapping[str, str]


def build_findings(resources: Iterable[Mapping[str, Any]], patient_id: str, terminology: Terminology,
                   laterality_rules: Iterable[LateralityRule], screen: ResourceScreen | None = None) -> FindingSet:
    """Parse each resource on its own and return its findings; bad resources become issues.

    ``screen`` (a clinical.screen.ResourceScreen) skips, before the costly fhir.resources validation,
    the resources that certainly yield nothing a rule uses; without it every resource is parsed.
    """
    reader = _Reader(terminology, tuple(laterality_rules))
    result = FindingSet()
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):  # parsed JSON: dict is exact, and far cheaper than an ABC check
            result.issues.append(ResourceIssue(f"(entry {index})", "not a JSON object"))
            continue
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in SUPPORTED_TYPES:
            continue  # other resource types are not read by any rule
        resource_id = resource.get("id")
        reference = f"{resource_type}/{resource_id if isinstance(resource_id, str) and resource_id else f'(entry {index})'}"
        if not _belongs_to(resource, patient_id):
            result.issues.append(ResourceIssue(reference, "subject is not the patient in context; ignored"))
            continue
        if screen is not None and not screen.may_matter(resource):
            continue
        try:
            model = parse_resource(resource)
            read = reader.condition if resource_type == "Condition" else reader.observation
            result.findings.extend(read(model, reference))
        except UnreadableResource as error:
            result.issues.append(ResourceIssue(reference, str(error)))
        except Exception as error:  # one odd resource must never hide the findings of the others
            result.issues.append(ResourceIssue(reference, f"could not be read ({type(error).__name__})"))
    return result


def _belongs_to(resource: Mapping[str, Any], patient_id: str) -> bool:
    """Return False only when the subject clearly names another Patient (when unsure, keep the resource)."""
    subject = resource.get("subject")
    reference = subject.get("reference") if subject.__class__ is dict else None
    if reference == f"Patient/{patient_id}":
        return True  # the common case, decided cheaply
    if not isinstance(reference, str) or "Patient/" not in reference:
        return True  # no subject, a urn:uuid or a logical reference: trust the EHR's query
    named = reference.rsplit("Patient/", 1)[1].split("/", 1)[0]  # also "…/Patient/123/_history/2"
    return named == patient_id


def as_datetime(value: Any) -> datetime | None:
    """Return an aware datetime for a FHIR date, dateTime or instant (dates at 00:00 UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=timezone.utc)
    if isinstance(value, str):  # partial dates such as "2019" or "2019-03"
        parts = [int(p) for p in value[:10].split("-") if p.isdigit()]
        if parts:
            year, month, day = (parts + [1, 1])[:3]
            return datetime(year, month, day, tzinfo=timezone.utc)
    return None


class _Reader:
    def __init__(self, terminology: Terminology, laterality_rules: tuple[LateralityRule, ...]) -> None:
        self.terminology = terminology
        self.laterality_rules = laterality_rules

    # -- concepts, sites, laterality -------------------------------------------------------------
    def concepts(self, concept: Any, extra_text: str | None = None) -> tuple[frozenset[str], frozenset[str], str]:
        """Return (affirmed, negated, text) concepts of a CodeableConcept plus optional extra text."""
        if concept is None and not extra_text:
            return frozenset(), frozenset(), ""
        codings = [(c.system, c.code) for c in (getattr(concept, "coding", None) or [])]
        coded = findings_only(self.terminology.concepts_for_codings(codings))
        text = " ; ".join(t for t in (getattr(concept, "text", None), extra_text) if t)
        named = self.terminology.concepts_for_text(text)
        return coded | findings_only(named.affirmed), findings_only(named.negated) - coded, text

    def sites(self, body_sites: list[Any], text: str) -> tuple[frozenset[str], str | None]:
        """Return site concepts and laterality from bodySite codings, mCODE extensions and text."""
        found: set[str] = set()
        laterality: set[str] = set()
        texts = [text]
        for site in body_sites:
            codings = [(c.system, c.code) for c in (site.coding or [])]
            for extension in site.extension or []:
                value = extension.valueCodeableConcept
                if value is None:
                    continue
                concepts = self.terminology.concepts_for_codings((c.system, c.code) for c in (value.coding or []))
                if extension.url == MCODE_LATERALITY:
                    laterality |= {LATERALITY_CONCEPTS[c] for c in concepts if c in LATERALITY_CONCEPTS}
                elif extension.url == MCODE_LOCATION:
                    found |= concepts
            concepts = self.terminology.concepts_for_codings(codings)
            laterality |= {LATERALITY_CONCEPTS[c] for c in concepts if c in LATERALITY_CONCEPTS}
            found |= concepts
            texts.append(site.text or "")
        joined = " ".join(t for t in texts if t)
        found |= self.terminology.concepts_for_text(joined).affirmed
        laterality |= _laterality_from_text(joined)
        return frozenset(found - set(LATERALITY_CONCEPTS)), _combine_laterality(laterality)

    def coded_laterality(self, concept: Any) -> str | None:
        sides = set()
        for coding in getattr(concept, "coding", None) or []:
            if coding.system != ICD10CM or not coding.code:
                continue
            code = normalize_code(ICD10CM, coding.code)
            for rule in self.laterality_rules:
                if code.startswith(rule.prefix) and len(code) >= rule.position:
                    side = rule.values.get(code[rule.position - 1])
                    if side:
                        sides.add(side)
        return _combine_laterality(sides)

    # -- resources -------------------------------------------------------------------------------
    def condition(self, condition: Any, reference: str) -> list[Finding]:
        if filters.is_ignored_condition(condition):
            return []
        affirmed, negated, text = self.concepts(condition.code)
        if not affirmed and not negated:
            return []
        sites, text_side = self.sites(list(condition.bodySite or []), text)
        when = (as_datetime(condition.onsetDateTime)
                or as_datetime(condition.onsetPeriod.start if condition.onsetPeriod else None)
                or as_datetime(condition.recordedDate))
        return [Finding(
            reference=reference, display=_display(condition.code), concepts=affirmed, negated_concepts=negated,
            resource_type="Condition", date=when, current=filters.is_current_condition(condition),
            laterality=_combine_laterality({self.coded_laterality(condition.code), text_side} - {None}),
            sites=sites, text=normalize_text(text),
        )]

    def observation(self, observation: Any, reference: str) -> list[Finding]:
        if not filters.is_counted_observation(observation):
            return []
        when = (as_datetime(observation.effectiveDateTime)
                or as_datetime(observation.effectivePeriod.start if observation.effectivePeriod else None)
                or as_datetime(observation.effectiveInstant) or as_datetime(observation.issued))
        body_sites = [observation.bodySite] if observation.bodySite else []
        findings = []
        is_panel = bool(observation.component) and not _has_value(observation)
        if not is_panel:  # a panel's own code names the questionnaire, not a finding
            parent = self.observed(observation, observation.code, observation.interpretation, reference, when,
                                   body_sites)
            if parent:
                findings.append(parent)
        for index, component in enumerate(observation.component or []):
            part = self.observed(component, component.code, component.interpretation,
                                 f"{reference}#component[{index}]", when, body_sites)
            if part:
                findings.append(part)
        return findings

    def observed(self, holder: Any, code: Any, interpretation: Any, reference: str, when: datetime | None,
                 body_sites: list[Any]) -> Finding | None:
        """Return the finding of an Observation or component, or None when it names nothing we read."""
        if holder.dataAbsentReason is not None:
            return None  # unknown is not negative, and not a finding either
        value_concept = getattr(holder, "valueCodeableConcept", None)
        value_string = getattr(holder, "valueString", None)
        affirmed, negated, text = self.concepts(code)
        shown = code
        polarity = filters.answer_polarity(getattr(holder, "valueBoolean", None), value_concept, value_string,
                                           interpretation)
        if SYMPTOM_QUESTION in affirmed and value_concept is not None:
            # the question's answer is the finding; only a negative interpretation negates it
            affirmed, negated, text = self.concepts(value_concept)
            shown = value_concept
            polarity = False if _interpretation_negative(interpretation) else None
        elif isinstance(value_string, str) and polarity is None:
            text = f"{text} ; {value_string}"
        if not affirmed and not negated:
            return None
        if polarity is False:  # the answer negates everything the question names
            affirmed, negated = frozenset(), affirmed | negated
        sites, text_side = self.sites(body_sites, text)
        quantity, upper = _quantity(holder), _upper_limit(holder)
        return Finding(
            reference=reference, display=_display(shown), concepts=affirmed - {SYMPTOM_QUESTION},
            negated_concepts=negated - {SYMPTOM_QUESTION}, resource_type="Observation", date=when, current=True,
            laterality=_combine_laterality({self.coded_laterality(code), text_side} - {None}), sites=sites,
            quantity=quantity, upper_limit=upper, text=normalize_text(text),
        )


def findings_only(concepts: frozenset[str]) -> frozenset[str]:
    """Drop the qualifier concepts (sites, sides) from a set of value-set ids."""
    return frozenset(c for c in concepts if not c.startswith(QUALIFIER_PREFIXES))


def _has_value(holder: Any) -> bool:
    return any(getattr(holder, name, None) is not None for name in (
        "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
        "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod"))


def _interpretation_negative(interpretation: Any) -> bool:
    return filters.answer_polarity(None, None, None, interpretation) is False


def _display(concept: Any) -> str:
    if concept is None:
        return "(no display)"
    if concept.text:
        return concept.text
    for coding in concept.coding or []:
        if coding.display:
            return coding.display
    for coding in concept.coding or []:
        if coding.code:
            return f"{coding.system}|{coding.code}"
    return "(no display)"


def _quantity(holder: Any) -> tuple[Decimal, str] | None:
    quantity = getattr(holder, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        return Decimal(str(quantity.value)), (quantity.code or quantity.unit or "1")
    integer = getattr(holder, "valueInteger", None)
    if integer is not None:
        return Decimal(integer), "1"
    return None


def _upper_limit(holder: Any) -> tuple[Decimal, str] | None:
    for reference_range in getattr(holder, "referenceRange", None) or []:
        high = reference_range.high
        if high is not None and high.value is not None:
            return Decimal(str(high.value)), (high.code or high.unit or "1")
    return None


def _laterality_from_text(text: str) -> set[str]:
    words = f" {normalize_text(text)} "
    return {side for word, side in _LATERALITY_WORDS if f" {word} " in words}


def _combine_laterality(sides: set[str]) -> str | None:
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    return next(iter(sides), None)
