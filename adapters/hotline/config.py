"""How gridhub reaches the 12345 hotline's Kafka: the ``hotline`` settings field.

Every field can be set as ``GRIDHUB_HOTLINE__<FIELD>`` (e.g.
``GRIDHUB_HOTLINE__BOOTSTRAP_SERVERS=kafka-1:9093,kafka-2:9093``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class HotlineConfig(BaseModel):
    """Connection, topics and pacing of the hotline consumer and its reply producer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of the hotline's Kafka."
    )
    topic: str = Field("hotline.workorders", description="Where the hotline publishes orders.")
    reply_topic: str = Field(
        "hotline.replies", description="Where gridhub publishes status updates and outcomes."
    )
    partitions: tuple[int, ...] | None = Field(
        None, description="Partitions to read; empty means every partition the topic has."
    )
    poll_timeout_ms: int = Field(500, ge=10, description="How long one poll waits for data.")
    max_poll_records: int = Field(2000, ge=1, description="Records handed over per poll.")
    max_partition_fetch_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1,
        description="Bytes fetched per partition and request: bounds the consumer's memory.",
    )
    map_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="Processes mapping polled orders while the sync stores those before; 0 "
        "maps inline. Polls under 200 orders (a quiet stream) are always mapped inline.",
    )
    flush_interval_s: float = Field(
        5.0,
        gt=0,
        description="Long-lived consumer: commit at least this often while messages trickle in.",
    )
    unavailable_after_s: float = Field(
        30.0,
        gt=0,
        description="Bounded sync: give up (and keep what was stored) when the broker has "
        "not answered for this long; a broker restart shorter than this is ridden out.",
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for the first broker to answer."
    )
    request_timeout_ms: int = Field(15_000, ge=1000, description="Kafka request timeout.")
    reply_timeout_s: float = Field(
        10.0, gt=0, description="How long a reply waits for the broker's acknowledgement."
    )
    check_crcs: bool = Field(
        True, description="Verify record CRCs (pure Python in kafka-python unless crc32c is in)."
    )
    client_id: str = Field("gridhub-hotline", description="Kafka client id, seen in broker logs.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = Field(None, description="CA bundle for the city's Kafka TLS.")
