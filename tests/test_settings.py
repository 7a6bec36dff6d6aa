"""Settings: embedded defaults, CDS_* variables, and a sentence naming the variable when invalid."""
from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.errors import SettingsError
from cds_service.settings import load_settings


def test_defaults_need_no_configuration(tmp_path, monkeypatch):
    """With no CDS_* variables the service uses SQLite in the data directory and the bundled knowledge."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings(environ={})
    assert settings.data_dir == tmp_path / "cds-service"
    assert settings.sqlite_path == tmp_path / "cds-service" / "feedback.sqlite3"
    assert (settings.knowledge_dir / "topics").is_dir()
    assert settings.cors_origins == ("*",)


def test_environment_overrides_defaults(tmp_path):
    """CDS_* variables set the corresponding settings."""
    settings = load_settings(environ={"CDS_DATA_DIR": str(tmp_path), "CDS_MAX_BODY_BYTES": "1234",
                                      "CDS_CORS_ORIGINS": "https://a.example, https://b.example"})
    assert settings.data_dir == Path(tmp_path)
    assert settings.max_body_bytes == 1234
    assert settings.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(("variable", "value"), [
    ("CDS_MAX_BODY_BYTES", "big"), ("CDS_MAX_BODY_BYTES", "0"), ("CDS_CORS_ORIGINS", "ftp://x"),
    ("CDS_CORS_ORIGINS", " , "), ("CDS_LOG_LEVEL", "LOUD"), ("CDS_DATABASE_URL", "mysql://db/x"),
    ("CDS_TOPIC_SYSTEM", "not a url"), ("CDS_DATA_DIR", " "), ("CDS_KNOWLEDGE_DIR", ""),
])
def test_invalid_value_names_the_variable(variable, value):
    """An invalid value raises SettingsError with a sentence naming the variable."""
    with pytest.raises(SettingsError, match=variable):
        load_settings(environ={variable: value})
