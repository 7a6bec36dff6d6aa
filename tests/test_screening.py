"""Screening raw resources before validation never changes what the rules conclude."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from cds_service.clinical.findings import build_findings
from cds_service.engine import match_topics
from cds_service.fhir.prefetch import resources_of
from cds_service.knowledge import load_knowledge
from cds_service.settings import default_knowledge_dir

from cases import load_cases
from resources import ICD, LOINC, SCT, UCUM, coding, condition, low_back_pain, observation

KNOWLEDGE = load_knowledge(default_knowledge_dir())
NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)


def findings(resources, patient="pat-1", screened=True):
    return build_findings(resources, patient, KNOWLEDGE.terminology, KNOWLEDGE.laterality_rules,
                          KNOWLEDGE.screen if screened else None).findings


def conclusions(found):
    """Return what the rules conclude: topics, indicators, fired rules and the findings they cite."""
    return [(m.topic["topic"], m.indicator, [(r.rule["id"], sorted(f.reference for f in r.findings)) for r in m.rules])
            for m in match_topics(KNOWLEDGE, found, NOW)]


def assert_same_conclusions(resources, patient="pat-1"):
    screened, full = findings(resources, patient), findings(resources, patient, screened=False)
    assert set(screened) <= set(full), "screening may drop findings, never invent them"
    assert conclusions(screened) == conclusions(full)


def test_every_fixture_patient_gets_the_same_conclusions_screened():
    """For every patient in fhir_fixtures/, the rules conclude the same with and without screening."""
    for case in load_cases():
        resources = [r for value in case.request["prefetch"].values() if value for r in resources_of(value)]
        assert_same_conclusions(resources, case.request["context"]["patientId"])


def test_irrelevant_resources_are_skipped_before_validation():
    """Vitals, labs, unrelated problems and normal temperatures are skipped: not even an invalid one is parsed."""
    heart_rate = observation("hr", coding(LOINC, "8867-4", "Heart rate"), valueQuantity={"value": "fast"})
    hypertension = condition("htn", coding(ICD, "I10", "Essential (primary) hypertension"))
    normal = observation("t", coding(LOINC, "8310-5"), valueQuantity={"value": 36.9, "unit": "Cel", "code": "Cel"},
                         interpretation="not a list")
    result = build_findings([heart_rate, hypertension, normal], "pat-1", KNOWLEDGE.terminology,
                            KNOWLEDGE.laterality_rules, KNOWLEDGE.screen)
    assert result.findings == [] and result.issues == []


def test_value_floors_come_from_the_rules():
    """Only concepts that every rule reads with a plain lower bound are screened by value."""
    assert KNOWLEDGE.screen.value_floors == {"body-temperature": ("Cel", 38), "post-void-residual": ("mL", 200)}


CODES = [coding(ICD, "M54.31"), coding(SCT, "236648008"), coding(LOINC, "8310-5"), coding(LOINC, "8867-4"),
         coding(ICD, "I10"), coding(SCT, "44077006"), coding(LOINC, "75325-1"), coding(SCT, "373067005"),
         coding(LOINC, "2157-6"), coding(LOINC, "72514-3")]
TEXTS = ["Saddle numbness", "Heart rate", "denies back pain", "Pulled hamstring", "tight hamstrings", "HbA1c",
         "Able to bear weight", "night sweats", "Posterior thigh", "Post-void residual", "Temperature"]
concept = st.fixed_dictionaries({}, optional={"coding": st.lists(st.sampled_from(CODES), min_size=1, max_size=2),
                                              "text": st.sampled_from(TEXTS)})
quantity = st.builds(lambda value, unit: {"value": value, "unit": unit, "system": UCUM, "code": unit},
                     st.sampled_from([36.6, 37.9, 38.0, 100.2, 100.4, 101.5, 150, 199, 200, 250, 0.3, 1200]),
                     st.sampled_from(["Cel", "[degF]", "mL", "L", "U/L", "{score}", "K"]))
when = st.sampled_from(["2026-11-25T08:00:00Z", "2026-11-10T08:00:00Z", "2025-01-01", "2026-11-26"])


@settings(max_examples=400, deadline=None)
@given(items=st.lists(st.fixed_dictionaries(
    {"code": concept, "status": st.sampled_from(["final", "preliminary", "cancelled", "amended"]), "when": when},
    optional={"valueQuantity": quantity, "valueCodeableConcept": concept, "valueString": st.sampled_from(TEXTS),
              "component": st.lists(st.fixed_dictionaries({"code": concept}, optional={
                  "valueQuantity": quantity, "valueBoolean": st.booleans(), "valueString": st.sampled_from(TEXTS)}),
                  max_size=2)}), max_size=5),
    verification=st.sampled_from(["confirmed", "refuted", "provisional"]), condition_code=concept)
def test_screening_never_changes_conclusions_on_generated_charts(items, verification, condition_code):
    """On generated charts (with back pain so that value-driven rules can fire), conclusions are unchanged."""
    resources = [low_back_pain()]
    for index, item in enumerate(items):
        obs = observation(f"o{index}", status=item["status"], effective=item["when"])
        obs.update(copy.deepcopy({k: v for k, v in item.items() if k not in ("status", "when")}))
        obs["code"] = obs["code"] or {"text": "x"}
        if "valueQuantity" in obs:
            obs.pop("valueCodeableConcept", None)
            obs.pop("valueString", None)
        elif "valueCodeableConcept" in obs:
            obs.pop("valueString", None)
        resources.append(obs)
    cond = condition("c", verification=verification)
    cond["code"] = condition_code or {"text": "x"}
    resources.append(cond)
    assert_same_conclusions(resources)
