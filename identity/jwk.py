"""JSON Web Keys: public keys to and from JWK, and RFC 7638 thumbprints as key ids.

Written by hand rather than through ``jwt.PyJWK`` because both directions must be *public only*:
``public_jwk`` cannot emit a private member (it never sees one), and ``public_key_from_jwk``
ignores private members an identity provider might publish by mistake, so the hub never holds
a foreign private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, get_args

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

Algorithm: TypeAlias = Literal["ES256", "EdDSA", "RS256"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
"""Asymmetric only: with a symmetric algorithm any holder of the verification key could mint
tokens, and mixing the two families invites algorithm-confusion attacks (RFC 8725 §2.1)."""

PublicKey: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

MIN_RSA_BITS = 2048
_P256_BYTES = 32
# RFC 7638 §3.2: the required members, per key type, that enter the thumbprint.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def parse_algorithm(value: str) -> Algorithm:
    for alg in ALGORITHMS:
        if value == alg:
            return alg
    raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict: padding, whitespace or non-alphabet characters are refused, not skipped."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _uint(value: int) -> str:
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def algorithm_for(key: PublicKey | PrivateKey) -> Algorithm:
    """The one algorithm a key may be used with; a key is never reused across algorithms."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise ValueError("only the P-256 curve is supported")
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return "RS256"
    raise ValueError("unsupported key type")


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The key's public members (``kty`` and its parameters); no ``kid``/``alg``/``use``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm_for(key)
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(_P256_BYTES, "big")),
            "y": b64url(numbers.y.to_bytes(_P256_BYTES, "big")),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        algorithm_for(key)
        rsa_numbers = key.public_numbers()
        return {"kty": "RSA", "n": _uint(rsa_numbers.n), "e": _uint(rsa_numbers.e)}
    raise ValueError("unsupported key type")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: stable for the key, independent of how it is serialised."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("JWK lacks the members a thumbprint needs")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def kid_for(key: PublicKey) -> str:
    return thumbprint(public_jwk(key))


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"JWK member {name!r} missing")
    return b64url_decode(value)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[Algorithm, PublicKey]:
    """Build the public key a JWK describes; raise ``ValueError`` for anything unsupported.

    Private members are ignored. A declared ``alg`` must match the key type, so a JWKS cannot
    relabel an RSA key for a different algorithm.
    """
    kty = jwk.get("kty")
    key: PublicKey
    if kty == "EC":
        if jwk.get("crv") != "P-256":
            raise ValueError("only P-256 EC keys are supported")
        x, y = _member(jwk, "x"), _member(jwk, "y")
        if len(x) != _P256_BYTES or len(y) != _P256_BYTES:
            raise ValueError("bad P-256 coordinates")
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    elif kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise ValueError("only Ed25519 OKP keys are supported")
        key = ed25519.Ed25519PublicKey.from_public_bytes(_member(jwk, "x"))
    elif kty == "RSA":
        n = int.from_bytes(_member(jwk, "n"), "big")
        e = int.from_bytes(_member(jwk, "e"), "big")
        key = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        raise ValueError("unsupported JWK key type")
    alg = algorithm_for(key)
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise ValueError("JWK alg does not match its key type")
    return alg, key


__all__ = [
    "ALGORITHMS",
    "PRIVATE_MEMBERS",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "algorithm_for",
    "b64url",
    "b64url_decode",
    "kid_for",
    "parse_algorithm",
    "public_jwk",
    "public_key_from_jwk",
    "thumbprint",
]
