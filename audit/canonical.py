"""The one definition of what an exchange-log entry's hash covers.

``entry_hash = sha256(canonical_json(entry))`` where ``entry`` is the JSON object of
:data:`FIELDS` (``prev_hash`` included, ``entry_hash`` excluded) and the canonical JSON is:

* keys sorted by code point at every level; no whitespace (``,`` and ``:`` separators);
* strings written literally (no ``\\uXXXX`` for non-ASCII), only ``"``, ``\\`` and control
  characters escaped; the bytes hashed are the UTF-8 encoding;
* ``at`` as RFC 3339 UTC with exactly six fractional digits: ``2026-03-01T01:30:00.000000Z``;
* numbers are integers with ``|n| <= 2**53 - 1``; floats are refused; object keys are ASCII.

With those restrictions the bytes are exactly RFC 8785 (JCS), so an auditor can recompute the
hash with any JCS library instead of trusting this code. Append and verify both go through
:func:`entry_hash`; changing anything here breaks every existing chain, so it is frozen.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

GENESIS: Final = "0" * 64
"""``prev_hash`` of seq 1: there is nothing before it."""

FIELDS: Final = (
    "seq",
    "at",
    "direction",
    "counterpart",
    "actor_subject",
    "actor_role",
    "purpose",
    "operation",
    "object_refs",
    "record_count",
    "payload_sha256",
    "result",
    "correlation_id",
    "prev_hash",
)
"""Every column of ``exchange_log`` except ``entry_hash``, in table order."""

FIELD_SET: Final = frozenset(FIELDS)
MAX_SAFE_INT: Final = 2**53 - 1
_ONLY_STR: Final = {str}

_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode
# Only for values that are not canonical anyway (NaN from a tampered file): they must still
# produce *some* bytes, which then fail to match the stored hash.
_dumps_any = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_str = json.encoder.encode_basestring  # escapes only '"', '\\' and control characters
_sha256 = hashlib.sha256


def _no_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# The C encoder json.dumps builds on every call, built once: about 4x faster for the small
# object_refs of every entry. markers=None skips the cycle check (the values are plain JSON).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_refs: Callable[[Any], str] = _dumps
if _c_encoder is not None:  # always, on CPython
    _refs_encoder = _c_encoder(None, _no_default, _str, None, ":", ",", True, False, False)

    def _refs(value: Any) -> str:
        return "".join(_refs_encoder(value, 0))


# FIELDS in sorted-key order, written out once: building the object by hand is about twice as
# fast as json.dumps(sort_keys=True) on a 14-key dict, and verify does it a million times.
_TEMPLATE: Final = (
    '{"actor_role":%s,"actor_subject":%s,"at":%s,"correlation_id":%s,"counterpart":%s,'
    '"direction":%s,"object_refs":%s,"operation":%s,"payload_sha256":%s,"prev_hash":%s,'
    '"purpose":%s,"record_count":%d,"result":%s,"seq":%d}'
)


def refs_json(refs: Any) -> str:
    """Canonical JSON text of ``object_refs`` already made plain by :func:`plain_json`.

    The same text as :func:`canonical_json` (decoded), through the encoder built once: the
    read log's flusher writes it for every entry while request threads wait for the GIL.
    """
    return _refs(refs)


def canonical_json(obj: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON value (assumed already restricted, see module doc)."""
    return _dumps(obj).encode("utf-8")


def entry_bytes(v: Sequence[Any], refs_json: str | None = None) -> bytes:
    """Canonical bytes of an entry given as its values in :data:`FIELDS` order.

    ``refs_json`` may carry ``object_refs`` already in canonical JSON (the appender needs that
    text anyway for storage). Anything of an unexpected type — possible only in tampered data
    — falls back to the generic encoder: encoded faithfully, it then fails to match its hash.
    Required text fields go straight to the string encoder (None there raises TypeError and
    takes the fallback); the four nullable ones are tested inline — no per-field calls.
    """
    try:
        if type(v[0]) is not int or type(v[9]) is not int:
            raise TypeError
        role, purpose, digest, corr = v[5], v[6], v[10], v[12]
        text = _TEMPLATE % (
            "null" if role is None else _str(role),
            _str(v[4]),
            _str(v[1]),
            "null" if corr is None else _str(corr),
            _str(v[3]),
            _str(v[2]),
            _refs(v[8]) if refs_json is None else refs_json,
            _str(v[7]),
            "null" if digest is None else _str(digest),
            _str(v[13]),
            "null" if purpose is None else _str(purpose),
            v[9],
            _str(v[11]),
            v[0],
        )
    except (TypeError, ValueError):
        text = _dumps_any(dict(zip(FIELDS, v, strict=True)))
    return text.encode("utf-8")


def entry_hash_of(values: Sequence[Any], refs_json: str | None = None) -> str:
    """Hex sha256 of :func:`entry_bytes`: what ``entry_hash`` must be."""
    return _sha256(entry_bytes(values, refs_json)).hexdigest()


def entry_hash(fields: Mapping[str, Any]) -> str:
    """Hex sha256 of the canonical JSON of exactly :data:`FIELDS` (``at`` already a string)."""
    return entry_hash_of([fields[name] for name in FIELDS])


def rfc3339(value: datetime) -> str:
    """``at`` as the hash sees it; a naive datetime is refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: the exchange log stores UTC times")
    if value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime and always pads the year to 4 digits.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Inverse of :func:`rfc3339` (accepts any RFC 3339 offset, returns UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time without an offset")
    return value.astimezone(UTC)


def plain_json(value: Any, path: str = "object_refs") -> Any:
    """A plain copy (dicts, lists) of ``value``, refusing what would not survive storage intact.

    Floats (JSONB rewrites ``1.0``), huge integers, non-ASCII keys (JCS orders keys by UTF-16),
    NUL characters (PostgreSQL text refuses them) and non-JSON types would all make a stored
    entry hash differently when read back — which verify would then report as tampering.
    Tuples become lists because that is what the JSON column gives back.
    """
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise ValueError(f"{path}: NUL character refused")
        return value
    if kind is dict or isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or "\x00" in key:
                raise ValueError(f"{path}: object keys must be ASCII strings")
            out[key] = item if item is None or type(item) is bool else plain_json(item, path)
        return out
    if kind is list or kind is tuple:
        # The common case — a list of ids or field names — checked in C, not per element.
        if value and set(map(type, value)) == _ONLY_STR:
            if "\x00" in "".join(value):
                raise ValueError(f"{path}: NUL character refused")
            return list(value)
        return [plain_json(item, path) for item in value]
    if value is None or kind is bool:
        return value
    if kind is int:
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"{path}: integer out of the safe range")
        return value
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed")
    raise ValueError(f"{path}: {kind.__name__} is not a JSON value")


def payload_digest(payload: bytes | bytearray | memoryview | str | Any) -> str:
    """sha256 of what was exchanged, so the log can prove it without holding personal data.

    Bytes are hashed as given (the wire form is the strongest evidence), text as UTF-8 and any
    other JSON value as canonical JSON (sorted keys, no whitespace; non-finite floats refused).
    """
    if isinstance(payload, bytes | bytearray | memoryview):
        return _sha256(payload).hexdigest()
    if isinstance(payload, str):
        return _sha256(payload.encode("utf-8")).hexdigest()
    _refuse_non_finite(payload)
    return _sha256(canonical_json(payload)).hexdigest()


def _refuse_non_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite float in payload")
    if isinstance(value, list | tuple):
        for item in value:
            _refuse_non_finite(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            _refuse_non_finite(item)
