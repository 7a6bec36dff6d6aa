"""The only module that imports fhir.resources: parse one resource at a time with R4B models.

fhir.resources has no R4 package since 7.0; R4 Condition and Observation payloads are read with
``fhir.resources.R4B`` (wire-compatible for these types). Validation is strict and fails the whole
object, so each resource is parsed on its own and a bad one is reported, never fatal to the others.
"""
from __future__ import annotations

from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

MODELS = {"Condition": Condition, "Observation": Observation}
SUPPORTED_TYPES = frozenset(MODELS)
# The elements the findings module reads; the rest (narrative, meta, performer, notes...) is not
# validated, so a chart's bulk costs nothing and a flaw there hides nothing a rule uses.
READ_ELEMENTS = {
    "Condition": frozenset({"resourceType", "id", "clinicalStatus", "verificationStatus", "category", "code",
                            "bodySite", "subject", "recordedDate"}),
    "Observation": frozenset({"resourceType", "id", "status", "code", "subject", "issued", "dataAbsentReason",
                              "interpretation", "bodySite", "referenceRange", "component"}),
}
READ_CHOICES = {"Condition": ("onset", "abatement"), "Observation": ("effective", "value")}


class UnreadableResource(ValueError):
    """A resource that fhir.resources refused; the message names the fields, not their values."""


def parse_resource(resource: dict[str, Any]) -> Condition | Observation:
    """Parse the elements we read of one Condition or Observation; raise UnreadableResource naming what was wrong."""
    resource_type = resource.get("resourceType", "")
    model = MODELS.get(resource_type)
    if model is None:
        raise UnreadableResource(f"resourceType {resource_type!r} is not read by this service")
    read, choices = READ_ELEMENTS[resource_type], READ_CHOICES[resource_type]
    projected = {key: value for key, value in resource.items() if key in read or key.startswith(choices)}
    try:
        return model.model_validate(projected)
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(resource)" for e in error.errors()})
        raise UnreadableResource(f"invalid {model.__name__}: {', '.join(fields[:5])}") from None
    except (TypeError, ValueError) as error:
        raise UnreadableResource(f"invalid {model.__name__}: {type(error).__name__}") from None
