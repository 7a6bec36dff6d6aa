"""The ``cds-service`` command: ``serve`` (gunicorn) and ``evaluate`` (offline, prints cards)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from .engine import evaluate
from .errors import CdsError, KnowledgeError, SettingsError
from .fhir.prefetch import gather, resources_of
from .knowledge import load_knowledge
from .registry import Registry
from .render import render_response
from .settings import check_exposure, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the CDS Hooks service under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, help="worker processes (default: CPU count + 1)")
    run = commands.add_parser("evaluate", help="evaluate a FHIR Bundle or CDS Hooks request file offline")
    run.add_argument("file", type=Path, help="a FHIR R4 Bundle, or a CDS Hooks request with prefetch")
    run.add_argument("--hook", default="patient-view", help="hook to evaluate for (default: patient-view)")
    run.add_argument("--patient", help="patient id (default: from the request, or the Bundle's subjects)")
    run.add_argument("--now", help="evaluation time, ISO 8601 with offset (default: now)")
    run.add_argument("--json", action="store_true", help="print the CDS Hooks response JSON")
    args = parser.parse_args(argv)
    try:
        return _serve(args) if args.command == "serve" else _evaluate(args)
    except (SettingsError, KnowledgeError, CdsError, OSError, ValueError) as error:
        print(f"cds-service: {getattr(error, 'description', error)}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_exposure(settings, [args.host])
    load_knowledge(settings.knowledge_dir)  # fail here, in one readable line, rather than in gunicorn
    config = Path(__file__).parent / "gunicorn_conf.py"
    command = [sys.executable, "-m", "gunicorn", "--config", str(config), "--bind", f"{args.host}:{args.port}"]
    if args.workers:
        command += ["--workers", str(args.workers)]
    print(f"cds-service: serving CDS Hooks on http://{args.host}:{args.port}/cds-services "
          f"(feedback: {settings.database_url}; knowledge: {settings.knowledge_dir})", flush=True)
    os.execv(sys.executable, command + ["cds_service:create_app()"])
    return 0  # not reached


def _evaluate(args: argparse.Namespace) -> int:
    document = json.loads(args.file.read_text(encoding="utf-8"))
    settings = load_settings()
    service = Registry.from_knowledge(load_knowledge(settings.knowledge_dir)).for_hook(args.hook)
    if isinstance(document, dict) and "hook" in document:
        context = dict(document.get("context") or {})
        resources = gather(service.prefetch, document).resources
    elif isinstance(document, dict) and document.get("resourceType") == "Bundle":
        resources = resources_of(document)
        context = {"patientId": args.patient or _patient_of(resources), "userId": "Practitioner/cli"}
    else:
        raise ValueError(f"{args.file}: neither a FHIR Bundle nor a CDS Hooks request.")
    if args.patient:
        context["patientId"] = args.patient
    now = datetime.fromisoformat(args.now) if args.now else datetime.now().astimezone()
    if now.tzinfo is None:
        raise ValueError("--now needs a UTC offset, e.g. 2026-11-26T12:00:00+00:00.")
    evaluation = evaluate(service, context, resources, now)
    response = render_response(evaluation, context, settings.topic_system)
    if args.json:
        print(json.dumps(response, indent=2, ensure_ascii=False))
    else:
        print(_as_text(response))
    return 0


def _patient_of(resources: list[Any]) -> str:
    for resource in resources:
        reference = (resource.get("subject") or {}).get("reference", "") if isinstance(resource, dict) else ""
        if "Patient/" in reference:
            return reference.rsplit("Patient/", 1)[1]
    raise ValueError("cannot tell the patient from the Bundle; pass --patient ID.")


def _as_text(response: dict[str, Any]) -> str:
    if not response["cards"]:
        lines = ["No cards: nothing relevant to posterior thigh pain was found."]
    else:
        lines = []
        for card in response["cards"]:
            lines += [f"{card['indicator'].upper():8} {card['summary']}  [{card['source']['topic']['code']}]",
                      *("    " + line for line in card["detail"].splitlines()), ""]
    for issue in response.get("extension", {}).get("org.posterior-thigh-cds.unreadable-resources", []):
        lines.append(f"unreadable: {issue['resource']}: {issue['reason']}")
    return "\n".join(lines).rstrip()
