"""identity: who the caller is (signed tokens), what their role allows, which grids they see,
and whether identifiers are shown to them in clear.

A ground-floor package: it imports no other gridhub package and reads no environment;
paths, issuer, audience and JWKS URL are passed in by the composition root (``gridhub``).
"""

from identity.errors import AuthError, IdentityError, PurposeRequired
from identity.grids import covers
from identity.idp import RemoteJWKS
from identity.keys import KeyRing
from identity.masking import MaskingPolicy
from identity.principal import Principal
from identity.roles import Permission, Role
from identity.tokens import TokenVerifier, issue_token, verify_token

__all__ = [
    "AuthError",
    "IdentityError",
    "KeyRing",
    "MaskingPolicy",
    "Permission",
    "Principal",
    "PurposeRequired",
    "RemoteJWKS",
    "Role",
    "TokenVerifier",
    "covers",
    "issue_token",
    "verify_token",
]
