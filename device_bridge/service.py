"""The bridge as a service: gateways, MQTT, the writer, the clocks, the relay, health.

One asyncio loop carries every gateway connection and the judging of readings; one thread
writes to the store; one thread runs the acknowledgement relay (its OPC UA calls and SQL
must not stall the loop). Periodic jobs: release what flood control held back, check
durations and silence, flush refused readings and last-seen times, pick up newly registered
devices, and notice a gateway that has been unreachable too long (one maintenance event per
outage, not one per device behind it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from device_bridge import ack
from device_bridge.config import BridgeConfig
from device_bridge.metrics import BridgeMetrics, HealthServer
from device_bridge.model import Detection, DeviceRef
from device_bridge.mqtt import MqttIngest
from device_bridge.opcua import GatewayLink
from device_bridge.pipeline import Pipeline
from device_bridge.store import Store
from device_bridge.writer import DetectionQueue, Writer

__all__ = ["Bridge"]

log = logging.getLogger(__name__)

_FLUSH_CHUNK = 250  # last-seen rows per transaction


def _now() -> datetime:
    return datetime.now(UTC)


class Bridge:
    def __init__(
        self,
        config: BridgeConfig,
        sessions: sessionmaker[Session],
        *,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or BridgeMetrics()
        self.store = Store(sessions)
        self.sessions = sessions
        self.queue = DetectionQueue()
        self.pipeline = Pipeline(config, self.metrics, self.queue)
        gate = asyncio.Semaphore(2)
        self.links = [
            GatewayLink(g, config, self.pipeline.submit, self._gateway_state, gate)
            for g in config.gateways
        ]
        self.mqtt: MqttIngest | None = None
        self.ready = asyncio.Event()
        self.http_port: int | None = None
        self.reachable: dict[str, datetime | None] = {g.id: None for g in config.gateways}
        self.down_since: dict[str, datetime] = {}
        if config.mqtt is not None:
            self.reachable[config.mqtt.gateway_id] = None
        self._db = ThreadPoolExecutor(1, thread_name_prefix="device-bridge-db")
        self._relay_pool = ThreadPoolExecutor(1, thread_name_prefix="device-bridge-relay")
        self.writer = Writer(self.store, self.queue, self._db, self.metrics)
        self._registry_at: datetime | None = None

    # --- state ---------------------------------------------------------------------------------

    def _gateway_state(self, gateway: str, connected: bool) -> None:
        now = _now()
        was = self.reachable.get(gateway)
        self.reachable[gateway] = now if connected else None
        self.metrics.connected.labels(gateway).set(1 if connected else 0)
        if connected:
            self.metrics.reconnects.labels(gateway).inc()
            self.down_since.pop(gateway, None)
        elif was is not None or gateway not in self.down_since:
            self.down_since.setdefault(gateway, now)

    def connected(self, gateway: str) -> bool:
        return self.reachable.get(gateway) is not None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy unless the store has been failing for a minute: a gateway that is down is
        the gateway's problem, shown here but not a reason to restart the bridge."""
        failing = self.writer.failing_since
        store_ok = failing is None or time.monotonic() - failing < 60
        detail = {
            "status": "ok" if store_ok and all(self.reachable.values()) else "degraded",
            "store": "ok" if store_ok else "failing",
            "gateways": {g: r is not None for g, r in self.reachable.items()},
            "devices": len(self.pipeline.registry),
            "writer_backlog": len(self.queue),
        }
        return store_ok, detail

    # --- run -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.pipeline.registry = await loop.run_in_executor(self._db, self.store.load)
        self._registry_at = _now()
        log.info("device registry: %d active devices", len(self.pipeline.registry))
        ack.configure(self.config, self._ack_observed)
        tasks = [
            asyncio.create_task(self.writer.run(), name="writer"),
            asyncio.create_task(self._every(0.05, self._release), name="flood"),
            asyncio.create_task(self._every(self.config.tick_s, self._tick), name="tick"),
            asyncio.create_task(self._every(self.config.flush_s, self._flush), name="flush"),
            asyncio.create_task(
                self._every(self.config.registry_refresh_s, self._refresh), name="registry"
            ),
            *(asyncio.create_task(link.run(stop), name=link.gateway.id) for link in self.links),
        ]
        if self.config.relay_interval_s is not None:
            tasks.append(
                asyncio.create_task(self._every(self.config.relay_interval_s, self._relay))
            )
        if self.config.mqtt is not None:
            gw = self.config.mqtt.gateway_id
            self.mqtt = MqttIngest(
                self.config.mqtt,
                loop,
                self.pipeline.submit,
                lambda device, raw, code, reason, after: self.pipeline.reject(
                    gw, device, raw, code, reason, after
                ),
                self._gateway_state,
            )
            self.mqtt.start()
        server = None
        if self.config.http_port is not None:
            server = HealthServer(self.metrics, self.health)
            self.http_port = await server.start(self.config.http_host, self.config.http_port)
        self.ready.set()
        try:
            await stop.wait()
        finally:
            await self._shutdown(tasks, server)

    async def _shutdown(self, tasks: list[asyncio.Task[Any]], server: HealthServer | None) -> None:
        loop = asyncio.get_running_loop()
        if self.mqtt is not None:
            await loop.run_in_executor(None, self.mqtt.stop)
        deadline = loop.time() + 5
        while len(self.queue) and loop.time() < deadline:  # let waiting alarms land
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush()
        if server is not None:
            await server.stop()
        ack.configure(None)
        self._db.shutdown(wait=True)
        self._relay_pool.shutdown(wait=True)
        if len(self.queue):
            log.error("stopped with %d detections not stored", len(self.queue))

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None] | None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = job()
                if result is not None:
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    # --- periodic jobs -----------------------------------------------------------------------

    def _release(self) -> None:
        self.pipeline.release()

    def _tick(self) -> None:
        now = _now()
        self.pipeline.tick(now, self.reachable.get)
        limit = timedelta(seconds=self.config.gateway_offline_after_s)
        for gateway, since in self.down_since.items():
            if now - since > limit:
                self._offline(gateway, since)

    def _offline(self, gateway: str, since: datetime) -> None:
        track = self.pipeline.detector.track(f"gateway:{gateway}")
        episode = str(int(since.timestamp() * 1000))
        if not track.mark(f"gateway_offline/{episode}"):
            return
        building = self.pipeline.gateway_buildings.get(gateway)
        self.queue.put(
            Detection(
                ref=DeviceRef(gateway, building or "-", gateway, "gateway_offline", episode),
                event_type="device.gateway_offline",
                severity="medium",
                occurred_at=since,
                person_id=None,
                address_id=None,
                building_code=building,
                payload={"gateway": gateway, "signal": "gateway_offline", "episode": episode},
                detected_at=time.time(),
            )
        )

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        refused = self.pipeline.take_refused()
        if refused:
            try:
                await loop.run_in_executor(self._db, self.store.quarantine, refused)
            except Exception:
                log.exception("storing %d quarantined readings failed; retrying", len(refused))
                self.pipeline.refused[:0] = refused
        updates = list(self.pipeline.detector.seen_updates(self.pipeline.registry).items())
        for start in range(0, len(updates), _FLUSH_CHUNK):  # an alarm waits one chunk at most
            chunk = dict(updates[start : start + _FLUSH_CHUNK])
            await loop.run_in_executor(self._db, self.store.flush_seen, chunk)

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        since = self._registry_at
        self._registry_at = _now()
        fresh = await loop.run_in_executor(self._db, self.store.load, since)
        for device_id, info in fresh.items():
            old = self.pipeline.registry.get(device_id)
            if old is not None:  # keep what the bridge learned since it was loaded
                info.last_seen = old.last_seen
                info.last_activity = old.last_activity
            self.pipeline.registry[device_id] = info
        if fresh:
            log.info("device registry: %d devices added or changed", len(fresh))

    async def _relay(self) -> None:
        loop = asyncio.get_running_loop()
        relay = ack.GatewayRelay(base_delay=timedelta(seconds=2), max_attempts=20)
        report = await loop.run_in_executor(self._relay_pool, relay.run_once, self.sessions)
        if report.retried or report.dead:
            log.warning("gateway acknowledgements: %s", report.as_dict())

    def _ack_observed(self, outcome: str, latency: float | None) -> None:
        self.metrics.acks.labels(outcome).inc()
        if latency is not None:
            self.metrics.ack_latency.observe(latency)
