"""Tampering in the database, as an attacker with superuser rights: each kind is detected,
with the first bad seq named. The triggers are bypassed first (see helpers.superuser)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from audit import FileSigner, KeySet, Reason, Report, checkpoint, verify_store
from audit.canonical import FIELDS
from audit.signing import checkpoint_payload
from tests.audit.helpers import fill, rehash, row, shift, superuser

N = 40
K = 17  # the entry the attacker goes after


@pytest.fixture
def log(sessions: sessionmaker[Session], signer: FileSigner) -> sessionmaker[Session]:
    """40 entries, checkpoints at 10 and 30 (so K=17 lies between two signatures)."""
    fill(sessions, 30)
    with sessions() as s, s.begin():
        checkpoint(s, signer, seq=10)
        checkpoint(s, signer, seq=30)
    fill(sessions, N - 30, start=31)
    return sessions


def _verify(sessions: sessionmaker[Session], keys: KeySet) -> Report:
    with sessions() as s:
        return verify_store(s, keys)


def test_untouched_log_verifies(log: sessionmaker[Session], keys: KeySet) -> None:
    report = _verify(log, keys)
    assert report.ok, report.findings
    assert (report.entries, report.first_seq, report.last_seq) == (N, 1, N)
    assert report.checkpoints == 2
    assert report.covered_through == 30


def _modify(conn: Connection) -> None:
    conn.execute(
        text("UPDATE exchange_log SET actor_subject = 'intruder' WHERE seq = :k"), {"k": K}
    )


def _modify_and_rehash(conn: Connection) -> None:
    fields = row(conn, K)
    fields["purpose"] = "cover-up"
    conn.execute(
        text("UPDATE exchange_log SET purpose = 'cover-up', entry_hash = :h WHERE seq = :k"),
        {"h": rehash(fields), "k": K},
    )


def _relink_and_rehash(conn: Connection) -> None:
    """Change an entry's prev_hash (to splice the chain) and recompute its own hash."""
    fields = row(conn, K)
    fields["prev_hash"] = "ab" * 32
    conn.execute(
        text("UPDATE exchange_log SET prev_hash = :p, entry_hash = :h WHERE seq = :k"),
        {"p": fields["prev_hash"], "h": rehash(fields), "k": K},
    )


def _delete(conn: Connection) -> None:
    conn.execute(text("DELETE FROM exchange_log WHERE seq = :k"), {"k": K})


def _delete_and_renumber(conn: Connection) -> None:
    _delete(conn)
    shift(conn, K + 1, -1)


def _insert_and_renumber(conn: Connection) -> None:
    """A forged entry at K, perfectly chained to K-1, later entries moved up by one."""
    shift(conn, K, +1)
    forged = row(conn, K - 1)
    forged.update(seq=K, actor_subject="ghost", prev_hash=forged["entry_hash"])
    forged["entry_hash"] = rehash(forged)
    _insert(conn, forged)


def _insert(conn: Connection, entry: dict[str, object]) -> None:
    columns = [*FIELDS, "entry_hash"]
    values = {**entry, "object_refs": json.dumps(entry["object_refs"])}
    if conn.dialect.name == "sqlite":  # the text form SQLAlchemy stores
        values["at"] = str(entry["at"]).replace("T", " ")[:-1]
    conn.execute(
        text(
            f"INSERT INTO exchange_log ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
        ),
        values,
    )


def _swap(conn: Connection) -> None:
    """Entries K and K+1 change places."""
    conn.execute(text("UPDATE exchange_log SET seq = -1 WHERE seq = :k"), {"k": K})
    conn.execute(text("UPDATE exchange_log SET seq = :k WHERE seq = :k1"), {"k": K, "k1": K + 1})
    conn.execute(text("UPDATE exchange_log SET seq = :k1 WHERE seq = -1"), {"k1": K + 1})


def _rewrite_suffix(conn: Connection) -> None:
    """The careful attacker: changes K and recomputes every later hash and link."""
    prev = row(conn, K - 1)["entry_hash"]
    for seq in range(K, N + 1):
        fields = row(conn, seq)
        if seq == K:
            fields["actor_subject"] = "intruder"
        fields["prev_hash"] = prev
        prev = rehash(fields)
        conn.execute(
            text(
                "UPDATE exchange_log SET actor_subject = :a, prev_hash = :p, entry_hash = :h "
                "WHERE seq = :s"
            ),
            {"a": fields["actor_subject"], "p": fields["prev_hash"], "h": prev, "s": seq},
        )


def _delete_prefix(conn: Connection) -> None:
    """The oldest entries removed, as if archived — but not at a signed boundary."""
    conn.execute(text("DELETE FROM exchange_log WHERE seq <= 5"))


def _truncate_tail(conn: Connection) -> None:
    """Cut everything from 25 on — past the checkpoint at 30."""
    conn.execute(text("DELETE FROM exchange_log WHERE seq >= 25"))


Tamper = Callable[[Connection], None]


