"""Exports: a slice verifies offline with the public key alone; any edit of the file is caught."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from audit import FileSigner, KeySet, Reason, checkpoint, export, verify_file
from audit.canonical import FIELDS, entry_hash
from audit.offline import FileReport
from audit.signing import checkpoint_payload
from tests.audit.helpers import T0, fill

N = 40


@pytest.fixture
def log(sessions: sessionmaker[Session], signer: FileSigner) -> sessionmaker[Session]:
    fill(sessions, N)
    with sessions() as s, s.begin():
        checkpoint(s, signer, seq=10)
        checkpoint(s, signer, seq=30)
    return sessions


def _export(
    sessions: sessionmaker[Session],
    signer: FileSigner,
    path: Path,
    *,
    first: int | None = None,
    last: int | None = None,
    fmt: str = "jsonl",
    seal: bool = True,
) -> None:
    since = None if first is None else T0 + timedelta(minutes=first)
    until = None if last is None else T0 + timedelta(minutes=last + 1)
    with sessions() as s, s.begin():
        export(s, since, until, fmt, path, jwks=signer.jwks(), signer=signer if seal else None)


def test_whole_log_export_verifies_with_the_public_key(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    path = tmp_path / "all.jsonl"
    _export(log, signer, path)
    result = verify_file(path, keys)
    assert result.report.ok, result.report.findings
    assert (result.report.first_seq, result.report.last_seq) == (1, N)
    assert result.report.covered_through == N  # sealed at the head
    assert not result.keys_from_file


def test_a_middle_slice_verifies_on_its_own(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    path = tmp_path / "slice.jsonl"
    _export(log, signer, path, first=11, last=25)
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert (header["first_seq"], header["last_seq"]) == (11, 25)
    assert header["anchor"]["seq"] == 10
    result = verify_file(path, keys)
    assert result.report.ok, result.report.findings
    assert (result.report.entries, result.report.covered_through) == (15, 25)


def test_an_unsealed_slice_reports_its_unsigned_entries(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    path = tmp_path / "slice.jsonl"
    _export(log, signer, path, first=11, last=25, seal=False)
    report = verify_file(path, keys).report
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (11, Reason.UNSIGNED)
    assert verify_file(path, keys, require_signed=False).report.ok


def test_csv_export_verifies_and_catches_an_edited_cell(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    path = tmp_path / "slice.csv"
    _export(log, signer, path, first=5, last=20, fmt="csv")
    assert verify_file(path, keys).report.ok
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    target = next(i for i, r in enumerate(rows) if r[0] == "entry" and r[1] == "12")
    rows[target][rows[0].index("purpose")] = "edited"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    report = verify_file(path, keys).report
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (12, Reason.HASH_MISMATCH)


def test_without_trusted_keys_only_integrity_is_shown(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    """A forger can re-sign a whole file with their own key and embed it: only a JWKS obtained
    independently of the file (published by the hub) tells the two apart."""
    path = tmp_path / "slice.jsonl"
    _export(log, signer, path, first=1, last=20)
    rogue = FileSigner.open(tmp_path / "rogue")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for record in lines:
        if record["type"] == "jwks":
            record["keys"] = rogue.jwks()["keys"]
        elif record["type"] == "entry" and record["seq"] == 3:
            record["actor_subject"] = "nobody"
    _rechain(lines)
    for record in lines:
        if record["type"] == "checkpoint":
            entry = next(r for r in lines if r["type"] == "entry" and r["seq"] == record["seq"])
            record["entry_hash"] = entry["entry_hash"]
            record["kid"] = rogue.kid
            record["jws"] = rogue.sign(checkpoint_payload(record["seq"], entry["entry_hash"], "x"))
    _write(path, lines)
    self_consistent = verify_file(path, None)
    assert self_consistent.report.ok
    assert self_consistent.keys_from_file
    trusted = verify_file(path, keys).report
    assert trusted.first is not None
    assert trusted.first.reason == Reason.CHECKPOINT_SIGNATURE


def _rechain(lines: list[dict[str, object]]) -> None:
    prev = None
    for record in lines:
        if record["type"] != "entry":
            continue
        if prev is not None:
            record["prev_hash"] = prev
        record["entry_hash"] = entry_hash({k: record[k] for k in FIELDS})
        prev = record["entry_hash"]


def _write(path: Path, lines: list[dict[str, object]]) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8"
    )


Edit = Callable[[list[dict[str, object]]], None]


def _at(lines: list[dict[str, object]], seq: int) -> int:
    return next(i for i, r in enumerate(lines) if r["type"] == "entry" and r["seq"] == seq)


def _modify(lines: list[dict[str, object]]) -> None:
    lines[_at(lines, 15)]["operation"] = "nothing.to.see"


def _modify_rehash(lines: list[dict[str, object]]) -> None:
    record = lines[_at(lines, 15)]
    record["operation"] = "nothing.to.see"
    record["entry_hash"] = entry_hash({k: record[k] for k in FIELDS})


def _delete(lines: list[dict[str, object]]) -> None:
    del lines[_at(lines, 15)]


def _delete_renumber(lines: list[dict[str, object]]) -> None:
    del lines[_at(lines, 15)]
    for record in lines:
        if record["type"] == "entry" and int(record["seq"]) > 15:  # type: ignore[call-overload]
            record["seq"] = int(record["seq"]) - 1  # type: ignore[call-overload]


def _swap(lines: list[dict[str, object]]) -> None:
    i = _at(lines, 15)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]


def _duplicate(lines: list[dict[str, object]]) -> None:
    i = _at(lines, 15)
    lines.insert(i + 1, dict(lines[i]))


def _insert_renumber(lines: list[dict[str, object]]) -> None:
    i = _at(lines, 15)
    forged = dict(lines[i - 1])
    forged.update(seq=15, actor_subject="ghost", prev_hash=lines[i - 1]["entry_hash"])
    forged["entry_hash"] = entry_hash({k: forged[k] for k in FIELDS})
    for record in lines[i:]:
        if record["type"] == "entry":
            record["seq"] = int(record["seq"]) + 1  # type: ignore[call-overload]
    lines.insert(i, forged)


def _drop_checkpoints(lines: list[dict[str, object]]) -> None:
    lines[:] = [r for r in lines if r["type"] != "checkpoint"]


def _tamper_jws(lines: list[dict[str, object]]) -> None:
    cp = next(r for r in lines if r["type"] == "checkpoint")
    jws = str(cp["jws"])
    cp["jws"] = jws[:-2] + ("AA" if not jws.endswith("AA") else "BA")


def _cut(lines: list[dict[str, object]]) -> None:
    lines[:] = lines[: _at(lines, 21)]


def _anchor(lines: list[dict[str, object]]) -> None:
    lines[0]["anchor"] = {"seq": 10, "entry_hash": "1" * 64}


def _extra_field(lines: list[dict[str, object]]) -> None:
    lines[_at(lines, 15)]["note"] = "added"


@pytest.mark.parametrize(
    ("edit", "first_seq", "reason"),
    [
        pytest.param(_modify, 15, Reason.HASH_MISMATCH, id="modified"),
        pytest.param(_modify_rehash, 15, Reason.PREV_HASH_MISMATCH, id="modified-rehashed"),
        pytest.param(_delete, 15, Reason.GAP, id="deleted"),
        pytest.param(_delete_renumber, 15, Reason.REORDERED, id="deleted-renumbered"),
        pytest.param(_swap, 15, Reason.REORDERED, id="reordered"),
        pytest.param(_duplicate, 15, Reason.DUPLICATE, id="duplicated"),
        pytest.param(_insert_renumber, 15, Reason.REORDERED, id="inserted"),
        pytest.param(_drop_checkpoints, 11, Reason.UNSIGNED, id="checkpoints-dropped"),
        pytest.param(_tamper_jws, 25, Reason.CHECKPOINT_SIGNATURE, id="jws-tampered"),
        pytest.param(_cut, 21, Reason.TRUNCATED, id="cut-short"),
        pytest.param(_anchor, 11, Reason.ANCHOR, id="anchor-changed"),
        pytest.param(_extra_field, 15, Reason.MALFORMED, id="field-added"),
    ],
)
def test_edits_to_an_export_file_are_detected_at_the_first_bad_seq(
    log: sessionmaker[Session],
    signer: FileSigner,
    keys: KeySet,
    tmp_path: Path,
    edit: Edit,
    first_seq: int,
    reason: Reason,
) -> None:
    path = tmp_path / "slice.jsonl"
    _export(log, signer, path, first=11, last=25)  # sealed at 25; no other checkpoint inside
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    edit(lines)
    _write(path, lines)
    result: FileReport = verify_file(path, keys)
    first = result.report.first
    assert first is not None, "tampering went unnoticed"
    assert (first.seq, first.reason) == (first_seq, reason), result.report.findings


def test_garbage_is_reported_not_raised(keys: KeySet, tmp_path: Path) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_text('{"type": "header"}\nnot json\n', encoding="utf-8")
    report = verify_file(path, keys).report
    assert report.first is not None
    assert report.first.reason == Reason.MALFORMED


def test_an_empty_window_exports_no_entries(
    log: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    path = tmp_path / "none.jsonl"
    with log() as s, s.begin():
        result = export(
            s, T0 - timedelta(days=2), T0 - timedelta(days=1), "jsonl", path, jwks=signer.jwks()
        )
    assert result.entries == 0
    assert verify_file(path, keys).report.ok


def test_csv_cells_that_look_like_formulas_are_defused_and_still_verify(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet, tmp_path: Path
) -> None:
    from audit import append

    tricky = ['=HYPERLINK("http://x")', "+1", "-", "@SUM(A1)", "'quoted", "plain"]
    with sessions() as s, s.begin():
        for i, value in enumerate(tricky):
            append(
                s,
                direction="inbound",
                counterpart="hotline",
                actor_subject="sync",
                operation="sync.batch",
                correlation_id=value,
                at=T0 + timedelta(minutes=i),
            )
    path = tmp_path / "tricky.csv"
    _export(sessions, signer, path, fmt="csv")
    cells = [r[13] for r in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "''quoted" in cells
    assert "plain" in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert verify_file(path, keys).report.ok
