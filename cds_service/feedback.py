"""Append-only feedback store (CDS Hooks 2.0 'Feedback'): SQLite by default.

An item is identified by the SHA-256 of its service id and canonical JSON, so the same item
sent twice is stored once. ``add`` commits every item of a request in one transaction and
returns only after the commit; any failure raises FeedbackNotStored.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Iterable

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
        rows = [
            (item_id(service_id, item), service_id, item["card"], item["outcome"], item["outcomeTimestamp"],
             json.dumps(item, sort_keys=True), received_at)
            for item in items
        ]
        try:
            connection = self.database.connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                before = connection.total_changes
                connection.executemany(
                    "INSERT INTO feedback (item_id, service_id, card_uuid, outcome, outcome_timestamp, item_json,"
                    " received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
                    rows,
                )
                stored = connection.total_changes - before
                connection.execute("COMMIT")
                return stored
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise FeedbackNotStored(f"feedback was not stored: the feedback database failed ({error}).") from error

    def items(self, service_id: str | None = None) -> list[dict[str, Any]]:
        """Return stored items (oldest first), optionally for one service."""
        query = "SELECT item_json FROM feedback"
        args: tuple[str, ...] = ()
        if service_id:
            query, args = query + " WHERE service_id = ?", (service_id,)
        connection = self.database.connect()
        try:
            return [json.loads(row[0]) for row in connection.execute(query + " ORDER BY rowid", args)]
        finally:
            connection.close()
