"""Under gunicorn with several workers: acknowledged feedback survives a killed worker; metrics add up."""
from __future__ import annotations

import os
import re
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

import pytest
import requests

from cds_service.database import Database
from cds_service.feedback import FeedbackStore

from cases import load_cases
from servers import ServerProcess, free_port

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).with_name("cds-service"))
FEEDBACK = "/cds-services/posterior-thigh-pain-patient-view/feedback"


def serve(tmp_path: Path, database_url: str, workers: int = 3) -> ServerProcess:
    port = free_port()
    return ServerProcess([CLI, "serve", "--port", str(port), "--workers", str(workers)], port, tmp_path / "serve.log",
                         env={"CDS_DATA_DIR": str(tmp_path), "CDS_DATABASE_URL": database_url,
                              "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})


def test_killed_worker_loses_no_acknowledged_feedback(tmp_path, database_url):
    """Concurrent clients, one worker SIGKILLed mid-run: every item answered 200 is stored exactly once."""
    server = serve(tmp_path, database_url)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        session = requests.Session()
        sent = 0
        while not stop.is_set() and sent < 400:
            card = f"kill-{number}-{sent}"
            sent += 1
            item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-26T12:00:00Z"}
            try:
                response = session.post(server.url + FEEDBACK, json={"feedback": [item]}, timeout=10)
            except requests.RequestException:
                session = requests.Session()  # the connection died with the worker: not acknowledged
                continue
            if response.status_code == 200:
                with lock:
                    acknowledged.append(card)

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert len(server.workers()) == 3, "gunicorn replaces the killed worker"
    finally:
        server.stop()
    database = Database(database_url)
    stored = [item["card"] for item in FeedbackStore(database).items()]
    database.dispose()
    print(f"kill test ({database_url.split(':')[0]}): {len(acknowledged)} acknowledged, {len(stored)} stored")
    assert len(acknowledged) > 100
    assert len(stored) == len(set(stored)), "an item was stored twice"
    assert set(acknowledged) <= set(stored), "an acknowledged item was lost"


def writers(tmp_path: Path) -> set[str]:
    """Return the pids of the processes that have written request metrics."""
    return {p.stem.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}


def metric(text: str, name: str, **labels: str) -> float:
    """Return the sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_metrics_add_up_across_workers(tmp_path):
    """Requests spread over three workers are all counted in /metrics, by status, topic and indicator."""
    server = serve(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    case = next(c for c in load_cases() if c.path.name == "fires-bilateral-sciatica-with-hesitancy")
    service = f"{server.url}/cds-services/{case.service_id}"
    def post_case(_: int) -> int:
        return requests.post(service, json=case.request, headers={"Connection": "close"}, timeout=10).status_code

    def post_invalid(_: int) -> int:
        return requests.post(service, data=b"[]", headers={"Content-Type": "application/json", "Connection": "close"},
                             timeout=10).status_code

    sent = 0
    try:
        # six requests in flight at once, repeated until at least two workers have served some
        # (bounded): the counts must then add up across processes
        with ThreadPoolExecutor(max_workers=6) as pool:
            while sent < 30 or (len(writers(tmp_path)) < 2 and sent < 300):
                assert list(pool.map(post_case, range(6))) == [200] * 6
                sent += 6
            assert list(pool.map(post_invalid, range(7))) == [422] * 7
        for n in range(5):
            item = {"card": f"m-{n}", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T12:00:00Z"}
            assert requests.post(server.url + FEEDBACK, json={"feedback": [item]}, timeout=10).ok
        text = requests.get(server.url + "/metrics", timeout=10).text
        served_by = writers(tmp_path)
    finally:
        server.stop()
    assert len(served_by) >= 2, "the traffic should have reached several workers"
    assert metric(text, "cds_requests_total", service=case.service_id, endpoint="service", status="200") == sent
    assert metric(text, "cds_requests_total", service=case.service_id, endpoint="service", status="422") == 7
    assert metric(text, "cds_requests_total", endpoint="feedback", status="200") == 5
    assert metric(text, "cds_cards_total", topic="cauda-equina-urgent", indicator="critical") == sent
    assert metric(text, "cds_request_duration_seconds_count", service=case.service_id, endpoint="service") == sent + 7
    assert metric(text, "cds_feedback_items_total", outcome="overridden") == 5
