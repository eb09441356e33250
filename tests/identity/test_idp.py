"""An external identity provider's JWKS, served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from identity.errors import AuthError
from identity.idp import RemoteJWKS
from identity.jwk import PrivateKey, algorithm_for, b64url, kid_for, public_jwk
from identity.keys import KeyRing
from identity.roles import Role
from identity.tokens import TokenVerifier, verify_token
from tests.identity.helpers import AUDIENCE, claims

IDP_ISSUER = "https://iam.xihu.example.gov.cn"


@dataclass
class FakeIdP:
    """What the test controls: which keys are published, and how the server behaves."""

    url: str = ""
    keys: list[PrivateKey] = field(default_factory=list)
    extra_entries: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    hits: int = 0

    def add_key(self, key: PrivateKey | None = None) -> PrivateKey:
        key = key or ec.generate_private_key(ec.SECP256R1())
        self.keys.append(key)
        return key

    def document(self) -> dict[str, Any]:
        entries = [
            {
                **public_jwk(k.public_key()),
                "kid": kid_for(k.public_key()),
                "alg": algorithm_for(k),
                "use": "sig",
            }
            for k in self.keys
        ]
        return {"keys": [*self.extra_entries, *entries]}

    def token(self, key: PrivateKey, **overrides: Any) -> str:
        payload = claims(**{"iss": IDP_ISSUER, "sub": "idp-user-17", **overrides})
        kid = kid_for(key.public_key())
        return jwt.encode(payload, key, algorithm=algorithm_for(key), headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    state = FakeIdP()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            if state.delay:
                time.sleep(state.delay)
            body = json.dumps(state.document()).encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out first, which is what the timeout test wants

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verify(token: str, source: RemoteJWKS) -> Any:
    return verify_token(token, issuer=IDP_ISSUER, audience=AUDIENCE, jwks=source)


def _code(token: str, source: RemoteJWKS) -> str:
    with pytest.raises(AuthError) as caught:
        _verify(token, source)
    return caught.value.code


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="ES256"),
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="EdDSA"),
    ],
)
def test_token_from_the_idp_is_accepted(idp: FakeIdP, make_key: Any) -> None:
    key = idp.add_key(make_key())
    principal = _verify(idp.token(key), RemoteJWKS(idp.url))
    assert principal.subject == "idp-user-17"
    assert principal.role is Role.GRID_WORKER
    assert principal.issuer == IDP_ISSUER


def test_kid_unknown_to_the_idp_is_refused_after_one_refetch(idp: FakeIdP) -> None:
    idp.add_key()
    source = RemoteJWKS(idp.url, refetch_cooldown=0)
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert _code(idp.token(stranger), source) == "unknown_kid"
    assert idp.hits == 2  # the initial fetch, then exactly one re-fetch for the unknown kid


def test_jwks_is_cached_within_its_ttl(idp: FakeIdP) -> None:
    key = idp.add_key()
    clock = FakeClock()
    source = RemoteJWKS(idp.url, ttl=60, clock=clock)
    for _ in range(5):
        _verify(idp.token(key), source)
    assert idp.hits == 1
    clock.now += 61
    _verify(idp.token(key), source)
    assert idp.hits == 2


def test_idp_rotation_is_picked_up_by_refetch_on_unknown_kid(idp: FakeIdP) -> None:
    old = idp.add_key()
    clock = FakeClock()
    source = RemoteJWKS(idp.url, ttl=3600, refetch_cooldown=10, clock=clock)
    _verify(idp.token(old), source)
    new = idp.add_key()

    clock.now += 11
    assert _verify(idp.token(new), source).subject == "idp-user-17"
    assert idp.hits == 2


def test_unknown_kids_cannot_hammer_the_idp(idp: FakeIdP) -> None:
    idp.add_key()
    clock = FakeClock()
    source = RemoteJWKS(idp.url, refetch_cooldown=30, clock=clock)
    strangers = [ec.generate_private_key(ec.SECP256R1()) for _ in range(5)]
    for stranger in strangers:
        assert _code(idp.token(stranger), source) == "unknown_kid"
    assert idp.hits == 1  # the first fetch was the attempt; the cooldown covers the rest


def test_idp_down_without_cache_is_a_distinct_refusal(idp: FakeIdP) -> None:
    key = idp.add_key()
    idp.status = 500
    assert _code(idp.token(key), RemoteJWKS(idp.url)) == "jwks_unavailable"


def test_idp_timeout_is_a_distinct_refusal(idp: FakeIdP) -> None:
    key = idp.add_key()
    idp.delay = 1.0
    started = time.monotonic()
    assert _code(idp.token(key), RemoteJWKS(idp.url, timeout=0.2)) == "jwks_unavailable"
    assert time.monotonic() - started < 1.0


def test_unreachable_idp_is_a_distinct_refusal() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    source = RemoteJWKS("http://127.0.0.1:9/jwks.json", timeout=1)
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(iss=IDP_ISSUER), key, algorithm="ES256", headers={"kid": "k" * 43})
    assert _code(token, source) == "jwks_unavailable"


def test_stale_keys_are_used_while_the_idp_is_down(idp: FakeIdP) -> None:
    key = idp.add_key()
    clock = FakeClock()
    source = RemoteJWKS(idp.url, ttl=60, clock=clock)
    _verify(idp.token(key), source)
    idp.status = 503
    clock.now += 120
    assert _verify(idp.token(key), source).subject == "idp-user-17"


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"keys": "nope"}', id="keys-not-a-list"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"keys": [' + b'{"kty":"oct"},' * 40000 + b"{}]}", id="oversized"),
    ],
)
def test_broken_jwks_documents_are_unavailable(document: bytes) -> None:
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=document))
    source = RemoteJWKS("https://iam.example/jwks", client=httpx.Client(transport=transport))
    with pytest.raises(AuthError) as caught:
        source.resolve("any")
    assert caught.value.code == "jwks_unavailable"


def test_unusable_entries_are_skipped_not_fatal(idp: FakeIdP) -> None:
    key = idp.add_key()
    idp.extra_entries = [
        {"kty": "oct", "kid": "hmac", "k": b64url(b"shared-secret")},
        {
            **public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()),
            "kid": "e",
            "use": "enc",
        },
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
        "not-a-dict",  # type: ignore[list-item]
    ]
    source = RemoteJWKS(idp.url, refetch_cooldown=0)
    assert _verify(idp.token(key), source).subject == "idp-user-17"
    for kid in ("hmac", "e", "p384", "short"):
        assert source.resolve(kid) is None


def test_private_members_published_by_mistake_are_ignored(idp: FakeIdP) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    d = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    idp.extra_entries = [
        {**public_jwk(key.public_key()), "kid": kid_for(key.public_key()), "d": d, "alg": "ES256"}
    ]
    source = RemoteJWKS(idp.url)
    resolved = source.resolve(kid_for(key.public_key()))
    assert resolved is not None
    assert isinstance(resolved.key, ec.EllipticCurvePublicKey)
    assert _verify(idp.token(key), source)


def test_idp_token_with_wrong_issuer_or_audience(idp: FakeIdP) -> None:
    key = idp.add_key()
    source = RemoteJWKS(idp.url)
    assert _code(idp.token(key, iss="https://other-idp.example"), source) == "bad_issuer"
    assert _code(idp.token(key, aud="another-service"), source) == "bad_audience"


def test_hub_and_idp_keys_stay_with_their_own_issuer(idp: FakeIdP, ring: KeyRing) -> None:
    key = idp.add_key()
    verifier = TokenVerifier(
        audience=AUDIENCE, trusted={"gridhub": ring, IDP_ISSUER: RemoteJWKS(idp.url)}
    )
    assert verifier.verify(idp.token(key)).issuer == IDP_ISSUER
    with pytest.raises(AuthError) as caught:
        verifier.verify(idp.token(key, iss="gridhub"))  # IdP key claiming to be the hub
    assert caught.value.code == "unknown_kid"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        pytest.param("https://iam.example.gov.cn/jwks.json", True, id="https"),
        pytest.param("http://127.0.0.1:8080/jwks", True, id="http-loopback-v4"),
        pytest.param("http://[::1]:8080/jwks", True, id="http-loopback-v6"),
        pytest.param("http://localhost/jwks", True, id="http-localhost"),
        pytest.param("http://iam.example.gov.cn/jwks.json", False, id="http-remote"),
        pytest.param("http://10.0.0.5/jwks", False, id="http-private-ip"),
        pytest.param("file:///etc/passwd", False, id="file-url"),
    ],
)
def test_jwks_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    if ok:
        RemoteJWKS(url)
    else:
        with pytest.raises(ValueError, match="https"):
            RemoteJWKS(url)
