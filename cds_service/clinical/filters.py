"""The FHIR status rules, applied once (CLINICAL.md section 2 'Reading the record')."""
from __future__ import annotations

from typing import Any

CURRENT_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
HISTORIC_CLINICAL_STATUSES = frozenset({"inactive", "remission", "resolved"})
IGNORED_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})
COUNTED_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})

# SNOMED CT answers and v3 ObservationInterpretation codes (CLINICAL.md section 2 'Negation').
NEGATIVE_ANSWERS = frozenset({"2667000", "373067005", "260385009"})  # Absent, No, Negative
POSITIVE_ANSWERS = frozenset({"52101004", "373066001", "10828004"})  # Present, Yes, Positive
NEGATIVE_INTERPRETATIONS = frozenset({"NEG", "N"})
POSITIVE_INTERPRETATIONS = frozenset({"POS"})
NEGATIVE_WORDS = frozenset({"no", "negative", "absent", "false", "denied", "denies", "not present"})
POSITIVE_WORDS = frozenset({"yes", "positive", "present", "true"})


def _codes(concept: Any) -> set[str]:
    return {c.code for c in (getattr(concept, "coding", None) or []) if c.code}


def is_ignored_condition(condition: Any) -> bool:
    """Return True for a refuted or entered-in-error Condition (ignored completely)."""
    return bool(_codes(condition.verificationStatus) & IGNORED_VERIFICATION_STATUSES)


def is_current_condition(condition: Any) -> bool:
    """Return True when the Condition is active, a recurrence or a relapse and has not abated.

    An absent clinicalStatus counts as current (R4 allows it for encounter diagnoses; elsewhere
    we prefer a false alarm to a missed red flag).
    """
    if condition.abatementDateTime or condition.abatementPeriod or condition.abatementAge \
            or condition.abatementRange or condition.abatementString:
        return False
    statuses = _codes(condition.clinicalStatus)
    return not statuses or bool(statuses & CURRENT_CLINICAL_STATUSES)


def is_counted_observation(observation: Any) -> bool:
    """Return True for final, amended, corrected or preliminary Observations."""
    return observation.status in COUNTED_OBSERVATION_STATUSES


def answer_polarity(value_boolean: Any, value_concept: Any, value_string: Any, interpretation: Any) -> bool | None:
    """Return False for a negative answer, True for a positive one, None when the value says neither."""
    codes: set[str] = set()
    for concept in interpretation or []:
        codes |= _codes(concept)
    if codes & NEGATIVE_INTERPRETATIONS:
        return False
    if value_boolean is not None:
        return bool(value_boolean)
    if value_concept is not None:
        answer_codes = _codes(value_concept)
        if answer_codes & NEGATIVE_ANSWERS:
            return False
        if answer_codes & POSITIVE_ANSWERS:
            return True
        text = (value_concept.text or "").strip().lower()
        if text in NEGATIVE_WORDS:
            return False
        if text in POSITIVE_WORDS:
            return True
    if isinstance(value_string, str):
        text = value_string.strip().lower()
        if text in NEGATIVE_WORDS:
            return False
        if text in POSITIVE_WORDS:
            return True
    if codes & POSITIVE_INTERPRETATIONS:
        return True
    return None
