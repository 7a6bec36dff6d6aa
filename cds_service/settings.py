"""Frozen settings: embedded defaults <- CDS_* environment variables <- a mapping (tests).

Every setting works on one machine without configuration. An invalid value raises
SettingsError with a sentence naming the variable, and start-up stops.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import SettingsError

DEFAULT_TOPIC_SYSTEM = "https://posterior-thigh-cds.example.org/fhir/CodeSystem/card-topic"


def default_data_dir() -> Path:
    """Return $XDG_DATA_HOME/cds-service, or ~/.local/share/cds-service."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "cds-service"


def default_knowledge_dir() -> Path:
    """Return the bundled cards/ directory (inside the wheel, or the source checkout)."""
    installed = Path(__file__).parent / "cards"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "cards"


@dataclass(frozen=True)
class Settings:
    """Validated configuration; see the README's configuration table."""

    data_dir: Path
    database_url: str
    knowledge_dir: Path
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: tuple[str, ...] = ("*",)
    topic_system: str = DEFAULT_TOPIC_SYSTEM
    log_level: str = "INFO"
    fhir_connect_timeout: float = 1.0
    fhir_read_timeout: float = 2.0
    fhir_deadline: float = 2.5
    fhir_max_pages: int = 50
    allowed_fhir_servers: tuple[str, ...] = ()
    trusted_issuers_file: Path | None = None
    public_base_url: str | None = None
    jwt_leeway: float = 60.0
    discovery_public: bool = True
    allow_unauthenticated: bool = False

    @property
    def sqlite_path(self) -> Path | None:
        """Return the SQLite file of database_url, or None for another database."""
        prefix = "sqlite:///"
        return Path(self.database_url[len(prefix):]) if self.database_url.startswith(prefix) else None


# variable name -> (field, parser)
def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}.") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}.")
    return value


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    if not origins:
        raise SettingsError(f"{name} must list at least one origin (or '*').")
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(f"{name} entries must be '*' or http(s) origins, got {origin!r}.")
    return origins


def _seconds(low: float, high: float, zero_allowed: bool = False) -> Callable[[str, str], float]:
    """Return a parser of a number of seconds in (low, high], or [low, high] when zero is allowed."""
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number of seconds, got {raw!r}.") from None
        if not (low <= value if zero_allowed else low < value) or value > high:
            raise SettingsError(f"{name} must be between {low:g} and {high:g} seconds, got {raw!r}.")
        return value
    return parse


def _urls(name: str, raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name} entries must be http(s) base URLs, got {url!r}.")
    return urls


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise SettingsError(f"{name} must be true or false, got {raw!r}.")
    return value in {"true", "1", "yes"}


def _existing_file(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"{name} must name an existing file, got {raw!r}.")
    return path


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"{name} must be one of DEBUG, INFO, WARNING, ERROR; got {raw!r}.")
    return level


def _database_url(name: str, raw: str) -> str:
    if not raw.startswith(("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SettingsError(f"{name} must be a sqlite:///path or postgresql://user@host:port/db URL, "
                            "got a URL with another scheme.")
    return raw


def _directory(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingsError(f"{name} must name a directory, got an empty value.")
    return Path(raw).expanduser()


def _url(name: str, raw: str) -> str:
    if not raw.startswith(("http://", "https://", "urn:")):
        raise SettingsError(f"{name} must be an absolute URL, got {raw!r}.")
    return raw


_VARIABLES: dict[str, tuple[str, Any]] = {
    "CDS_DATA_DIR": ("data_dir", _directory),
    "CDS_DATABASE_URL": ("database_url", _database_url),
    "CDS_KNOWLEDGE_DIR": ("knowledge_dir", _directory),
    "CDS_MAX_BODY_BYTES": ("max_body_bytes", _positive_int),
    "CDS_CORS_ORIGINS": ("cors_origins", _origins),
    "CDS_TOPIC_SYSTEM": ("topic_system", _url),
    "CDS_LOG_LEVEL": ("log_level", _log_level),
    "CDS_FHIR_CONNECT_TIMEOUT": ("fhir_connect_timeout", _seconds(0, 60)),
    "CDS_FHIR_READ_TIMEOUT": ("fhir_read_timeout", _seconds(0, 60)),
    "CDS_FHIR_DEADLINE": ("fhir_deadline", _seconds(0, 60)),
    "CDS_FHIR_MAX_PAGES": ("fhir_max_pages", _positive_int),
    "CDS_ALLOWED_FHIR_SERVERS": ("allowed_fhir_servers", _urls),
    "CDS_TRUSTED_ISSUERS": ("trusted_issuers_file", _existing_file),
    "CDS_PUBLIC_BASE_URL": ("public_base_url", lambda name, raw: _url(name, raw).rstrip("/")),
    "CDS_JWT_LEEWAY": ("jwt_leeway", _seconds(0, 600, zero_allowed=True)),
    "CDS_DISCOVERY_PUBLIC": ("discovery_public", _boolean),
    "CDS_ALLOW_UNAUTHENTICATED": ("allow_unauthenticated", _boolean),
}


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_exposure(settings: Settings, hosts: list[str]) -> None:
    """Refuse to serve unsigned calls on a non-loopback address unless CDS_ALLOW_UNAUTHENTICATED=true."""
    exposed = [h for h in hosts if h not in LOOPBACK_HOSTS and not h.startswith("127.") and not h.startswith("unix:")]
    if exposed and settings.trusted_issuers_file is None and not settings.allow_unauthenticated:
        raise SettingsError(
            f"refusing to listen on {', '.join(exposed)} without authentication: set CDS_TRUSTED_ISSUERS "
            "(see README 'Registering an EHR'), or CDS_ALLOW_UNAUTHENTICATED=true to accept unsigned calls.")


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, then ``environ`` (CDS_* strings), then ``overrides``.

    ``overrides`` uses either variable names (strings, parsed like the environment) or
    field names (already typed values).
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for variable, (field, parse) in _VARIABLES.items():
        if variable in environ:
            raw[field] = parse(variable, environ[variable])
    field_names = {f.name for f in fields(Settings)}
    for key, value in (overrides or {}).items():
        if key in _VARIABLES:
            field, parse = _VARIABLES[key]
            raw[field] = parse(key, value) if isinstance(value, str) else value
        elif key in field_names:
            raw[key] = value
    data_dir = Path(raw.pop("data_dir", default_data_dir()))
    database_url = raw.pop("database_url", f"sqlite:///{data_dir / 'feedback.sqlite3'}")
    knowledge_dir = Path(raw.pop("knowledge_dir", default_knowledge_dir()))
    return Settings(data_dir=data_dir, database_url=database_url, knowledge_dir=knowledge_dir, **raw)
