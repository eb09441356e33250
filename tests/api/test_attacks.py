"""Attacks on the REST API: forged tokens, injection, oversized input. All refused, none leak.

Token refusals go to the security log and a metric (the exchange log only records callers
whose identity is established); refusals of authenticated callers are covered in
``test_persons.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Person
from identity import KeyRing
from tests.api.district import Seeded, Tokens, bearer
from tests.identity.helpers import b64, claims, forge, header_of, part, sign_with_ring


def _public_pem(ring: KeyRing) -> bytes:
    key = ring.resolve(ring.active().kid)
    assert key is not None
    return key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hs256_with_public_key(ring: KeyRing) -> str:
    header = part({"alg": "HS256", "typ": "JWT", "kid": ring.active().kid})
    body = part(claims())
    mac = hmac.new(_public_pem(ring), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(mac)}"


def _tampered_signature(ring: KeyRing) -> str:
    token = sign_with_ring(ring, claims())
    head, body, sig = token.split(".")
    flipped = ("A" if sig[10] != "A" else "B") + sig[11:]
    return f"{head}.{body}.{sig[:10]}{flipped}"


def _tampered_claims(ring: KeyRing) -> str:
    token = sign_with_ring(ring, claims())
    head, _, sig = token.split(".")
    return f"{head}.{part(claims(grids=['330106']))}.{sig}"


def _foreign_key(ring: KeyRing, tmp: Any) -> str:
    other = KeyRing(tmp / "elsewhere")
    return sign_with_ring(other, claims())


ATTACKS = [
    pytest.param(
        lambda r, t: forge({"alg": "none", "typ": "JWT", "kid": r.active().kid}, claims()),
        "alg_not_allowed",
        id="alg-none",
    ),
    pytest.param(lambda r, t: _hs256_with_public_key(r), "alg_not_allowed", id="hs256-public-key"),
    pytest.param(
        lambda r, t: sign_with_ring(r, claims(exp=claims()["iat"] - 600)),
        "token_expired",
        id="expired",
    ),
    pytest.param(
        lambda r, t: sign_with_ring(r, claims(nbf=claims()["iat"] + 3600)),
        "token_not_yet_valid",
        id="not-yet-valid",
    ),
    pytest.param(lambda r, t: sign_with_ring(r, claims(iss="evil")), "bad_issuer", id="issuer"),
    pytest.param(lambda r, t: sign_with_ring(r, claims(aud="other")), "bad_audience", id="aud"),
    pytest.param(
        lambda r, t: sign_with_ring(r, claims(), kid="k" * 43), "unknown_kid", id="unknown-kid"
    ),
    pytest.param(lambda r, t: _foreign_key(r, t), "unknown_kid", id="foreign-ring"),
    pytest.param(lambda r, t: _tampered_signature(r), "bad_signature", id="tampered-signature"),
    pytest.param(lambda r, t: _tampered_claims(r), "bad_signature", id="tampered-claims"),
    pytest.param(lambda r, t: "not.a.jwt", "malformed", id="garbage"),
]


def _refusals(code: str) -> float:
    value = REGISTRY.get_sample_value(
        "gridhub_auth_refusals_total", {"channel": "rest", "code": code}
    )
    return value or 0.0


@pytest.mark.parametrize(("make", "code"), ATTACKS)
def test_forged_tokens_are_refused_and_logged(
    client: TestClient,
    ring: KeyRing,
    seeded: Seeded,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    make: Any,
    code: str,
) -> None:
    token = make(ring, tmp_path)
    before = _refusals(code)
    with caplog.at_level(logging.WARNING, logger="gridhub.security"):
        r = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["code"] == code
    assert body["status"] == 401
    assert token not in r.text
    assert "worker-0427" not in r.text
    assert "张" not in r.text
    assert _refusals(code) == before + 1
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "gridhub.security"]
    assert any(f"code={code}" in m and "/api/v1/persons/{uid}" in m for m in messages)
    assert not any(token in m or "worker-0427" in m for m in messages)


@pytest.fixture
def ring(hub: Any) -> KeyRing:
    ring_: KeyRing = hub.ring
    ring_.signing_key()  # make the ring before forging against it
    return ring_


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
        pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"Authorization": "Bearer " + "a" * 20000}, id="huge-token"),
    ],
)
def test_missing_or_malformed_authorization(
    client: TestClient, seeded: Seeded, headers: dict[str, str]
) -> None:
    r = client.get(f"/api/v1/persons/{seeded.p1}", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] in {"missing_token", "malformed"}


def test_the_helpers_forge_what_they_claim(ring: KeyRing) -> None:
    assert header_of(_hs256_with_public_key(ring))["alg"] == "HS256"


INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE person; --",
    "张' OR '1'='1",
    "1' UNION SELECT resident_id FROM person --",
    "%",
    "_",
    "%%%%",
    "\\",
    "zhang%",
    '" OR ""="',
    "330106%",
]


@pytest.mark.parametrize("q", INJECTIONS)
def test_injection_strings_are_just_strings(
    client: TestClient,
    tokens: Tokens,
    seeded: Seeded,
    sessions: sessionmaker[Session],
    q: str,
) -> None:
    for by in ("auto", "name", "pinyin", "address", "phone", "resident_id"):
        r = client.get("/api/v1/persons", params={"q": q, "by": by}, headers=bearer(tokens.admin))
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            assert r.json()["items"] == [], by  # wildcards are escaped: nothing matches them
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 4


@pytest.mark.parametrize(
    ("q", "why"),
    [
        pytest.param("张" * 65, "too long", id="65-chars"),
        pytest.param("a" * 5000, "too long", id="5000-chars"),
        pytest.param("zhang\x00wei", "NUL", id="nul"),
        pytest.param("zhang\nwei", "control", id="newline"),
        pytest.param("   ", "blank", id="blank"),
    ],
)
def test_oversized_and_control_strings_are_422_without_echo(
    client: TestClient, tokens: Tokens, seeded: Seeded, q: str, why: str
) -> None:
    r = client.get("/api/v1/persons", params={"q": q}, headers=bearer(tokens.w1))
    assert r.status_code == 422, why
    assert r.headers["content-type"] == "application/problem+json"
    assert q.strip() not in r.text or not q.strip()


def test_oversized_bodies_are_413(client: TestClient, tokens: Tokens, seeded: Seeded) -> None:
    r = client.post(
        f"/api/v1/tasks/{seeded.task_g1}/transitions",
        content=b'{"action": "accept", "reason": "' + b"x" * 200_000 + b'"}',
        headers={**bearer(tokens.w1), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


def test_unknown_routes_and_methods_are_problems(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/api/v1/nothing-here", headers=bearer(tokens.w1))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    r = client.delete("/api/v1/persons", headers=bearer(tokens.w1))
    assert r.status_code == 405
    assert r.json()["status"] == 405
