from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gridhub.settings import Settings


def test_sqlite_file_under_var_is_the_default(tmp_path: Path) -> None:
    s = Settings(environment="development", var_dir=tmp_path, database_url="")
    assert s.effective_database_url == f"sqlite:///{tmp_path.as_posix()}/gridhub.db"


def test_explicit_database_url_wins() -> None:
    s = Settings(environment="development", database_url="postgresql://hub@db/hub")
    assert s.effective_database_url == "postgresql://hub@db/hub"


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize("placeholder", ["changeme", "", "secret", " ChangeMe "])
def test_placeholder_secrets_are_refused_outside_development(
    environment: str, placeholder: str
) -> None:
    with pytest.raises(ValidationError, match="GRIDHUB_KEY_PASSPHRASE"):
        Settings(
            environment=environment,  # type: ignore[arg-type]
            key_passphrase=placeholder,  # type: ignore[arg-type]
        )


def test_placeholders_are_fine_in_development() -> None:
    s = Settings(environment="development", key_passphrase="changeme")  # type: ignore[arg-type]
    assert s.key_passphrase.get_secret_value() == "changeme"


def test_settings_come_from_gridhub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_SYNC_CHECKPOINT_EVERY", "42")
    assert Settings().sync_checkpoint_every == 42
