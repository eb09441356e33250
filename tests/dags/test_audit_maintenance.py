"""The audit_maintenance DAG verifies the exchange log and signs its head, through dag.test()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from canonical_model import AuditCheckpoint
from canonical_model.store import make_engine, session_factory, upgrade
from gridhub.jobs.audit import ChainInvalid, verify_chain
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from tests.audit.helpers import fill, superuser


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    fill(session_factory(eng), 20)
    monkeypatch.setenv("GRIDHUB_ENVIRONMENT", "test")
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    monkeypatch.setenv("GRIDHUB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDHUB_KEY_PASSPHRASE", "dag-test-passphrase-4e1a")
    get_settings.cache_clear()
    wired_engine.cache_clear()
    yield eng
    get_settings.cache_clear()
    wired_engine.cache_clear()
    eng.dispose()


def _run(dagbag: Any) -> tuple[str, dict[str, str]]:
    run = dagbag.get_dag("audit_maintenance").test()
    return str(run.state), {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _checkpoints(eng: Engine) -> list[int]:
    with eng.connect() as conn:
        return list(conn.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))


def test_a_sound_log_is_verified_and_its_head_signed(dagbag: Any, store: Engine) -> None:
    assert _run(dagbag) == ("success", {"verify_chain": "success", "sign_checkpoint": "success"})
    assert _checkpoints(store) == [20]
    fill(session_factory(store), 5, start=21)
    assert _run(dagbag)[0] == "success"  # the second night also verifies the first checkpoint
    assert _checkpoints(store) == [20, 25]
    assert verify_chain()["checkpoints"] == 2


def test_a_tampered_log_fails_the_run_and_nothing_is_signed(
    dagbag: Any, store: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    with superuser(store) as conn:
        conn.execute(text("UPDATE exchange_log SET actor_subject = 'someone' WHERE seq = 7"))
    with pytest.raises(ChainInvalid, match=r"first bad entry seq 7: hash_mismatch"):
        verify_chain()
    state, tasks = _run(dagbag)
    assert state == "failed"
    assert tasks == {"verify_chain": "failed", "sign_checkpoint": "upstream_failed"}
    # Failed at once (no retry: tampering does not heal), the task log naming the seq.
    assert "verification FAILED: first bad entry seq 7: hash_mismatch" in capfd.readouterr().out
    with store.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
