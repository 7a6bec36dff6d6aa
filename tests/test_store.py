"""The feedback and replay store on SQLite and on a real PostgreSQL: one code path, same behaviour."""
from __future__ import annotations

import threading
import time

import pytest

from cds_service import create_app
from cds_service.auth import ReplayGuard
from cds_service.database import Database
from cds_service.errors import FeedbackNotStored
from cds_service.feedback import FeedbackStore

from conftest import PATIENT_VIEW

ITEM = {"card": "1f0c2b47-47d1-4a8c-9a2e-000000000001", "outcome": "overridden",
        "outcomeTimestamp": "2026-11-26T12:00:00Z"}


def item(n: int) -> dict:
    return {**ITEM, "card": f"1f0c2b47-47d1-4a8c-9a2e-{n:012d}"}


@pytest.fixture
def database(database_url):
    db = Database(database_url)
    db.create_schema()
    yield db
    db.dispose()


def test_schema_creation_is_idempotent(database):
    """Creating the schema again (every worker and replica does at start) changes nothing and loses nothing."""
    FeedbackStore(database).add(PATIENT_VIEW, [ITEM])
    database.create_schema()
    assert FeedbackStore(database).items() == [ITEM]
    assert database.is_writable()


def test_items_are_stored_once(database):
    """A batch is stored in one transaction; repeating an item stores nothing new."""
    store = FeedbackStore(database)
    assert store.add(PATIENT_VIEW, [item(1), item(2)]) == 2
    assert store.add(PATIENT_VIEW, [item(2), item(3)]) == 1
    assert sorted(i["card"] for i in store.items(PATIENT_VIEW)) == [item(n)["card"] for n in (1, 2, 3)]


def test_failed_batch_stores_nothing(database):
    """If one item of a batch cannot be stored, none of the batch is stored."""
    store = FeedbackStore(database)
    broken = {**item(2), "outcome": "x" * 100}  # longer than the column allows on PostgreSQL
    if not database.is_postgresql:
        broken = {**item(2), "card": None}  # NOT NULL on SQLite
    with pytest.raises(FeedbackNotStored, match="not stored"):
        store.add(PATIENT_VIEW, [item(1), broken])
    assert store.items() == []


def test_concurrent_writers_lose_nothing(database_url):
    """Eight threads with their own engines (like workers) store every distinct item exactly once."""
    Database(database_url).create_schema()
    errors: list[Exception] = []

    def writer(offset: int) -> None:
        store = FeedbackStore(Database(database_url))
        try:
            for n in range(25):
                store.add(PATIENT_VIEW, [item(offset * 100 + n), item(n)])  # item(n) is shared by all writers
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            store.database.dispose()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cards = [i["card"] for i in FeedbackStore(Database(database_url)).items()]
    assert len(cards) == len(set(cards)) == 8 * 25 + 25


def test_replay_guard_refuses_a_second_use_until_expiry(database):
    """A jti is accepted once; after it expires it is forgotten (bounded table)."""
    guard = ReplayGuard(database)
    assert guard.first_use("https://ehr.example", "jti-1", time.time() + 60)
    assert not guard.first_use("https://ehr.example", "jti-1", time.time() + 60)
    assert guard.first_use("https://other.example", "jti-1", time.time() + 60)
    assert guard.first_use("https://ehr.example", "old", time.time() - 10)
    guard.first_use("https://ehr.example", "jti-2", time.time() + 60)  # purges expired ids
    with database.engine.connect() as connection:
        from sqlalchemy import text

        remaining = {row[0] for row in connection.execute(text("SELECT jti FROM seen_jwt"))}
    assert "old" not in remaining and "jti-1" in remaining


def test_feedback_over_http_survives_restart(database_url, tmp_path):
    """Through the API, feedback stored by one app instance is read by the next, on either database."""
    config = {"CDS_DATA_DIR": str(tmp_path), "CDS_DATABASE_URL": database_url}
    first = create_app(config)
    response = first.test_client().post(f"/cds-services/{PATIENT_VIEW}/feedback", json={"feedback": [ITEM]})
    assert response.status_code == 200
    first.extensions["cds_service"].database.dispose()
    second = create_app(config)
    assert second.extensions["cds_service"].store.items() == [ITEM]
    assert second.test_client().get("/health/ready").status_code == 200
    second.extensions["cds_service"].database.dispose()


def test_unreachable_postgresql_is_not_ready_and_feedback_is_500(tmp_path, postgres):
    """When PostgreSQL goes away, readiness says so and feedback is a 500, never a silent 200."""
    from servers import free_port

    app = create_app({"CDS_DATA_DIR": str(tmp_path), "CDS_DATABASE_URL": postgres.url})
    state = app.extensions["cds_service"]
    state.database.dispose()
    state.database.url = f"postgresql://cds@127.0.0.1:{free_port()}/postgres"
    client = app.test_client()
    assert client.get("/health/ready").status_code == 503
    assert client.post(f"/cds-services/{PATIENT_VIEW}/feedback", json={"feedback": [ITEM]}).status_code == 500
