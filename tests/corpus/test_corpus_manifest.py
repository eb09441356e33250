"""The corpus describes itself: every file is in the manifest, and every entry has a file,
a production parser and an expected refusal."""

from __future__ import annotations

from tests.corpus.corpus import DATA, entries

KINDS = {"soap", "utility", "utility_manifest", "hotline", "fhir", "fhir_bundle", "protobuf",
         "jwt", "oversized", "resident_id", "sql", "rest_body"}  # fmt: skip


def test_every_file_is_described_once_and_every_entry_has_its_file() -> None:
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    listed = [e.file for e in entries()]
    assert len(listed) == len(set(listed))
    assert set(listed) == on_disk


def test_every_entry_says_what_it_is_who_meets_it_and_what_must_happen() -> None:
    for e in entries():
        assert e.kind in KINDS, e.file
        assert e.what.strip(), e.file
        assert e.parser.strip(), e.file
        assert e.expect.strip(), e.file


def test_corpus_files_stay_small() -> None:
    """Big inputs are grown at test time from a seed (``grow_to``), not stored."""
    for e in entries():
        assert e.path.stat().st_size <= 64 * 1024, e.file
