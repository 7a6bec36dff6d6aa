"""Faults a real FHIR server will not produce on demand, injected by a small HTTP server on 127.0.0.1.

Each fault ends in 412 with a message naming the key and the reason, within the deadline, and the
service keeps serving.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cds_service import create_app
from cds_service.fhir.client import is_allowed_server, search_url

from conftest import PATIENT_VIEW, hook_request
from servers import free_port

DEADLINE = 1.0
EMPTY_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "total": 0}


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, free_port()), FaultHandler)
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        """Stay quiet when the service gave up on a hanging answer and closed the connection (expected)."""


class FaultHandler(BaseHTTPRequestHandler):
    """The first path segment names the fault: /hang, /error, /unauthorized, /html, /offsite, /endless, ..."""

    server: FaultServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send(self, status: int, body: bytes, content_type: str = "application/fhir+json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        fault = self.path.split("/")[1]
        bundle = dict(EMPTY_BUNDLE)
        if fault == "hang":
            time.sleep(DEADLINE * 3)
        elif fault == "error":
            return self.send(500, b'{"resourceType": "OperationOutcome"}')
        elif fault == "unauthorized":
            return self.send(401, b"")
        elif fault == "html":
            return self.send(200, b"<html><body>Login</body></html>", "text/html")
        elif fault == "garbage":
            return self.send(200, b'{"resourceType": "Bundle", "entry": [', "application/fhir+json")
        elif fault == "outcome":
            return self.send(200, json.dumps({"resourceType": "OperationOutcome"}).encode())
        elif fault == "redirect":
            return self.send(302, b"", Location=self.server.other_url + "/ok/Condition")  # type: ignore[attr-defined]
        elif fault == "offsite":
            bundle["link"] = [{"relation": "next", "url": self.server.other_url + "/ok/Condition?page=2"}]  # type: ignore[attr-defined]
        elif fault == "endless":
            bundle["link"] = [{"relation": "next", "url": f"{self.server.url}/endless/Condition?page={len(self.server.requests)}"}]
        self.send(200, json.dumps(bundle).encode())


@pytest.fixture(scope="module")
def faults():
    main, other = FaultServer("127.0.0.1"), FaultServer("127.0.0.2")
    main.other_url = other.url  # type: ignore[attr-defined]
    for server in (main, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield main, other
    for server in (main, other):
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(tmp_path):
    return create_app({"CDS_DATA_DIR": str(tmp_path), "CDS_FHIR_DEADLINE": str(DEADLINE),
                       "CDS_FHIR_READ_TIMEOUT": "0.5", "CDS_FHIR_CONNECT_TIMEOUT": "0.5",
                       "CDS_FHIR_MAX_PAGES": "5"}).test_client()


def fetch_request(fhir_server: str) -> dict:
    body = hook_request(fhirServer=fhir_server,
                        fhirAuthorization={"access_token": "secret-token-abc", "token_type": "Bearer",
                                           "expires_in": 300, "scope": "patient/*.read", "subject": "cds"})
    del body["prefetch"]
    return body


@pytest.mark.parametrize(("fault", "reason"), [
    ("hang", "timed out"),
    ("error", "answered 500"),
    ("unauthorized", "refused the access token (401)"),
    ("html", "not FHIR JSON"),
    ("garbage", "not valid JSON"),
    ("outcome", "OperationOutcome, not a search Bundle"),
    ("redirect", "redirects are not followed"),
    ("offsite", "another origin"),
    ("endless", "more than 5 pages"),
])
def test_fault_ends_in_412_within_the_deadline(faults, client, fault, reason):
    """Every fault gives 412 naming the key and the reason, within the deadline; the token goes nowhere else."""
    main, other = faults
    other.requests.clear()
    started = time.monotonic()
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=fetch_request(f"{main.url}/{fault}"))
    elapsed = time.monotonic() - started
    assert response.status_code == 412
    message = response.get_json()["message"]
    assert reason in message and ("'conditions'" in message or "'observations'" in message)
    assert "secret-token-abc" not in message
    assert elapsed < DEADLINE + 0.5
    assert other.requests == [], "nothing may be sent to another origin"


def test_unreachable_fhir_server_is_412(client):
    """A fhirServer nobody listens on gives 412 'could not be reached'."""
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=fetch_request(f"http://127.0.0.1:{free_port()}/fhir"))
    assert response.status_code == 412
    assert "could not be reached" in response.get_json()["message"]


def test_token_is_sent_and_null_keys_are_not_fetched(faults, client):
    """The bearer token goes to fhirServer; a key prefetched as null is not fetched."""
    main, _ = faults
    main.requests.clear()
    body = fetch_request(f"{main.url}/ok")
    body["prefetch"] = {"observations": None}
    response = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert response.status_code == 200
    assert main.requests == [("/ok/Condition?patient=pat-1&_count=100", "Bearer secret-token-abc")]


def test_service_keeps_serving_after_faults(faults, client):
    """After a fault, the next call with a prefetch is answered normally."""
    main, _ = faults
    assert client.post(f"/cds-services/{PATIENT_VIEW}", json=fetch_request(f"{main.url}/error")).status_code == 412
    assert client.post(f"/cds-services/{PATIENT_VIEW}", json=hook_request()).status_code == 200


@pytest.mark.parametrize(("server", "entries", "allowed"), [
    ("https://ehr.example.org/fhir/r4", ("https://ehr.example.org/fhir",), True),
    ("https://ehr.example.org:443/fhir", ("https://ehr.example.org/fhir",), True),
    ("https://ehr.example.org/fhirx", ("https://ehr.example.org/fhir",), False),
    ("http://ehr.example.org/fhir", ("https://ehr.example.org/fhir",), False),
    ("https://ehr.example.org.evil.com/fhir", ("https://ehr.example.org/fhir",), False),
    ("https://ehr.example.org:8443/fhir", ("https://ehr.example.org/fhir",), False),
    ("https://anything.example/fhir", (), False),
])
def test_allowed_server_matching(server, entries, allowed):
    """An entry matches when scheme, host and port are equal and the path starts with the entry's path."""
    assert is_allowed_server(server, entries) is allowed


def test_search_url_keeps_the_base_path_and_adds_a_page_size():
    """{fhirServer}/{query} keeps fhirServer's path; _count is added only when absent."""
    assert search_url("https://ehr.example.org/fhir/r4/", "Condition?patient=a%2Fb", 100) == \
        "https://ehr.example.org/fhir/r4/Condition?patient=a%2Fb&_count=100"
    assert search_url("https://e.example/fhir", "Observation?_count=5", 100) == "https://e.example/fhir/Observation?_count=5"
