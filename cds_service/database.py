"""The service's database: feedback items and seen JWT ids, shared by every worker and replica.

SQLite by default (one file in CDS_DATA_DIR), PostgreSQL when CDS_DATABASE_URL is a
``postgresql://`` URL; one code path through SQLAlchemy Core. The engine is created lazily in each
process, so gunicorn workers forked from a preloaded master never share connections.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

SCHEMA_VERSION = 2
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS feedback (
        item_id VARCHAR(64) PRIMARY KEY,
        service_id VARCHAR(200) NOT NULL,
        card_uuid VARCHAR(200) NOT NULL,
        outcome VARCHAR(20) NOT NULL,
        outcome_timestamp VARCHAR(40) NOT NULL,
        item_json TEXT NOT NULL,
        received_at VARCHAR(40) NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS seen_jwt (
        issuer VARCHAR(500) NOT NULL,
        jti VARCHAR(500) NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (issuer, jti))""",
    "CREATE INDEX IF NOT EXISTS seen_jwt_expiry ON seen_jwt (expires_at)",
)
_SCHEMA_LOCK = 710_531_001  # PostgreSQL advisory lock: replicas starting together create the schema once


def engine_url(url: str) -> str:
    """Return the SQLAlchemy URL for a CDS_DATABASE_URL (postgresql:// uses the psycopg 3 driver)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """A SQLAlchemy engine per process for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_postgresql = url.startswith(("postgresql", "postgres://"))
        self._engine: Engine | None = None
        self._pid: int | None = None

    @property
    def engine(self) -> Engine:
        """Return this process's engine, creating it on first use after a fork."""
        if self._engine is None or self._pid != os.getpid():
            self._engine = self._create_engine()
            self._pid = os.getpid()
        return self._engine

    def _create_engine(self) -> Engine:
        if self.is_postgresql:
            return create_engine(engine_url(self.url), pool_pre_ping=True, pool_size=5, max_overflow=5,
                                 connect_args={"connect_timeout": 5})
        engine = create_engine(self.url, connect_args={"timeout": 10})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:  # durable, concurrent writers across workers
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()
        return engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction that commits on success and rolls back on error."""
        with self.engine.begin() as connection:
            yield connection

    def create_schema(self) -> None:
        """Create the tables if absent (safe from every worker and replica) and record the version."""
        if not self.is_postgresql and self.url.startswith("sqlite:///"):
            Path(self.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as connection:
            if self.is_postgresql:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            for statement in _SCHEMA:
                connection.execute(text(statement))
            connection.execute(text("DELETE FROM schema_version"))
            connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": SCHEMA_VERSION})

    def is_writable(self) -> bool:
        """Return True when a write can be made (and rolled back)."""
        try:
            with self.engine.connect() as connection:
                transaction = connection.begin()
                connection.execute(text("UPDATE schema_version SET version = version"))
                transaction.rollback()
            return True
        except SQLAlchemyError:
            return False

    def dispose(self) -> None:
        """Close this process's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
