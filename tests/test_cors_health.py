"""CORS on the CDS endpoints (preflight included) and the health endpoints."""
from __future__ import annotations

import pytest

from cds_service import create_app

from conftest import PATIENT_VIEW


@pytest.mark.parametrize("path", ["/cds-services", f"/cds-services/{PATIENT_VIEW}",
                                  f"/cds-services/{PATIENT_VIEW}/feedback"])
def test_preflight_is_answered_without_credentials(client, path):
    """An OPTIONS preflight gets the allowed origin, methods and headers, and no credentials."""
    response = client.options(path, headers={"Origin": "https://ehr.example.org",
                                             "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_configured_origins_restrict_cors(app_config):
    """With CDS_CORS_ORIGINS set, only those origins are allowed."""
    client = create_app({**app_config, "CDS_CORS_ORIGINS": "https://ehr.example.org"}).test_client()
    allowed = client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    other = client.get("/cds-services", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_liveness_and_readiness(client):
    """Liveness answers 200; readiness reports knowledge loaded and the feedback store writable."""
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"knowledge": "ok", "feedback_store": "ok"}
