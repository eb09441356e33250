"""How a record becomes bytes: the one JSON encoding used for hashing and storage.

Every payload is encoded once, outside the checkpoint transaction: the bytes are hashed for
the exchange log and for content-hash versioning, and the same text is stored. A record
the store could not hold (a NUL character) or that is far larger than any real one is
refused here, before it can fail a whole checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from adapters.contract import Mapped, RecordRejected

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "Ready",
    "canonical_json",
    "content_hash",
    "oversized",
    "prepare",
    "raw_bytes",
]

# A NUL character as JSON writes it. PostgreSQL's text and JSONB refuse it, so a record holding
# one would fail its whole checkpoint on every run; it is quarantined instead (on every backend,
# so the embedded store behaves like a district's). A text that literally spells the escape
# ("\\u0000") is caught too — rare enough to accept.
_NUL = "\\u0000"
_NUL_REASON = "a NUL character, which the store cannot hold"
# A source record of these systems is a few KB. One of megabytes is an error or an attack
# (a 10 MB name, a 1 MB address); mapping it would silently keep a truncated value or carry
# megabytes into every read of the payload, so it is quarantined whole instead.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024

# One encoder for every record: ``json.dumps`` with options builds a new JSONEncoder per
# call, which cost as much as the encoding itself on small records. Same options, so the
# same bytes (and hashes) as before.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_encode = _ENCODER.encode
_sha256 = hashlib.sha256

#: A mapped record ready to store: (source key, payload JSON, content hash, canonical JSON,
#: the Mapped itself). A plain tuple: one is built per record, and a tuple is the cheapest
#: object Python has.
Ready = tuple[str, str, str, str, Mapped]


def canonical_json(value: Any) -> bytes:
    """The one serialisation used for hashing: key order and spacing can never change a hash."""
    return _encode(value).encode("utf-8")


def content_hash(payload: Mapping[str, Any]) -> str:
    return _sha256(canonical_json(payload)).hexdigest()


def raw_bytes(raw: Mapping[str, Any] | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else _encode(raw).encode("utf-8")


def oversized(size: int, limit: int) -> RecordRejected:
    return RecordRejected(
        "schema.oversized",
        f"record of {size} bytes is over the limit of {limit} (GRIDHUB_SYNC_MAX_RECORD_BYTES)",
    )


def prepare(mapped: Mapped, raw: Mapping[str, Any] | bytes, received: bytes) -> Ready:
    """Encode a mapped record for storage; ``RecordRejected`` when the store cannot hold it.

    Most streams keep the parsed record as the payload: its encoding is the one just hashed
    for the exchange log (``received``), so it is not encoded a second time.
    """
    if mapped.payload is raw:
        encoded, payload = received, received.decode("utf-8")
    else:
        payload = _encode(mapped.payload)
        encoded = payload.encode("utf-8")
    canonical = _encode(mapped.canonical)
    # Text, not bytes, from here on: JSON escapes a NUL the same way in both.
    if _NUL in payload or _NUL in canonical:
        raise RecordRejected("encoding.nul", _NUL_REASON)
    return (mapped.source_key, payload, _sha256(encoded).hexdigest(), canonical, mapped)
