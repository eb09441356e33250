"""MQTT devices: the same device model as JSON on ``ROOT/<building>/<device>/<channel>``.

Channels: ``telemetry`` (``{"ts": …, "heart_rate": 72, "battery": 88, …}``), ``alarm``
(``{"ts": …, "kind": "fall", "episode": 3, "active": true, "since": …}``, retained while
latched) and ``command`` (what the bridge sends back: ``{"command": "acknowledge", …}``).

Nothing may be lost across a broker restart or a bridge restart, so the bridge keeps a
persistent session (``clean_start=False`` with a session expiry; the broker queues QoS 1
messages while we are away) and acknowledges each message *manually*, after it has been
handled — for an alarm, after its event is committed. A crash before that makes the broker
deliver it again, and the episode number makes the second delivery a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_bridge.config import MqttSettings
from device_bridge.model import Reading, is_safe_id
from device_bridge.validate import Invalid, check

__all__ = ["MAX_PAYLOAD", "MqttIngest", "parse_message", "publish_command"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 16 * 1024
_ALARM_KEYS = {"kind": "alarm_kind", "episode": "alarm_episode", "active": "alarm_active"}

#: ``submit(gateway, device, readings, after, building)``, called on the event loop.
MqttSubmit = Callable[[str, str, list[Reading], Callable[[], None], str], None]
#: ``reject(device, raw, code, reason, after)`` for a message that is not a reading at all.
MqttReject = Callable[[str, bytes, str, str, Callable[[], None]], None]


def _client(settings: MqttSettings, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    return client


def parse_message(
    root: str, topic: str, payload: bytes
) -> tuple[str, str, list[Reading]] | Invalid:
    """(building, device, readings) of one message, or why it is not one."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != root or parts[3] not in ("telemetry", "alarm"):
        return Invalid("message.bad_topic", "topic is not ROOT/building/device/channel")
    building, device, channel = parts[1], parts[2], parts[3]
    if not is_safe_id(device) or not is_safe_id(building):
        return Invalid("message.bad_topic", "building or device in the topic is not a plain id")
    if len(payload) > MAX_PAYLOAD:
        return Invalid("message.too_large", f"payload larger than {MAX_PAYLOAD} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return Invalid("message.bad_json", "payload is not JSON")
    if not isinstance(body, dict):
        return Invalid("message.bad_json", "payload is not a JSON object")
    at = check("last_seen", body.get("ts"))
    if isinstance(at, Invalid):
        return Invalid("message.bad_time", "ts missing or not an aware ISO 8601 time")
    readings: list[Reading] = []
    if channel == "alarm":
        for key, point in _ALARM_KEYS.items():
            if key not in body:
                return Invalid("message.incomplete", f"alarm without {key}")
            readings.append(Reading(point, body[key], at))
        readings.insert(0, Reading("alarm_since", body.get("since", body["ts"]), at))
    else:
        readings.append(Reading("last_seen", at, at))
        readings.extend(Reading(k, v, at) for k, v in body.items() if k != "ts")
    return building, device, readings


class MqttIngest:
    """The bridge's MQTT session; paho's network thread hands messages to the event loop."""

    def __init__(
        self,
        settings: MqttSettings,
        loop: asyncio.AbstractEventLoop,
        submit: MqttSubmit,
        reject: MqttReject,
        on_state: Callable[[str, bool], None],
    ) -> None:
        self.settings = settings
        self.loop = loop
        self.submit = submit
        self.reject = reject
        self.on_state = on_state
        self.client = _client(settings, settings.client_id)
        self.client.manual_ack_set(True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # paho's thread --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        root = self.settings.topic_root
        client.subscribe([(f"{root}/+/+/telemetry", 1), (f"{root}/+/+/alarm", 1)])
        log.info("MQTT connected (session present: %s)", flags.session_present)
        self.loop.call_soon_threadsafe(self.on_state, self.settings.gateway_id, True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        log.warning("MQTT disconnected: %s", reason)
        self.loop.call_soon_threadsafe(self.on_state, self.settings.gateway_id, False)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(
            self._handle, msg.topic, bytes(msg.payload), msg.mid, msg.qos
        )

    # the event loop --------------------------------------------------------------------------

    def _handle(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        def ack() -> None:
            if qos > 0:
                self.client.ack(mid, qos)

        parsed = parse_message(self.settings.topic_root, topic, payload)
        if isinstance(parsed, Invalid):
            device = topic.split("/")[2] if topic.count("/") == 3 else "-"
            self.reject(
                device if is_safe_id(device) else "-", payload, parsed.code, parsed.reason, ack
            )
            return
        building, device, readings = parsed
        self.submit(self.settings.gateway_id, device, readings, ack, building)


def publish_command(
    settings: MqttSettings, building: str, device: str, body: dict[str, Any], timeout_s: float
) -> None:
    """Publish one command with QoS 1 and return once the broker holds it (PUBACK).

    The device's own persistent session gets it when it is next online. Raises
    ``OSError`` / ``TimeoutError`` when the broker cannot be reached: the caller retries.
    """
    client = _client(settings, f"{settings.client_id}-cmd-{uuid.uuid4().hex[:12]}")
    client.connect(settings.host, settings.port, keepalive=max(5, int(timeout_s) + 5))
    client.loop_start()
    try:
        topic = f"{settings.topic_root}/{building}/{device}/command"
        info = client.publish(topic, json.dumps(body, separators=(",", ":")), qos=1)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the command in time")
    finally:
        client.disconnect()
        client.loop_stop()
