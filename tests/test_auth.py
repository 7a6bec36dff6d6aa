"""Trusting CDS Clients: real ES384 / RS384 keys, a JWKS served on 127.0.0.1, and every rejection."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service import create_app
from cds_service.cli import main
from cds_service.errors import SettingsError
from cds_service.settings import check_exposure, load_settings

from conformance import assert_conformant
from conftest import FIXED_NOW, PATIENT_VIEW, hook_request
from servers import free_port

SANDBOX = "https://sandbox.cds-hooks.org"
EPIC = "https://fhir.epic.example/interconnect-fhir-oauth"
INLINE = "https://ehr.inline.example"
AUDIENCE = f"http://localhost/cds-services/{PATIENT_VIEW}"


def jwk(private_key, kid: str, alg: str) -> dict:
    public = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    return {**json.loads(public.to_jwk(private_key.public_key())), "kid": kid, "alg": alg, "use": "sig"}


class JwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), JwksHandler)
        self.documents: dict[str, dict] = {}
        self.hits: list[str] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class JwksHandler(BaseHTTPRequestHandler):
    server: JwksServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        self.server.hits.append(name)
        body = json.dumps(self.server.documents.get(name, {"keys": []})).encode()
        self.send_response(200 if name in self.server.documents else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def keys():
    return {"es": ec.generate_private_key(ec.SECP384R1()), "rs": rsa.generate_private_key(65537, 2048),
            "other-es": ec.generate_private_key(ec.SECP384R1()), "rotated-es": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="module")
def jwks_server(keys):
    server = JwksServer()
    server.documents["sandbox.json"] = {"keys": [jwk(keys["es"], "sandbox-1", "ES384")]}
    server.documents["epic.json"] = {"keys": [jwk(keys["rs"], "epic-1", "RS384")]}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def issuers_file(tmp_path, keys, jwks_server):
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [
        {"iss": SANDBOX, "allowed_jku": [jwks_server.url("sandbox.json")], "fhir_servers": ["https://ehr.example.org/fhir"]},
        {"iss": EPIC, "allowed_jku": [jwks_server.url("epic.json")], "algorithms": ["RS384"]},
        {"iss": INLINE, "jwks": {"keys": [jwk(keys["es"], "inline-1", "ES384")]}},
    ]}))
    return path


@pytest.fixture
def secure_config(tmp_path, issuers_file):
    return {"CDS_DATA_DIR": str(tmp_path / "data"), "CDS_TRUSTED_ISSUERS": str(issuers_file),
            "clock": lambda: FIXED_NOW}


@pytest.fixture
def client(secure_config):
    return create_app(secure_config).test_client()


def sandbox_token(keys, jwks_server, **claims) -> str:
    """A token shaped like the CDS Hooks Sandbox's: ES384, jku and kid headers, no sub, iat slightly ahead."""
    now = time.time()
    payload = {"iss": SANDBOX, "aud": AUDIENCE, "exp": int(now + 300), "iat": now + 0.5, "jti": str(uuid.uuid4())}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, keys["es"], algorithm="ES384",
                      headers={"kid": "sandbox-1", "jku": jwks_server.url("sandbox.json"), "typ": "JWT"})


def epic_token(keys, jwks_server, **claims) -> str:
    """A token shaped like Epic's: RS384, jku, a sub, nbf five minutes early, extra claims."""
    now = int(time.time())
    payload = {"iss": EPIC, "sub": "epic-client-id", "aud": [AUDIENCE], "exp": now + 300, "nbf": now - 300,
               "iat": now, "jti": str(uuid.uuid4()), "tenant": "hospital-1"}
    payload.update(claims)
    return jwt.encode(payload, keys["rs"], algorithm="RS384", headers={"kid": "epic-1",
                                                                       "jku": jwks_server.url("epic.json")})


