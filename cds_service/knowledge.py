"""Load the clinical knowledge in cards/ once, check it, and compile it for evaluation.

    cards/valuesets/*.json   FHIR R4 ValueSets: codes, ICD-10-CM is-a prefixes, text synonyms
    cards/topics/*.json      one card topic each: rules (words + expression), card template
    cards/definitions.json   named expressions shared by topics
    cards/laterality.json    ICD-10-CM laterality characters

Every file is checked against its JSON Schema and cross-checked (every concept and definition a
rule names exists; no definition refers to itself). Any mistake raises KnowledgeError naming the
file and the field, and the service does not start.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .clinical.findings import LATERALITY_CONCEPTS, SYMPTOM_QUESTION, LateralityRule
from .clinical.screen import ResourceScreen, value_floors
from .errors import KnowledgeError
from .terminology import Terminology
from .validation import first_error, validator_for

TOPIC_ORDER = ("cauda-equina-urgent", "red-flag-serious", "lumbar-radiculopathy", "proximal-hamstring-tendinopathy",
               "hamstring-strain", "doms", "persistent-pain-review")
# concepts the findings module itself relies on
REQUIRED_CONCEPTS = frozenset({SYMPTOM_QUESTION, *LATERALITY_CONCEPTS})


@dataclass(frozen=True)
class Knowledge:
    """Everything the clinical core needs, checked and compiled."""

    topics: tuple[Mapping[str, Any], ...]
    value_sets: Mapping[str, Mapping[str, Any]]
    terminology: Terminology
    laterality_rules: tuple[LateralityRule, ...]
    directory: Path
    expressions: Mapping[str, Mapping[str, Mapping[str, Any]]]  # topic -> name -> expression it can use
    screen: ResourceScreen


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise KnowledgeError(f"{path}: cannot be read ({error}).") from None
    except json.JSONDecodeError as error:
        raise KnowledgeError(f"{path}: is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}).") from None


def _checked(path: Path, schema: str) -> Any:
    content = _read_json(path)
    problem = first_error(validator_for(schema), content)
    if problem:
        raise KnowledgeError(f"{path}: {problem}")
    return content


def load_knowledge(directory: Path) -> Knowledge:
    """Load, check and compile the knowledge in ``directory``; raise KnowledgeError on any mistake."""
    if not directory.is_dir():
        raise KnowledgeError(f"{directory}: the knowledge directory does not exist (CDS_KNOWLEDGE_DIR).")
    value_sets: dict[str, Mapping[str, Any]] = {}
    for path in sorted((directory / "valuesets").glob("*.json")):
        value_set = _checked(path, "valueset")
        if value_set["id"] != path.stem:
            raise KnowledgeError(f"{path}: id: {value_set['id']!r} must equal the file name {path.stem!r}.")
        value_sets[value_set["id"]] = value_set
    missing = sorted(REQUIRED_CONCEPTS - set(value_sets))
    if missing:
        raise KnowledgeError(f"{directory / 'valuesets'}: value sets missing: {', '.join(missing)}.")

    definitions = _checked(directory / "definitions.json", "definitions")["definitions"]
    laterality = _checked(directory / "laterality.json", "laterality")
    topics: dict[str, Mapping[str, Any]] = {}
    for path in sorted((directory / "topics").glob("*.json")):
        topic = _checked(path, "card-definition")
        if topic["topic"] != path.stem:
            raise KnowledgeError(f"{path}: topic: {topic['topic']!r} must equal the file name {path.stem!r}.")
        topics[topic["topic"]] = topic
    absent = [t for t in TOPIC_ORDER if t not in topics]
    if absent:
        raise KnowledgeError(f"{directory / 'topics'}: card topics missing: {', '.join(absent)}.")

    _cross_check(directory / "definitions.json", definitions, {}, value_sets)
    for name, topic in topics.items():
        _cross_check(directory / "topics" / f"{name}.json", topic.get("definitions", {}), topic, value_sets,
                     shared=definitions)
    terminology = Terminology.compile(value_sets)
    every_expression = [d["when"] for d in definitions.values()]
    for topic in topics.values():
        every_expression += [r["when"] for r in topic["rules"]]
        every_expression += [d["when"] for d in topic.get("definitions", {}).values()]
    return Knowledge(
        topics=tuple(topics[t] for t in TOPIC_ORDER),
        value_sets=value_sets,
        terminology=terminology,
        laterality_rules=tuple(LateralityRule(r["prefix"], r["position"], r["values"])
                               for r in laterality["icd-10-cm"]),
        directory=directory,
        expressions={name: {n: d["when"] for n, d in {**definitions, **topic.get("definitions", {})}.items()}
                     for name, topic in topics.items()},
        screen=ResourceScreen(terminology, value_floors(every_expression)),
    )


def _walk(expression: Mapping[str, Any], where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield where, expression
    for key in ("all", "any", "of"):
        for index, part in enumerate(expression.get(key, [])):
            yield from _walk(part, f"{where}.{key}[{index}]")
    if "not" in expression:
        yield from _walk(expression["not"], f"{where}.not")


def _ids(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _cross_check(path: Path, local: Mapping[str, Any], topic: Mapping[str, Any], value_sets: Mapping[str, Any],
                 shared: Mapping[str, Any] | None = None) -> None:
    """Check that every concept, site, definition and citation named in ``path`` exists, without cycles."""
    shared = shared or {}
    named = {**shared, **local}
    expressions = [(f"definitions.{n}.when", d["when"]) for n, d in local.items()]
    expressions += [(f"rules[{i}].when", r["when"]) for i, r in enumerate(topic.get("rules", []))]
    citation_keys = {c["key"] for c in topic.get("citations", [])}
    for index, rule in enumerate(topic.get("rules", [])):
        for key in rule["cites"]:
            if key not in citation_keys:
                raise KnowledgeError(f"{path}: rules[{index}].cites: {key!r} is not a key in citations.")
    for start, expression in expressions:
        for where, node in _walk(expression, start):
            if "use" in node and node["use"] not in named:
                raise KnowledgeError(f"{path}: {where}.use: no definition named {node['use']!r}.")
            clause = node.get("finding") or node.get("trend")
            if clause:
                for field in ("concept", "site", "site_excludes"):
                    for concept in _ids(clause.get(field)):
                        if concept not in value_sets:
                            raise KnowledgeError(f"{path}: {where}.{field}: no value set {concept!r} in valuesets/.")
    for name in local:
        _check_acyclic(path, name, named, ())


def _check_acyclic(path: Path, name: str, named: Mapping[str, Any], trail: tuple[str, ...]) -> None:
    if name in trail:
        raise KnowledgeError(f"{path}: definitions.{name}: refers to itself through {' -> '.join(trail + (name,))}.")
    definition = named.get(name)
    if definition is None:
        return
    for _, node in _walk(definition["when"], name):
        if "use" in node:
            _check_acyclic(path, node["use"], named, trail + (name,))
