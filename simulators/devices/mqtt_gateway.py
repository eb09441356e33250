"""MQTT devices: the same devices and latches as the OPC UA gateways, as JSON over a broker.

Topics are ``ROOT/<building>/<device>/telemetry`` (readings, QoS 1), ``…/alarm`` (the latch,
QoS 1, *retained* so whoever subscribes later sees the current state) and ``…/command``
(acknowledgements from the hub). The gateway keeps a persistent session too, so a command
sent while it was offline arrives when it is back, and paho re-sends QoS 1 messages that
were in flight when the broker went away.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simulators.devices.device import SimDevice

__all__ = ["MqttGateway"]

log = logging.getLogger(__name__)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class MqttGateway:
    def __init__(
        self,
        devices: Iterable[SimDevice],
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic_root: str = "gridhub",
        client_id: str = "gridhub-sim-mqtt-gateway",
    ) -> None:
        self.devices = {d.id: d for d in devices}
        self.host, self.port, self.root = host, port, topic_root
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(1, 5)
        self.client.max_queued_messages_set(0)  # queue everything while the broker is away
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 86_400
        self.client.connect_async(self.host, self.port, 15, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def topic(self, device_id: str, channel: str) -> str:
        building = self.devices[device_id].spec.building_code
        return f"{self.root}/{building}/{device_id}/{channel}"

    # --- what devices do ----------------------------------------------------------------------

    def publish(
        self, topic: str, body: bytes | str, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, body, qos=1, retain=retain)

    def telemetry(
        self, device_id: str, changes: dict[str, Any], at: datetime | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Publish readings (and keep them as the device's state)."""
        at = at or datetime.now(UTC)
        with self._lock:
            device = self.devices[device_id]
            for point, value in changes.items():
                device.set(point, value, at)
            body = {"ts": at.isoformat(), **{k: _json_value(v) for k, v in changes.items()}}
        return self.publish(self.topic(device_id, "telemetry"), json.dumps(body))

    def heartbeat(self, device_id: str, at: datetime | None = None) -> mqtt.MQTTMessageInfo:
        device = self.devices[device_id]
        at = at or datetime.now(UTC)
        device.set("last_seen", at, at)
        body = {"battery": device.values["battery"], "status": device.values["status"]}
        return self.telemetry(device_id, body, at)

    def raise_alarm(
        self, device_id: str, kind: str | None = None, at: datetime | None = None
    ) -> int:
        at = at or datetime.now(UTC)
        with self._lock:
            device = self.devices[device_id]
            new, _ = device.raise_alarm(kind, at)
            episode = int(device.values["alarm_episode"])
            body = self._alarm_body(device, at)
        if new:
            self.publish(self.topic(device_id, "alarm"), body, retain=True)
        return episode

    @staticmethod
    def _alarm_body(device: SimDevice, at: datetime) -> str:
        return json.dumps(
            {
                "ts": at.isoformat(),
                "kind": device.values["alarm_kind"],
                "episode": device.values["alarm_episode"],
                "active": device.values["alarm_active"],
                "since": device.values["alarm_since"].isoformat(),
            }
        )

    # --- paho's thread ------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(f"{self.root}/+/+/command", qos=1)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        device = self.devices.get(parts[2]) if len(parts) == 4 else None
        try:
            body = json.loads(msg.payload)
            episode = int(body["episode"])
        except (ValueError, KeyError, TypeError):
            log.warning("MQTT gateway: unreadable command on %s", msg.topic)
            return
        if device is None or body.get("command") != "acknowledge":
            return
        now = datetime.now(UTC)
        with self._lock:
            result, changes = device.acknowledge(episode, now)
            alarm = self._alarm_body(device, now) if changes else None
        if alarm is not None:
            self.publish(self.topic(device.id, "alarm"), alarm, retain=True)
        log.info("MQTT gateway: %s episode %d acknowledged: %s", device.id, episode, result)
