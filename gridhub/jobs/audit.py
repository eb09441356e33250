"""Exchange-log jobs: verify the chain, sign a checkpoint, rotate the checkpoint key.

Called by ``dags/audit_maintenance.py`` and ``gridhub audit …`` (one code path). The signing
key is the embedded default, a :class:`~audit.signing.FileSigner` under
``GRIDHUB_VAR_DIR/audit-keys`` (private key encrypted with ``GRIDHUB_KEY_PASSPHRASE``);
verification needs only the public keys in that folder. Summaries name seqs, kids and counts,
never payloads or key material.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from audit import (
    ChainBroken,
    FileSigner,
    KeySet,
    Report,
    append,
    checkpoint_if_due,
    head,
    list_archives,
    read_jwks,
    verify_all,
    verify_store,
)
from audit import checkpoint as do_checkpoint
from audit.signing import SigningKeyError  # public, though not in audit's __all__
from gridhub.settings import get_settings
from gridhub.wiring import sessions

__all__ = [
    "ARCHIVE_SUBDIR",
    "KEY_SUBDIR",
    "ChainBroken",
    "ChainInvalid",
    "KeyUnavailable",
    "RotationUnlogged",
    "archive_dir",
    "hub_keys",
    "key_dir",
    "open_signer",
    "os_user",
    "rotate_checkpoint_key",
    "sign_checkpoint",
    "verify_chain",
    "verify_report",
]

KEY_SUBDIR = "audit-keys"
ARCHIVE_SUBDIR = "audit-archive"
ROTATE_OPERATION = "audit.checkpoint_key.rotate"


class KeyUnavailable(Exception):
    """The checkpoint key cannot be loaded (wrong passphrase, unreadable folder)."""


class ChainInvalid(Exception):
    """Verification found a problem; the message names the first bad seq and why."""

    def __init__(self, report: Report) -> None:
        first = report.first
        more = len(report.findings) - 1
        extra = f" (and {more} more finding(s))" if more > 0 else ""
        super().__init__(f"exchange log verification FAILED: first bad entry {first}{extra}")
        self.report = report


class RotationUnlogged(Exception):
    """The key rotated but its exchange-log entry could not be written: log it by hand."""


def key_dir() -> Path:
    return get_settings().var_dir / KEY_SUBDIR


def archive_dir() -> Path:
    return get_settings().var_dir / ARCHIVE_SUBDIR


def open_signer() -> FileSigner:
    """The hub's checkpoint signer, created on first use."""
    passphrase = get_settings().key_passphrase.get_secret_value() or None
    try:
        return FileSigner.open(key_dir(), passphrase)
    except (ValueError, TypeError, OSError, SigningKeyError) as exc:
        # The exception's text could echo file contents; its type is enough to act on.
        raise KeyUnavailable(
            f"cannot load the audit signing key ({type(exc).__name__}); "
            "check GRIDHUB_KEY_PASSPHRASE and the key folder's permissions"
        ) from None


def hub_keys() -> tuple[KeySet, dict[str, Any]]:
    """Every public key the hub's folder ever held (no passphrase, nothing created)."""
    document: dict[str, Any] = dict(read_jwks(key_dir()))
    return KeySet.from_jwks(document), document


def verify_report(
    database_url: str | None = None,
    keys: KeySet | None = None,
    archives: Path | None = None,
) -> tuple[Report, str | None]:
    """The live table, plus the archives when the folder holds any; and a note for the reader.

    The note says when the table no longer starts at seq 1 and no archives were given, so a
    clean report is not read as covering entries it never saw.
    """
    keyset = keys if keys is not None else hub_keys()[0]
    folder = archives or archive_dir()
    note = None
    with sessions(database_url)() as session, session.begin():
        if list_archives(folder):
            report = verify_all(session, keyset, folder)
        else:
            report = verify_store(session, keyset)
            if report.ok and (report.first_seq or 1) > 1:
                note = (
                    f"entries before seq {report.first_seq} are not in this database; "
                    "point --archives at their archive folder to verify them too"
                )
    return report, note


def verify_chain(database_url: str | None = None) -> dict[str, Any]:
    """Check the hash chain and every checkpoint signature; raise :class:`ChainInvalid` if bad."""
    report, note = verify_report(database_url)
    if not report.ok:
        raise ChainInvalid(report)
    return {**report.as_dict(), "note": note}


def sign_checkpoint(database_url: str | None = None, every: int | None = None) -> dict[str, Any]:
    """Sign the head (re-verifying since the last checkpoint); with ``every``, only when due.

    Raises :class:`~audit.ChainBroken` rather than sign over an altered chain.
    """
    signer = open_signer()
    with sessions(database_url)() as session, session.begin():
        if every is None:
            row = do_checkpoint(session, signer)
        else:
            row = checkpoint_if_due(session, signer, every=every)
        if row is None:
            return {"signed": False, "seq": None, "kid": None}
        return {"signed": True, "seq": row.seq, "kid": row.kid}


def os_user() -> str:
    """Who is at the console: the login name, else the numeric uid (containers without one)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def rotate_checkpoint_key(
    actor: str, algorithm: str | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """Make a new checkpoint key active and log the rotation as an ``admin`` entry.

    The appenders' lock is taken *before* the key changes, so a database that cannot be written
    stops the rotation instead of leaving it unlogged; only a failed commit after that point
    can, and then :class:`RotationUnlogged` says which kids to record. The old public key stays
    in the folder (and in every JWKS and export), so its checkpoints keep verifying.
    """
    signer = open_signer()
    old = signer.kid
    rotated: str | None = None
    try:
        with sessions(database_url)() as session, session.begin():
            head(session)  # the lock, and proof the log is writable
            rotated = new = signer.rotate(algorithm)
            entry = append(
                session,
                direction="admin",
                counterpart="cli",
                actor_subject=actor,
                operation=ROTATE_OPERATION,
                object_refs={"old_kid": old, "new_kid": new},
            )
    except SigningKeyError as exc:  # e.g. an algorithm the file signer cannot make
        raise ValueError(str(exc)) from None
    except Exception as exc:
        if rotated is None:
            raise
        raise RotationUnlogged(
            f"the checkpoint key was rotated ({old} -> {rotated}) but its exchange-log entry "
            f"was not written ({type(exc).__name__}); record the rotation by hand"
        ) from exc
    kids = [k["kid"] for k in read_jwks(key_dir())["keys"]]
    return {
        "old_kid": old,
        "new_kid": new,
        "algorithm": signer.algorithm,
        "published_keys": len(kids),
        "seq": entry.seq,
    }
