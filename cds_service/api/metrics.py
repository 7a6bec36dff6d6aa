"""GET /metrics (Prometheus) and the request accounting behind it."""
from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from ..errors import UnknownService
from ..metrics import LATENCY, REQUESTS, exposition
from ..state import state

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics():
    """Expose request, card, fetch and JWT metrics in the Prometheus text format."""
    body, media_type = exposition()
    return Response(body, mimetype=media_type.split(";")[0], headers={"Content-Type": media_type})


def init_app(app: Flask) -> None:
    """Count and time every call of a service or feedback endpoint, whatever its status."""

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def account(response):
        rule = request.url_rule.rule if request.url_rule else ""
        if rule.startswith("/cds-services/<service_id>") and request.method == "POST":
            endpoint = "feedback" if rule.endswith("/feedback") else "service"
            try:
                service = state().registry.get((request.view_args or {}).get("service_id", ""))
                service_id, hook = service.id, service.hook
            except UnknownService:
                service_id, hook = "unknown", "unknown"
            REQUESTS.labels(service_id, hook, endpoint, str(response.status_code)).inc()
            LATENCY.labels(service_id, endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response
