"""The disk full while ``gridhub sync utility`` writes the archive.

The archive folder is a tiny tmpfs of its own (as it would be a separate volume in a
district), filled up before the sync. Loading needs no room there, moving a loaded file
does: the file must stay in the inbox (or go to rejected with a reason), its records must be
stored once, the run must end with a clear error, and once there is room again the next run
archives it without loading anything twice.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.reliability.accounting import account
from tests.reliability.harness import hub_env, run_sync
from tests.reliability.sources import stored_readings, utility_case

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _fill(fd: int) -> None:
    while True:
        os.write(fd, b"\0" * 4096)


@pytest.fixture
def full_volume(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, filled to the last byte; unmounted afterwards."""
    mount = tmp_path / "archive"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            "this test mounts a tmpfs to fill a disk and needs root (or CAP_SYS_ADMIN): "
            f"mount said {done.stderr.strip()!r}"
        )
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError, match="No space left") as full:
                _fill(fd)
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_archive_volume_full_keeps_the_file_and_stores_records_once(
    full_volume: Path, sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    with utility_case(tmp_path / "utility", archive=full_volume) as case:
        env = hub_env(sqlite_url, tmp_path / "var", checkpoint_every=25, utility=case.settings)
        inbox = Path(case.settings["inbox"])
        rejected = Path(case.settings["rejected"])
        files = [Path(f).name for f in case.extra["files"]]

        done = run_sync("utility", env)
        assert done.returncode == 2, "a full archive must fail the run"
        assert "No space left on device" in done.stderr
        assert "Traceback" not in done.stderr
        # The file that could not be archived is still whole in the inbox (or rejected with
        # a reason); no partial copy is left in the archive.
        for name in files:
            place = [p for p in (inbox / name, rejected / name) if p.exists()]
            assert place, f"{name} is neither in the inbox nor rejected: lost"
            if place[0].parent == rejected:
                assert (rejected / f"{name}.reason.json").exists()
        assert sorted(p.name for p in full_volume.iterdir()) == ["filler"]

        (full_volume / "filler").unlink()  # room again
        done = run_sync("utility", env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert sorted(p.name for p in inbox.iterdir()) == []
        assert {n for n in files} <= {p.name for p in full_volume.iterdir()}
        result = account(sqlite_store, "utility", case.expected(), label="utility disk full")
        result.assert_balanced()
        readings = stored_readings(sqlite_store)
        assert len(readings) == len(set(readings)) == len(case.extra["readings"])
        assert set(readings) == case.extra["readings"]
