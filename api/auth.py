"""Bearer tokens to principals, for both channels, with every refusal counted and logged.

A refused token is logged to the security log (channel, where, refusal code, client address)
and counted in ``gridhub_auth_refusals_total``; the token itself, its claims and its subject
never are — an unauthenticated caller's claims are untrusted input. Refusals of
*authenticated* callers (outside their grids, a purpose they were not given) go to the
exchange log instead, through the policy, because there we know who it was.
"""

from __future__ import annotations

import logging

from api.context import Hub
from api.errors import ApiError, Unauthenticated, translate
from api.middleware import AUTH_REFUSALS
from identity import Principal
from identity.errors import IdentityError

security_log = logging.getLogger("gridhub.security")
MAX_HEADER_CHARS = 8192 + 16


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive)."""
    if not header:
        raise Unauthenticated("a bearer token is required", code="missing_token")
    if len(header) > MAX_HEADER_CHARS:
        raise Unauthenticated("the token is malformed", code="malformed")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization scheme must be Bearer", code="malformed")
    return token.strip()


def _refused(exc: Exception, channel: str, where: str, peer: str) -> ApiError:
    error = translate(exc) or Unauthenticated()
    AUTH_REFUSALS.labels(channel, error.problem_code).inc()
    security_log.warning(
        "refused token: channel=%s where=%s code=%s peer=%s",
        channel,
        where,
        error.problem_code,
        peer,
    )
    return error


def authenticate(hub: Hub, header: str | None, *, channel: str, where: str, peer: str) -> Principal:
    """Verify the bearer token (may fetch an identity provider's keys: call off the loop)."""
    try:
        return hub.verifier.verify(bearer_token(header))
    except (ApiError, IdentityError) as exc:
        raise _refused(exc, channel, where, peer) from None


def authenticate_cached(
    hub: Hub, header: str | None, *, channel: str, where: str, peer: str
) -> Principal | None:
    """Without blocking: the principal of a recently verified token, or None to verify it.

    A malformed header is refused here already; only a well-formed, unknown token needs
    :func:`authenticate`.
    """
    try:
        return hub.verifier.cached(bearer_token(header))
    except ApiError as exc:
        raise _refused(exc, channel, where, peer) from None


__all__ = [
    "MAX_HEADER_CHARS",
    "authenticate",
    "authenticate_cached",
    "bearer_token",
    "security_log",
]
