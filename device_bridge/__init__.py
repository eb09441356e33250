"""Device gateways (OPC UA, MQTT) to events, tasks and back.

Community devices — fall detectors, health bracelets, door contacts, smoke, gas and leak
alarms — report through building gateways. The bridge keeps a subscription to every gateway,
maps each device to its person and building through the device registry, judges readings
(debounced, de-duplicated by alarm episode, flood-controlled, bad values quarantined) and
publishes what needs a visit through ``workflow.publish_event``, so an alarm becomes an
assigned task in one transaction. When that task is accepted or completed, the workflow's
outbox reaches :func:`device_bridge.ack.deliver`, which acknowledges the alarm on the device.

Imports ``canonical_model``, ``workflow`` and ``audit`` only; configuration comes in as a
:class:`BridgeConfig` from the composition root (``gridhub device-bridge``)::

    bridge = Bridge(BridgeConfig(gateways=[...], mqtt=MqttSettings()), sessions)
    await bridge.run(stop_event)
"""

from device_bridge.ack import GatewayRelay, configure, deliver
from device_bridge.config import BridgeConfig, MqttSettings, OpcUaGateway, Thresholds
from device_bridge.model import Detection, DeviceRef, Reading
from device_bridge.registry import DeviceInfo, Registration, load_devices, register_devices
from device_bridge.service import Bridge

__all__ = [
    "Bridge",
    "BridgeConfig",
    "Detection",
    "DeviceInfo",
    "DeviceRef",
    "GatewayRelay",
    "MqttSettings",
    "OpcUaGateway",
    "Reading",
    "Registration",
    "Thresholds",
    "configure",
    "deliver",
    "load_devices",
    "register_devices",
]
