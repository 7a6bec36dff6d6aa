"""Fetching what the EHR did not prefetch, from a real FHIR server (sekmet-fhir), with the same cards."""
from __future__ import annotations

import copy

import pytest
import requests

from cds_service import create_app
from cds_service.fhir.prefetch import resources_of

from cases import actual_cards, load_cases, missing_references
from conformance import assert_conformant
from servers import FHIR_TOKEN, start_fhir_server

pytestmark = pytest.mark.slow
CASES = load_cases()


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory):
    """A real FHIR R4 server holding every fixture patient, loaded through transaction Bundles."""
    server = start_fhir_server(tmp_path_factory.mktemp("fhir"))
    headers = {"Authorization": f"Bearer {FHIR_TOKEN}", "Content-Type": "application/fhir+json"}
    try:
        for case in CASES:
            resources = [{"resourceType": "Patient", "id": case.request["context"]["patientId"]}]
            for value in case.request["prefetch"].values():
                resources += resources_of(value) if value else []
            transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in resources]}
            response = requests.post(server.url + "/fhir", json=transaction, headers=headers, timeout=30)
            assert response.status_code == 200, (case.id, response.text[:500])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def frozen_client(tmp_path_factory):
    moment = CASES[0].now
    assert all(case.now == moment for case in CASES)
    return create_app({"CDS_DATA_DIR": str(tmp_path_factory.mktemp("data")), "clock": lambda: moment}).test_client()


def without_prefetch(case, fhir_server, keep: tuple[str, ...] = ()) -> dict:
    request = copy.deepcopy(case.request)
    request["prefetch"] = {k: v for k, v in request["prefetch"].items() if k in keep}
    if not request["prefetch"]:
        del request["prefetch"]
    request["fhirServer"] = fhir_server.url + "/fhir"
    request["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/Condition.read patient/Observation.read",
                                    "subject": "cds-service"}
    return request


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fetched_data_gives_the_same_cards_as_prefetch(case, fhir_server, frozen_client):
    """With no prefetch, the service fetches from fhirServer and gives exactly the prefetch path's cards."""
    url = f"/cds-services/{case.service_id}"
    by_prefetch = frozen_client.post(url, json=case.request).get_json()
    response = frozen_client.post(url, json=without_prefetch(case, fhir_server))
    assert response.status_code == 200, response.get_json()
    by_fetch = response.get_json()
    assert_conformant(by_fetch)
    assert actual_cards(by_fetch) == actual_cards(by_prefetch) == case.expected_cards()
    assert missing_references(case, by_fetch) == []


def test_partial_prefetch_fetches_only_the_missing_key(fhir_server, frozen_client):
    """Keys present in the prefetch are used as given; only the missing one is fetched."""
    case = next(c for c in CASES if c.path.name == "fires-bilateral-sciatica-with-hesitancy")
    request = without_prefetch(case, fhir_server, keep=("conditions",))
    response = frozen_client.post(f"/cds-services/{case.service_id}", json=request)
    assert actual_cards(response.get_json()) == case.expected_cards()


def test_wrong_token_is_412_naming_the_refusal(fhir_server, frozen_client):
    """A token the FHIR server refuses gives 412 saying so, without echoing the token."""
    request = without_prefetch(CASES[0], fhir_server)
    request["fhirAuthorization"]["access_token"] = "wrong-token-value"
    response = frozen_client.post(f"/cds-services/{CASES[0].service_id}", json=request)
    assert response.status_code == 412
    message = response.get_json()["message"]
    assert "refused the access token (401)" in message and "wrong-token-value" not in message


def test_fhir_server_outside_the_allow_list_is_not_fetched(fhir_server, tmp_path):
    """With CDS_ALLOWED_FHIR_SERVERS set, another fhirServer is never contacted (412)."""
    client = create_app({"CDS_DATA_DIR": str(tmp_path),
                         "CDS_ALLOWED_FHIR_SERVERS": "https://ehr.example.org/fhir"}).test_client()
    response = client.post(f"/cds-services/{CASES[0].service_id}", json=without_prefetch(CASES[0], fhir_server))
    assert response.status_code == 412
    assert "CDS_ALLOWED_FHIR_SERVERS" in response.get_json()["message"]
