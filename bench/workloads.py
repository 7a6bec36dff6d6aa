"""Deterministic FHIR R4 workloads for bench/run.py (no I/O, no service imports).

Every generator takes a seed (``random.Random(seed)``) and an anchor time ``now``: the same seed and
anchor give byte-identical requests. Resources are dated relative to ``now`` so that the planted
findings fall inside the rules' time windows when the service evaluates at (about) ``now``.

(a) ``patient_view``: Patient + 10 Conditions + 10 Observations; back pain, sciatica, posterior thigh
    pain and pain scores, plus a urinary retention (SNOMED 236648008) so the critical cauda equina card fires.
(b)/(c) ``chart(n)``: n Conditions/Observations of which 10 are relevant (low back pain M54.50, sciatica
    M54.31, posterior thigh pain M79.651 with text, 7 pain scores LOINC 72514-3); the rest are vitals,
    labs and unrelated problems, some resolved / cancelled / entered-in-error, over five years.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
EHR_BASE = "https://fhir.example-ehr.org/r4"
RELEVANT_PER_CHART = 10

# (loinc, display, unit, low, high, decimals, reference low, reference high, category)
VITALS = [
    ("8867-4", "Heart rate", "/min", 52, 104, 0, None, None),
    ("8310-5", "Body temperature", "Cel", 36.0, 37.6, 1, None, None),
    ("9279-1", "Respiratory rate", "/min", 12, 20, 0, None, None),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 93, 100, 0, None, None),
    ("29463-7", "Body weight", "kg", 68, 96, 1, None, None),
    ("8302-2", "Body height", "cm", 168, 184, 0, None, None),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 23, 32, 1, None, None),
]
LABS = [
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.4, 8.9, 1, 4.0, 5.6),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.7, 1.6, 2, 0.7, 1.3),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 78, 190, 0, 70, 99),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.4, 5.3, 1, 3.5, 5.1),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 133, 146, 0, 136, 145),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.8, 16.9, 1, 13.5, 17.5),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 3.9, 11.2, 1, 4.5, 11.0),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", 62, 178, 0,
     None, 100),
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood "
                "by Creatinine-based formula (MDRD)", "mL/min/{1.73_m2}", 48, 105, 0, 60, None),
]
# (ICD-10-CM, SNOMED CT, display): problems that say nothing about posterior thigh pain
UNRELATED_PROBLEMS = [
    ("I10", "38341003", "Essential (primary) hypertension"),
    ("E11.9", "44054006", "Type 2 diabetes mellitus without complications"),
    ("M25.561", "1003721002", "Pain in right knee"),
    ("E78.5", "55822004", "Hyperlipidemia, unspecified"),
    ("K21.9", "235595009", "Gastro-esophageal reflux disease without esophagitis"),
    ("J45.909", "195967001", "Unspecified asthma, uncomplicated"),
    ("F41.1", "21897009", "Generalized anxiety disorder"),
    ("E66.9", "414916001", "Obesity, unspecified"),
    ("M17.11", "239873007", "Unilateral primary osteoarthritis, right knee"),
    ("G43.909", "37796009", "Migraine, unspecified, not intractable, without status migrainosus"),
    ("J06.9", "54150009", "Acute upper respiratory infection, unspecified"),
    ("N18.31", "700378005", "Chronic kidney disease, stage 3a"),
    ("H52.4", "11959009", "Presbyopia"),
    ("L40.0", "200965009", "Psoriasis vulgaris"),
    ("K57.30", "307496006", "Diverticulosis of large intestine without perforation or abscess without bleeding"),
]


def anchor(now: datetime | None = None) -> datetime:
    """Return the day's 00:00 UTC: the default anchor (same requests all day)."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _concept(system: str, code: str, display: str, text: str | None = None, *more: tuple[str, str, str]):
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    concept["coding"] += [{"system": s, "code": c, "display": d} for s, c, d in more]
    if text:
        concept["text"] = text
    return concept


