"""Collect the resources a service needs from the request's prefetch (CDS Hooks 2.0 'Prefetch').

For each of the service's prefetch keys: a resource or a searchset Bundle is data; ``null``
means the EHR has no data for it (evaluate, don't fail); a missing key or an OperationOutcome
means "not provided", and the data must be fetched from ``fhirServer`` or the call answers 412.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import quote

from ..errors import PayloadTooLarge, PrefetchUnavailable

MAX_RESOURCES = 20_000  # a very large chart is ~5,000; beyond this we refuse rather than stall the worker

# ({prefetch key: rendered query}, request) -> {prefetch key: resources}; raises PrefetchUnavailable
Fetcher = Callable[[Mapping[str, str], Mapping[str, Any]], Mapping[str, list[Any]]]


@dataclass
class Gathered:
    """Resources for evaluation, and which keys came from where (for logs)."""

    resources: list[Any] = field(default_factory=list)
    prefetched: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


def resources_of(value: Mapping[str, Any]) -> list[Any]:
    """Return the resources of a prefetch value: a Bundle's entries (unwrapped) or the resource itself.

    Entries that are not objects are returned as they are, so that evaluation reports them.
    """
    if value.get("resourceType") != "Bundle":
        return [value]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        return ["Bundle.entry is not a list"]  # reported as an unreadable entry by evaluation
    resources = []
    for entry in entries:
        if isinstance(entry, dict) and "resource" in entry:  # parsed JSON: an exact (cheap) type check
            resources.append(entry["resource"])
        else:
            resources.append(entry)
    return resources


def render_query(template: str, context: Mapping[str, Any]) -> str:
    """Render a prefetch template with URL-encoded context values (2.0 tokens only)."""
    rendered = template
    for key, value in context.items():
        if isinstance(value, str):
            rendered = rendered.replace("{{context.%s}}" % key, quote(value, safe=""))
    return rendered


def gather(prefetch_templates: Mapping[str, str], request: Mapping[str, Any],
           fetch: Fetcher | None = None) -> Gathered:
    """Return the resources for every prefetch key, fetching (concurrently) what was not provided.

    Raises PrefetchUnavailable (412) naming the keys when data is neither prefetched nor fetchable.
    """
    given = request.get("prefetch") or {}
    gathered = Gathered()
    missing: dict[str, str] = {}
    for key, template in prefetch_templates.items():
        value = given.get(key, ...)
        if value is None:
            continue  # the EHR has no data for this key
        if isinstance(value, Mapping) and value.get("resourceType") != "OperationOutcome":
            gathered.resources.extend(resources_of(value))
            gathered.prefetched.append(key)
        else:
            missing[key] = render_query(template, request["context"])
    if not missing:
        return _bounded(gathered)
    keys = ", ".join(repr(k) for k in missing)
    if not request.get("fhirServer"):
        raise PrefetchUnavailable(f"prefetch {keys} not provided and the request has no fhirServer to fetch from.")
    if fetch is None:
        raise PrefetchUnavailable(f"prefetch {keys} not provided and fetching from fhirServer is not available here.")
    for key, resources in fetch(missing, request).items():
        gathered.resources.extend(resources)
        gathered.fetched.append(key)
    return _bounded(gathered)


def _bounded(gathered: Gathered) -> Gathered:
    if len(gathered.resources) > MAX_RESOURCES:
        raise PayloadTooLarge(f"{len(gathered.resources)} resources is more than the {MAX_RESOURCES} this service "
                              "evaluates in one call.")
    return gathered
