"""Verifying an export or archive file offline, with the public key alone.

The file is read once, as a stream: header, jwks, checkpoints, then entries (see
:mod:`audit.records`), so a million-entry export needs no more memory than a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.records import MalformedRecord, open_text, read_records
from audit.signing import KeySet, SigningKeyError
from audit.verify import Anchor, Finding, Reason, Report, Verifier


@dataclass(slots=True)
class FileReport:
    report: Report
    header: dict[str, Any]
    keys_from_file: bool  # True when no keys were given: integrity, not authenticity


def verify_file(
    path: Path,
    keys: KeySet | None = None,
    *,
    require_signed: bool = True,
    max_findings: int = 100,
) -> FileReport:
    """Verify an export or archive file (JSONL or CSV, plain or gzip) offline.

    With ``keys`` from an independently obtained JWKS this proves the entries are the hub's;
    without, the file's own JWKS is used, which only proves the file is self-consistent — a
    forger could have embedded their own key. ``require_signed`` fails entries after the last
    checkpoint, because in a file nothing else vouches for them.
    """
    with open_text(path) as stream:
        return verify_records(
            read_records(stream), keys, require_signed=require_signed, max_findings=max_findings
        )


def verify_records(
    records: Iterable[tuple[str, dict[str, Any]]],
    keys: KeySet | None,
    *,
    require_signed: bool = True,
    max_findings: int = 100,
    verifier: Verifier | None = None,
) -> FileReport:
    """Verify ``(type, body)`` records: a header, then jwks, checkpoints, entries.

    Pass a ``verifier`` to continue one chain across several files (archives); it then
    receives this file's checkpoints and entries and is not finished here.
    """
    header: dict[str, Any] = {}
    embedded: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    active: Verifier | None = None
    own = verifier is None
    try:
        for kind, body in records:
            if kind == "header":
                header = body
            elif kind == "jwks":
                embedded.extend(body.get("keys") or [])
            elif kind == "checkpoint":
                if active is not None:
                    raise MalformedRecord(0, "checkpoint after the first entry")
                checkpoints.append(body)
            elif kind == "entry":
                if active is None:
                    active = _start(
                        verifier, header, keys, embedded, checkpoints, require_signed, max_findings
                    )
                active.feed(body)
                if active.full:
                    break
            else:
                raise MalformedRecord(0, f"unknown record type {kind!r}")
        if active is None:
            active = _start(
                verifier, header, keys, embedded, checkpoints, require_signed, max_findings
            )
    except (MalformedRecord, SigningKeyError) as exc:
        if active is None:
            active = verifier or Verifier(KeySet({}), max_findings=max_findings)
        active.report.findings.append(Finding(active.report.last_seq, Reason.MALFORMED, str(exc)))
    report = active.finish() if own else active.report
    return FileReport(report=report, header=header, keys_from_file=keys is None)


def _start(
    verifier: Verifier | None,
    header: Mapping[str, Any],
    keys: KeySet | None,
    embedded: list[dict[str, Any]],
    checkpoints: list[dict[str, Any]],
    require_signed: bool,
    max_findings: int,
) -> Verifier:
    if verifier is None:
        raw = header.get("anchor")
        anchor = None
        if isinstance(raw, Mapping) and isinstance(raw.get("seq"), int):
            anchor = Anchor(int(raw["seq"]), str(raw.get("entry_hash")))
        trusted = keys if keys is not None else KeySet.from_jwks({"keys": embedded})
        verifier = Verifier(
            trusted, anchor=anchor, require_signed=require_signed, max_findings=max_findings
        )
    for cp in checkpoints:
        verifier.add_checkpoint(cp)
    return verifier
