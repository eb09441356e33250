"""Settings of the health adapter: ``GRIDHUB_HEALTH__<FIELD>`` under ``Settings.health``."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["DEFAULT_RESIDENT_ID_SYSTEMS", "GENDER_CODES", "HealthConfig"]

#: The identifier systems whose value is a resident ID number (居民身份证号). The simulator
#: uses the first; a district adds its own platform's URI or OID. An identifier typed
#: ``v2-0203#NNCHN`` counts too, whatever its system.
DEFAULT_RESIDENT_ID_SYSTEMS = ("http://gridhub.example/fhir/sid/resident-id",)
#: FHIR R4 administrative-gender, a required binding: no other Patient.gender code is valid.
GENDER_CODES = frozenset({"male", "female", "other", "unknown"})


class HealthConfig(BaseModel):
    """Where the district's FHIR R4 server is, how to page it and how hard to try."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        "http://127.0.0.1:8702/fhir", description="FHIR base URL (without a trailing slash)."
    )
    bearer_token: SecretStr | None = Field(
        None, description="Sent as `Authorization: Bearer …` when the server requires it."
    )
    page_size: int = Field(500, ge=1, le=5000, description="`_count` of each search page.")
    timeout_s: float = Field(30.0, gt=0, description="Connect and read timeout per request.")
    max_retries: int = Field(
        4, ge=0, le=20, description="Retries after a timeout, connection error, 429 or 5xx."
    )
    backoff_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry, with full jitter."
    )
    max_backoff_s: float = Field(30.0, ge=0, description="Upper bound of one retry delay.")
    map_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="Processes validating and mapping pages while the sync stores the page "
        "before; 0 maps inline. Pages under 100 resources are always handled inline.",
    )
    max_pages: int = Field(
        100_000, ge=1, description="A search that needs more pages is treated as a loop."
    )
    lookback_s: int = Field(
        60,
        ge=0,
        description="Each sync asks for resources updated this long before its watermark, so "
        "one committed late with an earlier lastUpdated is not skipped; re-read resources "
        "cost a content hash, nothing more.",
    )
    resident_id_systems: tuple[str, ...] = Field(
        DEFAULT_RESIDENT_ID_SYSTEMS,
        description="Patient.identifier systems holding the resident ID number.",
    )
    gender_codes: dict[str, Literal["male", "female", "other", "unknown"]] = Field(
        default_factory=dict,
        description="A source's own Patient.gender codes mapped to FHIR's, as JSON, e.g. "
        '`{"男": "male", "女": "female", "未知": "unknown"}`. Empty: such Patients are '
        "quarantined (`fhir.gender_code`). Each mapped Patient records "
        "`facts.patient.gender_issue`.",
    )
    resources: tuple[str, ...] = Field(
        ("Patient", "Encounter", "Observation"),
        description="Resource types to sync (streams patients, encounters, observations).",
    )

    @field_validator("resident_id_systems", "resources", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """From the environment a list arrives as text: JSON or comma-separated."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return tuple(v.strip() for v in text.split(",") if v.strip())
        return value

    @field_validator("gender_codes", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        """From the environment the mapping arrives as JSON text."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("gender_codes")
    @classmethod
    def _local_codes_only(cls, value: dict[str, str]) -> dict[str, str]:
        # Remapping a FHIR code (male → female) would silently corrupt valid data.
        clash = sorted(set(value) & GENDER_CODES)
        if clash:
            raise ValueError(f"FHIR codes cannot be remapped: {clash}")
        if any(not key or key != key.strip() for key in value):
            raise ValueError("local gender codes must be non-empty, without outer spaces")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("resources")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - {"Patient", "Encounter", "Observation"}
        if unknown:
            raise ValueError(f"unsupported resource types: {sorted(unknown)}")
        return value
