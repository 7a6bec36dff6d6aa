"""Throughput and latency of the CDS service against a floor app, in one run (see bench/README.md).

    .venv/bin/python bench/run.py [--duration 10] [--quick] [--rounds 1] [--workers N] [--json PATH]

Starts the real service and bench/floor_app.py under gunicorn with the same config
(cds_service/gunicorn_conf.py: sync workers, preload, same worker count), drives both with wrk from a
separate process, alternating floor and service for each workload and connection count, then times
single requests on very large charts, reports worker memory and times the fetch path against a local
FHIR server (sekmet-fhir from .venv-fhir, skipped with a note when it is not installed).
Prints a table; nothing is written to the repository (``--json PATH`` writes the results there).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "tests"))
import workloads  # noqa: E402
from servers import ServerProcess, free_port  # noqa: E402

SERVICE_ID = "posterior-thigh-pain-patient-view"
GUNICORN_CONF = ROOT / "cds_service" / "gunicorn_conf.py"
LUA = BENCH / "post.lua"
TARGETS = {"a": 0.6, "b": 0.4}  # service/floor req/s at 16 connections
LARGE_TARGET_MS = 50.0


# -- servers ------------------------------------------------------------------------------------
class Server(ServerProcess):
    """A gunicorn master with the service's settings, in a clean environment (no caller CDS_* settings)."""

    def __init__(self, name: str, app: str, work: Path, workers: int | None, extra_env: dict[str, str],
                 pythonpath: Path | None = None) -> None:
        self.name = name
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}"]
        if workers:
            command += ["--workers", str(workers)]
        if pythonpath:
            command += ["--pythonpath", str(pythonpath)]
        data = work / f"{name}-data"
        data.mkdir()
        super().__init__(command + [app], port, work / f"{name}.log", env={"CDS_DATA_DIR": str(data), **extra_env},
                         cwd=ROOT, inherit_cds_settings=False)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/cds-services/{SERVICE_ID}"

    def memory(self) -> dict[str, Any]:
        """Return RSS and peak RSS (MiB) of the master and of each worker."""
        def status(pid: int) -> dict[str, float]:
            fields = {}
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        fields[key] = int(value.split()[0]) / 1024
            except OSError:
                pass
            return fields
        return {"master": status(self.process.pid), "workers": [status(pid) for pid in self.workers()]}


# -- wrk ----------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    """Return the wrk binary; install it from Debian when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is not installed; running `apt-get install -y wrk`", file=sys.stderr, flush=True)
        if subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("bench: the load generator wrk is needed: `sudo apt-get install -y wrk` (Debian/Ubuntu), "
                 "then run this command again.")
    return found


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors (connect/read/write/timeout) + non-2xx answers


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no {percentile}% latency in wrk output:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> LoadResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if not rate or not total:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return LoadResult(float(rate.group(1)), _latency(text, "50"), _latency(text, "99"), int(total.group(1)), errors)


def run_wrk(wrk: str, url: str, body: Path, connections: int, seconds: int) -> LoadResult:
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(LUA), url]
    done = subprocess.run(command, env={**os.environ, "WRK_BODY_FILE": str(body)}, capture_output=True, text=True,
                          check=True)
    return parse_wrk(done.stdout)


# -- sequential timing --------------------------------------------------------------------------
def timed_posts(url: str, body: bytes, count: int, warmup: int = 2) -> list[float]:
    """Return the latencies (ms) of ``count`` sequential POSTs of ``body``, after ``warmup`` untimed ones."""
    session = requests.Session()
    headers = {"Content-Type": "application/json"}
    durations = []
    for index in range(warmup + count):
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
        if index >= warmup:
            durations.append(elapsed)
    return durations


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def check_answer(url: str, body: bytes) -> list[str]:
    """POST once; return the cards as 'indicator:topic' (raises unless 200)."""
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
    return [f"{c['indicator']}:{c['source'].get('topic', {}).get('code', '?')}" for c in response.json()["cards"]]


def encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request, separators=(",", ":")).encode()


