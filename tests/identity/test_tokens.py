"""Issuing and verifying tokens: the round trip per algorithm, and every refusal by its code."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.errors import AuthError, UnknownPurpose
from identity.jwk import ALGORITHMS, Algorithm, b64url, kid_for, public_jwk
from identity.keys import KeyRing
from identity.principal import Principal
from identity.purposes import PurposeVocabulary
from identity.roles import Role
from identity.tokens import (
    MAX_TTL,
    REQUIRED_CLAIMS,
    TokenVerifier,
    issue_token,
    verify_token,
)
from tests.identity.conftest import RingFactory
from tests.identity.helpers import (
    AUDIENCE,
    GRID,
    ISSUER,
    SUBJECT,
    b64,
    claims,
    forge,
    future,
    header_of,
    part,
    past,
    sign_with_ring,
    unb64,
)


def _issue(ring: KeyRing, **overrides: object) -> str:
    kwargs: dict[str, object] = {
        "subject": SUBJECT,
        "role": "grid_worker",
        "grids": [GRID],
        "purposes": ["welfare_visit"],
        "issuer": ISSUER,
        "audience": AUDIENCE,
    }
    kwargs.update(overrides)
    return issue_token(ring, **kwargs)  # type: ignore[arg-type]


def _verify(token: str, ring: KeyRing) -> Principal:
    return verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=ring)


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [pytest.param(a, id=a) for a in ALGORITHMS])
def test_round_trip_per_algorithm(make_ring: RingFactory, alg: Algorithm) -> None:
    ring = make_ring(alg)
    token = _issue(ring, purposes=["welfare_visit", "hotline_case"], ttl=timedelta(minutes=30))

    principal = verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=ring)

    header = header_of(token)
    assert header["alg"] == alg
    assert header["kid"] == ring.active().kid
    assert principal.subject == SUBJECT
    assert principal.role is Role.GRID_WORKER
    assert principal.grids == frozenset({GRID})
    assert principal.purposes == frozenset({"welfare_visit", "hotline_case"})
    assert principal.issuer == ISSUER
    assert principal.token_id
    assert principal.expires_at is not None


def test_every_required_claim_is_issued(ring: KeyRing) -> None:
    payload = jwt.decode(_issue(ring), options={"verify_signature": False})
    assert set(REQUIRED_CLAIMS) <= payload.keys()
    assert payload["exp"] - payload["nbf"] == 8 * 3600


def test_each_token_has_its_own_jti(ring: KeyRing) -> None:
    assert _verify(_issue(ring), ring) != _verify(_issue(ring), ring)


# --- attacks and refusals -------------------------------------------------------------------


@dataclass
class Ctx:
    ring: KeyRing
    other: KeyRing  # a ring the verifier does not trust

    @property
    def kid(self) -> str:
        return self.ring.active().kid

    def good(self) -> str:
        return _issue(self.ring)


def _hs256_with_public_pem(c: Ctx) -> str:
    """The classic algorithm confusion: HMAC keyed with the verifier's public key PEM."""
    vkey = c.ring.resolve(c.kid)
    assert vkey is not None
    pem = vkey.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': c.kid})}.{part(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _tamper_payload(c: Ctx) -> str:
    head, _, sig = c.good().split(".")
    return f"{head}.{part(claims(role='district_it', grids=[]))}.{sig}"