class _Chart:
    """Builds the resources of one patient with sequential ids."""

    def __init__(self, rng: random.Random, now: datetime, patient_id: str) -> None:
        self.rng, self.now, self.patient_id = rng, now, patient_id
        self.count = 0
        self.encounters = [f"enc-{patient_id}-{i:04d}" for i in range(40)]

    def _id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}-{self.patient_id}-{self.count:05d}"

    def patient(self) -> dict[str, Any]:
        return {
            "resourceType": "Patient", "id": self.patient_id,
            "meta": {"lastUpdated": _iso(self.now - timedelta(days=30))},
            "identifier": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0", "value": "E" + str(
                self.rng.randrange(10**6, 10**7))}],
            "active": True,
            "name": [{"use": "official", "family": "Example", "given": ["Alex", "J"]}],
            "gender": "male", "birthDate": "1971-04-12",
            "address": [{"use": "home", "city": "Springfield", "state": "IL", "postalCode": "62701", "country": "US"}],
        }

    def condition(self, icd: str, snomed: str | None, display: str, onset: datetime, *, text: str | None = None,
                  clinical: str = "active", verification: str = "confirmed", abated: datetime | None = None,
                  category: str = "problem-list-item", body_site: dict[str, Any] | None = None) -> dict[str, Any]:
        more = [(SNOMED, snomed, display)] if snomed else []
        resource: dict[str, Any] = {
            "resourceType": "Condition", "id": self._id("cond"),
            "meta": {"lastUpdated": _iso(onset + timedelta(hours=2))},
            "clinicalStatus": _concept(COND_CLINICAL, clinical, clinical.capitalize()),
            "verificationStatus": _concept(COND_VERIFICATION, verification, verification.capitalize()),
            "category": [_concept(COND_CATEGORY, category,
                                  "Problem List Item" if category == "problem-list-item" else "Encounter Diagnosis")],
            "code": _concept(ICD10CM, icd, display, text, *more),
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "encounter": {"reference": f"Encounter/{self.rng.choice(self.encounters)}"},
            "onsetDateTime": _iso(onset),
            "recordedDate": _iso(onset + timedelta(hours=2)),
            "recorder": {"reference": "Practitioner/prac-0042", "display": "Dr. Rivera"},
        }
        if body_site:
            resource["bodySite"] = [body_site]
        if abated:
            resource["abatementDateTime"] = _iso(abated)
        return resource

    def observation(self, category: str, loinc: str, display: str, when: datetime, *, status: str = "final",
                    value: dict[str, Any] | None = None, components: list[dict[str, Any]] | None = None,
                    reference_range: dict[str, Any] | None = None, interpretation: str | None = None,
                    system: str = LOINC, body_site: dict[str, Any] | None = None) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": self._id("obs"),
            "meta": {"lastUpdated": _iso(when + timedelta(minutes=20))},
            "status": status,
            "category": [_concept(OBS_CATEGORY, category, {"vital-signs": "Vital Signs", "laboratory": "Laboratory",
                                                            "survey": "Survey", "exam": "Exam"}[category])],
            "code": _concept(system, loinc, display),
            "subject": {"reference": f"Patient/{self.patient_id}"},
            "encounter": {"reference": f"Encounter/{self.rng.choice(self.encounters)}"},
            "effectiveDateTime": _iso(when),
            "issued": _iso(when + timedelta(minutes=20)) if category == "laboratory" else _iso(when),
            "performer": [{"reference": "Practitioner/prac-0042"}],
        }
        if value:
            resource.update(value)
        if interpretation:
            resource["interpretation"] = [_concept(INTERPRETATION, interpretation,
                                                   {"H": "High", "L": "Low", "N": "Normal"}[interpretation])]
        if reference_range:
            resource["referenceRange"] = [reference_range]
        if components:
            resource["component"] = components
        if body_site:
            resource["bodySite"] = body_site
        return resource

    # -- realistic filler ------------------------------------------------------------------------
    def _past(self, max_days: int = 5 * 365, min_days: int = 0) -> datetime:
        return self.now - timedelta(days=self.rng.randint(min_days, max_days), minutes=self.rng.randint(0, 1439))

    def _status(self) -> str:
        return self.rng.choices(["final", "amended", "preliminary", "cancelled", "entered-in-error"],
                                [92, 3, 2, 2, 1])[0]

    def _quantity(self, value: float, decimals: int, unit: str) -> dict[str, Any]:
        return {"value": round(value, decimals) if decimals else int(round(value)), "unit": unit,
                "system": UCUM, "code": unit}

    def vital(self) -> dict[str, Any]:
        when = self._past()
        if self.rng.random() < 0.3:  # blood pressure panel with two components
            systolic, diastolic = self.rng.randint(108, 162), self.rng.randint(64, 98)
            return self.observation("vital-signs", "85354-9", "Blood pressure panel with all children optional",
                                    when, status=self._status(), components=[
                                        {"code": _concept(LOINC, "8480-6", "Systolic blood pressure"),
                                         "valueQuantity": self._quantity(systolic, 0, "mm[Hg]")},
                                        {"code": _concept(LOINC, "8462-4", "Diastolic blood pressure"),
                                         "valueQuantity": self._quantity(diastolic, 0, "mm[Hg]")}])
        loinc, display, unit, low, high, decimals, _, _ = self.rng.choice(VITALS)
        return self.observation("vital-signs", loinc, display, when, status=self._status(),
                                value={"valueQuantity": self._quantity(self.rng.uniform(low, high), decimals, unit)})

    def lab(self, kind: tuple | None = None, when: datetime | None = None) -> dict[str, Any]:
        loinc, display, unit, low, high, decimals, ref_low, ref_high = kind or self.rng.choice(LABS)
        value = self.rng.uniform(low, high)
        reference: dict[str, Any] = {}
        if ref_low is not None:
            reference["low"] = self._quantity(ref_low, decimals, unit)
        if ref_high is not None:
            reference["high"] = self._quantity(ref_high, decimals, unit)
        flag = "H" if ref_high is not None and value > ref_high else "L" if ref_low is not None and value < ref_low \
            else "N"
        return self.observation("laboratory", loinc, display, when or self._past(), status=self._status(),
                                value={"valueQuantity": self._quantity(value, decimals, unit)},
                                reference_range=reference, interpretation=flag)

    def problem(self) -> dict[str, Any]:
        icd, snomed, display = self.rng.choice(UNRELATED_PROBLEMS)
        onset = self._past(min_days=60)
        clinical = self.rng.choices(["active", "resolved", "inactive"], [60, 30, 10])[0]
        verification = self.rng.choices(["confirmed", "provisional", "entered-in-error", "refuted"], [90, 5, 3, 2])[0]
        abated = onset + timedelta(days=self.rng.randint(7, 50)) if clinical == "resolved" else None
        category = self.rng.choice(["problem-list-item", "encounter-diagnosis"])
        return self.condition(icd, snomed, display, onset, clinical=clinical, verification=verification,
                              abated=abated, category=category)

    def filler(self) -> dict[str, Any]:
        kind = self.rng.choices(["vital", "lab", "problem"], [55, 33, 12])[0]
        return getattr(self, kind)()

    # -- the relevant findings -------------------------------------------------------------------
    def back_pain(self, days_ago: int) -> dict[str, Any]:
        return self.condition("M54.50", "279039007", "Low back pain, unspecified", self.now - timedelta(days=days_ago))

    def sciatica(self, days_ago: int) -> dict[str, Any]:
        return self.condition("M54.31", "23056005", "Sciatica, right side", self.now - timedelta(days=days_ago),
                              category="encounter-diagnosis")

    def thigh_pain(self, days_ago: int) -> dict[str, Any]:
        return self.condition("M79.651", None, "Pain in right thigh", self.now - timedelta(days=days_ago),
                              text="Pain in the back of the right thigh, worse after sitting",
                              category="encounter-diagnosis")

    def pain_score(self, days_ago: int, score: int) -> dict[str, Any]:
        return self.observation("survey", "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                                self.now - timedelta(days=days_ago, hours=2), value={"valueInteger": score})

    def urinary_retention(self, days_ago: int) -> dict[str, Any]:
        return self.observation("exam", "236648008", "Acute retention of urine", self.now - timedelta(days=days_ago),
                                system=SNOMED, value={"valueBoolean": True})


def patient_view(seed: int = 1, now: datetime | None = None, patient_id: str = "bench-a") -> tuple[dict, list[dict]]:
    """Workload (a): (Patient, 10 Conditions + 10 Observations); fires the critical cauda equina card."""
    now = anchor() if now is None else now
    chart = _Chart(random.Random(seed), now, patient_id)
    patient = chart.patient()
    conditions = [chart.back_pain(21), chart.sciatica(9), chart.thigh_pain(12)]
    for icd, snomed, display in UNRELATED_PROBLEMS[:7]:
        conditions.append(chart.condition(icd, snomed, display, chart._past(min_days=200),
                                          clinical="resolved" if icd == "J45.909" else "active",
                                          abated=now - timedelta(days=90) if icd == "J45.909" else None))
    observations = [chart.urinary_retention(2), chart.pain_score(11, 6), chart.pain_score(6, 7),
                    chart.pain_score(1, 7)]
    heart_rate, temperature, weight = VITALS[0], VITALS[1], VITALS[4]
    for loinc, display, unit, low, high, decimals, _, _ in (heart_rate, temperature, weight):
        observations.append(chart.observation("vital-signs", loinc, display, now - timedelta(days=1, hours=3),
                                              value={"valueQuantity": chart._quantity(
                                                  chart.rng.uniform(low, high), decimals, unit)}))
    observations.append(chart.observation(
        "vital-signs", "85354-9", "Blood pressure panel with all children optional", now - timedelta(days=1, hours=3),
        components=[{"code": _concept(LOINC, "8480-6", "Systolic blood pressure"),
                     "valueQuantity": chart._quantity(138, 0, "mm[Hg]")},
                    {"code": _concept(LOINC, "8462-4", "Diastolic blood pressure"),
                     "valueQuantity": chart._quantity(86, 0, "mm[Hg]")}]))
    for lab in LABS[:2]:  # HbA1c and creatinine
        observations.append(chart.lab(lab, now - timedelta(days=1, hours=4)))
    assert len(conditions) == 10 and len(observations) == 10
    return patient, conditions + observations


def chart(size: int, seed: int = 2, now: datetime | None = None, patient_id: str | None = None) -> tuple[dict, list[dict]]:
    """Workloads (b), (c): (Patient, ``size`` resources) of which 10 are relevant, placed at random positions."""
    now = anchor() if now is None else now
    chart_ = _Chart(random.Random(seed), now, patient_id or f"bench-{size}")
    patient = chart_.patient()
    relevant = [chart_.back_pain(40), chart_.sciatica(16), chart_.thigh_pain(14)]
    relevant += [chart_.pain_score(days, score) for days, score in ((13, 5), (11, 6), (9, 6), (7, 6), (5, 7), (3, 6),
                                                                    (1, 7))]
    assert len(relevant) == RELEVANT_PER_CHART
    resources = [chart_.filler() for _ in range(max(0, size - len(relevant)))]
    for resource in relevant:
        resources.insert(chart_.rng.randint(0, len(resources)), resource)
    return patient, resources


def searchset(resources: list[dict]) -> dict[str, Any]:
    """Return a FHIR searchset Bundle of ``resources`` as an EHR sends it in prefetch."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "link": [{"relation": "self", "url": f"{EHR_BASE}/{resources[0]['resourceType'] if resources else ''}"}],
            "entry": [{"fullUrl": f"{EHR_BASE}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def hook_request(patient: dict, resources: list[dict], seed: int = 0) -> dict[str, Any]:
    """Return a patient-view request with prefetch ``conditions``, ``observations`` (and ``patient``)."""
    hook_instance = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
    return {
        "hook": "patient-view", "hookInstance": hook_instance,
        "context": {"userId": "Practitioner/prac-0042", "patientId": patient["id"]},
        "prefetch": {
            "patient": patient,
            "conditions": searchset([r for r in resources if r["resourceType"] == "Condition"]),
            "observations": searchset([r for r in resources if r["resourceType"] == "Observation"]),
        },
    }


def fetch_request(patient: dict, fhir_base: str, token: str, seed: int = 0) -> dict[str, Any]:
    """Return a patient-view request without prefetch: the service must read ``fhir_base``."""
    request = hook_request(patient, [], seed)
    del request["prefetch"]
    request["fhirServer"] = fhir_base
    request["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/Condition.read patient/Observation.read",
                                    "subject": "bench-client", "patient": patient["id"]}
    return request


def transaction(patient: dict, resources: list[dict]) -> dict[str, Any]:
    """Return a FHIR transaction Bundle that PUTs the patient and ``resources`` (for the FHIR test server)."""
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in [patient, *resources]]}
