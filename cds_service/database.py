"""The service's database (SQLite by default): feedback items and seen JWT ids, shared by all workers."""
from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    item_id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    card_uuid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    item_json TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_jwt (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX IF NOT EXISTS seen_jwt_expiry ON seen_jwt (expires_at);
"""


class Database:
    """One SQLite file; a connection per operation keeps gunicorn workers independent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        """Open a connection in autocommit mode (transactions are explicit), WAL, fully synchronous."""
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def create_schema(self) -> None:
        """Create the tables if absent (safe to run from every worker at start-up) and record the version."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self.connect()
        try:
            connection.executescript(_SCHEMA)
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        finally:
            connection.close()

    def is_writable(self) -> bool:
        """Return True when a write transaction can be opened and rolled back."""
        try:
            connection = self.connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                return True
            finally:
                connection.close()
        except sqlite3.Error:
            return False
