"""A non-editable install in a fresh virtualenv finds its clinical content and server settings."""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import requests

from cases import load_cases
from servers import ServerProcess, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Build a wheel of this checkout and install it (not editable) into a new virtualenv."""
    work = tmp_path_factory.mktemp("packaging")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "dist"),
                    str(ROOT)], check=True, cwd=work)
    wheel = next((work / "dist").glob("cds_service-*.whl"))
    venv.create(work / "venv", with_pip=True)
    subprocess.run([str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True, cwd=work)
    return work


def test_wheel_carries_the_knowledge(installed):
    """The installed package holds cards/ and its schemas, outside the source checkout."""
    python = installed / "venv" / "bin" / "python"
    code = ("import cds_service.settings as s, json; d = s.default_knowledge_dir(); "
            "print(json.dumps([str(d), (d / 'topics' / 'doms.json').is_file()]))")
    where, has_topics = json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                                  check=True, cwd=installed).stdout)
    assert str(installed / "venv") in where and has_topics


def test_installed_cli_evaluates_from_any_directory(installed, tmp_path):
    """`cds-service evaluate` from the installed package gives the expected cards."""
    case = next(c for c in load_cases() if c.expected["cards"])
    result = subprocess.run([str(installed / "venv" / "bin" / "cds-service"), "evaluate",
                             str(case.path / "request.json"), "--hook", case.request["hook"], "--json",
                             "--now", case.expected["now"].replace("Z", "+00:00")],
                            capture_output=True, text=True, cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    topics = [c["source"]["topic"]["code"] for c in json.loads(result.stdout)["cards"]]
    assert topics == [card["topic"] for card in case.expected["cards"]]


def test_installed_serve_runs_from_any_directory(installed, tmp_path):
    """`cds-service serve` from the installed package serves discovery with its bundled settings."""
    port = free_port()
    server = ServerProcess([str(installed / "venv" / "bin" / "cds-service"), "serve", "--port", str(port)], port,
                           tmp_path / "serve.log", cwd=tmp_path, env={"HOME": str(tmp_path)})
    try:
        response = requests.get(server.url + "/cds-services", timeout=5)
        assert response.status_code == 200 and len(response.json()["services"]) == 2
    finally:
        server.stop()
