"""``gridhub audit``: verify, export, checkpoint and archive the exchange log; auditor queries;
rotate the checkpoint key. Verify, checkpoint and rotation are ``gridhub.jobs.audit``'s jobs,
which the nightly ``audit_maintenance`` DAG runs too.

The checkpoint key is the embedded default, ``GRIDHUB_VAR_DIR/audit-keys`` (created on first
use, private key 0600, encrypted with ``GRIDHUB_KEY_PASSPHRASE``); archives go to
``GRIDHUB_VAR_DIR/audit-archive``. Times must carry an offset (``2026-03-01T00:00+08:00``):
an audit question about "midnight" in an unknown zone is a wrong answer waiting to happen.
Output names seqs, reasons and the query rows asked for; it never prints payloads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from audit.queries import Access
    from audit.signing import FileSigner, KeySet
    from audit.verify import Report

app = typer.Typer(
    help="The exchange log: verify, export, checkpoint, archive, rotate keys; who accessed what.",
    no_args_is_help=True,
)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Database URL (default: GRIDHUB_DATABASE_URL).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="From this time (inclusive), with an offset.")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Up to this time (exclusive), with an offset.")
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")]
ArchivesOption = Annotated[
    Path | None,
    typer.Option("--archives", help="Archive folder (default: GRIDHUB_VAR_DIR/audit-archive)."),
]


def _archives(option: Path | None) -> Path:
    from gridhub.jobs.audit import archive_dir

    return option or archive_dir()


def _signer() -> FileSigner:
    from gridhub.jobs.audit import KeyUnavailable, open_signer

    try:
        return open_signer()
    except KeyUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _keys(jwks_file: Path | None) -> tuple[KeySet, dict[str, Any]]:
    """Trusted public keys: a JWKS file, else the hub's key folder (read only, no passphrase)."""
    from audit.signing import KeySet, SigningKeyError
    from gridhub.jobs.audit import hub_keys

    try:
        if jwks_file is None:
            return hub_keys()
        document = json.loads(jwks_file.read_text(encoding="utf-8"))
        return KeySet.from_jwks(document), document
    except SigningKeyError as exc:
        typer.echo(f"unusable JWKS: {exc}", err=True)
        raise typer.Exit(2) from None


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("not an ISO 8601 time", param_hint=option) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give an offset, e.g. 2026-03-01T00:00+08:00", param_hint=option)
    return parsed


