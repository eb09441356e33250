"""``gridhub audit`` through Typer's runner, against each backend and a temporary var folder."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.audit.cli_env import run_cli, settings_env  # noqa: F401 (autouse)
from tests.audit.helpers import PERSON_A, fill, superuser


def test_checkpoint_verify_export_and_offline_verify(
    store_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    fill(sessions, 30)
    code, out, err = run_cli("checkpoint", "--url", store_url)
    assert code == 0, err
    assert "checkpoint at seq 30" in out
    key_file = tmp_path / "var" / "audit-keys"
    assert any(p.name.endswith(".key.pem") for p in key_file.iterdir())
    code, out, _ = run_cli("checkpoint", "--every", "100", "--url", store_url)
    assert (code, out.strip()) == (0, "nothing to sign")

    code, out, err = run_cli("verify", "--url", store_url)
    assert code == 0, err
    assert "30 entries" in out
    assert "chain ok" in out

    export_file = tmp_path / "slice.jsonl"
    code, out, err = run_cli(
        "export",
        "--since", "2026-03-01T09:05:00+08:00",
        "--until", "2026-03-01T01:20:00Z",
        "--out", str(export_file),
        "--url", store_url,
    )  # fmt: skip
    assert code == 0, err
    assert "exported 15 entries (seq 5..19)" in out
    assert "(sealed)" in out

    jwks_file = tmp_path / "hub-keys.json"
    assert run_cli("jwks", "--out", str(jwks_file))[0] == 0
    assert "d" not in json.loads(jwks_file.read_text())["keys"][0]
    code, out, err = run_cli("verify", "--file", str(export_file), "--jwks", str(jwks_file))
    assert code == 0, err
    assert "signed through seq 19" in out

    lines = export_file.read_text(encoding="utf-8").splitlines()
    lines = [line.replace('"worker-5"', '"worker-6"') for line in lines]
    export_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run_cli(
        "verify", "--file", str(export_file), "--jwks", str(jwks_file), "--json"
    )
    assert code == 1
    report = json.loads(out)
    assert report["findings"][0]["seq"] == 5
    assert report["findings"][0]["reason"] == "hash_mismatch"


def test_verify_names_the_first_bad_entry_and_exits_1(
    store_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    fill(sessions, 12)
    with superuser(engine) as conn:
        conn.execute(text("DELETE FROM exchange_log WHERE seq = 7"))
    code, _out, err = run_cli("verify", "--url", store_url)
    assert code == 1
    assert "FIRST BAD ENTRY: seq 7: gap" in err


def test_archive_then_verify_and_query_across_archives(
    store_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    fill(sessions, 30)
    code, out, err = run_cli("archive", "--before", "2026-03-01T01:16:00Z", "--url", store_url)
    assert code == 0, err
    assert "archived seq 1..15" in out
    assert (tmp_path / "var" / "audit-archive" / "MANIFEST.jsonl").exists()
    code, out, err = run_cli("verify", "--url", store_url)
    assert code == 0, err
    assert "30 entries (seq 1..30)" in out
    code, out, err = run_cli("who-accessed", "--person", PERSON_A, "--url", store_url, "--json")
    assert code == 0, err
    assert [row["seq"] for row in json.loads(out)] == list(range(3, 31, 3))
    code, out, err = run_cli("by-actor", "worker-3", "--url", store_url)
    assert code == 0, err
    assert out.count("worker-3") == 4  # seqs 3 and 10 from the archive, 17 and 24 live
    code, out, _ = run_cli("by-counterpart", "hukou", "--url", store_url, "--limit", "2")
    assert code == 0
    assert len(out.strip().splitlines()) == 2


def test_times_without_an_offset_are_refused(store_url: str, tmp_path: Path) -> None:
    code, _out, err = run_cli(
        "export", "--since", "2026-03-01", "--out", str(tmp_path / "x"), "--url", store_url
    )
    assert code == 2
    assert "offset" in err
