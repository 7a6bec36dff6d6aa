"""The clinical knowledge is checked at start-up: each kind of mistake stops it, naming file and field."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from cds_service import create_app
from cds_service.errors import KnowledgeError
from cds_service.knowledge import load_knowledge
from cds_service.settings import default_knowledge_dir


def edit(path: Path, change: Callable[[Any], None]) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def test_bundled_knowledge_loads():
    """The bundled cards/ has all seven topics and value sets for every concept they name."""
    knowledge = load_knowledge(default_knowledge_dir())
    assert [t["topic"] for t in knowledge.topics][:2] == ["cauda-equina-urgent", "red-flag-serious"]
    assert len(knowledge.value_sets) >= 50


def test_every_summary_fits_a_card():
    """Every card summary is under 140 characters and never states a diagnosis as fact."""
    for topic in load_knowledge(default_knowledge_dir()).topics:
        assert len(topic["summary"]) < 140
        assert any(word in topic["summary"].lower() for word in ("possible", "likely", "red flag", "consider",
                                                                 "review"))


def test_malignancy_value_set_has_no_benign_codes():
    """Malignancy uses C00-C96 and Z85 prefixes only (D codes are benign / in situ)."""
    malignancy = load_knowledge(default_knowledge_dir()).value_sets["malignancy"]
    prefixes = [f["value"] for inc in malignancy["compose"]["include"] for f in inc.get("filter", [])]
    assert prefixes and all(p.startswith(("C", "Z85")) for p in prefixes)


@pytest.mark.parametrize(("file", "change", "message"), [
    ("topics/doms.json", lambda t: t.update(summary="x" * 150), "summary"),
    ("topics/doms.json", lambda t: t.pop("rules"), "rules"),
    ("topics/doms.json", lambda t: t.update(indicator="urgent"), "indicator"),
    ("topics/doms.json", lambda t: t["rules"][0].update(when={"finding": {"concept": "no-such-concept"}}),
     "no value set 'no-such-concept'"),
    ("topics/doms.json", lambda t: t["rules"][0].update(when={"use": "undefined-thing"}), "undefined-thing"),
    ("topics/doms.json", lambda t: t["rules"][0].update(cites=["NOPE"]), "NOPE"),
    ("topics/doms.json", lambda t: t["rules"][0].update(when={"finding": {"concept": "doms", "within": 7}}),
     "rules.0.when"),
    ("topics/doms.json", lambda t: t.update(topic="hamstring-strain"), "must equal the file name"),
    ("topics/persistent-pain-review.json",
     lambda t: t["definitions"].update(loop={"description": "refers to itself", "when": {"use": "loop"}}),
     "refers to itself"),
    ("valuesets/sciatica.json", lambda v: v.update(resourceType="CodeSystem"), "resourceType"),
    ("valuesets/sciatica.json", lambda v: v["compose"]["include"][0].update(system="http://example.org/icd"),
     "compose.include.0.system"),
    ("valuesets/sciatica.json", lambda v: v.update(id="other-id"), "must equal the file name"),
    ("laterality.json", lambda l: l["icd-10-cm"][0].update(values={"1": "up"}), "icd-10-cm.0.values.1"),
    ("definitions.json", lambda d: d["definitions"]["pain-context"].pop("description"), "pain-context"),
])
def test_bad_knowledge_file_stops_start_up(knowledge_copy, app_config, file, change, message):
    """A mistake in a knowledge file stops start-up with a message naming the file and the field."""
    edit(knowledge_copy / file, change)
    with pytest.raises(KnowledgeError, match=str(Path(file).name).replace(".", r"\.")) as raised:
        create_app({**app_config, "CDS_KNOWLEDGE_DIR": str(knowledge_copy)})
    assert message in str(raised.value)


def test_invalid_json_is_reported_with_its_position(knowledge_copy):
    """A knowledge file that is not JSON is reported with file, line and column."""
    (knowledge_copy / "topics" / "doms.json").write_text('{"topic": ')
    with pytest.raises(KnowledgeError, match=r"doms\.json: is not valid JSON \(line 1"):
        load_knowledge(knowledge_copy)


def test_missing_topic_file_stops_start_up(knowledge_copy):
    """Every topic of the DESIGN.md contract must be defined."""
    (knowledge_copy / "topics" / "doms.json").unlink()
    with pytest.raises(KnowledgeError, match="card topics missing: doms"):
        load_knowledge(knowledge_copy)


def test_missing_knowledge_directory_names_the_setting(tmp_path):
    """A knowledge directory that does not exist is reported with the setting that names it."""
    with pytest.raises(KnowledgeError, match="CDS_KNOWLEDGE_DIR"):
        load_knowledge(tmp_path / "nowhere")
