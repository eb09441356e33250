"""Opaque page tokens and resume tokens.

Clients must treat them as opaque strings; inside they are a kind tag plus keyset values,
base64url-encoded JSON. The kind tag stops a task cursor being replayed against persons.
Tokens grant nothing: every page is filtered by the caller's scope again, so a hand-made
token can only skip rows, never reveal one — a malformed token is simply refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from api.errors import InvalidRequest

MAX_TOKEN_CHARS = 256


def encode(kind: str, **values: str | int) -> str:
    raw = json.dumps({"k": kind, **values}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode(token: str, kind: str) -> dict[str, Any]:
    """The token's values, or ``InvalidRequest`` for anything not made by :func:`encode`."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidRequest("the page token is invalid", code="invalid_cursor")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("the page token is invalid", code="invalid_cursor") from None
    if not isinstance(values, dict) or values.pop("k", None) != kind:
        raise InvalidRequest("the page token is invalid", code="invalid_cursor")
    return values


def decode_str(token: str, kind: str, name: str, max_chars: int = 64) -> str:
    value = decode(token, kind).get(name)
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise InvalidRequest("the page token is invalid", code="invalid_cursor")
    return value


def decode_int(token: str, kind: str, name: str) -> int:
    value = decode(token, kind).get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidRequest("the page token is invalid", code="invalid_cursor")
    return value


__all__ = ["decode", "decode_int", "decode_str", "encode"]
