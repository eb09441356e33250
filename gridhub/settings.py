"""One typed settings object for the whole hub, read from ``GRIDHUB_*`` environment variables.

Secrets that still carry a placeholder value are refused outside development, so a district
deployment cannot start with the demo's credentials by accident.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "changethis", "secret", "password"})
REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every ``GRIDHUB_`` setting; the README's configuration reference is generated from it."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDHUB_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Placeholder secrets are refused unless this is development."
    )
    var_dir: Path = Field(REPO_ROOT / "var", description="Where the embedded default keeps state.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the canonical store; empty means var/gridhub.db (SQLite).",
    )
    sync_checkpoint_every: int = Field(
        500, ge=1, description="Records per transaction: the cursor commits with each checkpoint."
    )
    sync_max_record_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="A source record larger than this (bytes as received) is quarantined whole.",
    )
    key_passphrase: SecretStr = Field(
        SecretStr("changeme"), description="Passphrase protecting the hub's signing keys in var/."
    )
    log_level: str = Field("INFO", description="Python logging level.")

    # --- source systems ----------------------------------------------------------------------
    # One section per source, e.g. GRIDHUB_HOTLINE__TOPIC. Each adapter's own pydantic model
    # (adapters/<source>/config.py) validates its section when the adapter is built, so reading
    # settings never imports a transport stack.
    hukou: dict[str, Any] = Field(default_factory=dict, description="户籍 SOAP adapter.")
    civil_affairs: dict[str, Any] = Field(default_factory=dict, description="民政 ODBC adapter.")
    hotline: dict[str, Any] = Field(default_factory=dict, description="12345 Kafka adapter.")
    health: dict[str, Any] = Field(default_factory=dict, description="Health FHIR adapter.")
    utility: dict[str, Any] = Field(default_factory=dict, description="Utility meter files.")
    device_bridge: dict[str, Any] = Field(
        default_factory=dict, description="Device bridge: OPC UA gateways, MQTT, limits."
    )

    # --- identity (JWT) ---------------------------------------------------------------------
    jwt_issuer: str = Field("gridhub", description="`iss` of tokens the hub issues.")
    jwt_audience: str = Field("gridhub-api", description="`aud` every accepted token must carry.")
    jwt_algorithm: Literal["ES256", "EdDSA", "RS256"] = Field(
        "ES256", description="Signing algorithm of new hub keys."
    )
    jwks_url: str | None = Field(
        None, description="JWKS of an external identity provider (https) whose tokens to accept."
    )
    idp_issuer: str | None = Field(
        None, description="The `iss` of that provider's tokens (keys are bound to their issuer)."
    )
    jwks_cache_ttl_seconds: int = Field(600, ge=10, description="How long a fetched JWKS is kept.")
    purpose_extras: list[str] = Field(
        default_factory=list, description="Purposes accepted beyond the built-in vocabulary."
    )
    key_grace_days: int = Field(
        30, ge=30, description="Days a retired key still verifies tokens after rotation."
    )

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "development":
            return self
        weak = [
            name
            for name, value in (("key_passphrase", self.key_passphrase),)
            if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
        ]
        if weak:
            raise ValueError(
                f"placeholder secrets are not allowed in {self.environment}: "
                + ", ".join(f"GRIDHUB_{n.upper()}" for n in weak)
            )
        return self

    @model_validator(mode="after")
    def _idp_needs_issuer(self) -> Settings:
        if self.jwks_url and not self.idp_issuer:
            raise ValueError("GRIDHUB_JWKS_URL needs GRIDHUB_IDP_ISSUER: keys are bound to it")
        return self

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'gridhub.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
