"""Authenticate the calling EHR for an endpoint (CDS Hooks 2.0 'Trusting CDS Clients')."""
from __future__ import annotations

from flask import request

from ..auth import Caller, Unauthorized
from ..metrics import JWT_REJECTIONS
from ..state import state


def endpoint_url() -> str:
    """Return the public URL of the endpoint called: the JWT's required ``aud``."""
    base = state().settings.public_base_url or request.host_url.rstrip("/")
    return base + request.path


def authenticate() -> Caller:
    """Return the verified caller, or an unauthenticated Caller when no issuers are configured.

    Raises Unauthorized (401) when issuers are configured and the bearer JWT is missing or invalid.
    """
    authenticator = state().authenticator
    if authenticator is None:
        return Caller()
    try:
        return authenticator.verify(request.headers.get("Authorization"), endpoint_url())
    except Unauthorized as refusal:
        JWT_REJECTIONS.labels(refusal.reason).inc()
        raise
