"""JSON Schemas shipped in ``schemas/`` and the one function that checks against them."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_BASE = "https://posterior-thigh-cds.example.org/schemas/"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator_for(schema_name: str) -> Draft202012Validator:
    """Return a validator for ``schemas/<schema_name>.schema.json`` (format checks on)."""
    schema = _registry().contents(SCHEMA_BASE + f"{schema_name}.schema.json")
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@lru_cache(maxsize=None)
def hook_request_validator(hook: str) -> Draft202012Validator:
    """Return a validator for a request to a service of ``hook``: the base request plus its context."""
    schema = {
        "allOf": [
            {"$ref": SCHEMA_BASE + "hook-request.schema.json"},
            {"properties": {"context": {"$ref": SCHEMA_BASE + f"context-{hook}.schema.json"}}},
        ]
    }
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def first_error(validator: Draft202012Validator, instance: Any) -> str | None:
    """Return a sentence naming the most relevant invalid field, or None when valid."""
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{where}: {_describe(error)}"


def _describe(error: ValidationError) -> str:
    """Say what is wrong without echoing the submitted value (it may hold patient data)."""
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:
        return custom
    expected = error.validator_value
    if error.validator in ("required", "dependentRequired"):
        return error.message
    descriptions = {
        "type": f"must be of type {expected}",
        "enum": f"must be one of {expected}",
        "const": f"must be {expected!r}",
        "format": f"is not a valid {expected}",
        "pattern": "does not have the required form",
        "minLength": f"must be at least {expected} characters long",
        "maxLength": f"must be at most {expected} characters long",
        "minItems": f"must have at least {expected} item(s)",
        "maxItems": f"must have at most {expected} item(s)",
        "minProperties": f"must have at least {expected} member(s)",
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "additionalProperties": "has members that are not allowed here",
    }
    return descriptions.get(str(error.validator), f"is not valid ({error.validator})")


def find_empty_values(value: Any, path: str = "$") -> list[str]:
    """Return the JSON paths of null, "", [] or {} values, which CDS Hooks 2.0 forbids.

    The one exception is the spec's own "no decision support" answer, ``{"cards": []}``.
    """
    if path == "$.cards" and value == []:
        return []
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in find_empty_values(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in find_empty_values(item, f"{path}[{i}]")]
    return []
