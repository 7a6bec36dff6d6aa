"""Posterior-thigh pain decision support over CDS Hooks 2.0."""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
