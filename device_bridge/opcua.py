"""One OPC UA building gateway: connect, subscribe, resync, and come back after every loss.

The link owns its reconnect loop instead of asyncua's built-in one, because what matters
after a gateway restart is not the socket but the state: each (re)connection browses the
gateway's devices, subscribes to their data changes and alarm events, and then *reads* the
latched alarms, so an alarm raised while the bridge was away arrives as a reading like any
other — and its episode number makes it one event however many times it is seen.

Flood control starts on the server: value items have a queue of one (the gateway keeps only
the newest value between publishes), and the client-side queue is bounded with
``DISCONNECT`` on overflow — a bridge that cannot keep up reconnects and resyncs rather
than silently dropping notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import (
    DataChangeEvent,
    OpcEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from device_bridge.config import BridgeConfig, OpcUaGateway
from device_bridge.model import ALARM_POINTS, OPCUA_NAMES, BadValue, Reading

__all__ = ["ALARM_EVENT_TYPE", "DEVICES_FOLDER", "GatewayLink", "acknowledge"]

log = logging.getLogger(__name__)

DEVICES_FOLDER = "Devices"
ALARM_EVENT_TYPE = "DeviceAlarmEventType"
_CHUNK = 1000
_GONE = (OSError, TimeoutError, ConnectionError, UaError)

#: ``submit(gateway, device, readings)``, called on the event loop.
Submit = Callable[[str, str, list[Reading]], None]


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class GatewayLink:
    def __init__(
        self,
        gateway: OpcUaGateway,
        config: BridgeConfig,
        submit: Submit,
        on_state: Callable[[str, bool], None],
        sync_gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.submit = submit
        self.on_state = on_state
        # Connecting is cheap, the first sync of thousands of items is not: gateways take
        # turns, so a bridge starting against many gateways does not time them all out.
        self.sync_gate = sync_gate or asyncio.Semaphore(1)
        self.devices: set[str] = set()
        self._nodes: dict[ua.NodeId, tuple[str, str]] = {}
        self._pending: dict[str, list[Reading]] = {}
        self._flush_scheduled = False

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop``: exponential backoff with jitter between attempts."""
        delay = self.config.reconnect_min_s
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = self.config.reconnect_min_s
            except _GONE as exc:
                log.warning(
                    "gateway %s unreachable (%s); retrying in %.1fs",
                    self.gateway.id,
                    type(exc).__name__,
                    delay,
                )
            except Exception:
                log.exception("gateway %s: unexpected error; reconnecting", self.gateway.id)
            self.on_state(self.gateway.id, False)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _session(self, stop: asyncio.Event) -> None:
        client = Client(
            self.gateway.endpoint,
            timeout=self.gateway.timeout_s,
            watchdog_intervall=self.config.watchdog_s,
        )
        lost = asyncio.Event()

        async def _lost(_exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = _lost
        await self.sync_gate.acquire()
        gated = True
        try:
            await client.connect()
        except BaseException:
            self.sync_gate.release()
            raise
        try:
            ns = await client.get_namespace_index(self.gateway.namespace)
            alarms = await self._subscription(client, self.config.alarm_interval_ms)
            values = await self._subscription(client, self.config.publishing_interval_ms)
            await self._subscribe_events(client, alarms, ns)
            await self._subscribe_points(client, alarms, values, ns)
            await self._resync(client)
            self.sync_gate.release()
            gated = False
            self.on_state(self.gateway.id, True)
            log.info("gateway %s: %d devices subscribed", self.gateway.id, len(self.devices))
            consumers = [asyncio.create_task(self._consume(sub, lost)) for sub in (alarms, values)]
            waiters = [
                *consumers,
                asyncio.create_task(lost.wait()),
                asyncio.create_task(stop.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waiters:
                    task.cancel()
            for consumer in consumers:
                if consumer.done() and not consumer.cancelled() and consumer.exception():
                    raise consumer.exception()  # type: ignore[misc]
            if lost.is_set():
                raise ConnectionError("connection lost")
        finally:
            if gated:
                self.sync_gate.release()
            self._flush()
            try:
                await asyncio.wait_for(client.disconnect(), timeout=2)
            except Exception:  # the server is gone; drop the socket and move on
                client.disconnect_socket()

    @staticmethod
    async def _subscription(client: Client, interval_ms: float) -> Subscription:
        return await client.create_subscription(
            interval_ms, None, queue_maxsize=200_000, overflow=OverflowPolicy.DISCONNECT
        )

    async def _browse(self, client: Client, ns: int) -> list[tuple[str, Node]]:
        folder = await client.nodes.objects.get_child(f"{ns}:{DEVICES_FOLDER}")
        found = []
        for ref in await folder.get_children_descriptions(nodeclassmask=ua.NodeClass.Object):
            found.append((str(ref.BrowseName.Name), client.get_node(ref.NodeId)))
        return found

    async def _subscribe_points(
        self, client: Client, alarms: Subscription, values: Subscription, ns: int
    ) -> None:
        """Alarm points on the fast subscription (a queue of ten: no latch change is lost
        between publishes), readings on the slow one (a queue of one: the newest value)."""
        devices = await self._browse(client, ns)
        nodes: dict[ua.NodeId, tuple[str, str]] = {}
        urgent: list[Node] = []
        readings: list[Node] = []
        for start in range(0, len(devices), _CHUNK):
            chunk = devices[start : start + _CHUNK]
            for (device, _), (_, result) in zip(
                chunk, await client.browse_nodes([n for _, n in chunk]), strict=True
            ):
                for ref in result.References:
                    point = OPCUA_NAMES.get(str(ref.BrowseName.Name))
                    if point is None or ref.NodeClass != ua.NodeClass.Variable:
                        continue
                    node = client.get_node(ref.NodeId)
                    nodes[node.nodeid] = (device, point)
                    (urgent if point in ALARM_POINTS else readings).append(node)
        self._nodes = nodes
        self.devices = {d for d, _ in devices}
        for sub, group, queue, interval in (
            (alarms, urgent, 10, self.config.alarm_interval_ms),
            (values, readings, 1, self.config.publishing_interval_ms),
        ):
            for start in range(0, len(group), _CHUNK):
                await sub.subscribe_data_change(
                    group[start : start + _CHUNK],
                    queuesize=queue,
                    sampling_interval=ua.Double(interval),
                )

    async def _subscribe_events(self, client: Client, sub: Subscription, ns: int) -> None:
        try:
            etype = await client.nodes.base_event_type.get_child(f"{ns}:{ALARM_EVENT_TYPE}")
        except UaStatusCodeError:
            log.info("gateway %s has no %s; data changes only", self.gateway.id, ALARM_EVENT_TYPE)
            return
        await sub.subscribe_events(client.nodes.server, etype)

    async def _resync(self, client: Client) -> None:
        """Read every latched alarm now: what was raised while we were away is not lost."""
        alarm_nodes = [(n, k) for n, k in self._nodes.items() if k[1] in ALARM_POINTS]
        now = datetime.now(UTC)
        for start in range(0, len(alarm_nodes), _CHUNK):
            chunk = alarm_nodes[start : start + _CHUNK]
            values = await client.read_values([client.get_node(n) for n, _ in chunk])
            for (_, (device, point)), value in zip(chunk, values, strict=True):
                self._add(device, Reading(point, value, now))
        self._flush()

    def _add(self, device: str, reading: Reading) -> None:
        self._pending.setdefault(device, []).append(reading)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand over one publish's readings per device together, so a latch and its episode
        number are judged as one state, not as two half-states."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for device, readings in pending.items():
            self.submit(self.gateway.id, device, readings)

    async def _consume(self, sub: Subscription, lost: asyncio.Event) -> None:
        async for ev in sub:
            if isinstance(ev, DataChangeEvent):
                key = self._nodes.get(ev.node.nodeid)
                if key is None:
                    continue
                dv = ev.data.monitored_item.Value
                at = _aware(dv.SourceTimestamp or dv.ServerTimestamp)
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    self._add(key[0], Reading(key[1], BadValue(dv.StatusCode.name), at))
                else:
                    self._add(key[0], Reading(key[1], ev.value, at))
            elif isinstance(ev, OpcEvent):
                self._alarm_event(ev.event)
            elif isinstance(ev, StatusChangeEvent):
                lost.set()
                return

    def _alarm_event(self, event: Any) -> None:
        device = getattr(event, "DeviceId", None)
        episode = getattr(event, "Episode", None)
        if not isinstance(device, str) or device not in self.devices:
            return
        at = _aware(getattr(event, "Time", None))
        kind = getattr(event, "AlarmKind", None)
        for reading in (
            Reading("alarm_kind", kind, at),
            Reading("alarm_since", at, at),
            Reading("alarm_episode", episode, at),
            Reading("alarm_active", True, at),
        ):
            self._add(device, reading)


async def acknowledge(gateway: OpcUaGateway, device: str, episode: int, timeout_s: float) -> str:
    """Call ``Acknowledge(episode)`` on the device; returns the gateway's answer.

    The answer is ``cleared``, ``already_clear`` or ``stale_episode`` (a newer alarm is
    latched and stays latched: it has an event of its own).
    """
    client = Client(gateway.endpoint, timeout=timeout_s)
    await asyncio.wait_for(client.connect(), timeout_s)
    try:
        ns = await client.get_namespace_index(gateway.namespace)
        node = await client.nodes.objects.get_child([f"{ns}:{DEVICES_FOLDER}", f"{ns}:{device}"])
        result = await node.call_method(
            f"{ns}:Acknowledge", ua.Variant(episode, ua.VariantType.UInt32)
        )
        return str(result)
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=2)
        except Exception:
            client.disconnect_socket()
