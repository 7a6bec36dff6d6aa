"""`cds-service evaluate`: readable text by default, CDS Hooks JSON with --json, clear errors."""
from __future__ import annotations

import json

from cds_service.cli import main

from cases import FIXTURES
from conformance import assert_conformant
from resources import low_back_pain, urinary_retention

CES_CASE = next(FIXTURES.glob("cauda-equina-urgent/fires-*/request.json"))


def test_text_output_names_urgency_topic_and_findings(capsys):
    """The default output is readable: indicator, summary, topic and the findings that triggered it."""
    assert main(["evaluate", str(CES_CASE), "--now", "2026-11-26T12:00:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CRITICAL") and "[cauda-equina-urgent]" in out and "Condition/" in out


def test_plain_bundle_is_evaluated(tmp_path, capsys):
    """A FHIR Bundle (not a CDS Hooks request) is evaluated for the patient its resources name."""
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": low_back_pain()}, {"resource": urinary_retention()}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["evaluate", str(path), "--json", "--now", "2026-11-26T12:00:00+00:00"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert_conformant(body)
    assert body["cards"][0]["source"]["topic"]["code"] == "cauda-equina-urgent"


def test_nothing_relevant_says_so(tmp_path, capsys):
    """An empty Bundle prints a sentence rather than nothing."""
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection"}))
    assert main(["evaluate", str(path), "--patient", "p1"]) == 0
    assert "No cards" in capsys.readouterr().out


def test_unreadable_input_exits_2_with_a_message(tmp_path, capsys):
    """A file that is neither a Bundle nor a CDS Hooks request exits 2 with a one-line reason."""
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"resourceType": "Patient"}))
    assert main(["evaluate", str(path)]) == 2
    assert "neither a FHIR Bundle nor a CDS Hooks request" in capsys.readouterr().err


def test_now_without_offset_is_refused(capsys):
    """--now must carry a UTC offset, so results do not depend on the machine's time zone."""
    assert main(["evaluate", str(CES_CASE), "--now", "2026-11-26T12:00:00"]) == 2
    assert "offset" in capsys.readouterr().err
