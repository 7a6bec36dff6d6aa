"""The floor for bench/run.py: what any Flask + gunicorn CDS service costs before it does any work.

Same framework, same gunicorn settings, same body size limit and the same JSON library as the
service (looked up in cds_service.api.requests: orjson if it imports it, else stdlib json); it parses
the whole body, checks that it is an object, and answers one fixed card with jsonify.
Run: gunicorn -c cds_service/gunicorn_conf.py --pythonpath bench 'floor_app:create_app()'
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

from flask import Flask, jsonify, request

CARD = {
    "uuid": "6f1ad1f4-52b4-4d2e-9c57-6a2b8b0a3d11",
    "summary": "Possible cauda equina syndrome: urgent same-day assessment",
    "indicator": "critical",
    "detail": "Back or leg pain with new bladder symptoms in the last 14 days.",
    "source": {"label": "Posterior thigh pain CDS", "topic": {
        "system": "https://posterior-thigh-cds.example.org/fhir/CodeSystem/card-topic",
        "code": "cauda-equina-urgent", "display": "Cauda equina syndrome"}},
}


def service_json_loads() -> tuple[str, Callable[[bytes], Any]]:
    """Return (name, loads) of the JSON library the service's request reader uses."""
    try:
        from cds_service.api import requests as reader
    except Exception:  # the service does not import: measure with the standard library
        return "json", json.loads
    for name in ("orjson", "ujson", "msgspec", "simdjson"):
        module = getattr(reader, name, None)
        if module is not None:
            loads = getattr(module, "loads", None) or module.json.decode
            return name, loads
    return "json", reader.json.loads


def create_app() -> Flask:
    """Return the floor WSGI app."""
    name, loads = service_json_loads()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("CDS_MAX_BODY_BYTES", 5 * 1024 * 1024))
    app.json.sort_keys = False

    @app.post("/cds-services/<service_id>")
    def call(service_id: str):
        body = loads(request.get_data(cache=True))
        if not isinstance(body, dict):
            return jsonify({"error": "invalid", "status": 422}), 422
        return jsonify({"cards": [CARD]})

    @app.get("/health/ready")
    def ready():
        return jsonify({"status": "ready", "json": name})

    return app
