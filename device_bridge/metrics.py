"""What the bridge tells Prometheus, and the tiny HTTP server that tells it.

Each bridge has its own ``CollectorRegistry`` (tests run several in one process). The HTTP
server is a few lines of asyncio rather than a web framework: it answers two GETs on
loopback from the bridge's own event loop, so a health check sees the loop the gateways
depend on — a stuck loop is an unanswered health check, which is the point.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["BridgeMetrics", "HealthServer"]

log = logging.getLogger(__name__)

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)


class BridgeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connected = Gauge(
            "device_bridge_gateway_connected",
            "1 while the gateway is connected",
            ["gateway"],
            registry=r,
        )
        self.reconnects = Counter(
            "device_bridge_gateway_reconnects",
            "Connections (re)established",
            ["gateway"],
            registry=r,
        )
        self.readings = Counter(
            "device_bridge_readings", "Readings accepted", ["gateway"], registry=r
        )
        self.quarantined = Counter(
            "device_bridge_readings_quarantined", "Readings refused", ["reason"], registry=r
        )
        self.coalesced = Counter(
            "device_bridge_readings_coalesced", "Readings folded by flood control", registry=r
        )
        self.unknown = Counter(
            "device_bridge_unknown_device_readings",
            "Readings of unregistered devices",
            ["gateway"],
            registry=r,
        )
        self.events = Counter(
            "device_bridge_events", "Detections published", ["type", "status"], registry=r
        )
        self.write_errors = Counter(
            "device_bridge_write_errors", "Store writes that failed and were retried", registry=r
        )
        self.alarm_latency = Histogram(
            "device_bridge_alarm_to_task_seconds",
            "Alarm source time to event and task committed",
            buckets=_LATENCY,
            registry=r,
        )
        self.reading_lag = Histogram(
            "device_bridge_reading_lag_seconds",
            "Source time to processed, per batch",
            buckets=_LATENCY,
            registry=r,
        )
        self.ack_latency = Histogram(
            "device_bridge_ack_latency_seconds",
            "Task accepted or completed to alarm acknowledged on the gateway",
            buckets=_LATENCY,
            registry=r,
        )
        self.acks = Counter(
            "device_bridge_acks", "Acknowledgements sent to gateways", ["outcome"], registry=r
        )
        self.backlog = Gauge(
            "device_bridge_writer_backlog", "Detections waiting for the store", registry=r
        )
        self.held = Gauge(
            "device_bridge_flood_held_devices", "Devices held back by flood control", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """``GET /healthz`` (JSON, 200 or 503) and ``GET /metrics`` (Prometheus text)."""

    def __init__(
        self, metrics: BridgeMetrics, health: Callable[[], tuple[bool, dict[str, Any]]]
    ) -> None:
        self.metrics = metrics
        self.health = health
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("health and metrics on http://%s:%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method != "GET":
                status, kind, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path == "/metrics":
                status, kind = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
                body = self.metrics.exposition()
            elif path == "/healthz":
                ok, detail = self.health()
                status = "200 OK" if ok else "503 Service Unavailable"
                kind, body = "application/json", json.dumps(detail).encode()
            else:
                status, kind, body = "404 Not Found", "text/plain", b"not found\n"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