# -- the run ------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed load before each run (default 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up, fewer samples")
    parser.add_argument("--rounds", type=int, default=1,
                        help="floor/service alternations per cell; the best run of each side is reported")
    parser.add_argument("--workers", type=int, help="gunicorn workers for both (default: the config's, CPU + 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-fetch", action="store_true", help="skip (d), the fetch path")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 3, 1
    samples = 8 if args.quick else 30
    fetch_calls = 15 if args.quick else 50
    wrk = ensure_wrk()
    now = workloads.anchor()
    results: dict[str, Any] = {"anchor": now.isoformat(), "duration_s": args.duration, "rounds": args.rounds,
                               "cpus": os.cpu_count(), "throughput": [], "large_chart": [], "memory": {}}

    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        work = Path(tmp)
        patient_a, resources_a = workloads.patient_view(args.seed, now)
        patient_b, resources_b = workloads.chart(500, args.seed + 1, now)
        bodies = {"a": encode(workloads.hook_request(patient_a, resources_a, args.seed)),
                  "b": encode(workloads.hook_request(patient_b, resources_b, args.seed))}
        labels = {"a": f"(a) patient-view {len(resources_a)} res", "b": f"(b) full chart {len(resources_b)} res"}
        for key, body in bodies.items():
            (work / f"{key}.json").write_bytes(body)

        floor = service = None
        try:
            service = Server("service", "cds_service:create_app()", work, args.workers, {})
            floor = Server("floor", "floor_app:create_app()", work, args.workers, {}, pythonpath=BENCH)
            json_lib = requests.get(floor.url + "/health/ready", timeout=5).json()["json"]
            workers = len(service.workers())
            results.update(workers=workers, json_library=json_lib)
            print(f"bench: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
                  f"gunicorn sync x{workers} workers (preload) for both, floor JSON: {json_lib}; wrk -t1, "
                  f"{args.duration} s runs after {args.warmup} s warm-up, best of {args.rounds}; "
                  f"data anchored at {now:%Y-%m-%d}", flush=True)
            for key, body in bodies.items():
                cards = check_answer(service.endpoint, body)
                check_answer(floor.endpoint, body)
                print(f"  {labels[key]}: {len(body) / 1024:.0f} KiB, service cards: {', '.join(cards) or 'none'}",
                      flush=True)
            results["memory"]["service_start"] = service.memory()
            results["memory"]["floor_start"] = floor.memory()

            # -- (a), (b): throughput, floor and service alternating ----------------------------
            for key in bodies:
                for connections in (1, 16):
                    best: dict[str, LoadResult] = {}
                    for round_ in range(args.rounds):
                        order = (floor, service) if round_ % 2 == 0 else (service, floor)
                        for server in order:
                            if args.warmup:
                                run_wrk(wrk, server.endpoint, work / f"{key}.json", connections, args.warmup)
                            result = run_wrk(wrk, server.endpoint, work / f"{key}.json", connections, args.duration)
                            if server.name not in best or result.requests_per_s > best[server.name].requests_per_s:
                                best[server.name] = result
                    row = {"workload": key, "label": labels[key], "connections": connections,
                           "floor": asdict(best["floor"]), "service": asdict(best["service"]),
                           "ratio": best["service"].requests_per_s / best["floor"].requests_per_s}
                    results["throughput"].append(row)
                    print(f"  ran {labels[key]} at {connections} conn: floor {best['floor'].requests_per_s:.1f} "
                          f"req/s, service {best['service'].requests_per_s:.1f} req/s", flush=True)
            results["memory"]["service_after_load"] = service.memory()

            # -- (c): very large charts, single sequential requests -----------------------------
            for size in (500, 1000, 2000, 5000):
                patient, resources = workloads.chart(size, args.seed + 2, now)
                body = encode(workloads.hook_request(patient, resources, args.seed))
                service_ms = timed_posts(service.endpoint, body, samples)
                floor_ms = timed_posts(floor.endpoint, body, samples)
                results["large_chart"].append({
                    "resources": size, "body_kib": round(len(body) / 1024), "samples": samples,
                    "service_p50_ms": statistics.median(service_ms), "service_p95_ms": percentile(service_ms, 95),
                    "floor_p50_ms": statistics.median(floor_ms)})
                print(f"  ran (c) {size} resources x{samples}: service p50 {statistics.median(service_ms):.1f} ms",
                      flush=True)
            results["memory"]["service_after_large"] = service.memory()
            results["memory"]["floor_end"] = floor.memory()

            # -- (d): the fetch path against sekmet-fhir -----------------------------------------
            if args.skip_fetch:
                results["fetch"] = {"skipped": "--skip-fetch"}
            else:
                results["fetch"] = fetch_path(service, work, now, args.seed, fetch_calls)
        finally:
            for server in (floor, service):
                if server is not None:
                    server.stop()

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


def fetch_path(service: Server, work: Path, now, seed: int, calls: int) -> dict[str, Any]:
    """Time ``calls`` hook calls without prefetch that make the service read a 500-resource chart from sekmet."""
    from servers import FHIR_TOKEN, start_fhir_server

    try:
        fhir_dir = work / "fhir"
        fhir_dir.mkdir()
        fhir = start_fhir_server(fhir_dir)
    except RuntimeError as error:
        print(f"  (d) skipped: {str(error).splitlines()[0]}", flush=True)
        return {"skipped": str(error).splitlines()[0]}
    try:
        patient, resources = workloads.chart(500, seed + 3, now, patient_id="bench-fetch")
        started = time.perf_counter()
        requests.post(fhir.url + "/fhir", json=workloads.transaction(patient, resources), timeout=120,
                      headers={"Authorization": f"Bearer {FHIR_TOKEN}"}).raise_for_status()
        load_s = time.perf_counter() - started
        fetching = encode(workloads.fetch_request(patient, fhir.url + "/fhir", FHIR_TOKEN, seed))
        prefetched = encode(workloads.hook_request(patient, resources, seed))
        cards = check_answer(service.endpoint, fetching)
        fetch_ms = timed_posts(service.endpoint, fetching, calls, warmup=3)
        prefetch_ms = timed_posts(service.endpoint, prefetched, calls, warmup=3)
        print(f"  ran (d) fetch path x{calls}: p50 {statistics.median(fetch_ms):.1f} ms", flush=True)
        return {"resources": len(resources), "calls": calls, "load_s": round(load_s, 2), "cards": cards,
                "fetch_p50_ms": statistics.median(fetch_ms), "fetch_p95_ms": percentile(fetch_ms, 95),
                "prefetch_p50_ms": statistics.median(prefetch_ms), "prefetch_p95_ms": percentile(prefetch_ms, 95)}
    finally:
        fhir.stop()