def post(client, token: str | None, body=None, path: str = f"/cds-services/{PATIENT_VIEW}"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(path, json=body or hook_request(), headers=headers)
    if response.status_code == 200:
        assert_conformant(response.get_json())
    return response


def test_sandbox_shaped_token_is_accepted(client, keys, jwks_server):
    """ES384 with jku, no sub and iat half a second ahead: accepted."""
    assert post(client, sandbox_token(keys, jwks_server)).status_code == 200


def test_epic_shaped_token_is_accepted(client, keys, jwks_server):
    """RS384 with jku, sub, an early nbf, a one-element aud list and extra claims: accepted."""
    assert post(client, epic_token(keys, jwks_server)).status_code == 200


def test_inline_jwks_issuer_is_accepted(client, keys):
    """An issuer whose keys are configured inline needs no jku."""
    token = jwt.encode({"iss": INLINE, "aud": AUDIENCE, "exp": int(time.time()) + 60, "iat": int(time.time()),
                        "jti": str(uuid.uuid4())}, keys["es"], algorithm="ES384", headers={"kid": "inline-1"})
    assert post(client, token).status_code == 200


def forged(keys, jwks_server):
    now = int(time.time())
    base = {"iss": SANDBOX, "aud": AUDIENCE, "exp": now + 60, "iat": now, "jti": str(uuid.uuid4())}
    public_pem = keys["es"].public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "missing": (None, "missing bearer token"),
        "not a jwt": ("abc.def", "not a well-formed JWT"),
        "expired": (sandbox_token(keys, jwks_server, exp=now - 120, iat=now - 400), "expired"),
        "future iat": (sandbox_token(keys, jwks_server, iat=now + 600), "not valid yet"),
        "future nbf": (sandbox_token(keys, jwks_server, nbf=now + 600), "not valid yet"),
        "wrong aud": (sandbox_token(keys, jwks_server, aud="https://other.example/cds-services/x"), "wrong audience"),
        "two auds": (sandbox_token(keys, jwks_server, aud=[AUDIENCE, "https://other.example"]), "wrong audience"),
        "no exp": (sandbox_token(keys, jwks_server, exp=None), "'exp'"),
        "no jti": (sandbox_token(keys, jwks_server, jti=None), "'jti'"),
        "unknown iss": (sandbox_token(keys, jwks_server, iss="https://evil.example"), "unknown issuer"),
        "bad signature": (jwt.encode(base, keys["other-es"], algorithm="ES384",
                                     headers={"kid": "sandbox-1", "jku": jwks_server.url("sandbox.json")}),
                          "bad signature"),
        "alg none": (jwt.encode(base, None, algorithm="none"), "never accepted"),
        "hs256 with public key": (_hs256_with_public_key(base, public_pem), "never accepted"),
        "alg not allowed for issuer": (jwt.encode({**base, "iss": EPIC}, keys["es"], algorithm="ES384",
                                                  headers={"jku": jwks_server.url("epic.json")}), "not accepted"),
        "jku not allowed": (jwt.encode(base, keys["es"], algorithm="ES384",
                                       headers={"kid": "sandbox-1", "jku": "http://127.0.0.1:9/evil.json"}),
                            "jku is not an allowed"),
        "unknown kid": (jwt.encode(base, keys["es"], algorithm="ES384",
                                   headers={"kid": "nope", "jku": jwks_server.url("sandbox.json")}), "no key"),
    }


