"""The clinical cases in fhir_fixtures/<topic>/<outcome>-<case>/ (request.json + expected.json)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fhir_fixtures"
SERVICE_FOR_HOOK = {"patient-view": "posterior-thigh-pain-patient-view",
                    "encounter-start": "posterior-thigh-pain-encounter-start"}


@dataclass(frozen=True)
class Case:
    """One patient: the CDS Hooks request and the cards it must produce."""

    path: Path
    request: dict[str, Any]
    expected: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def now(self) -> datetime:
        return datetime.fromisoformat(self.expected["now"].replace("Z", "+00:00"))

    @property
    def service_id(self) -> str:
        return SERVICE_FOR_HOOK[self.request["hook"]]

    def expected_cards(self) -> list[tuple[str, str]]:
        return [(card["topic"], card["indicator"]) for card in self.expected["cards"]]


def load_cases() -> list[Case]:
    """Return every case, sorted by directory."""
    return [Case(path, json.loads((path / "request.json").read_text()), json.loads((path / "expected.json").read_text()))
            for path in sorted(p.parent for p in FIXTURES.glob("*/*/request.json"))]


def actual_cards(response: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (topic, indicator) of each card in a CDS Hooks response, in response order."""
    return [(card["source"]["topic"]["code"], card["indicator"]) for card in response["cards"]]


def missing_references(case: Case, response: dict[str, Any]) -> list[str]:
    """Return expected triggering references that the matching card's detail does not name."""
    details = {card["source"]["topic"]["code"]: card.get("detail", "") for card in response["cards"]}
    return [f"{card['topic']}: {ref}" for card in case.expected["cards"] for ref in card.get("references", [])
            if card["topic"] in details and f"({ref}" not in details[card["topic"]]]
