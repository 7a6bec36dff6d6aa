"""The real WSGI server: `cds-service serve` (gunicorn) answers every fixture and every bad request."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests

from cases import load_cases
from conformance import assert_conformant
from servers import ServerProcess, free_port

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).with_name("cds-service"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("served")
    port = free_port()
    process = ServerProcess([CLI, "serve", "--port", str(port), "--workers", "2"], port, data / "server.log",
                            env={"CDS_DATA_DIR": str(data), "CDS_MAX_BODY_BYTES": "200000"})
    yield process
    process.stop()


def test_serve_answers_discovery(server):
    """The production server lists both services."""
    response = requests.get(server.url + "/cds-services", timeout=5)
    assert response.status_code == 200
    assert_conformant(response.json(), "discovery")
    assert "serving CDS Hooks on http://127.0.0.1:" in server.log.read_text()


def test_serve_answers_every_fixture_with_a_conformant_response(server):
    """Every request in fhir_fixtures/ gets 200 and a schema-valid response from the real server."""
    session = requests.Session()
    for case in load_cases():
        response = session.post(f"{server.url}/cds-services/{case.service_id}", json=case.request, timeout=10)
        assert response.status_code == 200, (case.id, response.text)
        assert_conformant(response.json())


@pytest.mark.parametrize(("data", "headers", "status"), [
    (b"{", {"Content-Type": "application/json"}, 400),
    (b"[]", {"Content-Type": "application/json"}, 422),
    (json.dumps({"hook": "patient-view", "hookInstance": "x", "context": {}}).encode(),
     {"Content-Type": "application/json"}, 422),
    (b"x" * 300_000, {"Content-Type": "application/json"}, 413),
    (b"{}", {"Content-Type": "text/plain"}, 415),
], ids=["not-json", "not-object", "invalid-context", "too-large", "wrong-media-type"])
def test_serve_refuses_bad_requests_and_keeps_serving(server, data, headers, status):
    """Each bad request gets its status with a JSON message, and the next good request still works."""
    case = load_cases()[0]
    response = requests.post(f"{server.url}/cds-services/{case.service_id}", data=data, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["message"]
    again = requests.post(f"{server.url}/cds-services/{case.service_id}", json=case.request, timeout=10)
    assert again.status_code == 200


def test_serve_stores_feedback(server):
    """Feedback sent to the real server is acknowledged after commit."""
    item = {"card": "0b9a7a49-6d42-4d3c-9b0b-3b4a7c1a2a11", "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T12:00:00Z"}
    response = requests.post(f"{server.url}/cds-services/posterior-thigh-pain-patient-view/feedback",
                             json={"feedback": [item]}, timeout=10)
    assert response.status_code == 200 and response.json()["received"] == 1
