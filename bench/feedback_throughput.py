"""Feedback commits per second on SQLite and on PostgreSQL, through `cds-service serve` (3 workers).

    .venv/bin/python bench/feedback_throughput.py [--seconds 10] [--clients 8]

Each client posts one new feedback item per request (so each is a committed transaction) and
counts the 200s; a PostgreSQL cluster is started for the run (scripts/postgres-install first).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import PostgresCluster, ServerProcess, free_port  # noqa: E402

FEEDBACK = "/cds-services/posterior-thigh-pain-patient-view/feedback"


def drive(url: str, seconds: float, clients: int) -> float:
    """Return acknowledged feedback items per second."""
    acknowledged = [0] * clients
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        session = requests.Session()
        sent = 0
        while time.monotonic() < deadline:
            item = {"card": f"bench-{number}-{sent}", "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-26T12:00:00Z"}
            sent += 1
            if session.post(url + FEEDBACK, json={"feedback": [item]}, timeout=10).status_code == 200:
                acknowledged[number] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(acknowledged) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    options = parser.parse_args()
    postgres = PostgresCluster(durable=True)
    try:
        with tempfile.TemporaryDirectory() as work:
            for label, url in (("sqlite", f"sqlite:///{work}/feedback.sqlite3"), ("postgresql", postgres.url)):
                port = free_port()
                server = ServerProcess([str(ROOT / ".venv" / "bin" / "cds-service"), "serve", "--port", str(port),
                                        "--workers", "3"], port, Path(work) / f"{label}.log",
                                       env={"CDS_DATA_DIR": work, "CDS_DATABASE_URL": url})
                try:
                    rate = drive(server.url, options.seconds, options.clients)
                finally:
                    server.stop()
                print(f"{label:10} {options.clients} clients, 3 workers: {rate:.0f} feedback commits/s")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
