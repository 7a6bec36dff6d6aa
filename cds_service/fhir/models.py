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


class UnreadableResource(ValueError):
    """A resource that fhir.resources refused; the message names the fields, not their values."""


def parse_resource(resource: dict[str, Any]) -> Condition | Observation:
    """Parse one Condition or Observation dict; raise UnreadableResource naming what was wrong."""
    model = MODELS.get(resource.get("resourceType", ""))
    if model is None:
        raise UnreadableResource(f"resourceType {resource.get('resourceType')!r} is not read by this service")
    try:
        return model.model_validate(resource)
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(resource)" for e in error.errors()})
        raise UnreadableResource(f"invalid {model.__name__}: {', '.join(fields[:5])}") from None
    except (TypeError, ValueError) as error:
        raise UnreadableResource(f"invalid {model.__name__}: {type(error).__name__}") from None
