"""Issuing and verifying the hub's bearer tokens (JWT, asymmetric signatures only).

Verification order matters and is fixed: size → header → ``alg`` on the allow-list → issuer is
trusted → ``kid`` known *to that issuer's key source* → key type matches ``alg`` → signature
→ time and audience claims → the hub's own claims. Binding each key source to one issuer means
an external IdP's key can never mint a token that claims to come from the hub (or vice versa),
and taking the algorithm from the key, never from the token, rules out algorithm confusion.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from identity.errors import (
    AlgNotAllowed,
    BadAudience,
    BadIssuer,
    BadSignature,
    InvalidClaim,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    UnknownRole,
)
from identity.jwk import ALGORITHMS
from identity.keys import KeyRing, KeySource, VerificationKey
from identity.principal import Principal
from identity.purposes import PurposeVocabulary, is_purpose_name
from identity.roles import Role, parse_role, validate_grids

DEFAULT_TTL = timedelta(hours=8)
"""One working shift: a lost token is worthless by the next morning."""
MAX_TTL = timedelta(days=30)
"""Service accounts get longer tokens, but never past the key ring's grace period."""
DEFAULT_LEEWAY = timedelta(seconds=30)
"""Clock skew tolerated between the issuer and the hub's hosts."""
MAX_TOKEN_CHARS = 8192
MAX_SUBJECT_CHARS = 256
REQUIRED_CLAIMS: tuple[str, ...] = (
    "sub",
    "role",
    "grids",
    "purposes",
    "exp",
    "nbf",
    "iat",
    "iss",
    "aud",
    "jti",
)


