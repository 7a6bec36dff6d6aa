"""POST /cds-services/{id} (CDS Hooks 2.0 'Calling a CDS Service'), as named stages:

verify the caller's JWT (401) -> find service (404) -> read body (400/413/415) -> validate request (422)
-> gather prefetch, fetching what is missing (412) -> evaluate (500 on any exception, never an empty 200)
-> render cards (critical first) -> one audit log line.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, jsonify

from ..engine import evaluate
from ..errors import EvaluationFailed, InvalidRequest
from ..fhir.prefetch import gather
from ..logs import log_event
from ..metrics import CARDS
from ..registry import Service
from ..render import render_response
from ..state import state
from ..validation import first_error, hook_request_validator
from .requests import collector_paused, read_json_object
from .security import authenticate

blueprint = Blueprint("services", __name__)


def validate_hook_request(service: Service, body: dict[str, Any]) -> None:
    """Raise InvalidRequest naming the field when ``body`` is not a valid call of ``service``."""
    hook = body.get("hook")
    if isinstance(hook, str) and hook != service.hook:
        raise InvalidRequest(f"hook: {hook!r} does not match service {service.id!r}, which answers {service.hook!r}.")
    problem = first_error(hook_request_validator(service.hook), body)
    if problem:
        raise InvalidRequest(f"invalid CDS Hooks request: {problem}")


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str):
    """Evaluate the patient in context and answer with cards."""
    with collector_paused():
        return _call_service(service_id)


def _call_service(service_id: str):
    started = time.perf_counter()
    current = state()
    caller = authenticate()
    service = current.registry.get(service_id)
    body = read_json_object()
    validate_hook_request(service, body)
    allowed = caller.allowed_fhir_servers(current.settings.allowed_fhir_servers)
    gathered = gather(service.prefetch, body,
                      lambda missing, request: current.fhir.fetch_missing(missing, request, allowed))
    try:
        evaluation = evaluate(service, body["context"], gathered.resources, current.clock())
        response = render_response(evaluation, body["context"], current.settings.topic_system)
    except Exception as error:  # a red flag must never disappear into an empty 200
        log_event("evaluation_failed", logging.ERROR, hook_instance=body["hookInstance"], service_id=service.id,
                  error=type(error).__name__)
        raise EvaluationFailed(
            f"evaluation failed ({type(error).__name__}); no cards could be produced, so none are shown. "
            "Assess the patient without decision support.") from error
    for match in evaluation.matches:
        CARDS.labels(match.topic["topic"], match.indicator).inc()
    log_event("hook_call", hook_instance=body["hookInstance"], service_id=service.id, hook=service.hook, status=200,
              issuer=caller.issuer.iss if caller.issuer else None,
              topics=[m.topic["topic"] for m in evaluation.matches],
              indicators=[m.indicator for m in evaluation.matches],
              prefetched=gathered.prefetched, fetched=gathered.fetched, resource_count=len(gathered.resources),
              finding_count=evaluation.finding_count, issue_count=len(evaluation.issues),
              duration_ms=round((time.perf_counter() - started) * 1000, 2))
    return jsonify(response)
