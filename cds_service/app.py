"""The application factory: ``create_app(config=None)``; nothing is read at import time."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Mapping

from flask import Flask
from flask_cors import CORS

from .api import discovery, errors, feedback, health, metrics, services
from .auth import Authenticator, ReplayGuard, load_trusted_issuers
from .database import Database
from .feedback import FeedbackStore
from .fhir.client import FetchLimits, FhirClient
from .knowledge import load_knowledge
from .logs import configure_logging, log_event
from .registry import Registry
from .settings import load_settings
from .state import CdsState


def utc_now() -> datetime:
    """Return the request time in UTC (the production clock)."""
    return datetime.now(timezone.utc)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the WSGI app.

    ``config`` may set any setting by variable name (``CDS_DATA_DIR``) or field name
    (``data_dir``), and ``clock`` (a callable returning an aware datetime) for tests.
    Raises SettingsError or KnowledgeError when configuration or clinical content is invalid.
    """
    config = dict(config or {})
    clock = config.pop("clock", utc_now)
    settings = load_settings(config)
    configure_logging(settings.log_level)
    knowledge = load_knowledge(settings.knowledge_dir)
    database = Database(settings.database_url)
    database.create_schema()
    database.dispose()  # no pooled connection may be inherited by forked workers (they open their own)
    authenticator = None
    if settings.trusted_issuers_file:
        issuers = load_trusted_issuers(settings.trusted_issuers_file)
        authenticator = Authenticator(issuers, settings.jwt_leeway, ReplayGuard(database))

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # keep cards in urgency order and fields in spec order
    fhir = FhirClient(FetchLimits(settings.fhir_connect_timeout, settings.fhir_read_timeout, settings.fhir_deadline,
                                  settings.fhir_max_pages))
    app.extensions["cds_service"] = CdsState(settings, knowledge, Registry.from_knowledge(knowledge), database,
                                             FeedbackStore(database), authenticator, fhir, clock)
    CORS(app, resources={r"/cds-services*": {"origins": list(settings.cors_origins)}},
         supports_credentials=False, send_wildcard=settings.cors_origins == ("*",), allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"],
         max_age=600)
    for module in (discovery, services, feedback, health, metrics):
        app.register_blueprint(module.blueprint)
    errors.init_app(app)
    metrics.init_app(app)
    if authenticator is None:
        log_event("unauthenticated_mode", logging.WARNING, error="no CDS_TRUSTED_ISSUERS: accepting unsigned calls")
    log_event("started", knowledge_files=str(knowledge.directory), value_sets=len(knowledge.value_sets),
              topics_loaded=len(knowledge.topics), database=settings.database_url.split(":", 1)[0])
    return app
