"""How a record becomes bytes: the one JSON encoding used for hashing and storage.

Every payload is encoded once, outside the checkpoint transaction: the bytes are hashed for
the exchange log and for content-hash versioning, and the same text is stored. A record
the store could not hold (a NUL character) or that is far larger than any real one is
refused here, before it can fail a whole checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from adapters.contract import Mapped, RecordRejected
from canonical_model import SourceRecord

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "MAX_KEY_CHARS",
    "Ready",
    "StoredJson",
    "canonical_json",
    "content_hash",
    "encode_canonical",
    "encode_mapped",
    "oversized",
    "prepare",
    "raw_bytes",
    "storable_key",
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
# The longest source key the store holds (``source_record.source_key``, characters). PostgreSQL
# refuses a longer one, and the whole checkpoint with it, on every run: the cursor could never
# pass the record. SQLite would store it, so the check is made here, for both backends.
MAX_KEY_CHARS: int = SourceRecord.__table__.c.source_key.type.length  # type: ignore[attr-defined]

# The reference encoding, unchanged since the first stored hash: ``json`` with sorted keys, no
# spaces, UTF-8 text and ``str()`` for anything JSON has no type for. One encoder object for
# every record: ``json.dumps`` with options builds a new JSONEncoder per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_encode = _ENCODER.encode
_sha256 = hashlib.sha256

# msgspec writes the same bytes as the reference encoder for plain JSON values at a fifth of
# its CPU; encoding was the largest single cost of a record in the engine. It differs
# elsewhere — dates, sets, bytes, enums, NaN, floats it writes as 1e16 where Python writes
# 1e+16 — so its bytes are used only for a record that provably has none of those: dicts of
# str keys, lists, str, int, bool, None, and floats that msgspec writes exactly as ``repr``
# does (each checked alone). Nearly every record is such (the sources deliver text); one walk
# over its values proves it, and anything else is written by the reference encoder.
#
# msgspec sorts keys in quadratic time at worst (a sorted dict plus one key: 3 ms at 1,024
# keys, seven times the reference); a dict of more than _FAST_KEYS keys, which no source
# record has, is left to the reference encoder so a hostile record cannot stall a sync.
# A stored content hash never changes with the encoder (tests/adapters/test_engine_encoding.py
# holds both to every code point and value type).
_fast_encode = msgspec.json.Encoder(order="sorted").encode
_FAST_KEYS = 64


def _plain_dict(value: dict[Any, Any]) -> bool:
    if len(value) > _FAST_KEYS:
        return False
    for item in value.values():
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if not _plain_other(item, kind):
            return False
    return True


def _plain_list(value: list[Any]) -> bool:
    for item in value:
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if not _plain_other(item, kind):
            return False
    return True


def _plain_other(item: Any, kind: type) -> bool:
    if kind is dict:
        return _plain_dict(item)
    if kind is list:
        return _plain_list(item)
    # The reference writes a finite float as its repr; msgspec's null for NaN never equals it.
    return kind is float and _fast_encode(item) == repr(item).encode()


#: A mapped record ready to store: (source key, payload JSON, content hash, canonical JSON,
#: the Mapped itself). A plain tuple: one is built per record, and a tuple is the cheapest
#: object Python has.
Ready = tuple[str, str, str, str, Mapped]


class StoredJson(Mapping[str, Any]):
    """A JSON object as the store will hold it, parsed only when first read.

    What a mapping worker hands back for a record it encoded (its payload, its canonical
    fields): the engine stores the texts and nothing in a sync reads them back, so parsing
    them would be waste. The text must be what ``canonical_json`` wrote — ``canonical_json``
    gives it back as it is, and a hash of it is the hash of the object. Values are JSON's (a
    date is its ISO text), as anyone reading the store sees them.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    def _object(self) -> dict[str, Any]:
        if self._value is None:
            self._value = msgspec.json.decode(self.text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._object()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._object())

    def __len__(self) -> int:
        return len(self._object())

    def __repr__(self) -> str:
        return f"StoredJson({len(self.text)} characters)"  # never the personal data itself


def canonical_json(value: Any) -> bytes:
    """The one serialisation used for hashing: key order and spacing can never change a hash."""
    if type(value) is StoredJson:  # written by this function already (in a worker)
        return value.text.encode("utf-8")
    if type(value) is dict and _plain_dict(value):
        try:
            return _fast_encode(value)
        except Exception:  # noqa: S110 (a key that is not a str: the reference encoder decides)
            pass
    return _encode(value).encode("utf-8")


def content_hash(payload: Mapping[str, Any]) -> str:
    return _sha256(canonical_json(payload)).hexdigest()


def raw_bytes(raw: Mapping[str, Any] | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else canonical_json(raw)


def oversized(size: int, limit: int) -> RecordRejected:
    return RecordRejected(
        "schema.oversized",
        f"record of {size} bytes is over the limit of {limit} (GRIDHUB_SYNC_MAX_RECORD_BYTES)",
    )


def encode_mapped(
    mapped: Mapped, raw: Mapping[str, Any] | bytes, received: bytes
) -> tuple[str, str, str]:
    """(payload JSON, content hash, canonical JSON) of a mapped record, as the store keeps
    them; ``RecordRejected`` when the store cannot hold it.

    Most streams keep the parsed record as the payload: its encoding is the one just hashed
    for the exchange log (``received``), so it is not encoded a second time.
    """
    encoded = received if mapped.payload is raw else canonical_json(mapped.payload)
    payload = encoded.decode("utf-8")
    # Text, not bytes, from here on: JSON escapes a NUL the same way in both.
    if _NUL in payload:
        raise RecordRejected("encoding.nul", _NUL_REASON)
    canonical = mapped.canonical_text
    if canonical is None:
        canonical = encode_canonical(mapped.canonical)
    return payload, _sha256(encoded).hexdigest(), canonical


def encode_canonical(canonical: Mapping[str, Any]) -> str:
    """The canonical fields' JSON as the store keeps it; ``RecordRejected`` for a NUL."""
    text = canonical_json(canonical).decode("utf-8")
    if _NUL in text:
        raise RecordRejected("encoding.nul", _NUL_REASON)
    return text


def prepare(mapped: Mapped, raw: Mapping[str, Any] | bytes, received: bytes) -> Ready:
    """A mapped record ready for storage, encoded here unless a mapping worker already did."""
    if len(mapped.source_key) > MAX_KEY_CHARS:
        raise RecordRejected(
            "schema.key_too_long",
            f"source key of {len(mapped.source_key)} characters, over the store's {MAX_KEY_CHARS}",
            source_key=mapped.source_key,  # cut to fit by the quarantine (``storable_key``)
        )
    payload, digest, canonical = mapped.encoded or encode_mapped(mapped, raw, received)
    return (mapped.source_key, payload, digest, canonical, mapped)


def storable_key(key: str | None) -> str | None:
    """``key`` as a quarantine entry can hold it: unchanged up to ``MAX_KEY_CHARS``; a longer
    one cut, with a digest of the whole at its end, so that the same over-long key always
    gives the same entry key (a re-delivered record is still recognised) and two different
    ones do not share it."""
    if key is None or len(key) <= MAX_KEY_CHARS:
        return key
    digest = _sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key[: MAX_KEY_CHARS - len(digest) - 1]}~{digest}"
