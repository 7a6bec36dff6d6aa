"""The one JSON error handler: every error keeps its status and says what was wrong (never HTML)."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import CdsError
from ..logs import log_event


def error_response(status: int, title: str, message: str):
    """Return a JSON error body ``{"error": title, "message": message, "status": status}``."""
    response = jsonify({"error": title, "message": message, "status": status})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register handlers for our errors, HTTP errors and anything unexpected."""

    @app.errorhandler(CdsError)
    def handle_cds_error(error: CdsError):
        log_event("request_failed", logging.WARNING if error.code < 500 else logging.ERROR,
                  status=error.code, path=request.path, error=type(error).__name__)
        response = error_response(error.code, error.title, error.description)
        if error.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        allowed = sorted(getattr(error, "valid_methods", None) or [])
        messages = {
            404: f"no such endpoint: {request.method} {request.path}; CDS Services are listed at GET /cds-services.",
            405: f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}.",
            413: f"request body is larger than the limit of {app.config['MAX_CONTENT_LENGTH']} bytes (CDS_MAX_BODY_BYTES).",
        }
        status = error.code or 500
        response = error_response(status, error.name, messages.get(status, error.description or error.name))
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log_event("unexpected_error", logging.ERROR, status=500, path=request.path, error=type(error).__name__)
        return error_response(500, "Internal Server Error",
                              f"the service failed unexpectedly ({type(error).__name__}); no cards were produced.")
