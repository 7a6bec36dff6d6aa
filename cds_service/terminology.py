"""Value-set membership, compiled once at start-up: by system + code, ICD-10-CM prefix, or text.

Codes win over displays: a coding matches by system and code only. Text (``code.text``,
``bodySite.text``) matches the value sets' synonyms as whole words, unless one of the value
set's exclusion phrases occurs, and is read as negated when a negation cue stands close before
or after the term ("denies saddle numbness", "saddle anaesthesia: absent").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EXTENSION_BASE = "https://posterior-thigh-cds.example.org/fhir/StructureDefinition/"
TEXT_SYNONYM = EXTENSION_BASE + "text-synonym"
TEXT_EXCLUSION = EXTENSION_BASE + "text-exclusion"

CACHE_SIZE = 50_000
PREFIX_INDEX = 3  # every is-a prefix is at least an ICD-10-CM category (3 characters); checked at load
_NEGATION_BEFORE = re.compile(
    r"\b(no|not|denies|denied|deny|without|negative for|absence of|absent|free of|nil|never|ruled out)\b"
    r"(?:\s+\w+){0,4}\s*$"
)
_NEGATION_AFTER = re.compile(r"^\s*(?:is\s+|was\s+|are\s+)?(absent|negative|denied|not present|ruled out|excluded)\b")
# look like negations but are not ("no improvement in urinary retention" still reports retention)
_PSEUDO_NEGATION = re.compile(r"\b(?:no|not|without)\s+(?:improvement|improving|improved|change|better|worse|only|"
                              r"increase|decrease|relief|resolution|significant change)\b")
_CLAUSE_BREAK = re.compile(r"[.;]|\bbut\b|\bhowever\b")


def normalize_text(text: str) -> str:
    """Lower-case and reduce punctuation to single spaces, keeping clause breaks (. ;)."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w.;/']+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# Words that never change which concept a text names; dropped before matching so that
# "pain in back of left thigh" matches the synonym "back of thigh".
_NEUTRAL_WORDS = re.compile(r"\b(?:left|right|bilateral|bilaterally|both|the|a|an)\b ?")


def match_form(text: str) -> str:
    """Return the form in which texts and synonyms are compared."""
    return re.sub(r"\s+", " ", _NEUTRAL_WORDS.sub("", normalize_text(text))).strip()


def normalize_code(system: str, code: str) -> str:
    """Return the comparable form of a code: ICD-10-CM upper-case with its dot after 3 characters."""
    code = code.strip()
    if system == ICD10CM:
        bare = code.upper().replace(".", "")
        return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"
    return code


@dataclass(frozen=True)
class TextMatch:
    """Concepts a text names, split into affirmed and negated mentions."""

    affirmed: frozenset[str] = frozenset()
    negated: frozenset[str] = frozenset()


