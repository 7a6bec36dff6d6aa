"""Screening raw resources before validation never drops a finding a rule could use."""
from __future__ import annotations

import copy
import json

from hypothesis import given, settings, strategies as st

from cds_service.clinical.findings import build_findings
from cds_service.fhir.prefetch import resources_of
from cds_service.knowledge import load_knowledge
from cds_service.settings import default_knowledge_dir

from cases import load_cases
from resources import ICD, LOINC, SCT, coding, condition, observation

KNOWLEDGE = load_knowledge(default_knowledge_dir())
FIXTURE_RESOURCES = [(case.request["context"]["patientId"], resource) for case in load_cases()
                     for value in case.request["prefetch"].values() if value for resource in resources_of(value)]


def both_ways(resources, patient="pat-1"):
    args = (patient, KNOWLEDGE.terminology, KNOWLEDGE.laterality_rules)
    return build_findings(resources, *args, screen=True).findings, build_findings(resources, *args, screen=False).findings


def test_every_fixture_resource_gives_the_same_findings_screened():
    """For every resource in fhir_fixtures/, screening keeps exactly the findings full parsing gives."""
    for patient, resource in FIXTURE_RESOURCES:
        screened, full = both_ways([resource], patient)
        assert screened == full, resource.get("id")


def test_irrelevant_resources_are_skipped_before_validation():
    """Vitals, labs and unrelated problems are screened out; an invalid one is then not even parsed."""
    heart_rate = observation("hr", coding(LOINC, "8867-4", "Heart rate"), valueQuantity={"value": "fast"})
    hypertension = condition("htn", coding(ICD, "I10", "Essential (primary) hypertension"))
    result = build_findings([heart_rate, hypertension], "pat-1", KNOWLEDGE.terminology, KNOWLEDGE.laterality_rules)
    assert result.findings == [] and result.issues == []


CODES = [coding(ICD, "M54.31"), coding(SCT, "236648008"), coding(LOINC, "8310-5"), coding(LOINC, "8867-4"),
         coding(ICD, "I10"), coding(SCT, "44077006"), coding(LOINC, "75325-1"), coding(SCT, "373067005")]
TEXTS = ["Saddle numbness", "Heart rate", "denies back pain", "Pulled hamstring", "tight hamstrings", "HbA1c",
         "Able to bear weight", "night sweats", "Posterior thigh"]
concept = st.fixed_dictionaries({}, optional={"coding": st.lists(st.sampled_from(CODES), min_size=1, max_size=2),
                                              "text": st.sampled_from(TEXTS)})


@settings(max_examples=300, deadline=None)
@given(code=concept, value=st.none() | concept, value_string=st.none() | st.sampled_from(TEXTS),
       components=st.lists(st.fixed_dictionaries({"code": concept}, optional={"valueCodeableConcept": concept,
                                                                            "valueString": st.sampled_from(TEXTS),
                                                                            "valueBoolean": st.booleans()}),
                           max_size=3),
       status=st.sampled_from(["final", "preliminary", "cancelled", "amended"]),
       verification=st.sampled_from(["confirmed", "refuted", "provisional"]))
def test_screening_is_exact_on_generated_resources(code, value, value_string, components, status, verification):
    """On generated Conditions and Observations, screened findings equal fully parsed findings."""
    obs = observation("o", status=status)
    obs["code"] = code or {"text": "x"}
    if value:
        obs["valueCodeableConcept"] = value
    elif value_string:
        obs["valueString"] = value_string
    if components:
        obs["component"] = copy.deepcopy(components)
    cond = condition("c", verification=verification)
    cond["code"] = code or {"text": "x"}
    screened, full = both_ways([obs, cond])
    assert json.dumps([repr(f) for f in screened]) == json.dumps([repr(f) for f in full])
