"""The CDS Services this server offers, keyed by service id (one hook per service).

Prefetch templates are derived from what the criteria read: the findings module reads
Conditions and Observations of the patient in context, so each service asks for exactly those.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .errors import UnknownService
from .fhir.models import SUPPORTED_TYPES
from .knowledge import Knowledge

# resource type -> (prefetch key, FHIR search rendered with CDS Hooks 2.0 tokens)
PREFETCH_QUERIES = {
    "Condition": ("conditions", "Condition?patient={{context.patientId}}"),
    "Observation": ("observations", "Observation?patient={{context.patientId}}"),
}
DESCRIPTION = (
    "Evaluates posterior-thigh (back of the thigh) pain: possible cauda equina syndrome (urgent), other serious "
    "red flags, possible lumbar radiculopathy / sciatic nerve irritation, proximal hamstring tendinopathy, "
    "hamstring strain, delayed onset muscle soreness, and pain persisting beyond 7-10 days. Advisory cards only."
)
SERVICE_DEFINITIONS = (
    ("posterior-thigh-pain-patient-view", "patient-view", "Posterior thigh pain review (chart open)"),
    ("posterior-thigh-pain-encounter-start", "encounter-start", "Posterior thigh pain review (encounter start)"),
)


@dataclass(frozen=True)
class Service:
    """One CDS Service: its id, hook, texts, prefetch templates and the knowledge it evaluates."""

    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]
    knowledge: Knowledge

    def discovery(self) -> dict[str, object]:
        """Return this service's entry in the Discovery response."""
        return {"hook": self.hook, "title": self.title, "description": self.description, "id": self.id,
                "prefetch": dict(self.prefetch)}


class Registry:
    """Services by id."""

    def __init__(self, services: list[Service]) -> None:
        self._services = {service.id: service for service in services}

    @classmethod
    def from_knowledge(cls, knowledge: Knowledge) -> "Registry":
        """Build the services for every supported hook over ``knowledge``."""
        prefetch = dict(PREFETCH_QUERIES[t] for t in sorted(SUPPORTED_TYPES))
        return cls([Service(sid, hook, title, DESCRIPTION, prefetch, knowledge)
                    for sid, hook, title in SERVICE_DEFINITIONS])

    def get(self, service_id: str) -> Service:
        """Return the service, or raise UnknownService."""
        try:
            return self._services[service_id]
        except KeyError:
            raise UnknownService(f"no CDS Service with id {service_id!r}; see GET /cds-services.") from None

    def for_hook(self, hook: str) -> Service:
        """Return the service answering ``hook`` (used by the command line)."""
        for service in self._services.values():
            if service.hook == hook:
                return service
        raise UnknownService(f"no CDS Service for hook {hook!r}.")

    def __iter__(self):
        return iter(self._services.values())
