"""Latency of the fetch path: `cds-service serve` fetching a patient from a local sekmet-fhir server.

Run after scripts/test has set up .venv and .venv-fhir:
    .venv/bin/python bench/fetch_latency.py [--calls 100]
Prints median and p95 of N calls without prefetch, next to N calls of the same patient with prefetch.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import FHIR_TOKEN, ServerProcess, free_port, start_fhir_server  # noqa: E402

CASE = ROOT / "fhir_fixtures" / "cauda-equina-urgent" / "fires-bilateral-sciatica-with-hesitancy" / "request.json"


def timed(session: requests.Session, url: str, body: dict, calls: int) -> list[float]:
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        response = session.post(url, json=body, timeout=10)
        durations.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    calls = parser.parse_args().calls
    request = json.loads(CASE.read_text())
    with tempfile.TemporaryDirectory() as work:
        fhir = start_fhir_server(Path(work))
        port = free_port()
        service = ServerProcess([str(ROOT / ".venv" / "bin" / "cds-service"), "serve", "--port", str(port)], port,
                                Path(work) / "service.log", env={"CDS_DATA_DIR": work})
        try:
            resources = [{"resourceType": "Patient", "id": request["context"]["patientId"]}]
            for bundle in request["prefetch"].values():
                resources += [e["resource"] for e in bundle.get("entry", [])]
            requests.post(fhir.url + "/fhir", timeout=30, headers={"Authorization": f"Bearer {FHIR_TOKEN}"}, json={
                "resourceType": "Bundle", "type": "transaction",
                "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                          for r in resources]}).raise_for_status()
            fetching = {k: v for k, v in request.items() if k != "prefetch"}
            fetching["fhirServer"] = fhir.url + "/fhir"
            fetching["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                             "scope": "patient/*.read", "subject": "bench"}
            url = f"{service.url}/cds-services/posterior-thigh-pain-patient-view"
            session = requests.Session()
            timed(session, url, fetching, 5)  # warm up
            for label, body in (("prefetch", request), ("fetch", fetching)):
                durations = sorted(timed(session, url, body, calls))
                p95 = durations[max(0, int(round(0.95 * len(durations))) - 1)]
                print(f"{label:9} calls={calls} median={statistics.median(durations):.1f} ms p95={p95:.1f} ms")
        finally:
            service.stop()
            fhir.stop()


if __name__ == "__main__":
    main()
