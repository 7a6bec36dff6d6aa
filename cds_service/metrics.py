"""Prometheus metrics, correct under multi-worker gunicorn (prometheus-client multiprocess mode).

gunicorn_conf.py sets PROMETHEUS_MULTIPROC_DIR before the app is imported; every worker writes
its samples there and ``/metrics`` (served by any worker) adds them up. Labels never carry patient
data: service ids, hooks, statuses, card topics, indicators and short reason codes only.
"""
from __future__ import annotations

import os

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # samples are files there; the directory must exist first
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter("cds_requests_total", "CDS Hooks requests answered.", ["service", "hook", "endpoint", "status"])
LATENCY = Histogram("cds_request_duration_seconds", "Time to answer a CDS Hooks request.", ["service", "endpoint"],
                    buckets=LATENCY_BUCKETS)
CARDS = Counter("cds_cards_total", "Cards returned.", ["topic", "indicator"])
FHIR_FETCH_LATENCY = Histogram("cds_fhir_fetch_duration_seconds", "Time to fetch missing prefetch data.",
                               buckets=LATENCY_BUCKETS)
FHIR_FETCH_ERRORS = Counter("cds_fhir_fetch_errors_total", "Fetches from fhirServer that failed.", ["reason"])
JWT_REJECTIONS = Counter("cds_jwt_rejections_total", "Calls refused by JWT verification.", ["reason"])
FEEDBACK_ITEMS = Counter("cds_feedback_items_total", "Feedback items acknowledged (a repeated item is stored once but counted each time).", ["outcome"])


def exposition() -> tuple[bytes, str]:
    """Return the metrics text of every worker (or of this process outside gunicorn) and its media type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
