"""``gridhub identity`` through Typer's runner, against a temporary key directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridhub.cli.identity import DEFAULT_AUDIENCE, DEFAULT_ISSUER, app, parse_ttl
from gridhub.settings import get_settings
from identity.jwk import PRIVATE_MEMBERS
from identity.keys import KeyRing
from identity.roles import Role
from identity.tokens import verify_token
from tests.identity.helpers import header_of

PASSPHRASE = "cli-test-passphrase-7f3a"
SUBJECT = "worker-cli-31"
GRID = "330106001001001"


@pytest.fixture(autouse=True)
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDHUB_ENVIRONMENT", "test")
    monkeypatch.setenv("GRIDHUB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDHUB_KEY_PASSPHRASE", PASSPHRASE)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _issue(key_dir: Path, *extra: str) -> str:
    code, out, err = _run(
        "issue-token",
        "--role",
        "grid_worker",
        "--subject",
        SUBJECT,
        "--grid",
        GRID,
        "--key-dir",
        str(key_dir),
        *extra,
    )
    assert code == 0, err
    return out.strip()


def _ring(key_dir: Path) -> KeyRing:
    return KeyRing(key_dir, passphrase=PASSPHRASE)


def test_issue_token_prints_a_verifiable_token(key_dir: Path) -> None:
    code, out, err = _run(
        "issue-token",
        "--role",
        "grid_worker",
        "--subject",
        SUBJECT,
        "--grid",
        GRID,
        "--grid",
        "330106001001002",
        "--purpose",
        "welfare_visit",
        "--purpose",
        "hotline_case",
        "--ttl",
        "30m",
        "--key-dir",
        str(key_dir),
    )
    assert code == 0, err
    token = out.strip()
    assert out.count("\n") == 1  # the token alone on stdout, ready for $(...)
    principal = verify_token(
        token, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, ring=_ring(key_dir)
    )
    assert principal.role is Role.GRID_WORKER
    assert principal.grids == frozenset({GRID, "330106001001002"})
    assert principal.purposes == frozenset({"welfare_visit", "hotline_case"})
    assert principal.expires_at is not None
    assert SUBJECT not in err  # notes never name the holder


def test_keys_are_encrypted_with_the_settings_passphrase(key_dir: Path) -> None:
    _issue(key_dir)
    private = next(key_dir.glob("*.key.pem"))
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert KeyRing(key_dir, passphrase=PASSPHRASE).signing_key()


def test_default_key_dir_is_under_var_dir(tmp_path: Path) -> None:
    code, _, err = _run("issue-token", "--role", "district_it", "--subject", "ops-1")
    assert code == 0, err
    assert list((tmp_path / "var" / "keys").glob("*.key.pem"))


def test_issuer_and_audience_options(key_dir: Path) -> None:
    token = _issue(key_dir, "--issuer", "gridhub-xihu", "--audience", "grpc")
    principal = verify_token(token, issuer="gridhub-xihu", audience="grpc", ring=_ring(key_dir))
    assert principal.issuer == "gridhub-xihu"


def test_jwks_prints_public_keys_only(key_dir: Path) -> None:
    _issue(key_dir)
    code, out, _ = _run("jwks", "--key-dir", str(key_dir))
    assert code == 0
    document = json.loads(out)
    assert len(document["keys"]) == 1
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig"
        assert jwk["alg"] == "ES256"
    assert "PRIVATE KEY" not in out


def test_rotate_key_keeps_old_tokens_valid(key_dir: Path) -> None:
    old_token = _issue(key_dir)

    code, out, err = _run("rotate-key", "--key-dir", str(key_dir), "--algorithm", "EdDSA")
    assert code == 0, err
    new_kid = _ring(key_dir).active().kid
    assert new_kid in out
    assert "retired keys still accepted: 1" in out

    new_token = _issue(key_dir)
    assert header_of(new_token)["kid"] == new_kid
    assert header_of(new_token)["alg"] == "EdDSA"
    ring = _ring(key_dir)
    for token in (old_token, new_token):
        verify_token(token, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, ring=ring)
    code, out, _ = _run("jwks", "--key-dir", str(key_dir))
    assert json.loads(out)["keys"][0]["kid"] == new_kid


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--role", "root", "--subject", "x"], "unknown role", id="unknown-role"),
        pytest.param(
            ["--role", "grid_worker", "--subject", "x", "--grid", GRID, "--ttl", "8 hours"],
            "TTL",
            id="bad-ttl",
        ),
        pytest.param(
            ["--role", "grid_worker", "--subject", "x", "--grid", GRID, "--ttl", "90d"],
            "ttl",
            id="ttl-too-long",
        ),
        pytest.param(
            ["--role", "grid_worker", "--subject", "x", "--grid", "330106"],
            "grid level",
            id="worker-given-district",
        ),
        pytest.param(
            ["--role", "grid_worker", "--subject", "x", "--grid", GRID, "--purpose", "shopping"],
            "purpose",
            id="unknown-purpose",
        ),
    ],
)
def test_issue_token_refuses_bad_input(key_dir: Path, args: list[str], message: str) -> None:
    code, out, err = _run("issue-token", *args, "--key-dir", str(key_dir))
    assert code == 2
    assert out == ""
    assert message in err


def test_wrong_passphrase_exits_1_without_echoing_it(
    key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _issue(key_dir)
    monkeypatch.setenv("GRIDHUB_KEY_PASSPHRASE", "a-different-passphrase")
    get_settings.cache_clear()
    code, out, err = _run(
        "issue-token", "--role", "auditor", "--subject", "a", "--key-dir", str(key_dir)
    )
    assert code == 1
    assert out == ""
    assert "a-different-passphrase" not in err
    assert PASSPHRASE not in err


def test_rotate_key_refuses_unknown_algorithm(key_dir: Path) -> None:
    code, _, err = _run("rotate-key", "--key-dir", str(key_dir), "--algorithm", "HS256")
    assert code == 2
    assert "algorithm" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30m", timedelta(minutes=30), id="minutes"),
        pytest.param("8h", timedelta(hours=8), id="hours"),
        pytest.param("7d", timedelta(days=7), id="days"),
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param(" 1h ", timedelta(hours=1), id="trimmed"),
    ],
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("8", id="no-unit"),
        pytest.param("h", id="no-number"),
        pytest.param("0h", id="zero"),
        pytest.param("-1h", id="negative"),
        pytest.param("1h30m", id="compound"),
        pytest.param("8H", id="upper-case"),
        pytest.param("1w", id="weeks"),
    ],
)
def test_parse_ttl_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="TTL"):
        parse_ttl(text)
