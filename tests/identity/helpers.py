"""Hand-made tokens for attack tests: pyjwt (rightly) refuses to produce most of them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from identity.keys import KeyRing

ISSUER = "gridhub"
AUDIENCE = "gridhub-api"
SUBJECT = "worker-0427"
GRID = "330106001001001"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{part(header)}.{part(payload)}.{b64(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    """A complete, currently valid claim set for a grid worker."""
    now = int(datetime.now(UTC).timestamp())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "role": "grid_worker",
        "grids": [GRID],
        "purposes": ["welfare_visit"],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "c0ffee",
    }
    base.update(overrides)
    return base


def sign_with_ring(ring: KeyRing, payload: dict[str, Any], **header: Any) -> str:
    """Properly signed by the ring's active key, with whatever claims the test wants."""
    key = ring.signing_key()
    # PyJWS signs raw bytes, so claims pyjwt's JWT layer would refuse to encode still get signed.
    body = json.dumps(payload, separators=(",", ":")).encode()
    return jwt.api_jws.encode(body, key.key, algorithm=key.alg, headers={"kid": key.kid, **header})


def header_of(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(unb64(token.split(".")[0]))
    return result


def past(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def future(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)