@dataclass
class Terminology:
    """Compiled membership of every value set, keyed by value-set id."""

    exact: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # system -> first three characters -> (prefix, value set): an ICD-10-CM family is found in O(1)
    prefixes: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)
    synonyms: list[tuple[str, re.Pattern[str], re.Pattern[str] | None]] = field(default_factory=list)
    any_synonym: re.Pattern[str] | None = None
    _screen_cache: dict[Any, bool] = field(default_factory=dict)
    _text_cache: dict[str, TextMatch] = field(default_factory=dict)

    @classmethod
    def compile(cls, value_sets: Mapping[str, Mapping[str, Any]]) -> "Terminology":
        """Compile FHIR ValueSet resources (already schema-checked) keyed by id."""
        terminology = cls()
        every_term: set[str] = set()
        for vs_id, value_set in value_sets.items():
            for include in value_set.get("compose", {}).get("include", []):
                system = include["system"]
                for concept in include.get("concept", []):
                    key = (system, normalize_code(system, concept["code"]))
                    terminology.exact.setdefault(key, set()).add(vs_id)
                for rule in include.get("filter", []):
                    prefix = normalize_code(system, rule["value"])
                    by_start = terminology.prefixes.setdefault(system, {})
                    by_start.setdefault(prefix[:PREFIX_INDEX], []).append((prefix, vs_id))
            extensions = value_set.get("extension", [])
            terms = [match_form(e["valueString"]) for e in extensions if e["url"] == TEXT_SYNONYM]
            excluded = [match_form(e["valueString"]) for e in extensions if e["url"] == TEXT_EXCLUSION]
            terms = [t for t in terms if t]  # a synonym made only of neutral words ("left") names nothing
            every_term.update(terms)
            if terms:
                terminology.synonyms.append((vs_id, _whole_words(terms), _whole_words(excluded) if excluded else None))
        if every_term:
            terminology.any_synonym = _whole_words(every_term)
        return terminology

    def names_anything(self, text: str) -> bool:
        """Return True when ``text`` contains any synonym of any value set (one pass, for screening)."""
        answer = self._screen_cache.get(text)
        if answer is None:
            answer = _remember(self._screen_cache, text,
                               bool(self.any_synonym and self.any_synonym.search(match_form(text))))
        return answer

    def codes_anything(self, system: Any, code: Any) -> bool:
        """Return True when ``system|code`` belongs to any value set (for screening; tolerates junk)."""
        answer = self._screen_cache.get((system, code)) if system.__class__ is str and code.__class__ is str else False
        if answer is None:
            answer = _remember(self._screen_cache, (system, code), bool(self.concepts_for_coding(system, code)))
        return answer

    def concepts_for_coding(self, system: str | None, code: str | None) -> frozenset[str]:
        """Return the ids of every value set containing ``system|code``."""
        if not system or not code:
            return frozenset()
        normalized = normalize_code(system, code)
        found = set(self.exact.get((system, normalized), ()))
        for prefix, vs_id in self.prefixes.get(system, {}).get(normalized[:PREFIX_INDEX], ()):
            if normalized.startswith(prefix):
                found.add(vs_id)
        return frozenset(found)

    def concepts_for_codings(self, codings: Iterable[tuple[str | None, str | None]]) -> frozenset[str]:
        """Return the union of concepts of several (system, code) pairs."""
        found: set[str] = set()
        for system, code in codings:
            found |= self.concepts_for_coding(system, code)
        return frozenset(found)

    def concepts_for_text(self, text: str | None) -> TextMatch:
        """Return the concepts ``text`` names, affirmed or negated (memoized: charts repeat their texts)."""
        if not text:
            return TextMatch()
        cached = self._text_cache.get(text)
        if cached is None:
            cached = _remember(self._text_cache, text, self._match_text(match_form(text)))
        return cached

    def _match_text(self, normalized: str) -> TextMatch:
        if not (self.any_synonym and self.any_synonym.search(normalized)):
            return TextMatch()
        affirmed: set[str] = set()
        negated: set[str] = set()
        for vs_id, pattern, exclusions in self.synonyms:
            if exclusions is not None and exclusions.search(normalized):
                continue
            for match in pattern.finditer(normalized):
                (negated if _is_negated(normalized, match.start(), match.end()) else affirmed).add(vs_id)
        return TextMatch(frozenset(affirmed), frozenset(negated - affirmed))


def _remember(cache: dict[Any, Any], key: Any, answer: Any) -> Any:
    """Memoize an answer; charts repeat the same codes and texts (bounded: the cache is cleared when full)."""
    if len(cache) > CACHE_SIZE:
        cache.clear()
    cache[key] = answer
    return answer


def _whole_words(phrases: Iterable[str]) -> re.Pattern[str]:
    """Compile phrases into one pattern matching any of them as whole words (longest first)."""
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])")


def _is_negated(text: str, start: int, end: int) -> bool:
    before = _CLAUSE_BREAK.split(text[:start])[-1]
    after = _CLAUSE_BREAK.split(text[end:])[0]
    negated_before = _NEGATION_BEFORE.search(before)
    if negated_before and _PSEUDO_NEGATION.search(before[negated_before.start():]):
        negated_before = None
    return bool(negated_before or _NEGATION_AFTER.search(after))
