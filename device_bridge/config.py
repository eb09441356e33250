"""How the bridge reaches its gateways, how hard it lets them push, and the clinical limits.

The composition root (``gridhub device-bridge run``) builds :class:`BridgeConfig` from the
``GRIDHUB_DEVICE_BRIDGE__…`` settings section or a JSON/YAML file; this package reads no
environment. Defaults are the district's: heart rate 40–130 bpm and SpO2 ≥ 90 % sustained
for 5 minutes, no door activity for 24 hours, two missed heartbeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from device_bridge.model import is_safe_id

__all__ = ["BridgeConfig", "MqttSettings", "OpcUaGateway", "Thresholds"]


def _safe(value: str) -> str:
    if not is_safe_id(value):
        raise ValueError("ids are 1–64 letters, digits, '.', '_', ':' or '-'")
    return value


class Thresholds(BaseModel):
    """Limits for one person's devices; a registry row's ``thresholds`` overrides any field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heart_rate_low: float = Field(40, description="bpm below which the heart rate is too low.")
    heart_rate_high: float = Field(130, description="bpm above which it is too high.")
    spo2_low: float = Field(90, description="Oxygen saturation (%) below which it is too low.")
    sustain_s: float = Field(300, gt=0, description="How long out of range before an alert.")
    recover_s: float = Field(
        60, ge=0, description="How long back in range before an episode ends (no flapping)."
    )
    no_activity_s: float = Field(
        86_400, gt=0, description="No door activity this long, person living alone: welfare."
    )
    silent_heartbeats: float = Field(
        2.0, ge=1, description="Missed heartbeats (× the device's interval) before maintenance."
    )
    low_battery: float = Field(15, ge=0, le=100, description="Battery % that needs a visit.")

    def merged(self, overrides: Mapping[str, Any] | None) -> Thresholds:
        """These limits with a registry row's overrides; unknown keys are ignored."""
        if not overrides:
            return self
        known = {k: v for k, v in overrides.items() if k in type(self).model_fields}
        return self.model_copy(update=known) if known else self


class OpcUaGateway(BaseModel):
    """One building gateway speaking OPC UA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="The gateway's id, as the device registry names it.")
    endpoint: str = Field(description="opc.tcp://host:port/path")
    building_code: str | None = Field(
        None, description="Where it is installed: an unknown device's alarm is sent here."
    )
    namespace: str = Field("urn:gridhub:devices", description="Namespace URI of its devices.")
    timeout_s: float = Field(4.0, gt=0, description="Per-request timeout.")

    _id = field_validator("id")(_safe)

    @field_validator("endpoint")
    @classmethod
    def _opc_tcp(cls, value: str) -> str:
        if not value.startswith("opc.tcp://"):
            raise ValueError("an OPC UA endpoint starts with opc.tcp://")
        return value


class MqttSettings(BaseModel):
    """The broker MQTT devices publish to; the bridge keeps a persistent session there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway_id: str = Field("mqtt", description="Gateway id of MQTT devices in the registry.")
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = Field("gridhub-device-bridge", description="Stable: it names the session.")
    topic_root: str = Field("gridhub", description="Topics are ROOT/building/device/channel.")
    keepalive_s: int = Field(15, ge=5)
    session_expiry_s: int = Field(
        7 * 86_400, ge=60, description="How long the broker keeps our queue while we are away."
    )
    username: str | None = None
    password: SecretStr | None = None

    _gateway_id = field_validator("gateway_id")(_safe)


class BridgeConfig(BaseModel):
    """Everything ``gridhub device-bridge run`` needs besides the database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateways: tuple[OpcUaGateway, ...] = ()
    mqtt: MqttSettings | None = None
    thresholds: Thresholds = Thresholds()
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(9109, description="/healthz and /metrics; None: no server.")
    alarm_interval_ms: float = Field(
        25, gt=0, description="OPC UA publishing interval of alarms: the floor of their latency."
    )
    publishing_interval_ms: float = Field(
        250, gt=0, description="OPC UA publishing interval of readings (batched, cheaper)."
    )
    watchdog_s: float = Field(1.0, gt=0, description="How often a quiet gateway is probed.")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    device_rate: float = Field(5.0, gt=0, description="Readings batches/s a device may send.")
    device_burst: float = Field(20.0, ge=1)
    gateway_rate: float = Field(2_000.0, gt=0, description="Batches/s a gateway may send.")
    gateway_burst: float = Field(5_000.0, ge=1)
    quarantine_per_device_minute: int = Field(
        10, ge=1, description="Quarantined readings kept per device and minute; beyond: counted."
    )
    tick_s: float = Field(5.0, gt=0, description="How often durations and silence are checked.")
    flush_s: float = Field(5.0, gt=0, description="How often last-seen times are stored.")
    registry_refresh_s: float = Field(60.0, gt=0, description="How often new devices load.")
    gateway_offline_after_s: float = Field(
        600, gt=0, description="A gateway unreachable this long raises one maintenance event."
    )
    relay_interval_s: float | None = Field(
        0.5, description="Deliver gateway acknowledgements from the outbox this often; None: off."
    )
    ack_timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _unique_gateways(self) -> BridgeConfig:
        ids = [g.id for g in self.gateways] + ([self.mqtt.gateway_id] if self.mqtt else [])
        if len(ids) != len(set(ids)):
            raise ValueError("gateway ids must be unique (MQTT's included)")
        return self

    def gateway(self, gateway_id: str) -> OpcUaGateway | None:
        return next((g for g in self.gateways if g.id == gateway_id), None)
