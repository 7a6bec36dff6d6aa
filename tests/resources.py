"""Small builders for realistic FHIR R4 Conditions and Observations used by unit tests."""
from __future__ import annotations

from typing import Any

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def condition(id: str, *codings: dict[str, Any], text: str | None = None, clinical: str | None = "active",
              verification: str = "confirmed", onset: str | None = "2026-11-20T09:00:00Z",
              patient: str = "pat-1", **extra: Any) -> dict[str, Any]:
    code: dict[str, Any] = {}
    if codings:
        code["coding"] = list(codings)
    if text:
        code["text"] = text
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": id, "subject": {"reference": f"Patient/{patient}"}, "code": code,
        "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                 verification)]},
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                        "problem-list-item")]}],
    }
    if clinical:
        resource["clinicalStatus"] = {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                        clinical)]}
    if onset:
        resource["onsetDateTime"] = onset
    resource.update(extra)
    return resource


def observation(id: str, *codings: dict[str, Any], text: str | None = None, status: str = "final",
                effective: str | None = "2026-11-25T09:00:00Z", patient: str = "pat-1", **extra: Any) -> dict[str, Any]:
    code: dict[str, Any] = {}
    if codings:
        code["coding"] = list(codings)
    if text:
        code["text"] = text
    resource: dict[str, Any] = {"resourceType": "Observation", "id": id, "status": status, "code": code,
                                "subject": {"reference": f"Patient/{patient}"}}
    if effective:
        resource["effectiveDateTime"] = effective
    resource.update(extra)
    return resource


def temperature(id: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return observation(id, coding(LOINC, "8310-5", "Body temperature"),
                       valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit}, **extra)


# a few findings most tests need
def low_back_pain(id: str = "cond-lbp", **extra: Any) -> dict[str, Any]:
    return condition(id, coding(ICD, "M54.50", "Low back pain, unspecified"), **extra)


def urinary_retention(id: str = "cond-retention", **extra: Any) -> dict[str, Any]:
    return condition(id, coding(SCT, "236648008", "Acute retention of urine"), **extra)
