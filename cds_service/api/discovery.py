"""GET /cds-services (CDS Hooks 2.0 'Discovery')."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..state import state

blueprint = Blueprint("discovery", __name__)


@blueprint.get("/cds-services")
def list_services():
    """List every service with its hook, texts and prefetch templates."""
    return jsonify({"services": [service.discovery() for service in state().registry]})
