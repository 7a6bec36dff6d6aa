"""Every clinical case in fhir_fixtures/ gives its expected cards, over HTTP and through the CLI."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cds_service import create_app
from cds_service.cli import main

from cases import actual_cards, load_cases, missing_references
from conformance import assert_conformant

CASES = load_cases()
TOPICS = ("cauda-equina-urgent", "red-flag-serious", "lumbar-radiculopathy", "proximal-hamstring-tendinopathy",
          "hamstring-strain", "doms", "persistent-pain-review")


def test_cases_cover_every_topic_both_ways():
    """Every topic has at least four cases where it fires and four where it must stay silent."""
    assert len(CASES) >= 60
    for topic in TOPICS:
        fires = [c for c in CASES if topic in {card["topic"] for card in c.expected["cards"]}]
        silent = [c for c in CASES if c.path.parent.name == topic and c.path.name.startswith("silent-")]
        assert len(fires) >= 4 and len(silent) >= 4, topic


@pytest.fixture(scope="module")
def frozen_clients(tmp_path_factory):
    """Return an app client per evaluation time (the cases share one 'now')."""
    clients = {}
    for now in {case.expected["now"] for case in CASES}:
        moment = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(timezone.utc)
        app = create_app({"CDS_DATA_DIR": str(tmp_path_factory.mktemp("data")), "clock": lambda m=moment: m})
        clients[now] = app.test_client()
    return clients


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_over_http(case, frozen_clients):
    """The service answers the case's request with exactly the expected cards, citing the key findings."""
    client = frozen_clients[case.expected["now"]]
    response = client.post(f"/cds-services/{case.service_id}", json=case.request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_conformant(body)
    assert actual_cards(body) == case.expected_cards(), case.expected["why"]
    assert missing_references(case, body) == []
    assert "extension" not in body, "a fixture resource could not be read"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_through_cli(case, capsys):
    """`cds-service evaluate --json` on the request file gives the same cards as the HTTP path."""
    status = main(["evaluate", str(case.path / "request.json"), "--hook", case.request["hook"], "--json",
                   "--now", case.expected["now"].replace("Z", "+00:00")])
    assert status == 0
    body = json.loads(capsys.readouterr().out)
    assert_conformant(body)
    assert actual_cards(body) == case.expected_cards(), case.expected["why"]
