"""Checks every response produced in the tests must pass: the CDS Hooks 2.0 schemas, no empty values."""
from __future__ import annotations

from typing import Any

from cds_service.validation import find_empty_values, first_error, validator_for


def assert_conformant(body: Any, schema: str = "cds-response") -> None:
    """Fail unless ``body`` is valid against ``schema`` and holds no null, "", [] or {}."""
    problem = first_error(validator_for(schema), body)
    assert problem is None, f"{schema} schema: {problem}"
    empty = find_empty_values(body)
    assert not empty, f"empty values (forbidden by CDS Hooks 2.0) at {empty}"
