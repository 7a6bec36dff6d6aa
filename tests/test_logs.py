"""Logs carry hook instance, service, topics, counts and timings: never patient data or tokens."""
from __future__ import annotations

import io
import json
import logging

import pytest

from cds_service.logs import JsonLineFormatter, logger

from cases import load_cases


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def patient_strings(request: dict) -> set[str]:
    """Return identifying strings of a request: patient id, resource ids, texts, displays, dates, token."""
    found: set[str] = {request["context"]["patientId"]}
    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in {"id", "text", "display", "reference", "access_token",
                                                "onsetDateTime", "effectiveDateTime"}:
            found.add(value)
    walk(request)
    return {s for s in found if len(s) > 3}


def test_no_patient_data_or_token_in_logs(client, log_lines):
    """Realistic calls (prefetch, bad input, fetch failure) leave no patient data or token in the log."""
    cases = load_cases()[:40]
    leaked: set[str] = set()
    for case in cases:
        client.post(f"/cds-services/{case.service_id}", json=case.request)
        fetching = {**case.request, "fhirServer": "http://127.0.0.1:9/fhir",
                    "fhirAuthorization": {"access_token": "tok-" + case.request["hookInstance"], "token_type": "Bearer",
                                          "expires_in": 60, "scope": "patient/*.read", "subject": "x"}}
        del fetching["prefetch"]
        client.post(f"/cds-services/{case.service_id}", json=fetching)
        broken = json.dumps(case.request)[:-5]
        client.post(f"/cds-services/{case.service_id}", data=broken, content_type="application/json")
        secrets = patient_strings(case.request) | {fetching["fhirAuthorization"]["access_token"]}
        text = json.dumps(log_lines())
        leaked |= {s for s in secrets if s in text}
    assert leaked == set()
    calls = [line for line in log_lines() if line["event"] == "hook_call"]
    assert len(calls) == len(cases)
    assert {"hook_instance", "service_id", "topics", "duration_ms"} <= set(calls[0])
