"""Refusals, each with a stable machine ``code``.

Callers (the API, gRPC, the audit log) branch on ``code`` and show ``str(error)``; both are fixed
per class, so a refusal can be logged or returned to a client without echoing token contents,
claim values or key material. Wrap library exceptions with ``raise ... from None`` for the same
reason: a chained traceback could carry what the message leaves out.
"""

from __future__ import annotations

from typing import ClassVar


class IdentityError(Exception):
    """Base of every refusal raised by ``identity``."""

    code: ClassVar[str] = "identity_error"
    message: ClassVar[str] = "identity check failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


# --- Token refusals (HTTP 401 / gRPC UNAUTHENTICATED) ---------------------------------------


class AuthError(IdentityError):
    """The bearer could not be authenticated; the token must not be trusted in any part."""

    code = "auth_error"
    message = "token refused"


class MalformedToken(AuthError):
    code = "malformed"
    message = "token is malformed"


class AlgNotAllowed(AuthError):
    code = "alg_not_allowed"
    message = "token signing algorithm is not allowed"


class UnknownKid(AuthError):
    code = "unknown_kid"
    message = "token was signed by an unknown key"


class BadSignature(AuthError):
    code = "bad_signature"
    message = "token signature is invalid"


class TokenExpired(AuthError):
    code = "token_expired"
    message = "token has expired"


class TokenNotYetValid(AuthError):
    code = "token_not_yet_valid"
    message = "token is not yet valid"


class BadIssuer(AuthError):
    code = "bad_issuer"
    message = "token issuer is not trusted"


class BadAudience(AuthError):
    code = "bad_audience"
    message = "token is not meant for this service"


class MissingClaim(AuthError):
    """The claim *name* is schema, not content, so it is safe to carry for diagnosis."""

    code = "missing_claim"
    message = "token lacks a required claim"

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__(f"token lacks required claim {claim!r}")


class InvalidClaim(AuthError):
    code = "invalid_claim"
    message = "token carries an invalid claim"

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__(f"token claim {claim!r} is invalid")


class UnknownRole(AuthError):
    code = "unknown_role"
    message = "token role is not known"


class KeySourceUnavailable(AuthError):
    """The identity provider's JWKS could not be fetched; a server-side fault (HTTP 503)."""

    code = "jwks_unavailable"
    message = "signing keys of the identity provider are unavailable"


# --- Authorisation and purpose refusals (HTTP 403 / 400) ------------------------------------


class NotPermitted(IdentityError):
    code = "forbidden"
    message = "the caller's role does not allow this"


class PurposeRequired(IdentityError):
    """Unmasking personal identifiers must always name why (个人信息保护法 purpose limitation)."""

    code = "purpose_required"
    message = "a purpose must be declared to unmask identifiers"


class UnknownPurpose(IdentityError):
    code = "unknown_purpose"
    message = "the declared purpose is not in the purpose vocabulary"


# --- Key ring faults (operator problems, not caller problems) -------------------------------


class KeyRingError(IdentityError):
    code = "keyring_error"
    message = "the signing key ring could not be used"


__all__ = [
    "AlgNotAllowed",
    "AuthError",
    "BadAudience",
    "BadIssuer",
    "BadSignature",
    "IdentityError",
    "InvalidClaim",
    "KeyRingError",
    "KeySourceUnavailable",
    "MalformedToken",
    "MissingClaim",
    "NotPermitted",
    "PurposeRequired",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKid",
    "UnknownPurpose",
    "UnknownRole",
]
