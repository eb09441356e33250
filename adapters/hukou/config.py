"""Settings of the 户籍 adapter: ``GRIDHUB_HUKOU__<FIELD>`` once nested under ``Settings.hukou``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["HukouConfig"]


class HukouConfig(BaseModel):
    """Where the district's 户籍 SOAP service is and how hard to try when it misbehaves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wsdl_url: str = Field(
        "http://127.0.0.1:8701/hukou?wsdl", description="WSDL of the 户籍 service."
    )
    service_url: str | None = Field(
        None,
        description="Endpoint to call instead of the WSDL's soap:address (gateways often "
        "publish an internal host name there).",
    )
    username: str = Field("gridhub", description="WS-Security UsernameToken user.")
    password: SecretStr = Field(
        SecretStr("changeme"), description="WS-Security UsernameToken password."
    )
    password_digest: bool = Field(
        True,
        description="Send PasswordDigest (nonce + created) rather than the password in clear.",
    )
    page_size: int = Field(1000, ge=1, le=5000, description="Persons per QueryChangedPersons.")
    timeout_s: float = Field(30.0, gt=0, description="Connect and read timeout per request.")
    max_retries: int = Field(
        4, ge=0, le=20, description="Retries after a timeout, connection error or 5xx."
    )
    backoff_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry, with full jitter."
    )
    max_backoff_s: float = Field(30.0, ge=0, description="Upper bound of one retry delay.")
    map_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="Processes mapping pages while the sync stores the page before; 0 maps "
        "inline. Pages under 200 persons (small incremental syncs) are always mapped inline.",
    )
    decoder: Literal["lxml", "zeep"] = Field(
        "lxml",
        description="How pages are decoded: lxml reads the Person elements directly; zeep "
        "deserializes through the WSDL's types (stricter, ~9x the CPU: 190 vs 21 µs a record).",
    )
