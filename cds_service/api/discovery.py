"""GET /cds-services (CDS Hooks 2.0 'Discovery')."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..state import state
from .security import authenticate

blueprint = Blueprint("discovery", __name__)


@blueprint.get("/cds-services")
def list_services():
    """List every service with its hook, texts and prefetch templates (signed calls only if configured)."""
    if not state().settings.discovery_public:
        authenticate()
    return jsonify({"services": [service.discovery() for service in state().registry]})
