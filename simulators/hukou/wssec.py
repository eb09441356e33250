"""WS-Security UsernameToken checks, as the district's service gateway applies them.

PasswordText compares the password; PasswordDigest (Base64(SHA-1(nonce + created +
password))) also needs ``Created`` within the clock-skew window and a nonce never seen
before inside it, so a captured request cannot be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Collection
from datetime import datetime

from lxml import etree

__all__ = ["WSSE_NS", "WSU_NS", "AuthError", "UsernameTokenVerifier"]

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
_TEXT = f"{_PROFILE}#PasswordText"
_DIGEST = f"{_PROFILE}#PasswordDigest"


class AuthError(Exception):
    """Authentication failed; ``code`` is the WS-Security fault code (a wsse: QName)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UsernameTokenVerifier:
    def __init__(
        self,
        username: str,
        password: str,
        *,
        accept: Collection[str] = ("text", "digest"),
        skew_s: float = 300.0,
    ) -> None:
        self._username = username.encode()
        self._password = password.encode()
        self._accept = frozenset(accept)
        self._skew = skew_s
        self._nonces: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def verify(self, header: etree._Element | None) -> None:
        """Raise ``AuthError`` unless ``header`` (soap:Header) carries a valid token."""
        token = None
        if header is not None:
            token = header.find(f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        if token is None:
            raise AuthError("wsse:InvalidSecurity", "a WS-Security UsernameToken is required")
        username = (token.findtext(f"{{{WSSE_NS}}}Username") or "").strip().encode()
        password = token.find(f"{{{WSSE_NS}}}Password")
        if password is None:
            raise AuthError("wsse:FailedAuthentication", "the token carries no password")
        kind = password.get("Type", _TEXT)
        given = (password.text or "").strip().encode()
        if kind == _TEXT and "text" in self._accept:
            ok = hmac.compare_digest(given, self._password)
        elif kind == _DIGEST and "digest" in self._accept:
            ok = self._digest_ok(token, given)
        else:
            raise AuthError("wsse:UnsupportedSecurityToken", "this password type is not accepted")
        # Compare the user name in constant time too, and only then decide: a wrong user and a
        # wrong password must look the same to the caller.
        if not (hmac.compare_digest(username, self._username) and ok):
            raise AuthError(
                "wsse:FailedAuthentication", "the security token could not be authenticated"
            )

    def _digest_ok(self, token: etree._Element, given: bytes) -> bool:
        nonce_text = token.findtext(f"{{{WSSE_NS}}}Nonce")
        created = token.findtext(f"{{{WSU_NS}}}Created")
        if not nonce_text or not created:
            raise AuthError("wsse:InvalidSecurityToken", "a digest needs Nonce and Created")
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
            moment = datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
        except (binascii.Error, ValueError):
            raise AuthError("wsse:InvalidSecurityToken", "Nonce or Created is malformed") from None
        if moment.tzinfo is None:
            raise AuthError("wsse:InvalidSecurityToken", "Created must carry a time zone")
        now = time.time()
        if abs(now - moment.timestamp()) > self._skew:
            raise AuthError("wsse:MessageExpired", "Created is outside the allowed clock skew")
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.strip().encode() + self._password).digest()
        )
        ok = hmac.compare_digest(given, expected)
        if ok:
            with self._lock:
                self._nonces = {n: t for n, t in self._nonces.items() if t > now}
                if nonce in self._nonces:
                    raise AuthError("wsse:FailedAuthentication", "the nonce was used before")
                self._nonces[nonce] = now + 2 * self._skew
        return ok
