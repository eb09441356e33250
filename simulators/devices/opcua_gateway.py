"""A building gateway speaking OPC UA, with a realistic address space, on a port of its own.

``Objects/Devices/<device id>`` is a folder per device holding ``DeviceType``, its value
variables (``HeartRate``, ``SpO2``, ``DoorOpen``, ``Smoke``, ``Gas``, ``Leak``, ``Fall``),
``Status``, ``Battery``, ``LastSeen`` and the latch: ``AlarmActive``, ``AlarmEpisode``,
``AlarmKind``, ``AlarmSince``; an ``Acknowledge(Episode)`` method clears the latch. Every new
alarm also fires a ``DeviceAlarmEventType`` event (DeviceId, AlarmKind, Episode) from the
Server object, where clients subscribe to events.

The address space is added in one batch (node by node it takes a second per hundred
devices) and the method is one node that every device folder references, as OPC UA lets
an object type share its methods. :meth:`stop` / :meth:`start` are a restart as clients see
it — every connection, session and subscription is dropped and connections are refused
until it is back — while the address space, like a gateway's non-volatile memory, is kept:
rebuilding asyncua's standard address space costs seconds of CPU and changes nothing a
client can observe.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from asyncua import ua
from asyncua.server.binary_server_asyncio import BinaryServer
from asyncua.server.event_generator import EventGenerator
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from simulators.devices.device import SimDevice

__all__ = ["NAMESPACE", "OPCUA_NAMES", "GatewayServer", "free_port"]

log = logging.getLogger(__name__)

NAMESPACE = "urn:gridhub:devices"
OPCUA_NAMES = {
    "heart_rate": "HeartRate",
    "spo2": "SpO2",
    "fall": "Fall",
    "door_open": "DoorOpen",
    "smoke": "Smoke",
    "gas": "Gas",
    "leak": "Leak",
    "status": "Status",
    "battery": "Battery",
    "last_seen": "LastSeen",
    "alarm_active": "AlarmActive",
    "alarm_episode": "AlarmEpisode",
    "alarm_kind": "AlarmKind",
    "alarm_since": "AlarmSince",
}
_TYPES = {
    "heart_rate": ua.VariantType.Double,
    "spo2": ua.VariantType.Double,
    "battery": ua.VariantType.Double,
    "status": ua.VariantType.String,
    "alarm_kind": ua.VariantType.String,
    "last_seen": ua.VariantType.DateTime,
    "alarm_since": ua.VariantType.DateTime,
    "alarm_episode": ua.VariantType.UInt32,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _vtype(point: str) -> ua.VariantType:
    return _TYPES.get(point, ua.VariantType.Boolean)


def _std(identifier: int) -> ua.NodeId:
    return ua.NodeId(ua.Int32(identifier))


def _nid(ns: int, name: str) -> ua.NodeId:
    return ua.NodeId(ua.String(name), ua.Int16(ns))


class GatewayServer:
    def __init__(
        self,
        gateway_id: str,
        devices: Iterable[SimDevice],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.id = gateway_id
        self.devices = {d.id: d for d in devices}
        self.host = host
        self.port = port or free_port()
        self.server: Server | None = None
        self.ns = 0
        self.running = False
        self._events: EventGenerator | None = None
        self._lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/gridhub/{self.id}"

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.running:
            return
        if self.server is None:
            await self._build()
            assert self.server is not None
            await self.server.start()
        else:
            bserver = BinaryServer(self.server.iserver, self.host, self.port, self.server.limits)
            bserver.set_policies(self.server._policies)  # the policies the first start set up
            await bserver.start()
            self.server.bserver = bserver
        self.running = True
        log.info("gateway %s listening on %s", self.id, self.endpoint)

    async def stop(self) -> None:
        """Drop every client as a crash or reboot would; keep the devices' state."""
        if not self.running or self.server is None:
            return
        self.running = False
        if self.server.bserver is not None:
            await self.server.bserver.stop()
            self.server.bserver = None
        # Sessions and their subscriptions die with a real restart; asyncua would keep them
        # for a reconnect, so they are closed here (asyncua has no public call for this).
        for session in list(self.server.iserver._external_sessions.values()):
            await session.close_session(True)

    async def close(self) -> None:
        if self.server is not None:
            if self.running:
                await self.server.stop()
            self.running = False
            self.server = None

    async def restart(self, down_s: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start()

    # --- building the address space -----------------------------------------------------------

    async def _build(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"gridhub simulated gateway {self.id}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = self.ns = await server.register_namespace(NAMESPACE)
        etype = await server.create_custom_event_type(
            ns,
            "DeviceAlarmEventType",
            ObjectIds.BaseEventType,
            [
                ("DeviceId", ua.VariantType.String),
                ("AlarmKind", ua.VariantType.String),
                ("Episode", ua.VariantType.UInt32),
            ],
        )
        self._events = await server.get_event_generator(etype, ObjectIds.Server)
        folder = await server.nodes.objects.add_folder(
            _nid(ns, "Devices"), ua.QualifiedName("Devices", ns)
        )
        method = await folder.add_method(
            _nid(ns, "Acknowledge"),
            ua.QualifiedName("Acknowledge", ns),
            self._acknowledge,
            [ua.VariantType.UInt32],
            [ua.VariantType.String],
        )
        items: list[ua.AddNodesItem] = []
        refs: list[ua.AddReferencesItem] = []
        for device in self.devices.values():
            items.append(self._folder_item(ns, folder.nodeid, device.id))
            parent = _nid(ns, device.id)
            items.append(
                self._variable_item(ns, parent, device, "DeviceType", device.spec.kind, None)
            )
            for point in device.points():
                items.append(
                    self._variable_item(
                        ns, parent, device, OPCUA_NAMES[point], device.values[point], point
                    )
                )
            ref = ua.AddReferencesItem()
            ref.SourceNodeId = parent
            ref.ReferenceTypeId = _std(ObjectIds.HasComponent)
            ref.IsForward = True
            ref.TargetNodeId = method.nodeid
            ref.TargetNodeClass = ua.NodeClass.Method
            refs.append(ref)
        results = await server.iserver.isession.add_nodes(items)
        bad = [r.StatusCode for r in results if not r.StatusCode.is_good()]
        if bad:
            raise RuntimeError(f"gateway {self.id}: {len(bad)} nodes refused ({bad[0]})")
        await server.iserver.isession.add_references(refs)
        self.server = server

    @staticmethod
    def _folder_item(ns: int, parent: ua.NodeId, name: str) -> ua.AddNodesItem:
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = _nid(ns, name)
        item.BrowseName = ua.QualifiedName(name, ns)
        item.NodeClass = ua.NodeClass.Object
        item.ParentNodeId = parent
        item.ReferenceTypeId = _std(ObjectIds.Organizes)
        item.TypeDefinition = _std(ObjectIds.FolderType)
        attrs = ua.ObjectAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.EventNotifier = 0
        item.NodeAttributes = attrs
        return item

    @staticmethod
    def _variable_item(
        ns: int, parent: ua.NodeId, device: SimDevice, name: str, value: Any, point: str | None
    ) -> ua.AddNodesItem:
        vtype = _vtype(point) if point else ua.VariantType.String
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = _nid(ns, f"{device.id}.{name}")
        item.BrowseName = ua.QualifiedName(name, ns)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent
        item.ReferenceTypeId = _std(ObjectIds.HasComponent)
        item.TypeDefinition = _std(ObjectIds.BaseDataVariableType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.DataType = _std(vtype.value)
        attrs.Value = ua.Variant(value, vtype)
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
        attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
        item.NodeAttributes = attrs
        return item

    # --- what devices do ----------------------------------------------------------------------

    async def write(self, device_id: str, changes: dict[str, Any], at: datetime) -> None:
        """Apply changes to a device and publish them, in the order given."""
        device = self.devices[device_id]
        for point, value in changes.items():
            device.set(point, value, at)
            await self._write_node(device_id, point, ua.Variant(value, _vtype(point)), at)

    async def write_raw(self, device_id: str, point: str, variant: ua.Variant) -> None:
        """Publish a value as broken firmware would: any type, the device's state untouched."""
        await self._write_node(device_id, point, variant, datetime.now(UTC))

    async def _write_node(
        self, device_id: str, point: str, variant: ua.Variant, at: datetime
    ) -> None:
        """Set the variable and notify subscribers.

        asyncua refuses a write whose type differs from the variable's current one, which
        would make a firmware fault impossible to simulate (and a good value after a bad
        one impossible to write), so values are set below that check, the way a value
        reaches subscribers either way.
        """
        if self.server is None:
            return
        stamp, now = cast(ua.DateTime, at), cast(ua.DateTime, datetime.now(UTC))
        value = ua.DataValue(variant, SourceTimestamp=stamp, ServerTimestamp=now)
        nid = _nid(self.ns, f"{device_id}.{OPCUA_NAMES[point]}")
        slot = self.server.iserver.aspace[nid].attributes[AttributeIds.Value]
        slot.value = value
        for handle, callback in list(slot.datachange_callbacks.items()):
            await callback(handle, value)

    async def raise_alarm(
        self, device_id: str, kind: str | None = None, at: datetime | None = None
    ) -> int:
        """Latch an alarm on the device (and fire the event if it is a new episode)."""
        at = at or datetime.now(UTC)
        async with self._lock:
            device = self.devices[device_id]
            new, changes = device.raise_alarm(kind, at)
            await self.write(device_id, changes, at)
            if new and self._events is not None:
                event = self._events.event
                event.DeviceId = device_id
                event.AlarmKind = device.values["alarm_kind"]
                event.Episode = ua.Variant(device.values["alarm_episode"], ua.VariantType.UInt32)
                event.Severity = 900
                event.SourceName = device_id
                await self._events.trigger(at, f"{device.values['alarm_kind']} alarm")
            return int(device.values["alarm_episode"])

    async def _acknowledge(self, parent: ua.NodeId, episode: ua.Variant) -> list[ua.Variant]:
        device_id = str(parent.Identifier)
        device = self.devices.get(device_id)
        if device is None:
            return [ua.Variant("unknown_device", ua.VariantType.String)]
        at = datetime.now(UTC)
        async with self._lock:
            result, changes = device.acknowledge(int(episode.Value), at)
            await self.write(device_id, changes, at)
        log.info(
            "gateway %s: %s episode %s acknowledged: %s", self.id, device_id, episode.Value, result
        )
        return [ua.Variant(result, ua.VariantType.String)]