@pytest.mark.parametrize(
    ("tamper", "first_seq", "reason"),
    [
        pytest.param(_modify, K, Reason.HASH_MISMATCH, id="modified"),
        pytest.param(_modify_and_rehash, K, Reason.PREV_HASH_MISMATCH, id="modified-rehashed"),
        pytest.param(_relink_and_rehash, K, Reason.PREV_HASH_MISMATCH, id="relinked"),
        pytest.param(_delete, K, Reason.GAP, id="deleted"),
        pytest.param(_delete_and_renumber, K, Reason.REORDERED, id="deleted-renumbered"),
        pytest.param(_insert_and_renumber, K, Reason.REORDERED, id="inserted"),
        pytest.param(_swap, K, Reason.REORDERED, id="reordered"),
        pytest.param(_rewrite_suffix, 30, Reason.CHECKPOINT_MISMATCH, id="suffix-rewritten"),
        pytest.param(_truncate_tail, 25, Reason.TRUNCATED, id="tail-truncated"),
        pytest.param(_delete_prefix, 1, Reason.GAP, id="prefix-deleted"),
    ],
)
def test_tampering_in_the_database_is_detected_at_the_first_bad_seq(
    engine: Engine,
    log: sessionmaker[Session],
    keys: KeySet,
    tamper: Tamper,
    first_seq: int,
    reason: Reason,
) -> None:
    with superuser(engine) as conn:
        tamper(conn)
    report = _verify(log, keys)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.seq, first.reason) == (first_seq, reason), report.findings


def test_a_forged_tail_is_only_reported_as_unsigned(
    engine: Engine, log: sessionmaker[Session], keys: KeySet
) -> None:
    """The limit of any hash chain: entries after the newest checkpoint are only as safe as the
    database. A perfectly chained forged entry at the end passes the chain check; strict mode
    reports everything after the last signature, and the next checkpoint would vouch for it —
    which is why checkpoints should be frequent and copied off the machine."""
    with superuser(engine) as conn:
        forged = row(conn, N)
        forged.update(seq=N + 1, prev_hash=forged["entry_hash"], actor_subject="ghost")
        forged["entry_hash"] = rehash(forged)
        _insert(conn, forged)
    with log() as s:
        lenient = verify_store(s, keys)
        strict = verify_store(s, keys, require_signed=True)
    assert lenient.ok
    assert lenient.last_seq == N + 1
    assert strict.first is not None
    assert (strict.first.seq, strict.first.reason) == (31, Reason.UNSIGNED)


def test_checkpoints_kept_by_an_auditor_catch_a_rewrite_after_the_rows_are_gone(
    engine: Engine, log: sessionmaker[Session], keys: KeySet
) -> None:
    with log() as s:
        kept = [
            {"seq": seq, "entry_hash": h, "jws": jws}
            for seq, h, jws in s.execute(text("SELECT seq, entry_hash, jws FROM audit_checkpoint"))
        ]
    with superuser(engine) as conn:
        _rewrite_suffix(conn)
        conn.execute(text("DELETE FROM audit_checkpoint WHERE seq = 30"))
    assert _verify(log, keys).ok  # the database alone no longer knows
    with log() as s:
        report = verify_store(s, keys, extra_checkpoints=kept)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (30, Reason.CHECKPOINT_MISMATCH)


def test_a_checkpoint_signed_with_another_key_is_refused(
    engine: Engine, log: sessionmaker[Session], keys: KeySet, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    rogue = FileSigner.open(tmp_path / "rogue")
    with log() as s:
        head = row(s.connection(), N)
    jws = rogue.sign(checkpoint_payload(N, head["entry_hash"], head["at"]))
    with superuser(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO audit_checkpoint (seq, entry_hash, at, kid, jws) "
                "VALUES (:s, :h, :at, :kid, :jws)"
            ),
            {
                "s": N,
                "h": head["entry_hash"],
                "at": "2026-03-02 00:00:00",
                "kid": rogue.kid,
                "jws": jws,
            },
        )
    report = _verify(log, keys)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (N, Reason.CHECKPOINT_SIGNATURE)
    assert "unknown key" in report.first.detail


@pytest.mark.parametrize("part", ["payload", "signature", "header-alg"])
def test_a_tampered_checkpoint_jws_is_refused(
    engine: Engine, log: sessionmaker[Session], keys: KeySet, part: str
) -> None:
    import base64
    import json

    with log() as s:
        jws = s.execute(text("SELECT jws FROM audit_checkpoint WHERE seq = 10")).scalar_one()
    header, payload, signature = jws.split(".")
    if part == "payload":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["entry_hash"] = "0" * 64
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    elif part == "signature":
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    else:
        head = json.loads(base64.urlsafe_b64decode(header + "=="))
        head["alg"] = "HS256"
        header = base64.urlsafe_b64encode(json.dumps(head).encode()).rstrip(b"=").decode()
    with superuser(engine) as conn:
        conn.execute(
            text("UPDATE audit_checkpoint SET jws = :j WHERE seq = 10"),
            {"j": f"{header}.{payload}.{signature}"},
        )
    report = _verify(log, keys)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (10, Reason.CHECKPOINT_SIGNATURE)


def test_checkpoint_row_edited_without_the_jws_is_noticed(
    engine: Engine, log: sessionmaker[Session], keys: KeySet
) -> None:
    with superuser(engine) as conn:
        conn.execute(text("UPDATE audit_checkpoint SET seq = 11 WHERE seq = 10"))
    report = _verify(log, keys)
    assert report.first is not None
    assert (report.first.seq, report.first.reason) == (11, Reason.CHECKPOINT_MISMATCH)


def test_the_hub_refuses_to_sign_over_an_altered_chain(
    engine: Engine, log: sessionmaker[Session], signer: FileSigner
) -> None:
    from audit import ChainBroken

    """Signing re-checks the entries since the previous checkpoint (30) before vouching."""
    with superuser(engine) as conn:
        conn.execute(text("UPDATE exchange_log SET purpose = 'x' WHERE seq = 35"))
    with pytest.raises(ChainBroken) as caught, log() as s, s.begin():
        checkpoint(s, signer)
    assert caught.value.finding is not None
    assert caught.value.finding.seq == 35
