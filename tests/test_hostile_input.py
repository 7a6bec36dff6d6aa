"""Hostile input: no body makes the service answer 500 or hang, and every 200 is conformant."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import PATIENT_VIEW, hook_request
from conformance import assert_conformant
from resources import low_back_pain, urinary_retention

ACCEPTABLE = {200, 400, 404, 412, 413, 415, 422}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)
FHIR_KEYS = ["resourceType", "id", "status", "code", "subject", "valueQuantity", "valueBoolean", "component",
             "clinicalStatus", "verificationStatus", "onsetDateTime", "effectiveDateTime", "bodySite", "text"]
resource_like = st.dictionaries(st.sampled_from(FHIR_KEYS), json_values, max_size=6).map(
    lambda d: {"resourceType": "Condition", **d} if "resourceType" not in d else d) | st.sampled_from(
    [low_back_pain(), urinary_retention()])
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(response) -> None:
    assert response.status_code in ACCEPTABLE, (response.status_code, response.get_data()[:300])
    assert response.is_json
    if response.status_code == 200:
        assert_conformant(response.get_json())


@SLOW
@given(body=json_values)
def test_arbitrary_json_never_500(client, body):
    """Any JSON document posted to a service gets a 2xx/4xx JSON answer."""
    check(client.post(f"/cds-services/{PATIENT_VIEW}", data=json.dumps(body), content_type="application/json"))


@SLOW
@given(context=st.dictionaries(st.sampled_from(["userId", "patientId", "encounterId", "x"]), json_values),
       conditions=st.lists(resource_like, max_size=6), observations=st.lists(resource_like, max_size=6),
       hook_instance=json_values)
def test_mutated_requests_never_500(client, context, conditions, observations, hook_instance):
    """Requests with arbitrary context members and junk resources never cause a 500."""
    body = hook_request(conditions=conditions, observations=observations)
    body["context"].update(context)
    body["hookInstance"] = hook_instance
    check(client.post(f"/cds-services/{PATIENT_VIEW}", json=body))


@SLOW
@given(junk=st.lists(resource_like, max_size=8))
def test_junk_never_hides_the_ces_card(client, junk):
    """Whatever junk sits beside them, low back pain with urinary retention still gives the CES card."""
    body = hook_request(conditions=[*junk, low_back_pain(), urinary_retention()])
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    check(response)
    if response.status_code == 200:
        topics = [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]
        assert "cauda-equina-urgent" in topics


@SLOW
@given(items=st.lists(st.dictionaries(st.sampled_from(["card", "outcome", "outcomeTimestamp", "acceptedSuggestions",
                                                        "overrideReason"]), json_values), max_size=4))
def test_arbitrary_feedback_never_500(client, items):
    """Arbitrary feedback items get 200 or 422, never 500."""
    check(client.post(f"/cds-services/{PATIENT_VIEW}/feedback", json={"feedback": items}))


def test_deep_nesting_is_refused(client):
    """JSON nested far deeper than any FHIR resource is a 400, not a crash."""
    body = hook_request()
    body["extension"] = json.loads("[" * 200 + "]" * 200)
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert response.status_code == 400 and "nested" in response.get_json()["message"]
    deeper = "[" * 100_000 + "]" * 100_000
    assert client.post(f"/cds-services/{PATIENT_VIEW}", data=deeper, content_type="application/json").status_code == 400


def test_deeply_nested_resource_is_reported_not_fatal(client):
    """A resource nested hundreds of levels deep is reported as unreadable; the CES card still fires."""
    deep = low_back_pain("cond-deep")
    node = deep["code"]  # an element the rules read, so it is validated
    for _ in range(400):
        node["extension"] = [{"url": "http://example.org/x"}]
        node = node["extension"][0]
    body = hook_request(conditions=[deep, low_back_pain(), urinary_retention()])
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.get_json()["cards"]] == ["cauda-equina-urgent"]
    issues = response.get_json()["extension"]["org.posterior-thigh-cds.unreadable-resources"]
    assert [i["resource"] for i in issues] == ["Condition/cond-deep"]


def test_too_many_resources_is_413(client, monkeypatch):
    """More resources than the service evaluates in one call is a 413, not a stalled worker."""
    from cds_service.fhir import prefetch

    monkeypatch.setattr(prefetch, "MAX_RESOURCES", 10)
    response = client.post(f"/cds-services/{PATIENT_VIEW}",
                           json=hook_request(conditions=[low_back_pain(f"c{i}") for i in range(11)]))
    assert response.status_code == 413 and "11 resources" in response.get_json()["message"]
