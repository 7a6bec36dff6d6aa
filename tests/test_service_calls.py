"""POST /cds-services/{id}: every status-code path of CDS Hooks 2.0 'Calling a CDS Service'."""
from __future__ import annotations

import json

import pytest

from conftest import ENCOUNTER_START, PATIENT_VIEW, hook_request
from resources import ICD, coding, condition, low_back_pain, observation, urinary_retention


def topics(response) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response.get_json()["cards"]]


def test_nothing_relevant_gives_empty_cards(call):
    """A patient with only unrelated data gets 200 and an empty card list."""
    knee = condition("cond-knee", coding(ICD, "M25.561", "Pain in right knee"))
    response = call(hook_request(conditions=[knee]))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_ces_card_is_first_and_critical(call):
    """Cauda equina signs give a critical card, ordered before lower-urgency cards."""
    sciatica = condition("cond-sciatica", coding(ICD, "M54.31", "Sciatica, right side"))
    response = call(hook_request(conditions=[low_back_pain(), sciatica, urinary_retention()]))
    cards = response.get_json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical", "info"]
    assert topics(response) == ["cauda-equina-urgent", "lumbar-radiculopathy"]
    ces = cards[0]
    assert "Condition/cond-retention" in ces["detail"] and "2026-11-20" in ces["detail"]
    assert ces["selectionBehavior"] == "at-most-one"
    action = ces["suggestions"][0]["actions"][0]
    assert action["resource"]["subject"] == {"reference": "Patient/pat-1"}
    assert all(reason["display"] for reason in ces["overrideReasons"])


def test_encounter_start_gives_the_same_cards(call):
    """The encounter-start service applies the same clinical logic as patient-view."""
    resources = [low_back_pain(), urinary_retention()]
    by_view = call(hook_request(conditions=resources))
    by_encounter = call(hook_request(hook="encounter-start", conditions=resources), service_id=ENCOUNTER_START)
    assert topics(by_view) == topics(by_encounter) == ["cauda-equina-urgent"]


def test_fhir_json_media_type_is_accepted(call):
    """application/fhir+json bodies are read like application/json."""
    response = call(hook_request(), content_type="application/fhir+json")
    assert response.status_code == 200


def test_body_that_is_not_json_is_400(call):
    """A body that is not JSON is a 400 saying so."""
    response = call(b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["message"]


def test_json_that_is_not_an_object_is_422(call):
    """A JSON array is not a CDS Hooks request."""
    response = call(b"[1, 2]")
    assert response.status_code == 422
    assert "JSON object" in response.get_json()["message"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b["context"].pop("patientId"), "patientId"),
    (lambda b: b["context"].pop("userId"), "userId"),
    (lambda b: b["context"].update(patientId=""), "context.patientId"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                           "scope": "patient/*.read", "subject": "cds"}), "fhirServer"),
    (lambda b: b.update(prefetch=[1]), "prefetch"),
])
def test_invalid_request_is_422_naming_the_field(call, mutate, field):
    """A JSON request missing or misusing a required member is a 422 that names the field."""
    body = hook_request()
    mutate(body)
    response = call(body)
    assert response.status_code == 422
    assert field in response.get_json()["message"]


def test_encounter_start_requires_encounter_id(call):
    """encounter-start's context requires encounterId."""
    body = hook_request(hook="encounter-start")
    del body["context"]["encounterId"]
    response = call(body, service_id=ENCOUNTER_START)
    assert response.status_code == 422
    assert "encounterId" in response.get_json()["message"]


def test_wrong_hook_for_service_is_422(call):
    """A request whose hook is not the service's hook is refused, naming both."""
    response = call(hook_request(hook="order-sign"))
    assert response.status_code == 422
    message = response.get_json()["message"]
    assert "order-sign" in message and "patient-view" in message


def test_unknown_members_and_extensions_are_tolerated(call):
    """Unknown members and extension objects do not make a request invalid."""
    body = hook_request(extension={"com.example.trace": {"id": "x"}}, somethingNew=True)
    body["context"]["extension"] = {"com.example": 1}
    assert call(body).status_code == 200


def test_unknown_service_is_404(call):
    """An unknown service id is a 404 naming it."""
    response = call(hook_request(), service_id="no-such-service")
    assert response.status_code == 404
    assert "no-such-service" in response.get_json()["message"]


def test_wrong_method_is_405_json(client):
    """GET on a service endpoint is a 405 with a JSON message and an Allow header."""
    response = client.get(f"/cds-services/{PATIENT_VIEW}")
    assert response.status_code == 405
    assert response.is_json and "POST" in response.headers["Allow"]


