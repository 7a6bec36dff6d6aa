"""JSON-lines logging with an allow-list of fields: never a resource, name, identifier or token."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from gunicorn import glogging

ALLOWED_FIELDS = frozenset({
    "event", "hook_instance", "service_id", "hook", "status", "topics", "indicators",
    "duration_ms", "resource_count", "finding_count", "issue_count", "card_count",
    "feedback_items", "feedback_stored", "knowledge_files", "value_sets", "topics_loaded",
    "error", "path", "method", "listen", "database", "prefetched", "fetched", "issuer",
})

logger = logging.getLogger("cds_service")


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON object holding only allow-listed fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None) or {"event": record.getMessage()}
        line.update({k: v for k, v in fields.items() if k in ALLOWED_FIELDS})
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    """Send the service's log to stderr as JSON lines (idempotent)."""
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonLineFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        logger.addHandler(handler)
        logger.propagate = True


class GunicornJsonLogger(glogging.Logger):
    """Gunicorn's logger with the access log written as the app's JSON lines (path only, no query)."""

    def access(self, resp, req, environ, request_time) -> None:  # noqa: ANN001 - gunicorn's signature
        if not self.cfg.accesslog:
            return
        status = resp.status.split()[0] if isinstance(resp.status, str) else resp.status
        log_event("access", method=environ.get("REQUEST_METHOD"), path=environ.get("PATH_INFO"),
                  status=int(status), duration_ms=round(request_time.total_seconds() * 1000, 2))


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with ``fields``; fields outside the allow-list are dropped, not logged."""
    allowed = {k: v for k, v in fields.items() if k in ALLOWED_FIELDS and v is not None}
    logger.log(level, event, extra={"fields": {"event": event, **allowed}})
