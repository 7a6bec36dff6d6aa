"""Reading the record (CLINICAL.md section 2): statuses, negation, dates, laterality, sites, units, text."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cds_service.clinical.criteria import to_unit
from cds_service.clinical.findings import as_datetime, build_findings
from cds_service.knowledge import load_knowledge
from cds_service.settings import default_knowledge_dir

from resources import ICD, LOINC, SCT, coding, condition, observation

KNOWLEDGE = load_knowledge(default_knowledge_dir())


def findings(*resources):
    result = build_findings(resources, "pat-1", KNOWLEDGE.terminology, KNOWLEDGE.laterality_rules)
    return result.findings


def only(*resources):
    found = findings(*resources)
    assert len(found) == 1, found
    return found[0]


RETENTION = coding(SCT, "236648008", "Acute retention of urine")


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_conditions_are_ignored(verification):
    """Refuted and entered-in-error Conditions produce no finding at all."""
    assert findings(condition("c", RETENTION, verification=verification)) == []


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential", "confirmed"])
def test_unconfirmed_provisional_differential_count(verification):
    """A suspected finding still counts (a suspected CES is still an emergency)."""
    assert only(condition("c", RETENTION, verification=verification)).current


@pytest.mark.parametrize("clinical", ["inactive", "remission", "resolved"])
def test_resolved_conditions_are_history(clinical):
    """inactive / remission / resolved Conditions are history, not current."""
    assert not only(condition("c", RETENTION, clinical=clinical)).current


def test_abatement_makes_a_condition_history():
    """Any abatement[x] makes a Condition history even if marked active."""
    assert not only(condition("c", RETENTION, abatementDateTime="2026-11-21")).current


@pytest.mark.parametrize(("status", "counted"), [
    ("final", True), ("amended", True), ("corrected", True), ("preliminary", True),
    ("cancelled", False), ("entered-in-error", False), ("registered", False), ("unknown", False),
])
def test_observation_statuses(status, counted):
    """Only final, amended, corrected and preliminary Observations are read."""
    assert bool(findings(observation("o", RETENTION, status=status, valueBoolean=True))) is counted


@pytest.mark.parametrize("value", [
    {"valueBoolean": False},
    {"valueCodeableConcept": {"coding": [coding(SCT, "2667000", "Absent")]}},
    {"valueCodeableConcept": {"coding": [coding(SCT, "373067005", "No")]}},
    {"valueCodeableConcept": {"coding": [coding(SCT, "260385009", "Negative")]}},
    {"interpretation": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                           "NEG")]}]},
    {"interpretation": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                           "N")]}]},
    {"valueString": "No"},
])
def test_negative_answers_negate(value):
    """Every negative answer form gives a negated finding."""
    assert only(observation("o", RETENTION, **value)).negated


@pytest.mark.parametrize("value", [
    {"valueBoolean": True},
    {"valueCodeableConcept": {"coding": [coding(SCT, "52101004", "Present")]}},
    {"valueCodeableConcept": {"coding": [coding(SCT, "373066001", "Yes")]}},
    {"valueCodeableConcept": {"coding": [coding(SCT, "10828004", "Positive")]}},
    {},
])
def test_positive_answers_affirm(value):
    """Present / Yes / Positive / true, or a finding recorded with no value, affirm."""
    assert not only(observation("o", RETENTION, **value)).negated


def test_data_absent_reason_is_unknown_not_negative():
    """dataAbsentReason means unknown: neither a finding nor a negation."""
    assert findings(observation("o", RETENTION, dataAbsentReason={"text": "asked, unknown"})) == []


def test_panel_components_are_read_one_by_one():
    """Each component of a panel is its own finding; the panel's own code is not a finding."""
    panel = observation("o", text="Cauda equina screening", component=[
        {"code": {"coding": [RETENTION]}, "valueCodeableConcept": {"coding": [coding(SCT, "373067005", "No")]}},
        {"code": {"coding": [coding(SCT, "72042002", "Incontinence of feces")]}, "valueBoolean": True},
    ])
    found = findings(panel)
    assert [(f.reference, sorted(f.concepts), sorted(f.negated_concepts)) for f in found] == [
        ("Observation/o#component[0]", [], ["urinary-retention"]),
        ("Observation/o#component[1]", ["faecal-incontinence"], []),
    ]


def test_text_can_affirm_one_concept_and_negate_another():
    """'Thigh pain; unable to ... ' keeps both: the pain affirmed and the negated question usable."""
    found = only(condition("c", text="Posterior thigh pain; not able to bear weight"))
    assert "thigh-pain" in found.concepts and "able-to-bear-weight" in found.negated_concepts


