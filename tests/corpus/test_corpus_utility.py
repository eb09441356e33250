# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Utility meter files of every broken kind, dropped into one inbox with good ones and synced.

The files meet the production path whole: ``Inbox.scan`` and ``read_manifest``, the one-pass
``parse_file`` (CSV in GBK/GB18030/UTF-8, XML through lxml ``iterparse``) and the sync engine.
Each refused file is quarantined under ``file:<name>`` with its reason code and moved to the
rejected folder with a reason file; a bad row is quarantined alone while its file loads; and
every good file beside them loads completely.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.engine import sync_stream
from adapters.utility import UtilityAdapter, UtilityConfig, create_adapter
from adapters.utility.client import Delivery, Inbox
from adapters.utility.parsing import FileRejected
from canonical_model import Quarantine
from canonical_model.store import make_engine, session_factory, upgrade
from canonical_model.utility import UtilityReading
from tests.corpus.corpus import DATA, Entry, of_kind


def _rows(entry: Entry) -> int:
    data = entry.read()
    if entry.file.endswith(".xml"):
        return data.count(b"<Reading>")
    return data.count(b"\n") - 1


def _manifest(entry: Entry) -> bytes:
    if "manifest_file" in entry.params:
        return (DATA / str(entry.params["manifest_file"])).read_bytes()
    doc: dict[str, Any] = {
        "file": Path(entry.file).name,
        "rows": _rows(entry),
        "sha256": hashlib.sha256(entry.read()).hexdigest(),
    }
    if "encoding" in entry.params:
        doc["encoding"] = entry.params["encoding"]
    doc.update(entry.params.get("manifest", {}))
    return json.dumps(doc).encode()


def _config(tmp_path: Path) -> UtilityConfig:
    return UtilityConfig(
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        rejected=tmp_path / "rejected",
        rows_per_checkpoint=100,
        manifest_grace_s=0,
    )


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gridhub.db'}")
    upgrade(engine)
    return session_factory(engine)


@pytest.mark.parametrize(
    "backend",
    [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.integration)],
)
def test_every_bad_file_is_refused_with_its_reason_and_every_good_one_loads(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    cfg = _config(tmp_path)
    cfg.inbox.mkdir(parents=True)
    corpus = of_kind("utility")
    for entry in corpus:
        name = Path(entry.file).name
        (cfg.inbox / name).write_bytes(entry.read())
        (cfg.inbox / f"{name}.manifest.json").write_bytes(_manifest(entry))
    if backend == "sqlite":
        sessions = _sessions(tmp_path)
    else:
        sessions = session_factory(make_engine(request.getfixturevalue("pg_url")))
    adapter = create_adapter(cfg)
    assert isinstance(adapter, UtilityAdapter)
    try:
        report = sync_stream(adapter, "accounts", sessions, checkpoint_every=25)
    finally:
        adapter.close()
    assert report.error is None
    with sessions() as s:
        quarantined = dict(s.execute(select(Quarantine.source_key, Quarantine.reason_code)).all())
        readings = s.execute(select(UtilityReading.account, UtilityReading.source_file)).all()
    by_file: dict[str, int] = {}
    for _account, source_file in readings:
        by_file[source_file] = by_file.get(source_file, 0) + 1

    outcomes = {}
    for entry in corpus:
        name = Path(entry.file).name
        file_code = quarantined.get(f"file:{name}")
        if entry.expect == "loaded":
            outcomes[name] = (
                "loaded"
                if by_file.get(name) == _rows(entry) and not file_code
                else (file_code or f"{by_file.get(name)} rows")
            )
            assert (cfg.archive / name).exists(), name
        elif entry.expect == "rows.quarantined":
            row_codes = sorted(c for k, c in quarantined.items() if f":row:{name}:" in str(k))
            good = by_file.get(name, 0) == entry.params["good_rows"]
            outcomes[name] = (
                "rows.quarantined"
                if good and row_codes == sorted(entry.params["row_codes"])
                else f"{row_codes} / {by_file.get(name)} rows"
            )
        elif entry.expect == "rows.nul":
            nul = [k for k, c in quarantined.items() if c == "encoding.nul"]
            outcomes[name] = "rows.nul" if nul and not file_code else f"{file_code} {nul}"
            assert (cfg.archive / name).exists(), name
        else:
            outcomes[name] = file_code or "not refused"
            assert name not in by_file, f"{name}: readings of a refused file were stored"
            assert (cfg.rejected / name).exists(), name
            note = json.loads((cfg.rejected / f"{name}.reason.json").read_text("utf-8"))
            assert note["reason_code"] == file_code
    assert outcomes == {Path(e.file).name: e.expect for e in corpus}
    assert not list(cfg.inbox.iterdir())  # every file left the inbox: archived or rejected
    assert report.received == report.stored + report.unchanged + report.quarantined


def test_manifests_are_refused_without_a_crash(tmp_path: Path) -> None:
    """Manifests on their own (deep nesting once raised RecursionError out of json.loads)."""
    cfg = _config(tmp_path)
    cfg.inbox.mkdir(parents=True)
    inbox = Inbox(cfg)
    data = cfg.inbox / "water_20260301.csv"
    data.write_bytes(b"x")
    for entry in of_kind("utility_manifest"):
        manifest = cfg.inbox / "water_20260301.csv.manifest.json"
        manifest.write_bytes(entry.read())
        try:
            inbox.read_manifest(Delivery(data.name, data, manifest))
        except FileRejected as exc:
            assert exc.code == entry.expect, entry.file
        else:
            raise AssertionError(f"{entry.file} was accepted")
