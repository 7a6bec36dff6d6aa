"""Per-app state kept in ``app.extensions['cds_service']``, and the accessor the views use."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import current_app

from .auth import Authenticator
from .database import Database
from .feedback import FeedbackStore
from .fhir.client import FhirClient
from .knowledge import Knowledge
from .registry import Registry
from .settings import Settings


@dataclass(frozen=True)
class CdsState:
    """What every request needs: settings, knowledge, services, feedback store, FHIR client, clock."""

    settings: Settings
    knowledge: Knowledge
    registry: Registry
    database: Database
    store: FeedbackStore
    authenticator: Authenticator | None
    fhir: FhirClient
    clock: Callable[[], datetime]


def state() -> CdsState:
    """Return the state of the current app."""
    return current_app.extensions["cds_service"]
