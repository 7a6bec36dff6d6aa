"""POST /cds-services/{id}/feedback (CDS Hooks 2.0 'Feedback'): 200 only after every item is committed."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..errors import InvalidRequest
from ..logs import log_event
from ..metrics import FEEDBACK_ITEMS
from ..state import state
from ..validation import first_error, validator_for
from .requests import read_json_object
from .security import authenticate

blueprint = Blueprint("feedback", __name__)


@blueprint.post("/cds-services/<service_id>/feedback")
def receive_feedback(service_id: str):
    """Validate and durably store feedback items; a repeated item is stored once."""
    current = state()
    caller = authenticate()
    service = current.registry.get(service_id)
    body = read_json_object()
    problem = first_error(validator_for("feedback"), body)
    if problem:
        raise InvalidRequest(f"invalid feedback: {problem}")
    stored = current.store.add(service.id, body["feedback"])
    for item in body["feedback"]:
        FEEDBACK_ITEMS.labels(item["outcome"]).inc()
    log_event("feedback", service_id=service.id, status=200, issuer=caller.issuer.iss if caller.issuer else None,
              feedback_items=len(body["feedback"]), feedback_stored=stored)
    return jsonify({"stored": stored, "received": len(body["feedback"])})