def _hs256_with_public_key(payload: dict, public_pem: bytes) -> str:
    """Forge HS256 with the issuer's public key as the HMAC secret (the classic algorithm-confusion trick)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'sandbox-1'}).encode())}." \
                    f"{b64(json.dumps(payload).encode())}"
    return signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize("case", ["missing", "not a jwt", "expired", "future iat", "future nbf", "wrong aud",
                                  "two auds", "no exp", "no jti", "unknown iss", "bad signature", "alg none",
                                  "hs256 with public key", "alg not allowed for issuer", "jku not allowed",
                                  "unknown kid"])
def test_rejections_are_401_with_reason_and_no_token_echo(client, keys, jwks_server, case):
    """Each bad token is a 401 with WWW-Authenticate: Bearer and a message saying what was wrong."""
    token, reason = forged(keys, jwks_server)[case]
    jwks_server.hits.clear()
    response = post(client, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    message = response.get_json()["message"]
    assert reason in message
    assert token is None or token not in message
    assert "evil.json" not in jwks_server.hits and all("9/evil" not in h for h in jwks_server.hits)


def test_replayed_token_is_refused_across_app_instances(secure_config, keys, jwks_server):
    """A jti seen by one worker is refused by another sharing the database."""
    token = sandbox_token(keys, jwks_server)
    first, second = create_app(secure_config).test_client(), create_app(secure_config).test_client()
    assert post(first, token).status_code == 200
    replay = post(second, token)
    assert replay.status_code == 401 and "replayed" in replay.get_json()["message"]


def test_unknown_kid_refreshes_the_jwks_once(client, keys, jwks_server):
    """A key rotated in after the JWKS was cached is found by one refresh."""
    assert post(client, sandbox_token(keys, jwks_server)).status_code == 200
    jwks_server.documents["sandbox.json"]["keys"].append(jwk(keys["rotated-es"], "sandbox-2", "ES384"))
    time.sleep(1.1)  # refreshes are rate-limited to one a second per JWKS URL
    now = int(time.time())
    token = jwt.encode({"iss": SANDBOX, "aud": AUDIENCE, "exp": now + 60, "iat": now, "jti": str(uuid.uuid4())},
                       keys["rotated-es"], algorithm="ES384",
                       headers={"kid": "sandbox-2", "jku": jwks_server.url("sandbox.json")})
    try:
        assert post(client, token).status_code == 200
    finally:
        jwks_server.documents["sandbox.json"]["keys"].pop()


def test_feedback_requires_a_token_and_discovery_is_public_by_default(client, keys, jwks_server):
    """Feedback is protected; discovery stays public unless CDS_DISCOVERY_PUBLIC=false."""
    feedback = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T12:00:00Z"}]}
    path = f"/cds-services/{PATIENT_VIEW}/feedback"
    assert client.post(path, json=feedback).status_code == 401
    token = sandbox_token(keys, jwks_server, aud=f"http://localhost{path}")
    assert client.post(path, json=feedback, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/cds-services").status_code == 200


def test_protected_discovery(secure_config, keys, jwks_server):
    """With CDS_DISCOVERY_PUBLIC=false discovery needs a token whose aud is the discovery URL."""
    client = create_app({**secure_config, "CDS_DISCOVERY_PUBLIC": "false"}).test_client()
    assert client.get("/cds-services").status_code == 401
    token = sandbox_token(keys, jwks_server, aud="http://localhost/cds-services")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_public_base_url_sets_the_audience(secure_config, keys, jwks_server):
    """Behind a proxy, aud must be the public URL from CDS_PUBLIC_BASE_URL."""
    client = create_app({**secure_config, "CDS_PUBLIC_BASE_URL": "https://cds.hospital.example/"}).test_client()
    public = f"https://cds.hospital.example/cds-services/{PATIENT_VIEW}"
    assert post(client, sandbox_token(keys, jwks_server)).status_code == 401
    assert post(client, sandbox_token(keys, jwks_server, aud=public)).status_code == 200


def test_issuer_may_only_send_its_own_fhir_servers(client, keys, jwks_server):
    """A fhirServer outside the issuer's fhir_servers is never contacted: 412 as for missing data."""
    body = hook_request(fhirServer=f"http://127.0.0.1:{jwks_server.server_address[1]}/fhir")
    del body["prefetch"]
    jwks_server.hits.clear()
    response = post(client, sandbox_token(keys, jwks_server), body)
    assert response.status_code == 412
    assert not [h for h in jwks_server.hits if h.startswith("fhir")]


def test_issuer_without_fhir_servers_may_not_have_us_fetch(client, keys, jwks_server):
    """An issuer with no fhir_servers configured cannot make the service fetch anything."""
    body = hook_request(fhirServer="https://ehr.example.org/fhir")
    del body["prefetch"]
    assert post(client, epic_token(keys, jwks_server), body).status_code == 412


@pytest.mark.parametrize("content", [
    {"issuers": []},
    {"issuers": [{"iss": SANDBOX, "jwks_url": "https://x.example/jwks", "algorithms": ["HS256"]}]},
    {"issuers": [{"iss": SANDBOX}]},
    {"issuers": [{"iss": SANDBOX, "jwks_file": "missing.json"}]},
])
def test_bad_trusted_issuers_file_names_the_variable(tmp_path, content):
    """A bad trusted-issuers file stops start-up naming CDS_TRUSTED_ISSUERS."""
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SettingsError, match="CDS_TRUSTED_ISSUERS"):
        create_app({"CDS_DATA_DIR": str(tmp_path), "CDS_TRUSTED_ISSUERS": str(path)})


def test_unauthenticated_only_on_loopback(tmp_path, issuers_file):
    """Without issuers, binding beyond loopback is refused unless CDS_ALLOW_UNAUTHENTICATED=true."""
    open_settings = load_settings(environ={})
    check_exposure(open_settings, ["127.0.0.1", "localhost", "::1"])
    with pytest.raises(SettingsError, match="CDS_ALLOW_UNAUTHENTICATED"):
        check_exposure(open_settings, ["0.0.0.0"])
    check_exposure(load_settings(environ={"CDS_ALLOW_UNAUTHENTICATED": "true"}), ["0.0.0.0"])
    check_exposure(load_settings(environ={"CDS_TRUSTED_ISSUERS": str(issuers_file)}), ["0.0.0.0"])


def test_serve_refuses_public_bind_without_auth(capsys, monkeypatch):
    """`cds-service serve --host 0.0.0.0` without issuers exits 2 with the reason."""
    for variable in ("CDS_TRUSTED_ISSUERS", "CDS_ALLOW_UNAUTHENTICATED"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "without authentication" in capsys.readouterr().err
