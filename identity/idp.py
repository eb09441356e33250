"""Keys of an external identity provider (the district's 统一身份认证 / an OIDC IdP), by JWKS URL.

The JWKS is cached for ``ttl`` so verification does not cost a round trip per request. A token
with a ``kid`` the cache does not know triggers one re-fetch (the IdP may just have rotated),
but at most once per ``refetch_cooldown``: otherwise a stream of tokens with random kids would
turn the hub into a load generator against its own IdP. When the IdP is unreachable a cached
set is still used ("stale if error") so an IdP blip does not log every user out.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

import httpx

from identity.errors import KeySourceUnavailable
from identity.jwk import ALGORITHMS, Algorithm, public_key_from_jwk
from identity.keys import VerificationKey

MAX_JWKS_BYTES = 256 * 1024
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RemoteJWKS:
    """A ``KeySource`` backed by an identity provider's JWKS URL."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        timeout: float = 5.0,
        refetch_cooldown: float = 10.0,
        algorithms: Collection[Algorithm] = ALGORITHMS,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        # Keys fetched in clear could be swapped on the way; only a local test IdP may skip TLS.
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname or "")
        ):
            raise ValueError("JWKS URL must use https (plain http only on loopback)")
        self.url = url
        self._ttl = ttl
        self._timeout = timeout
        self._cooldown = refetch_cooldown
        self._algorithms = frozenset(algorithms)
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")

    def resolve(self, kid: str) -> VerificationKey | None:
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._ttl:
                self._refresh(now, required=self._keys is None)
            assert self._keys is not None
            found = self._keys.get(kid)
            if found is None and now - self._attempted_at >= self._cooldown:
                self._refresh(now, required=False)
                found = self._keys.get(kid)
            return found

    def refresh(self) -> None:
        """Fetch now, e.g. at start-up so the first request does not wait for the IdP."""
        with self._lock:
            self._refresh(self._clock(), required=True)

    def _refresh(self, now: float, *, required: bool) -> None:
        self._attempted_at = now
        try:
            document = self._fetch()
        except KeySourceUnavailable:
            if required or self._keys is None:
                raise
            return  # stale if error: keep serving the keys we have
        self._keys = self._parse(document)
        self._fetched_at = now

    def _fetch(self) -> Any:
        client = self._client or httpx.Client()
        try:
            with client.stream(
                "GET",
                self.url,
                timeout=self._timeout,
                follow_redirects=False,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != httpx.codes.OK:
                    raise KeySourceUnavailable()
                # httpx's timeout is per read; a server dripping bytes is cut off here.
                deadline = time.monotonic() + 2 * self._timeout
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES or time.monotonic() > deadline:
                        raise KeySourceUnavailable()
            return json.loads(bytes(body))
        except (httpx.HTTPError, ValueError):
            raise KeySourceUnavailable() from None
        finally:
            if self._client is None:
                client.close()

    def _parse(self, document: Any) -> dict[str, VerificationKey]:
        """Usable signing keys by kid; unusable entries are skipped so one odd key (an
        encryption key, an unsupported curve) does not take the whole IdP down."""
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise KeySourceUnavailable()
        keys: dict[str, VerificationKey] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kid, use = entry.get("kid"), entry.get("use", "sig")
            if not isinstance(kid, str) or not kid or use != "sig" or kid in keys:
                continue
            try:
                alg, key = public_key_from_jwk(entry)
            except ValueError:
                continue
            if alg in self._algorithms:
                keys[kid] = VerificationKey(kid=kid, alg=alg, key=key)
        return keys


__all__ = ["MAX_JWKS_BYTES", "RemoteJWKS"]
