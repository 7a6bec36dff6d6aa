"""Read a JSON request body: size, media type and syntax checks shared by the POST endpoints."""
from __future__ import annotations

import json
from typing import Any

from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from ..errors import BadRequest, InvalidRequest

MAX_JSON_DEPTH = 64  # FHIR resources nest about 10 deep; far deeper is an attack on parsers
JSON_MEDIA_TYPES = frozenset({"application/json", "application/fhir+json"})


def read_json_object() -> dict[str, Any]:
    """Return the body as a JSON object.

    Raises BadRequest (400) when it is not JSON or not UTF-8, InvalidRequest (422) when it is JSON
    but not an object; Flask raises 413 past MAX_CONTENT_LENGTH and we answer 415 for other media types.
    """
    if request.mimetype and request.mimetype not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {request.mimetype!r} is not accepted; send application/json or application/fhir+json.")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f" at line {error.lineno}, column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise BadRequest(f"request body is not valid JSON{where}.") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {type(body).__name__}.")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels.")
    return body


def json_depth(value: Any) -> int:
    """Return the nesting depth of a parsed JSON value (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest
