"""Liveness and readiness for load balancers and Kubernetes probes."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..state import state

blueprint = Blueprint("health", __name__)


@blueprint.get("/health/live")
def live():
    """Answer 200 while the process serves requests."""
    return jsonify({"status": "live"})


@blueprint.get("/health/ready")
def ready():
    """Answer 200 when clinical content is loaded and the feedback store is writable, else 503."""
    current = state()
    checks = {
        "knowledge": "ok" if current.knowledge.topics else "missing",
        "feedback_store": "ok" if current.database.is_writable() else "not writable",
    }
    ok = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ok else "not ready", "checks": checks})
    response.status_code = 200 if ok else 503
    return response
