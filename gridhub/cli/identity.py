"""``gridhub identity``: the hub's signing keys and hand-issued tokens.

Hand-issued tokens are for service accounts (``platform``), demos and tests; staff normally get
theirs from the district's identity provider. The token goes to stdout alone so it can be piped
(``TOKEN=$(gridhub identity issue-token ...)``); notes go to stderr and never name the subject.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from identity.keys import KeyRing

DEFAULT_ISSUER = "gridhub"
DEFAULT_AUDIENCE = "gridhub-api"

app = typer.Typer(
    help="Signing keys and tokens: who a caller is and which grids they may see.",
    no_args_is_help=True,
)

KeyDirOption = Annotated[
    Path | None,
    typer.Option("--key-dir", help="Key ring directory (default: GRIDHUB_VAR_DIR/keys)."),
]

_TTL = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> timedelta:
    """``30m``, ``8h``, ``7d`` (also ``90s``): one number, one unit, so there is no ambiguity."""
    match = _TTL.fullmatch(text.strip())
    if match is None:
        raise ValueError("TTL must look like 30m, 8h or 7d")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def _setting(name: str) -> str:
    from gridhub.settings import get_settings

    return str(getattr(get_settings(), name))


def _ring(key_dir: Path | None, algorithm: str | None = None) -> KeyRing:
    from gridhub.settings import get_settings
    from identity.jwk import parse_algorithm
    from identity.keys import KeyRing

    settings = get_settings()
    alg = parse_algorithm(algorithm or _setting("jwt_algorithm"))
    return KeyRing(
        key_dir or settings.keys_dir,
        algorithm=alg,
        passphrase=settings.key_passphrase.get_secret_value(),
    )


def _fail(exc: Exception, code: int) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code)


@app.command("issue-token")
def issue_token(
    role: Annotated[str, typer.Option("--role", help="grid_worker, community_admin, ...")],
    subject: Annotated[str, typer.Option("--subject", help="Account id of the holder.")],
    grid: Annotated[
        list[str] | None, typer.Option("--grid", help="Grid unit code in scope (repeatable).")
    ] = None,
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="Allowed unmask purpose (repeatable).")
    ] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime: 30m, 8h, 7d.")] = "8h",
    issuer: Annotated[str | None, typer.Option("--issuer", help="Default: gridhub.")] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="Default: gridhub-api.")
    ] = None,
    key_dir: KeyDirOption = None,
) -> None:
    """Print a signed token (generating the key ring on first use)."""
    from identity.errors import IdentityError, KeyRingError
    from identity.tokens import issue_token as issue

    try:
        lifetime = parse_ttl(ttl)
        ring = _ring(key_dir)
        token = issue(
            ring,
            subject=subject,
            role=role,
            grids=grid or (),
            purposes=purpose or (),
            ttl=lifetime,
            issuer=issuer or _setting("jwt_issuer"),
            audience=audience or _setting("jwt_audience"),
        )
    except KeyRingError as exc:
        raise _fail(exc, 1) from None
    except (ValueError, IdentityError) as exc:
        raise _fail(exc, 2) from None
    typer.echo(token)
    typer.echo(f"signed with kid {ring.active().kid}, valid for {ttl}", err=True)


@app.command()
def jwks(key_dir: KeyDirOption = None) -> None:
    """Print the JWKS (public keys only) for services that verify the hub's tokens."""
    from identity.errors import KeyRingError

    try:
        document = _ring(key_dir).jwks()
    except KeyRingError as exc:
        raise _fail(exc, 1) from None
    typer.echo(json.dumps(document, indent=2))


@app.command("rotate-key")
def rotate_key(
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="ES256 (default), EdDSA or RS256.")
    ] = None,
    key_dir: KeyDirOption = None,
) -> None:
    """Make a new signing key active; old public keys keep verifying through the grace period."""
    from identity.errors import KeyRingError

    try:
        ring = _ring(key_dir, algorithm)
        new = ring.rotate()
    except KeyRingError as exc:
        raise _fail(exc, 1) from None
    except ValueError as exc:
        raise _fail(exc, 2) from None
    retired = [k for k in ring.entries() if k.retired_at is not None]
    typer.echo(f"active key: {new.kid} ({new.alg})")
    typer.echo(f"retired keys still accepted: {len(retired)}")


__all__ = ["app", "parse_ttl"]
