"""GET /cds-services (CDS Hooks 2.0 'Discovery')."""
from __future__ import annotations

import re

from conformance import assert_conformant

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
HOOK_CONTEXT = {"patient-view": {"patientId", "userId", "encounterId"},
                "encounter-start": {"patientId", "userId", "encounterId"}}


def test_discovery_lists_one_service_per_hook(client):
    """Discovery lists a patient-view and an encounter-start service with stable lower-case ids."""
    body = client.get("/cds-services").get_json()
    assert_conformant(body, "discovery")
    assert {(s["id"], s["hook"]) for s in body["services"]} == {
        ("posterior-thigh-pain-patient-view", "patient-view"),
        ("posterior-thigh-pain-encounter-start", "encounter-start"),
    }


def test_prefetch_templates_use_only_valid_2_0_tokens(client):
    """Every prefetch token is {{context.<field of that hook>}} (or userPractitioner forms of 2.0)."""
    for service in client.get("/cds-services").get_json()["services"]:
        assert set(service["prefetch"]) == {"conditions", "observations"}
        for template in service["prefetch"].values():
            tokens = TOKEN.findall(template)
            assert tokens, template
            for token in tokens:
                scope, _, name = token.partition(".")
                assert scope == "context" and name in HOOK_CONTEXT[service["hook"]], token


def test_discovery_has_cors_headers(client):
    """Discovery is readable from a browser-based EHR or sandbox."""
    response = client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
