"""Shared fixtures: a fresh app per test from a config mapping, with its own data directory."""
from __future__ import annotations

import json
import uuid
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from cds_service import create_app
from cds_service.settings import default_knowledge_dir

from conformance import assert_conformant

FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
PATIENT_VIEW = "posterior-thigh-pain-patient-view"
ENCOUNTER_START = "posterior-thigh-pain-encounter-start"


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Return the config mapping of a test app: temp data directory, frozen clock."""
    return {"CDS_DATA_DIR": str(tmp_path / "data"), "clock": lambda: FIXED_NOW}


@pytest.fixture
def app(app_config: dict[str, Any]):
    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """Return a writable copy of the bundled cards/ directory, for negative knowledge tests."""
    target = tmp_path / "cards"
    shutil.copytree(default_knowledge_dir(), target)
    return target


def hook_request(patient_id: str = "pat-1", hook: str = "patient-view", conditions: list[dict] | None = None,
                 observations: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    """Return a CDS Hooks request with searchset Bundles built from the given resources."""
    def bundle(resources: list[dict] | None) -> dict[str, Any]:
        result: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources or [])}
        if resources:
            result["entry"] = [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)]
        return result
    context = {"userId": "Practitioner/example", "patientId": patient_id}
    if hook == "encounter-start":
        context["encounterId"] = "enc-1"
    body = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context,
            "prefetch": {"conditions": bundle(conditions), "observations": bundle(observations)}}
    body.update(extra)
    return body


@pytest.fixture
def call(client) -> Callable[..., Any]:
    """Return a function that POSTs to a service and checks a 200 response is CDS Hooks conformant."""
    def post(body: Any, service_id: str = PATIENT_VIEW, **kwargs: Any):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        kwargs.setdefault("content_type", "application/json")
        response = client.post(f"/cds-services/{service_id}", data=data, **kwargs)
        if response.status_code == 200:
            assert_conformant(response.get_json())
        else:
            assert response.is_json, response.data[:200]
            assert response.get_json()["message"]
        return response
    return post


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL cluster for the whole test session."""
    from servers import PostgresCluster

    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Return a fresh, empty database URL on SQLite and on PostgreSQL in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    import psycopg

    cluster = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(autouse=True)
def every_response_is_checked(monkeypatch):
    """Check every response any test gets from a CDS endpoint: schema-valid 200s, JSON errors with a message."""
    from flask.testing import FlaskClient

    original = FlaskClient.open

    def open_and_check(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        path, method = response.request.path, response.request.method
        if path.startswith("/cds-services"):
            if response.status_code >= 400:
                assert response.is_json and response.get_json()["message"], (path, response.status_code)
            elif method == "POST" and not path.endswith("/feedback") and response.status_code == 200:
                assert_conformant(response.get_json())
            elif method == "GET" and path == "/cds-services" and response.status_code == 200:
                assert_conformant(response.get_json(), "discovery")
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_check)