def _tamper_signature(c: Ctx) -> str:
    head, body, sig = c.good().split(".")
    raw = bytearray(unb64(sig))
    raw[len(raw) // 2] ^= 0x01  # flip a real bit: editing the last base64 char may not
    return f"{head}.{body}.{b64(bytes(raw))}"


def _foreign_key_with_trusted_kid(c: Ctx) -> str:
    key = c.other.signing_key()
    return jwt.encode(claims(), key.key, algorithm=key.alg, headers={"kid": c.kid})


def _foreign_key(c: Ctx) -> str:
    return sign_with_ring(c.other, claims())


def _embedded_jwk_header(c: Ctx) -> str:
    """An attacker ships their own key in the header (CVE-2018-0114 style); it must be ignored."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(attacker.public_key())
    kid = kid_for(attacker.public_key())
    return jwt.encode(claims(), attacker, algorithm="ES256", headers={"kid": kid, "jwk": jwk})


def _jku_header(c: Ctx) -> str:
    key = c.other.signing_key()
    return jwt.encode(
        claims(),
        key.key,
        algorithm=key.alg,
        headers={"kid": key.kid, "jku": "https://attacker.example/jwks.json"},
    )


def _without(claim: str) -> Callable[[Ctx], str]:
    def build(c: Ctx) -> str:
        payload = claims()
        del payload[claim]
        return sign_with_ring(c.ring, payload)

    return build


def _signed(**overrides: object) -> Callable[[Ctx], str]:
    return lambda c: sign_with_ring(c.ring, claims(**overrides))


ATTACKS = [
    pytest.param(
        lambda c: forge({"alg": "none", "typ": "JWT", "kid": c.kid}, claims()),
        "alg_not_allowed",
        id="alg-none",
    ),
    pytest.param(
        lambda c: forge({"alg": "none", "kid": c.kid}, claims(), b"sig"),
        "alg_not_allowed",
        id="alg-none-with-signature",
    ),
    pytest.param(
        lambda c: forge({"alg": "NONE", "kid": c.kid}, claims()), "alg_not_allowed", id="alg-NONE"
    ),
    pytest.param(_hs256_with_public_pem, "alg_not_allowed", id="hs256-public-key-confusion"),
    pytest.param(
        lambda c: forge({"alg": "ES256K", "kid": c.kid}, claims(), b"x" * 64),
        "alg_not_allowed",
        id="alg-not-on-allow-list",
    ),
    pytest.param(
        lambda c: forge({"alg": "EdDSA", "kid": c.kid}, claims(), b"x" * 64),
        "alg_not_allowed",
        id="alg-does-not-match-key",
    ),
    pytest.param(
        lambda c: _issue(c.ring, now=past(10), ttl=timedelta(hours=1)),
        "token_expired",
        id="expired",
    ),
    pytest.param(
        lambda c: _issue(c.ring, not_before=future(1)), "token_not_yet_valid", id="not-yet-valid"
    ),
    pytest.param(
        lambda c: _issue(c.ring, now=future(1)), "token_not_yet_valid", id="issued-in-future"
    ),
    pytest.param(lambda c: _issue(c.ring, issuer="evil"), "bad_issuer", id="wrong-issuer"),
    pytest.param(_signed(iss=["gridhub"]), "bad_issuer", id="issuer-not-a-string"),
    pytest.param(lambda c: _issue(c.ring, audience="other"), "bad_audience", id="wrong-audience"),
    pytest.param(_foreign_key, "unknown_kid", id="unknown-kid"),
    pytest.param(_embedded_jwk_header, "unknown_kid", id="embedded-jwk-header-ignored"),
    pytest.param(_jku_header, "unknown_kid", id="jku-header-ignored"),
    pytest.param(_foreign_key_with_trusted_kid, "bad_signature", id="foreign-key-trusted-kid"),
    pytest.param(_tamper_payload, "bad_signature", id="tampered-payload"),
    pytest.param(_tamper_signature, "bad_signature", id="tampered-signature"),
    pytest.param(
        lambda c: c.good().rsplit(".", 1)[0] + ".", "bad_signature", id="signature-stripped"
    ),
    *[
        pytest.param(_without(claim), "missing_claim", id=f"missing-{claim}")
        for claim in REQUIRED_CLAIMS
    ],
    pytest.param(_signed(role="superuser"), "unknown_role", id="unknown-role"),
    pytest.param(_signed(role="Grid_Worker"), "unknown_role", id="role-wrong-case"),
    pytest.param(_signed(role=["grid_worker"]), "invalid_claim", id="role-not-a-string"),
    pytest.param(_signed(grids="330106001001001"), "invalid_claim", id="grids-not-a-list"),
    pytest.param(_signed(grids=["330106"]), "invalid_claim", id="grid-worker-given-district"),
    pytest.param(_signed(grids=["*"]), "invalid_claim", id="grid-worker-given-wildcard"),
    pytest.param(_signed(purposes=["Drop Table"]), "invalid_claim", id="purpose-not-a-name"),
    pytest.param(_signed(sub=""), "invalid_claim", id="empty-subject"),
    pytest.param(_signed(sub=42), "invalid_claim", id="subject-not-a-string"),
    pytest.param(_signed(exp="tomorrow"), "malformed", id="exp-not-a-number"),
    pytest.param(lambda c: "not-a-token", "malformed", id="garbage"),
    pytest.param(lambda c: "", "malformed", id="empty"),
    pytest.param(lambda c: "a.b.c", "malformed", id="bad-base64-json"),
    pytest.param(lambda c: "x" * 9000, "malformed", id="oversized"),
    pytest.param(lambda c: forge({"alg": "ES256"}, claims(), b"x" * 64), "malformed", id="no-kid"),
    pytest.param(
        lambda c: sign_with_ring(c.ring, claims(), crit=["exp-ext"], **{"exp-ext": 1}),
        "malformed",
        id="unknown-critical-header",
    ),
    pytest.param(
        lambda c: forge({"alg": "ES256", "kid": 7}, claims(), b"x" * 64),
        "malformed",
        id="kid-not-a-string",
    ),
]


@pytest.mark.parametrize(("build", "code"), ATTACKS)
def test_refusals(make_ring: RingFactory, build: Callable[[Ctx], str], code: str) -> None:
    ctx = Ctx(ring=make_ring("ES256"), other=make_ring("ES256"))
    token = build(ctx)

    with pytest.raises(AuthError) as caught:
        verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=ctx.ring)

    error = caught.value
    assert error.code == code
    # The refusal leaks nothing: no token parts, no subject, no chained library exception.
    text = f"{error} {error!r}"
    assert SUBJECT not in text
    for piece in token.split("."):
        if len(piece) >= 8:
            assert piece not in text
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None


def test_alg_header_must_match_the_key_it_names(make_ring: RingFactory) -> None:
    """An Ed25519 kid with an ES256 header must not be verified as ES256 (or at all)."""
    es_ring, ed_ring = make_ring("ES256"), make_ring("EdDSA")
    es_key = es_ring.signing_key()
    token = jwt.encode(
        claims(), es_key.key, algorithm="ES256", headers={"kid": ed_ring.active().kid}
    )
    with pytest.raises(AuthError) as caught:
        verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=es_ring, jwks=ed_ring)
    assert caught.value.code == "alg_not_allowed"


def test_algorithm_allow_list_can_be_narrowed(make_ring: RingFactory) -> None:
    ring = make_ring("EdDSA")
    with pytest.raises(AuthError) as caught:
        verify_token(
            _issue(ring), issuer=ISSUER, audience=AUDIENCE, ring=ring, algorithms=["ES256"]
        )
    assert caught.value.code == "alg_not_allowed"


@pytest.mark.parametrize(
    "algorithms",
    [
        pytest.param(["HS256"], id="hs256"),
        pytest.param(["ES256", "none"], id="none"),
        pytest.param(["PS256"], id="unsupported"),
    ],
)
def test_verifier_refuses_symmetric_or_unknown_algorithms(
    ring: KeyRing, algorithms: list[str]
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        TokenVerifier(audience=AUDIENCE, trusted={ISSUER: ring}, algorithms=algorithms)


def test_small_leeway_tolerates_clock_skew(ring: KeyRing) -> None:
    token = _issue(ring, not_before=future(10 / 3600))  # 10 s ahead, leeway is 30 s
    assert _verify(token, ring)


def test_keys_are_bound_to_their_issuer(make_ring: RingFactory) -> None:
    """A key trusted for issuer A cannot vouch for a token that claims issuer B."""
    hub, partner = make_ring("ES256"), make_ring("ES256")
    verifier = TokenVerifier(audience=AUDIENCE, trusted={ISSUER: hub, "partner": partner})
    forged = sign_with_ring(partner, claims(iss=ISSUER))
    with pytest.raises(AuthError) as caught:
        verifier.verify(forged)
    assert caught.value.code == "unknown_kid"
    assert verifier.verify(sign_with_ring(partner, claims(iss="partner"))).issuer == "partner"


def test_verifier_trusts_no_symmetric_secret_even_if_kid_matches(ring: KeyRing) -> None:
    """HS256 with the JWK thumbprint as secret: still refused before any key is used."""
    kid = ring.active().kid
    signing_input = f"{part({'alg': 'HS256', 'kid': kid})}.{part(claims())}"
    mac = hmac.new(kid.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError) as caught:
        _verify(f"{signing_input}.{b64url(mac)}", ring)
    assert caught.value.code == "alg_not_allowed"


# --- issuance refuses what verification would refuse ----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"role": "root"}, "unknown role", id="unknown-role"),
        pytest.param({"subject": ""}, "subject", id="empty-subject"),
        pytest.param({"grids": ["330106"]}, "grid level", id="worker-district-scope"),
        pytest.param({"grids": []}, "at least one", id="worker-no-scope"),
        pytest.param({"grids": ["3301"]}, "malformed", id="malformed-code"),
        pytest.param({"ttl": timedelta(0)}, "ttl", id="zero-ttl"),
        pytest.param({"ttl": MAX_TTL + timedelta(seconds=1)}, "ttl", id="ttl-too-long"),
        pytest.param({"now": past(1).replace(tzinfo=None)}, "naive", id="naive-time"),
        pytest.param({"issuer": ""}, "issuer", id="empty-issuer"),
    ],
)
def test_issue_refuses_bad_requests(
    ring: KeyRing, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _issue(ring, **overrides)


def test_issue_refuses_unknown_purpose(ring: KeyRing) -> None:
    with pytest.raises(UnknownPurpose):
        _issue(ring, purposes=["shopping"])


def test_issue_accepts_configured_extra_purpose(ring: KeyRing) -> None:
    vocabulary = PurposeVocabulary(extras=["flood_drill"])
    token = _issue(ring, purposes=["flood_drill"], vocabulary=vocabulary)
    assert _verify(token, ring).purposes == frozenset({"flood_drill"})