def test_unknown_path_is_404_json(client):
    """An unknown path answers JSON, never HTML."""
    response = client.get("/nope")
    assert response.status_code == 404 and response.is_json


def test_body_over_limit_is_413(app_config, call):
    """A body over CDS_MAX_BODY_BYTES is a 413 that names the limit."""
    from cds_service import create_app

    small = create_app({**app_config, "CDS_MAX_BODY_BYTES": "2000"}).test_client()
    body = hook_request(conditions=[low_back_pain(f"c{i}") for i in range(20)])
    response = small.post(f"/cds-services/{PATIENT_VIEW}", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert "2000" in response.get_json()["message"]


def test_other_media_type_is_415(call):
    """A body sent as text/plain is refused with a message naming the accepted types."""
    response = call(json.dumps(hook_request()), content_type="text/plain")
    assert response.status_code == 415
    assert "application/json" in response.get_json()["message"]


def test_missing_prefetch_without_fhir_server_is_412(call):
    """A prefetch key that was not sent, with no fhirServer to fetch it from, is a 412 naming the key."""
    body = hook_request()
    del body["prefetch"]["observations"]
    response = call(body)
    assert response.status_code == 412
    assert "observations" in response.get_json()["message"]


def test_operation_outcome_prefetch_means_not_provided(call):
    """An OperationOutcome in place of a prefetch value means the data was not provided (412)."""
    body = hook_request()
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome",
                                      "issue": [{"severity": "error", "code": "timeout"}]}
    response = call(body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["message"]


def test_absent_prefetch_is_412(call):
    """A request with no prefetch at all and no fhirServer cannot be evaluated (412)."""
    body = hook_request()
    del body["prefetch"]
    assert call(body).status_code == 412


def test_null_prefetch_means_no_data(call):
    """A prefetch value of null means the EHR has no such data: evaluate the rest."""
    body = hook_request(conditions=[low_back_pain(), urinary_retention()])
    body["prefetch"]["observations"] = None
    response = call(body)
    assert response.status_code == 200
    assert topics(response) == ["cauda-equina-urgent"]


def test_malformed_resource_is_reported_and_does_not_hide_red_flag(call):
    """A resource that fails validation is reported in the response and the CES card still fires."""
    broken = observation("obs-broken", text="Temperature", valueQuantity={"value": "hot"})
    junk_entry = "not a resource"
    body = hook_request(conditions=[low_back_pain(), urinary_retention()], observations=[broken])
    body["prefetch"]["observations"]["entry"].append(junk_entry)
    response = call(body)
    assert topics(response) == ["cauda-equina-urgent"]
    issues = response.get_json()["extension"]["org.posterior-thigh-cds.unreadable-resources"]
    assert {issue["resource"] for issue in issues} == {"Observation/obs-broken", "(entry 3)"}
    assert "could not be read" in response.get_json()["cards"][0]["detail"]


def test_malformed_bundle_entry_is_reported_and_does_not_hide_red_flag(call):
    """A prefetch Bundle whose entry is not a list is reported; the other key's CES signs still give the card."""
    body = hook_request(conditions=[low_back_pain(), urinary_retention()])
    body["prefetch"]["observations"]["entry"] = 5
    response = call(body)
    assert response.status_code == 200
    assert topics(response) == ["cauda-equina-urgent"]
    issues = response.get_json()["extension"]["org.posterior-thigh-cds.unreadable-resources"]
    assert [issue["reason"] for issue in issues] == ["not a JSON object"]


def test_resources_of_another_patient_are_ignored(call):
    """A resource whose subject is another patient never contributes to this patient's cards."""
    response = call(hook_request(conditions=[low_back_pain(), urinary_retention(patient="someone-else")]))
    assert topics(response) == []
    issues = response.get_json()["extension"]["org.posterior-thigh-cds.unreadable-resources"]
    assert issues[0]["resource"] == "Condition/cond-retention"


def test_exception_in_evaluation_is_500_never_empty_200(call, monkeypatch):
    """An exception inside the clinical core is a JSON 500 saying no cards could be produced."""
    from cds_service.api import services

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "evaluate", explode)
    response = call(hook_request(conditions=[low_back_pain(), urinary_retention()]))
    assert response.status_code == 500
    assert "no cards" in response.get_json()["message"]
    assert "boom" not in response.get_json()["message"]


def test_server_keeps_serving_after_errors(call):
    """After a run of bad requests the same app still answers a good one."""
    for bad in (b"{", b"[]", json.dumps({"hook": "patient-view"})):
        assert call(bad).status_code in (400, 422)
    assert call(hook_request(conditions=[low_back_pain(), urinary_retention()])).status_code == 200
