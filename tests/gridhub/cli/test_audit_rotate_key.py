"""``gridhub audit rotate-key``: a new checkpoint key, logged, and old checkpoints still verify."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import append
from canonical_model import Direction, ExchangeLogEntry
from gridhub.jobs.audit import os_user
from tests.audit.cli_env import run_cli, settings_env  # noqa: F401 (autouse)
from tests.audit.helpers import entry_kwargs, fill


def _active(tmp_path: Path) -> str:
    return (tmp_path / "var" / "audit-keys" / "active").read_text(encoding="ascii").strip()


def _append_now(sessions: sessionmaker[Session], first: int, n: int) -> None:
    with sessions() as s, s.begin():
        for i in range(first, first + n):
            append(s, **{k: v for k, v in entry_kwargs(i).items() if k != "at"})


def test_rotate_logs_the_rotation_and_old_checkpoints_keep_verifying(
    store_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    fill(sessions, 10)
    code, out, err = run_cli("checkpoint", "--url", store_url)
    assert code == 0, err
    old = _active(tmp_path)
    assert f"checkpoint at seq 10 signed with key {old}" in out

    code, out, err = run_cli("rotate-key", "--actor", "ops-lead", "--url", store_url)
    assert code == 0, err
    new = _active(tmp_path)
    assert new != old
    assert out.splitlines() == [
        f"active key: {new} (EdDSA)",
        "retired keys still published: 1",
    ]
    assert "logged at exchange-log seq 11" in err
    keys = tmp_path / "var" / "audit-keys"
    assert not (keys / f"{old}.key.pem").exists()  # the retired key cannot sign again
    assert (keys / f"{old}.jwk.json").exists()
    pem = (keys / f"{new}.key.pem").read_text(encoding="ascii")
    assert "ENCRYPTED PRIVATE KEY" in pem
    body = "".join(pem.splitlines()[1:-1])
    assert body[:40] not in out + err
    assert "PRIVATE" not in out + err

    with sessions() as s:
        entry = s.scalars(select(ExchangeLogEntry).where(ExchangeLogEntry.seq == 11)).one()
        assert entry.direction == Direction.ADMIN
        assert entry.actor_subject == "ops-lead"
        assert entry.operation == "audit.checkpoint_key.rotate"
        assert entry.object_refs == {"old_kid": old, "new_kid": new}

    _append_now(sessions, 12, 5)
    code, out, err = run_cli("checkpoint", "--url", store_url)
    assert code == 0, err
    assert f"checkpoint at seq 16 signed with key {new}" in out

    code, out, err = run_cli("verify", "--url", store_url)
    assert code == 0, err
    assert "16 entries (seq 1..16), 2 valid checkpoint(s), signed through seq 16" in out

    jwks_file = tmp_path / "hub-keys.json"
    assert run_cli("jwks", "--out", str(jwks_file))[0] == 0
    published = json.loads(jwks_file.read_text())["keys"]
    assert [k["kid"] for k in published] == [new, old]  # active first, the old one kept
    assert all("d" not in k for k in published)
    export_file = tmp_path / "all.jsonl"
    code, out, err = run_cli("export", "--out", str(export_file), "--url", store_url)
    assert code == 0, err
    assert "exported 16 entries (seq 1..16) and 2 checkpoint(s)" in out
    code, out, err = run_cli("verify", "--file", str(export_file), "--jwks", str(jwks_file))
    assert code == 0, err
    assert "2 valid checkpoint(s), signed through seq 16" in out
    code, out, err = run_cli("verify", "--file", str(export_file))  # the keys inside the export
    assert code == 0, err
    assert "2 valid checkpoint(s)" in out

    # Without the old public key the first checkpoint no longer verifies: the test can fail.
    only_new = tmp_path / "only-new.json"
    only_new.write_text(json.dumps({"keys": [published[0]]}), encoding="utf-8")
    code, _out, err = run_cli("verify", "--file", str(export_file), "--jwks", str(only_new))
    assert code == 1
    assert "unknown key id" in err


def test_rotate_defaults_to_the_os_user_and_finds_it_by_actor(
    sqlite_url: str, tmp_path: Path
) -> None:
    code, _out, err = run_cli("rotate-key", "--url", sqlite_url)
    assert code == 0, err
    code, out, err = run_cli("by-actor", os_user(), "--url", sqlite_url, "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    # Creating the first key logs nothing; the rotation away from it is the log's only entry.
    assert (row["seq"], row["direction"], row["counterpart"]) == (1, "admin", "cli")
    assert row["operation"] == "audit.checkpoint_key.rotate"


def test_rotate_refuses_an_unknown_algorithm_and_keeps_the_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    assert run_cli("checkpoint", "--url", sqlite_url)[0] == 0  # creates the first key
    before = _active(tmp_path)
    code, _out, err = run_cli("rotate-key", "--algorithm", "HS256", "--url", sqlite_url)
    assert code == 2
    assert "EdDSA or ES256" in err
    assert _active(tmp_path) == before


def test_rotate_does_not_change_the_key_when_the_log_cannot_be_written(tmp_path: Path) -> None:
    assert run_cli("jwks")[0] == 0  # creates the first key
    before = _active(tmp_path)
    unreachable = f"sqlite:///{tmp_path / 'missing-dir' / 'hub.db'}"
    code, _out, err = run_cli("rotate-key", "--url", unreachable)
    assert code == 1
    assert "the key was not rotated" in err
    assert _active(tmp_path) == before
    assert len(list((tmp_path / "var" / "audit-keys").glob("*.jwk.json"))) == 1