def _print_report(report: Report, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), **(extra or {})}, ensure_ascii=False))
    else:
        span = f"seq {report.first_seq}..{report.last_seq}" if report.entries else "no entries"
        covered = report.covered_through
        typer.echo(
            f"{report.entries} entries ({span}), {report.checkpoints} valid checkpoint(s), "
            f"signed through seq {covered if covered is not None else '-'}"
        )
        first = report.first
        if first is not None:
            typer.echo(f"FIRST BAD ENTRY: {first}", err=True)
            for finding in report.findings:
                if finding != first:
                    typer.echo(f"  also: {finding}", err=True)
        else:
            typer.echo("chain ok")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="Verify an export or archive file offline.")
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option("--jwks", help="Trusted public keys (JWKS); default: the hub's own."),
    ] = None,
    archives: ArchivesOption = None,
    allow_unsigned_tail: Annotated[
        bool, typer.Option(help="For --file: do not fail entries after the last checkpoint.")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the hash chain and every checkpoint signature; exit 1 naming the first bad seq."""
    from audit.offline import verify_file
    from gridhub.jobs.audit import verify_report

    if file is not None:
        keys: KeySet | None = None
        if jwks is not None:
            keys = _keys(jwks)[0]
        else:
            typer.echo(
                "note: no --jwks given; using the keys inside the file, which proves the file "
                "is intact but not who wrote it",
                err=True,
            )
        result = verify_file(file, keys, require_signed=not allow_unsigned_tail)
        _print_report(result.report, as_json, {"keys_from_file": result.keys_from_file})
        return
    report, note = verify_report(url, _keys(jwks)[0], archives)
    if note is not None:
        typer.echo(f"note: {note}", err=True)
    _print_report(report, as_json)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    seal: Annotated[
        bool, typer.Option(help="Sign a checkpoint at the slice's last entry if it has none.")
    ] = True,
    url: UrlOption = None,
) -> None:
    """Write entries, their checkpoints and the public keys for offline verification."""
    from audit.export import export as do_export
    from gridhub.wiring import sessions

    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("jsonl or csv", param_hint="--format")
    start, end = _time(since, "--since"), _time(until, "--until")
    signer = _signer()
    with sessions(url)() as session, session.begin():
        result = do_export(
            session,
            start,
            end,
            fmt,
            out,
            jwks=signer.jwks(),
            signer=signer if seal else None,
        )
    span = f"seq {result.first_seq}..{result.last_seq}" if result.entries else "no entries"
    typer.echo(
        f"exported {result.entries} entries ({span}) and {result.checkpoints} checkpoint(s)"
        + (" (sealed)" if result.sealed else "")
        + f" to {out}"
    )


@app.command()
def checkpoint(
    every: Annotated[
        int | None,
        typer.Option("--every", min=1, help="Only if at least this many entries are unsigned."),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Sign the current head of the log (after re-verifying it since the last checkpoint)."""
    from gridhub.jobs.audit import ChainBroken, KeyUnavailable, sign_checkpoint

    try:
        done = sign_checkpoint(url, every)
    except KeyUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except ChainBroken as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if not done["signed"]:
        typer.echo("nothing to sign")
    else:
        typer.echo(f"checkpoint at seq {done['seq']} signed with key {done['kid']}")


@app.command()
def archive(
    before: Annotated[str, typer.Option("--before", help="Archive entries older than this.")],
    directory: ArchivesOption = None,
    url: UrlOption = None,
) -> None:
    """Move old entries into a hash-linked gzip archive, then delete them from the table."""
    from audit.archive import ArchiveError
    from audit.archive import archive as do_archive
    from audit.checkpoint import ChainBroken
    from gridhub.wiring import sessions

    cutoff = _time(before, "--before")
    assert cutoff is not None
    signer = _signer()
    keys, document = _keys(None)
    folder = _archives(directory)
    try:
        with sessions(url)() as session, session.begin():
            info = do_archive(
                session, before=cutoff, directory=folder, keys=keys, jwks=document, signer=signer
            )
    except (ArchiveError, ChainBroken) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if info is None:
        typer.echo("nothing to archive")
    else:
        typer.echo(
            f"archived seq {info.first_seq}..{info.last_seq} to {folder / info.name} "
            f"(sha256 {info.sha256})"
        )


def _archive_dir(option: Path | None) -> Path | None:
    """The archive folder to search too, when it holds any archives."""
    from audit.archive import list_archives

    folder = _archives(option)
    return folder if list_archives(folder) else None


def _print_accesses(rows: list[Access], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
        return
    for r in rows:
        typer.echo(
            f"{r.seq:>8}  {r.at.isoformat()}  {r.direction:<8} {r.actor_subject} "
            f"({r.actor_role or '-'})  purpose={r.purpose or '-'}  {r.operation} "
            f"via {r.counterpart}  {r.result}"
        )
    typer.echo(f"{len(rows)} row(s)", err=True)


@app.command("who-accessed")
def who_accessed(
    person: Annotated[str, typer.Option("--person", help="The person's uid.")],
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 1000,
    archives: ArchivesOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who accessed this person's data, when and why (live table, plus archives if any)."""
    from audit.queries import who_accessed as query
    from gridhub.wiring import sessions

    with sessions(url)() as session:
        rows = query(
            session,
            person,
            since=_time(since, "--since"),
            until=_time(until, "--until"),
            limit=limit,
            archive_dir=_archive_dir(archives),
        )
    _print_accesses(rows, as_json)


@app.command("by-actor")
def by_actor(
    subject: Annotated[str, typer.Argument(help="The actor's subject (user or service id).")],
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 1000,
    archives: ArchivesOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything one actor did, oldest first (live table, plus archives if any)."""
    from audit.queries import by_actor as query
    from gridhub.wiring import sessions

    with sessions(url)() as session:
        rows = query(
            session,
            subject,
            since=_time(since, "--since"),
            until=_time(until, "--until"),
            limit=limit,
            archive_dir=_archive_dir(archives),
        )
    _print_accesses(rows, as_json)


@app.command("by-counterpart")
def by_counterpart(
    counterpart: Annotated[str, typer.Argument(help="The system, e.g. hukou or hotline.")],
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 1000,
    archives: ArchivesOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything exchanged with one counterpart system, oldest first (plus archives)."""
    from audit.queries import by_counterpart as query
    from gridhub.wiring import sessions

    with sessions(url)() as session:
        rows = query(
            session,
            counterpart,
            since=_time(since, "--since"),
            until=_time(until, "--until"),
            limit=limit,
            archive_dir=_archive_dir(archives),
        )
    _print_accesses(rows, as_json)


@app.command()
def jwks(
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
) -> None:
    """Print the public keys auditors verify checkpoints with (publish this, keep it forever)."""
    document = json.dumps(_signer().jwks(), indent=2)
    if out is None:
        typer.echo(document)
    else:
        out.write_text(document + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.command("rotate-key")
def rotate_key(
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who rotates, for the log (default: the OS user)."),
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="EdDSA or ES256 (default: as before).")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Make a new checkpoint key active and log it; old public keys stay published."""
    from sqlalchemy.exc import SQLAlchemyError

    from gridhub.jobs.audit import (
        KeyUnavailable,
        RotationUnlogged,
        os_user,
        rotate_checkpoint_key,
    )

    try:
        done = rotate_checkpoint_key(actor or os_user(), algorithm, url)
    except KeyUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RotationUnlogged as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:  # before the key changed: nothing happened
        typer.echo(
            f"error: cannot write the exchange log ({type(exc).__name__}); the key was not rotated",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"active key: {done['new_kid']} ({done['algorithm']})")
    typer.echo(f"retired keys still published: {done['published_keys'] - 1}")
    typer.echo(
        f"logged at exchange-log seq {done['seq']}; sign the head with the new key: "
        "gridhub audit checkpoint",
        err=True,
    )
