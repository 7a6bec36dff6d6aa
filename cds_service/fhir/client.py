"""Read FHIR searches from the EHR's FHIR server (CDS Hooks 2.0 'FHIR Resource Access').

Bounded and careful: one requests.Session, ``Accept: application/fhir+json``, a connect and read
timeout on every call and an overall deadline per hook call; ``Bundle.link[next]`` is followed
only on the ``fhirServer`` origin and only up to a page limit, so the bearer token is only ever
sent there; redirects are not followed; TLS verification stays on. Every failure raises
FetchFailed with a sentence for the 412 message (never the token).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests

from ..errors import PrefetchUnavailable
from ..metrics import FHIR_FETCH_ERRORS, FHIR_FETCH_LATENCY
from .prefetch import resources_of

FHIR_JSON = ("application/fhir+json", "application/json", "application/json+fhir")


class FetchFailed(Exception):
    """A FHIR read that could not produce the data; the message says why, ``reason`` is a metrics code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FetchLimits:
    """Time and size bounds for fetching, e.g. FetchLimits(connect=1.0, read=2.0, deadline=2.5, max_pages=50)."""

    connect_timeout: float = 1.0
    read_timeout: float = 2.0
    deadline: float = 2.5
    max_pages: int = 50
    page_size: int = 100


def origin(url: str) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) with default ports made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_allowed_server(fhir_server: str, allowed: tuple[str, ...]) -> bool:
    """Return True when an entry has the same scheme, host and port and a path that prefixes fhirServer's."""
    path = urlsplit(fhir_server).path.rstrip("/") + "/"
    return any(origin(entry) == origin(fhir_server) and path.startswith(urlsplit(entry).path.rstrip("/") + "/")
               for entry in allowed)


def search_url(fhir_server: str, query: str, page_size: int) -> str:
    """Return ``{fhirServer}/{query}`` keeping fhirServer's base path, with a page size if none is given."""
    url = f"{fhir_server.rstrip('/')}/{query.lstrip('/')}"
    if "_count=" not in query:
        url += ("&" if "?" in url else "?") + f"_count={page_size}"
    return url


class FhirClient:
    """Fetch the resources of several searches concurrently within one deadline."""

    def __init__(self, limits: FetchLimits) -> None:
        self.limits = limits
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fhir-fetch")

    def fetch_missing(self, queries: Mapping[str, str], request: Mapping[str, Any],
                      allowed_servers: tuple[str, ...] | None) -> dict[str, list[Any]]:
        """Fetch the missing prefetch ``queries`` of a hook ``request`` from its fhirServer.

        ``allowed_servers``: None allows any fhirServer, otherwise it must match an entry (an empty
        tuple allows none). Raises PrefetchUnavailable (412) saying which key and why.
        """
        fhir_server = request["fhirServer"]
        if allowed_servers is not None and not is_allowed_server(fhir_server, allowed_servers):
            FHIR_FETCH_ERRORS.labels("not-allowed").inc()
            raise PrefetchUnavailable(f"prefetch {', '.join(map(repr, queries))} not provided, and fhirServer is "
                                      "not one this caller may have us read (issuer fhir_servers or "
                                      "CDS_ALLOWED_FHIR_SERVERS).")
        token = (request.get("fhirAuthorization") or {}).get("access_token")
        started = time.perf_counter()
        try:
            return self.fetch_all(fhir_server, queries, token)
        except FetchFailed as error:
            FHIR_FETCH_ERRORS.labels(error.reason).inc()
            raise PrefetchUnavailable(f"prefetch {error}; the data needed for a safe answer is missing.") from None
        finally:
            FHIR_FETCH_LATENCY.observe(time.perf_counter() - started)

    def fetch_all(self, fhir_server: str, queries: Mapping[str, str], access_token: str | None) -> dict[str, list[Any]]:
        """Return resources per key; raise FetchFailed naming the first key that failed and why."""
        deadline = time.monotonic() + self.limits.deadline
        futures = {key: self._pool.submit(self._search, fhir_server, query, access_token, deadline)
                   for key, query in queries.items()}
        results: dict[str, list[Any]] = {}
        for key, future in futures.items():
            try:
                results[key] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                raise FetchFailed(f"{key!r}: no complete answer from the FHIR server within "
                                  f"{self.limits.deadline:g} s", "deadline") from None
            except FetchFailed as error:
                raise FetchFailed(f"{key!r}: {error}", error.reason) from None
        return results

    def _search(self, fhir_server: str, query: str, access_token: str | None, deadline: float) -> list[Any]:
        session = requests.Session()  # per search: Session is not thread-safe
        session.headers["Accept"] = "application/fhir+json"
        if access_token:
            session.headers["Authorization"] = f"Bearer {access_token}"
        home = origin(fhir_server)
        url = search_url(fhir_server, query, self.limits.page_size)
        resources: list[Any] = []
        try:
            for _ in range(self.limits.max_pages):
                bundle = self._get(session, url, deadline)
                resources.extend(resources_of(bundle))
                url = next((link.get("url") for link in bundle.get("link") or []
                            if isinstance(link, Mapping) and link.get("relation") == "next"), None)
                if not url:
                    return resources
                if origin(url) != home:
                    raise FetchFailed("the FHIR server's next link points to another origin; not followed", "offsite-next")
            raise FetchFailed(f"more than {self.limits.max_pages} pages of results; refusing partial data", "too-many-pages")
        finally:
            session.close()

    def _get(self, session: requests.Session, url: str, deadline: float) -> Mapping[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed(f"no complete answer within {self.limits.deadline:g} s", "deadline")
        timeout = (min(self.limits.connect_timeout, remaining), min(self.limits.read_timeout, remaining))
        try:
            response = session.get(url, timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            raise FetchFailed("the FHIR server timed out", "timeout") from None
        except requests.ConnectionError:
            raise FetchFailed("the FHIR server could not be reached", "unreachable") from None
        except requests.RequestException as error:
            raise FetchFailed(f"the request to the FHIR server failed ({type(error).__name__})", "request-error") from None
        if response.status_code in (401, 403):
            raise FetchFailed(f"the FHIR server refused the access token ({response.status_code})", "unauthorized")
        if 300 <= response.status_code < 400:
            raise FetchFailed(f"the FHIR server redirected ({response.status_code}); redirects are not followed", "redirect")
        if response.status_code != 200:
            raise FetchFailed(f"the FHIR server answered {response.status_code}", "status")
        if response.headers.get("Content-Type", "").split(";")[0].strip().lower() not in FHIR_JSON:
            raise FetchFailed("the FHIR server's answer is not FHIR JSON", "not-fhir")
        try:
            body = response.json()
        except ValueError:
            raise FetchFailed("the FHIR server's answer is not valid JSON", "not-fhir") from None
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            raise FetchFailed(f"the FHIR server answered a {kind}, not a search Bundle", "not-fhir")
        return body