def issue_token(
    ring: KeyRing,
    *,
    subject: str,
    role: Role | str,
    issuer: str,
    audience: str,
    grids: Iterable[str] = (),
    purposes: Iterable[str] = (),
    ttl: timedelta = DEFAULT_TTL,
    not_before: datetime | None = None,
    now: datetime | None = None,
    vocabulary: PurposeVocabulary | None = None,
) -> str:
    """Sign a token with the ring's active key.

    The same checks as verification run here (role, grants, purposes), so the hub never issues
    a token it would itself refuse. ``ttl`` counts from ``not_before`` (default: now).
    Raises ``ValueError`` for a bad request and ``UnknownPurpose`` for a purpose not in the
    vocabulary.
    """
    checked_role = parse_role(role)
    if not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"subject must be 1..{MAX_SUBJECT_CHARS} characters")
    if not issuer or not audience:
        raise ValueError("issuer and audience must not be empty")
    granted = validate_grids(checked_role, grids)
    allowed = (vocabulary or PurposeVocabulary()).check_all(purposes)
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"ttl must be positive and at most {MAX_TTL.days} days")
    issued_at = now or datetime.now(UTC)
    starts = not_before or issued_at
    if issued_at.tzinfo is None or starts.tzinfo is None:
        raise ValueError("naive datetimes are refused; pass timezone-aware times")
    signing = ring.signing_key()
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": checked_role.value,
        "grids": sorted(granted),
        "purposes": sorted(allowed),
        "iat": int(issued_at.timestamp()),
        "nbf": int(starts.timestamp()),
        "exp": int((starts + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, signing.key, algorithm=signing.alg, headers={"kid": signing.kid})


class KeyChain:
    """Several key sources behind one issuer, asked in order (e.g. local ring, then IdP)."""

    def __init__(self, *sources: KeySource) -> None:
        self._sources = sources

    def resolve(self, kid: str) -> VerificationKey | None:
        for source in self._sources:
            found = source.resolve(kid)
            if found is not None:
                return found
        return None


class TokenVerifier:
    """Verifies tokens for one audience (this hub) from one or more trusted issuers."""

    def __init__(
        self,
        *,
        audience: str,
        trusted: Mapping[str, KeySource],
        algorithms: Collection[str] = ALGORITHMS,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        refused = set(algorithms) - set(ALGORITHMS)
        if refused:
            raise ValueError(f"only asymmetric algorithms are allowed: {', '.join(ALGORITHMS)}")
        if not audience or not trusted:
            raise ValueError("an audience and at least one trusted issuer are required")
        if not timedelta(0) <= leeway <= timedelta(minutes=5):
            raise ValueError("leeway must be between 0 and 5 minutes")
        self._audience = audience
        self._trusted = dict(trusted)
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway

    def verify(self, token: str) -> Principal:
        """Return the caller, or raise the ``AuthError`` subclass naming why not."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise MalformedToken()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise MalformedToken() from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AlgNotAllowed()
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or "crit" in header:
            # RFC 7515 §4.1.11: a critical extension we do not implement must be refused.
            raise MalformedToken()
        issuer = unverified.get("iss")
        if issuer is None:
            raise MissingClaim("iss")
        source = self._trusted.get(issuer) if isinstance(issuer, str) else None
        if source is None:
            raise BadIssuer()
        key = source.resolve(kid)
        if key is None:
            raise UnknownKid()
        if key.alg != alg:
            raise AlgNotAllowed()
        claims = self._decode(token, key, issuer)
        return _principal(claims)

    def _decode(self, token: str, key: VerificationKey, issuer: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.alg],
                issuer=issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidSignatureError:
            raise BadSignature() from None
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.ImmatureSignatureError:
            raise TokenNotYetValid() from None
        except jwt.InvalidIssuerError:
            raise BadIssuer() from None
        except jwt.InvalidAudienceError:
            raise BadAudience() from None
        except jwt.MissingRequiredClaimError as exc:
            raise MissingClaim(str(exc.claim)) from None
        except jwt.InvalidAlgorithmError:
            raise AlgNotAllowed() from None
        except InvalidSubjectError:
            raise InvalidClaim("sub") from None
        except InvalidJTIError:
            raise InvalidClaim("jti") from None
        except jwt.InvalidIssuedAtError:
            raise InvalidClaim("iat") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise MalformedToken() from None


def _string_list(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClaim(name)
    return value


def _principal(claims: Mapping[str, Any]) -> Principal:
    """The hub's own claims, checked after the signature so forgeries learn nothing here."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        raise InvalidClaim("sub")
    raw_role = claims["role"]
    if not isinstance(raw_role, str):
        raise InvalidClaim("role")
    try:
        role = Role(raw_role)
    except ValueError:
        raise UnknownRole() from None
    try:
        grids = validate_grids(role, _string_list(claims, "grids"))
    except ValueError:
        raise InvalidClaim("grids") from None
    purposes = _string_list(claims, "purposes")
    if not all(is_purpose_name(p) for p in purposes):
        raise InvalidClaim("purposes")
    token_id = claims["jti"]
    if not token_id:
        raise InvalidClaim("jti")
    return Principal(
        subject=subject,
        role=role,
        grids=grids,
        purposes=frozenset(purposes),
        token_id=token_id,
        issuer=claims["iss"],
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )


def verify_token(
    token: str,
    *,
    issuer: str,
    audience: str,
    ring: KeyRing | None = None,
    jwks: KeySource | None = None,
    algorithms: Collection[str] = ALGORITHMS,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> Principal:
    """Verify against one issuer whose keys are in the local ``ring`` and/or a remote ``jwks``.

    For a long-lived service build one ``TokenVerifier`` instead; it can trust several issuers.
    """
    sources = [s for s in (ring, jwks) if s is not None]
    if not sources:
        raise ValueError("give a key ring, a JWKS source, or both")
    source: KeySource = sources[0] if len(sources) == 1 else KeyChain(*sources)
    verifier = TokenVerifier(
        audience=audience, trusted={issuer: source}, algorithms=algorithms, leeway=leeway
    )
    return verifier.verify(token)


__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_TTL",
    "MAX_TTL",
    "REQUIRED_CLAIMS",
    "KeyChain",
    "TokenVerifier",
    "issue_token",
    "verify_token",
]
