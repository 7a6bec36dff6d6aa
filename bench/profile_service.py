"""Profile the service in-process on a bench workload (Flask test client, no gunicorn, no network).

    .venv/bin/pip install pyinstrument     # once
    .venv/bin/python bench/profile_service.py [--workload b] [--requests 200] [--top 15] [--html PATH]

Prints the functions with the largest cumulative share of the profiled time (each function counted
once per stack, so recursion does not inflate it) and the largest self-time share.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import workloads  # noqa: E402
from run import SERVICE_ID, encode  # noqa: E402

HARNESS = ("profile_service.py", "werkzeug/test.py", "flask/testing.py", "flask/app.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="b", help="a (patient view), b (500), or a chart size such as 5000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval in seconds")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report to PATH")
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("bench: pyinstrument is needed: .venv/bin/pip install pyinstrument")
    from cds_service import create_app

    now = workloads.anchor()
    if args.workload == "a":
        patient, resources = workloads.patient_view(1, now)
    else:
        patient, resources = workloads.chart(500 if args.workload == "b" else int(args.workload), 2, now)
    body = encode(workloads.hook_request(patient, resources, 1))
    with tempfile.TemporaryDirectory(prefix="cds-profile-") as data:
        client = create_app({"CDS_DATA_DIR": data, "CDS_LOG_LEVEL": "WARNING"}).test_client()
        url = f"/cds-services/{SERVICE_ID}"
        for _ in range(5):  # warm up: lazy model building, caches
            assert client.post(url, data=body, content_type="application/json").status_code == 200
        profiler = Profiler(interval=args.interval)
        profiler.start()
        for _ in range(args.requests):
            client.post(url, data=body, content_type="application/json")
        profiler.stop()
    session = profiler.last_session
    root = session.root_frame()
    total = root.time
    cumulative: dict[tuple[str, str, int], float] = defaultdict(float)
    own: dict[tuple[str, str, int], float] = defaultdict(float)

    def walk(frame, active: frozenset) -> None:
        key = (frame.function, frame.file_path_short or "", frame.line_no or 0)
        if key not in active:
            cumulative[key] += frame.time
            active = active | {key}
        for child in frame.children:
            if child.is_synthetic:  # pyinstrument's "[self]" leaves: time spent in this frame's own code
                own[key] += child.time
            else:
                walk(child, active)

    walk(root, frozenset())
    per_request = session.duration / args.requests * 1000
    print(f"{args.requests} requests of workload {args.workload} ({len(resources)} resources, {len(body) / 1024:.0f} KiB):"
          f" {session.duration:.2f} s, {per_request:.1f} ms per request in-process")
    print(f"\ntop {args.top} by cumulative time (percent of all profiled time; test client and Flask dispatch left out)")
    below_view = [(key, seconds) for key, seconds in cumulative.items() if not key[1].endswith(HARNESS)]
    for (function, path, line), seconds in sorted(below_view, key=lambda kv: -kv[1])[:args.top]:
        print(f"  {seconds / total * 100:5.1f}%  {function:<36} {path}:{line}")
    print(f"\ntop {args.top} by self time")
    for (function, path, line), seconds in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {seconds / total * 100:5.1f}%  {function:<36} {path}:{line}")
    if args.html:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
