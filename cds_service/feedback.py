"""Append-only feedback store (CDS Hooks 2.0 'Feedback'): SQLite by default, PostgreSQL by URL.

An item is identified by the SHA-256 of its service id and canonical JSON, so the same item
sent twice is stored once. ``add`` commits every item of a request in one transaction and
returns only after the commit; any failure raises FeedbackNotStored.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database import Database
from .errors import FeedbackNotStored


def item_id(service_id: str, item: dict[str, Any]) -> str:
    """Return the identity of a feedback item: same service and same content, same id."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{service_id}\n{canonical}".encode()).hexdigest()


class FeedbackStore:
    """Feedback items in the service's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, service_id: str, items: Iterable[dict[str, Any]]) -> int:
        """Store every item in one transaction; return how many were new.

        Raises FeedbackNotStored if anything fails; then nothing of this call is stored.
        """
        received_at = datetime.now(timezone.utc).isoformat()
        insert = text(
            "INSERT INTO feedback (item_id, service_id, card_uuid, outcome, outcome_timestamp, item_json, received_at)"
            " VALUES (:item_id, :service_id, :card, :outcome, :timestamp, :item_json, :received_at)"
            " ON CONFLICT (item_id) DO NOTHING")
        try:
            stored = 0
            with self.database.transaction() as connection:
                for item in items:
                    stored += connection.execute(insert, {
                        "item_id": item_id(service_id, item), "service_id": service_id, "card": item["card"],
                        "outcome": item["outcome"], "timestamp": item["outcomeTimestamp"],
                        "item_json": json.dumps(item, sort_keys=True), "received_at": received_at}).rowcount
            return stored
        except SQLAlchemyError as error:
            raise FeedbackNotStored(
                f"feedback was not stored: the feedback database failed ({type(error.orig or error).__name__}).") from error

    def items(self, service_id: str | None = None) -> list[dict[str, Any]]:
        """Return stored items (oldest first), optionally for one service."""
        query = "SELECT item_json FROM feedback"
        if service_id:
            query += " WHERE service_id = :service_id"
        with self.database.engine.connect() as connection:
            rows = connection.execute(text(query + " ORDER BY received_at, outcome_timestamp, item_id"), {"service_id": service_id})
            return [json.loads(row[0]) for row in rows]
