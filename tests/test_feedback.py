"""POST /cds-services/{id}/feedback (CDS Hooks 2.0 'Feedback'): validated, durable, idempotent."""
from __future__ import annotations

import json

import pytest

from cds_service import create_app

from conftest import PATIENT_VIEW

URL = f"/cds-services/{PATIENT_VIEW}/feedback"
ACCEPTED = {"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-26T12:05:00Z"}
OVERRIDDEN = {"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "overridden",
              "overrideReason": {"reason": {"code": "already-referred", "display": "Already referred",
                                            "system": "https://posterior-thigh-cds.example.org/fhir/CodeSystem/override-reason"},
                                 "userComment": "Seen in ED this morning"},
              "outcomeTimestamp": "2026-11-26T12:06:00Z"}


def send(client, items, url: str = URL):
    return client.post(url, data=json.dumps({"feedback": items}), content_type="application/json")


def test_feedback_is_stored_and_acknowledged(client, app):
    """Accepted and overridden items are stored and answered 200 with the count stored."""
    response = send(client, [ACCEPTED, OVERRIDDEN])
    assert response.status_code == 200
    assert response.get_json() == {"stored": 2, "received": 2}
    store = app.extensions["cds_service"].store
    assert store.items(PATIENT_VIEW) == [ACCEPTED, OVERRIDDEN]


def test_same_item_twice_is_stored_once(client, app):
    """A repeated item (an EHR retry) is answered 200 and stored once."""
    assert send(client, [ACCEPTED]).get_json()["stored"] == 1
    again = send(client, [ACCEPTED])
    assert again.status_code == 200 and again.get_json()["stored"] == 0
    assert len(app.extensions["cds_service"].store.items()) == 1


def test_feedback_survives_restart(app_config):
    """Feedback acknowledged by one app instance is there for the next one on the same data directory."""
    first = create_app(app_config)
    assert send(first.test_client(), [OVERRIDDEN]).status_code == 200
    second = create_app(app_config)
    assert second.extensions["cds_service"].store.items() == [OVERRIDDEN]


@pytest.mark.parametrize(("item", "field"), [
    ({k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"}, "acceptedSuggestions"),
    ({**ACCEPTED, "outcome": "ignored"}, "outcome"),
    ({k: v for k, v in ACCEPTED.items() if k != "card"}, "card"),
    ({**ACCEPTED, "outcomeTimestamp": "yesterday"}, "outcomeTimestamp"),
    ({**OVERRIDDEN, "acceptedSuggestions": [{"id": "x"}]}, "acceptedSuggestions"),
    ({**OVERRIDDEN, "overrideReason": {"reason": {"display": "no code"}}}, "code"),
])
def test_invalid_feedback_is_422_and_nothing_is_stored(client, app, item, field):
    """An invalid item is refused with a message naming what is wrong, and no item of the request is stored."""
    response = send(client, [OVERRIDDEN, item])
    assert response.status_code == 422
    assert field in response.get_json()["message"]
    assert app.extensions["cds_service"].store.items() == []


def test_empty_feedback_list_is_422(client):
    """A feedback request must carry at least one item."""
    assert send(client, []).status_code == 422


def test_feedback_for_unknown_service_is_404(client):
    """Feedback to an unknown service id is a 404."""
    assert send(client, [ACCEPTED], url="/cds-services/unknown/feedback").status_code == 404


def test_storage_failure_is_500_not_silent_200(client, app):
    """When the database cannot commit, feedback is answered 500 with a message, never 200."""
    state = app.extensions["cds_service"]
    state.database.dispose()  # pooled connections would keep writing to the replaced file
    path = state.settings.sqlite_path
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    response = send(client, [ACCEPTED])
    assert response.status_code == 500
    assert "not stored" in response.get_json()["message"]
    assert client.get("/health/ready").status_code == 503