def _mib(memory: dict[str, Any]) -> str:
    workers = memory["workers"]
    rss = "/".join(f"{w.get('VmRSS', 0):.0f}" for w in workers)
    return f"{rss} MiB (master {memory['master'].get('VmRSS', 0):.0f})"


def report(results: dict[str, Any]) -> None:
    print()
    header = (f"{'workload':<28} {'conns':>5} {'floor req/s':>11} {'service req/s':>13} {'ratio':>6} "
              f"{'floor p50/p99 ms':>17} {'service p50/p99 ms':>19}  target")
    print(header)
    print("-" * len(header))
    for row in results["throughput"]:
        floor, service = row["floor"], row["service"]
        target = ""
        if row["connections"] == 16 and row["workload"] in TARGETS:
            goal = TARGETS[row["workload"]]
            target = f">= {goal}x {'PASS' if row['ratio'] >= goal else 'FAIL'}"
        errors = floor["errors"] + service["errors"]
        if errors:
            target += f" ({floor['errors']} floor / {service['errors']} service errors)"
        print(f"{row['label']:<28} {row['connections']:>5} {floor['requests_per_s']:>11.1f} "
              f"{service['requests_per_s']:>13.1f} {row['ratio']:>6.2f} "
              f"{floor['p50_ms']:>8.1f} /{floor['p99_ms']:>7.1f} {service['p50_ms']:>9.1f} /{service['p99_ms']:>7.1f}"
              f"  {target}")

    large = results["large_chart"]
    if large:
        print(f"\n(c) very large chart, single sequential requests ({large[0]['samples']} each):")
        for row in large:
            per_1000 = row["service_p50_ms"] / row["resources"] * 1000
            print(f"  {row['resources']:>5} resources ({row['body_kib']:>5} KiB): service p50 {row['service_p50_ms']:7.1f} ms"
                  f" p95 {row['service_p95_ms']:7.1f} ms = {per_1000:6.1f} ms per 1,000 resources; "
                  f"floor p50 {row['floor_p50_ms']:6.1f} ms")
        xs = [math.log(r["resources"]) for r in large]
        ys = [math.log(r["service_p50_ms"]) for r in large]
        mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
        exponent = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        slope = ((large[-1]["service_p50_ms"] - large[0]["service_p50_ms"])
                 / (large[-1]["resources"] - large[0]["resources"]) * 1000)
        biggest = large[-1]
        verdict = "PASS" if biggest["service_p50_ms"] < LARGE_TARGET_MS else "FAIL"
        results["large_chart_fit"] = {"exponent": exponent, "marginal_ms_per_1000": slope}
        print(f"  growth: p50 ~ n^{exponent:.2f} (1.00 = linear), marginal {slope:.1f} ms per 1,000 resources; "
              f"target p50 < {LARGE_TARGET_MS:.0f} ms at {biggest['resources']:,}: "
              f"{biggest['service_p50_ms']:.0f} ms {verdict}")

    memory = results["memory"]
    if memory:
        peaks = "/".join(f"{w.get('VmHWM', 0):.0f}" for w in memory["service_after_large"]["workers"])
        print(f"\nmemory, RSS per worker: service at start {_mib(memory['service_start'])}, after (a)+(b) load "
              f"{_mib(memory['service_after_load'])}, after (c) {_mib(memory['service_after_large'])}, "
              f"peak {peaks} MiB; floor at start {_mib(memory['floor_start'])}, at end {_mib(memory['floor_end'])}")

    fetch = results.get("fetch") or {}
    if "skipped" in fetch:
        print(f"\n(d) fetch path: skipped ({fetch['skipped']})")
    elif fetch:
        print(f"\n(d) fetch path, {fetch['resources']} resources read from sekmet-fhir (Condition + Observation "
              f"searches, loaded in {fetch['load_s']} s), {fetch['calls']} sequential calls: p50 "
              f"{fetch['fetch_p50_ms']:.1f} ms, p95 {fetch['fetch_p95_ms']:.1f} ms; same data prefetched: p50 "
              f"{fetch['prefetch_p50_ms']:.1f} ms, p95 {fetch['prefetch_p95_ms']:.1f} ms; cards "
              f"{', '.join(fetch['cards']) or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