def test_symptom_question_value_is_the_finding():
    """LOINC 75325-1 'Symptom' with a coded value is a finding of that value."""
    found = only(observation("o", coding(LOINC, "75325-1", "Symptom"),
                             valueCodeableConcept={"coding": [RETENTION]}))
    assert "urinary-retention" in found.concepts and not found.negated


@pytest.mark.parametrize(("text", "negated"), [
    ("Denies saddle numbness", True), ("No saddle anaesthesia", True), ("Saddle anesthesia: absent", True),
    ("Saddle anaesthesia", False), ("New saddle numbness since yesterday", False),
    ("No improvement in saddle numbness", False), ("Denies back pain but reports saddle numbness", False),
    ("r/o saddle anaesthesia", False), ("Saddle anaesthesia ruled out on examination", True),
])
def test_free_text_negation(text, negated):
    """Negation cues in free text negate the concept they stand next to."""
    found = only(condition("c", text=text))
    assert "saddle-anaesthesia" in (found.negated_concepts if negated else found.concepts)
    assert found.negated is negated


def test_codes_win_over_displays():
    """A code with another code's display is read by system and code only."""
    found = only(condition("c", coding(ICD, "R61", "Night sweats")))
    assert found.concepts == {"systemic-symptom"}
    assert findings(condition("d", coding(ICD, "K59.00", "Sciatica"))) == []


def test_icd_codes_without_dot_are_accepted():
    """ICD-10-CM codes sent without their dot are read like dotted codes."""
    assert only(condition("c", coding(ICD, "M5431"))).laterality == "right"


@pytest.mark.parametrize(("code", "side"), [("M54.31", "right"), ("M54.32", "left"), ("G57.03", "bilateral"),
                                            ("M54.30", None)])
def test_icd_laterality(code, side):
    """ICD-10-CM laterality characters give the side."""
    assert only(condition("c", coding(ICD, code))).laterality == side


def test_mcode_laterality_and_location_qualifiers():
    """mCODE laterality (51440002) and location (255551008 Posterior) extensions on bodySite are read."""
    site = {"extension": [
        {"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier",
         "valueCodeableConcept": {"coding": [coding(SCT, "51440002", "Right and left")]}},
        {"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-body-location-qualifier",
         "valueCodeableConcept": {"coding": [coding(SCT, "255551008", "Posterior")]}}],
        "coding": [coding(SCT, "68367000", "Thigh structure")]}
    found = only(condition("c", coding(ICD, "M79.651"), bodySite=[site]))
    assert found.laterality == "bilateral"
    assert {"qualifier-posterior", "site-thigh"} <= found.sites


def test_dates_fall_back_in_the_documented_order():
    """Condition: onsetDateTime, else onsetPeriod.start, else recordedDate; partial dates are read."""
    by_period = only(condition("c", RETENTION, onset=None, onsetPeriod={"start": "2026-11-01"}))
    by_recorded = only(condition("d", RETENTION, onset=None, onsetString="a while", recordedDate="2026-10-02"))
    assert by_period.date == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert by_recorded.date == datetime(2026, 10, 2, tzinfo=timezone.utc)
    assert as_datetime("2019") == datetime(2019, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(("value", "unit", "celsius"), [
    (Decimal("100.4"), "[degF]", Decimal("38.000")), (Decimal("100.2"), "[degF]", Decimal("37.889")),
    (Decimal("38.0"), "Cel", Decimal("38.0")), (Decimal("37.9"), "°C", Decimal("37.9")),
])
def test_temperature_units_are_converted(value, unit, celsius):
    """Temperatures in [degF] are converted before comparing with Celsius thresholds."""
    assert to_unit((value, unit), "Cel") == celsius


def test_unknown_unit_is_not_compared():
    """A value in a unit we cannot convert is never compared as a raw number."""
    assert to_unit((Decimal("310"), "K"), "Cel") is None


@pytest.mark.parametrize(("reference", "kept"), [
    ("Patient/pat-1", True), ("https://ehr.example.org/fhir/Patient/pat-1", True), ("Patient/pat-1/_history/3", True),
    ("urn:uuid:5f1c6a0e-0d5e-4bde-9c55-5c4f0e2b7a10", True), ("Patient/pat-10", False), ("Patient/other", False),
])
def test_only_resources_clearly_about_another_patient_are_ignored(reference, kept):
    """A subject naming another Patient is ignored; absolute, versioned or urn references to this one are kept."""
    resource = condition("c", RETENTION)
    resource["subject"] = {"reference": reference}
    result = build_findings([resource], "pat-1", KNOWLEDGE.terminology, KNOWLEDGE.laterality_rules)
    assert bool(result.findings) is kept and bool(result.issues) is not kept
