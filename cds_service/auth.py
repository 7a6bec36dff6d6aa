"""Trusting CDS Clients (CDS Hooks 2.0 'Trusting CDS Clients'): verify the EHR's signed JWT.

Each trusted issuer (CDS_TRUSTED_ISSUERS) names its keys (inline ``jwks``, a ``jwks_file``, a
``jwks_url``, or JWKS URLs it may point to with the token's ``jku`` header, ``allowed_jku``), its
algorithms (default ES384 and RS384; ``none`` and HS* are never accepted), and the FHIR servers it
may ask us to read (``fhir_servers``). A token must be signed by one of those keys, name this
endpoint as ``aud``, carry ``iss``, ``exp``, ``iat`` and a ``jti`` not seen before (kept in the
shared database until the token expires, so replays are refused across workers and replicas).
Failures raise Unauthorized (401) with a sentence saying what was wrong, never echoing the token.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jwt
import requests
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database import Database
from .errors import CdsError, SettingsError
from .validation import first_error, validator_for

DEFAULT_ALGORITHMS = ("ES384", "RS384")
JWKS_TTL_SECONDS = 300
JWKS_TIMEOUT = (1.0, 2.0)


class Unauthorized(CdsError):
    """A refused call; ``reason`` is a short code for metrics (the description is for people)."""

    code = 401
    title = "Unauthorized"

    def __init__(self, description: str, reason: str) -> None:
        super().__init__(description)
        self.reason = reason


@dataclass(frozen=True)
class Issuer:
    """One trusted CDS Client."""

    iss: str
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    jwks: Mapping[str, Any] | None = None
    jwks_url: str | None = None
    allowed_jku: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Caller:
    """Who called: the verified issuer (None when unauthenticated calls are allowed on loopback)."""

    issuer: Issuer | None = None

    def allowed_fhir_servers(self, unauthenticated_default: tuple[str, ...]) -> tuple[str, ...] | None:
        """Return the fhirServer allow-list for this caller (empty tuple: none allowed; None: any)."""
        if self.issuer is None:
            return unauthenticated_default or None
        return self.issuer.fhir_servers


def load_trusted_issuers(path: Path) -> dict[str, Issuer]:
    """Read CDS_TRUSTED_ISSUERS; raise SettingsError naming the variable and what is wrong."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: {path} cannot be read as JSON ({error}).") from None
    problem = first_error(validator_for("trusted-issuers"), content)
    if problem:
        raise SettingsError(f"CDS_TRUSTED_ISSUERS: {path}: {problem}")
    issuers = {}
    for entry in content["issuers"]:
        jwks = entry.get("jwks")
        if "jwks_file" in entry:
            jwks_path = (path.parent / entry["jwks_file"]).resolve()
            try:
                jwks = json.loads(jwks_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise SettingsError(f"CDS_TRUSTED_ISSUERS: jwks_file {jwks_path} cannot be read ({error}).") from None
        issuers[entry["iss"]] = Issuer(
            iss=entry["iss"], algorithms=tuple(entry.get("algorithms", DEFAULT_ALGORITHMS)), jwks=jwks,
            jwks_url=entry.get("jwks_url"), allowed_jku=tuple(entry.get("allowed_jku", ())),
            fhir_servers=tuple(entry.get("fhir_servers", ())))
    return issuers


@dataclass
class JwksCache:
    """JWKS documents by URL, fetched with timeouts, kept for a while, refreshed at most once a second."""

    ttl: float = JWKS_TTL_SECONDS
    min_refresh_interval: float = 1.0
    _documents: dict[str, tuple[float, Mapping[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, url: str, refresh: bool = False) -> Mapping[str, Any]:
        """Return the JWKS at ``url`` (cached unless ``refresh``); raise Unauthorized if it cannot be had."""
        with self._lock:
            cached = self._documents.get(url)
        now = time.monotonic()
        if cached and (now - cached[0] < self.ttl) and not (refresh and now - cached[0] > self.min_refresh_interval):
            return cached[1]
        try:
            response = requests.get(url, timeout=JWKS_TIMEOUT, allow_redirects=False,
                                    headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
            if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
                raise ValueError("not a JWK Set")
        except (requests.RequestException, ValueError):
            if cached:
                return cached[1]
            raise Unauthorized("the issuer's JWK Set could not be fetched; the signature cannot be checked.", "jwks-unavailable") from None
        with self._lock:
            self._documents[url] = (now, document)
        return document


class ReplayGuard:
    """Remember (issuer, jti) until the token expires, in the shared database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the token id; return False when it was already used."""
        try:
            with self.database.transaction() as connection:
                connection.execute(text("DELETE FROM seen_jwt WHERE expires_at < :now"), {"now": int(time.time())})
                inserted = connection.execute(text(
                    "INSERT INTO seen_jwt (issuer, jti, expires_at) VALUES (:issuer, :jti, :expires_at)"
                    " ON CONFLICT (issuer, jti) DO NOTHING"),
                    {"issuer": issuer[:500], "jti": jti[:500], "expires_at": int(expires_at) + 1}).rowcount
        except SQLAlchemyError:
            raise Unauthorized("the token could not be checked for replay (database unavailable).",
                               "replay-check-failed") from None
        return inserted == 1


class Authenticator:
    """Verify a CDS Client's bearer JWT for one endpoint URL."""

    def __init__(self, issuers: Mapping[str, Issuer], leeway: float, replay: ReplayGuard,
                 jwks_cache: JwksCache | None = None) -> None:
        self.issuers = issuers
        self.leeway = leeway
        self.replay = replay
        self.jwks = jwks_cache or JwksCache()

    def verify(self, authorization: str | None, audience: str) -> Caller:
        """Return the Caller for a valid token; raise Unauthorized saying what is wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <JWT>' signed by a trusted issuer.", "missing-token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a well-formed JWT.", "malformed") from None
        algorithm = str(header.get("alg", ""))
        if algorithm.lower() == "none" or algorithm.upper().startswith("HS"):
            raise Unauthorized(f"algorithm {algorithm!r} is never accepted; sign with ES384 or RS384.", "algorithm")
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise Unauthorized("unknown issuer: the token's iss is not a trusted CDS Client.", "unknown-issuer")
        if algorithm not in issuer.algorithms:
            raise Unauthorized(f"algorithm {algorithm!r} is not accepted for this issuer "
                               f"(accepted: {', '.join(issuer.algorithms)}).", "algorithm")
        key = self._signing_key(issuer, header, algorithm)
        try:
            claims = jwt.decode(token, key=key, algorithms=[algorithm], audience=audience, issuer=issuer.iss,
                                leeway=self.leeway, options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired.", "expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet (nbf or iat is in the future).", "not-yet-valid") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"wrong audience: aud must be {audience!r}.", "audience") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthorized(f"the token lacks the required claim {error.claim!r}.", "missing-claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("bad signature: the token was not signed by the issuer's key.", "signature") from None
        except jwt.PyJWTError as error:
            raise Unauthorized(f"the token is invalid ({type(error).__name__}).", "invalid") from None
        if isinstance(claims["aud"], list) and len(claims["aud"]) != 1:
            raise Unauthorized(f"wrong audience: aud must be {audience!r} alone.", "audience")
        if not self.replay.first_use(issuer.iss, str(claims["jti"]), float(claims["exp"]) + self.leeway):
            raise Unauthorized("token replayed: this jti was already used.", "replay")
        return Caller(issuer)

    def _signing_key(self, issuer: Issuer, header: Mapping[str, Any], algorithm: str) -> Any:
        """Return the issuer's public key for the token, following ``jku`` only if allow-listed."""
        jku = header.get("jku")
        if jku is not None and jku not in issuer.allowed_jku:
            raise Unauthorized("the token's jku is not an allowed JWK Set URL for this issuer.", "jku-not-allowed")
        url = jku or issuer.jwks_url
        kid = header.get("kid")
        for attempt in range(2):
            document = issuer.jwks if url is None else self.jwks.get(url, refresh=attempt == 1)
            key = _find_key(document or {}, kid, algorithm)
            if key is not None or url is None:
                break
        if key is None:
            raise Unauthorized(f"no key {'with kid ' + repr(kid) + ' ' if kid else ''}for {algorithm} "
                               "in the issuer's JWK Set.", "unknown-key")
        return key


def _find_key(document: Mapping[str, Any], kid: str | None, algorithm: str) -> Any:
    for entry in document.get("keys", []):
        if kid is not None and entry.get("kid") != kid:
            continue
        if entry.get("alg") not in (None, algorithm):
            continue
        try:
            jwk = jwt.PyJWK(entry, algorithm=algorithm)
        except jwt.PyJWTError:
            continue  # a key of another type (e.g. an EC key for RS384) cannot verify this token
        return jwk.key
    return None
