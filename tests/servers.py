"""Start real servers in subprocesses: reserved port, readiness poll, log file, clean stop."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

import requests


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server started from ``command``; ``url`` is its base URL once ``ready_path`` answers 200."""

    def __init__(self, command: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None, ready_path: str = "/health/ready", timeout: float = 60,
                 inherit_cds_settings: bool = True) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._file = log.open("wb")
        base = {k: v for k, v in os.environ.items() if inherit_cds_settings or not k.startswith("CDS_")}
        self.process = subprocess.Popen(list(command), stdout=self._file, stderr=subprocess.STDOUT,
                                        env={**base, **(env or {})}, cwd=cwd, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + ready_path, timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout}s:\n{log.read_text()[-3000:]}")

    def workers(self) -> list[int]:
        """Return the pids of the processes the server started (gunicorn's workers)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in path.read_text().split()) if path.exists() else []

    def stop(self) -> None:
        """Stop the server and everything it started (gunicorn workers included)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._file.close()


FHIR_SERVER_VENV = Path(__file__).resolve().parent.parent / ".venv-fhir"
FHIR_TOKEN = "test-bearer-token-9d1c"


def start_fhir_server(workdir: Path) -> ServerProcess:
    """Start sekmet-fhir (FHIR R4, SQLite) on 127.0.0.1 with bearer auth on and its simulator off."""
    sekmet = FHIR_SERVER_VENV / "bin" / "sekmet"
    if not sekmet.exists():
        raise RuntimeError(f"{sekmet} is missing: run scripts/test (or scripts/fhir-server-venv) first")
    port = free_port()
    config = workdir / "sekmet.yaml"
    config.write_text(
        f"base_url: http://127.0.0.1:{port}/fhir\nhost: 127.0.0.1\nport: {port}\n"
        f"data_dir: {workdir / 'data'}\nserver_auth: {{types: [bearer], tokens: [{FHIR_TOKEN}]}}\n"
        "simulator: {enabled: false}\nlog_inbound: false\n")
    return ServerProcess([str(sekmet), "serve", "--config", str(config)], port, workdir / "sekmet.log",
                         cwd=workdir, ready_path="/fhir/metadata")


class PostgresCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 and a free port; ``url`` is its database URL."""

    def __init__(self, durable: bool = False) -> None:
        """Start the cluster; tests run it with fsync off, benchmarks with ``durable=True``."""
        import glob
        import shutil
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed: run scripts/postgres-install (scripts/test does)")
        self.bin = Path(bins[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="cds-pg-", dir="/tmp"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # the server refuses to run as root
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "cds", "--no-sync", "-E", "UTF8")
        fsync = "on" if durable else "off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-t", "30",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={fsync}", "start")
        self.url = f"postgresql://cds@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.dir)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def stop(self) -> None:
        import shutil

        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
