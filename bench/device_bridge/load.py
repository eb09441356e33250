"""The load of the device benchmark: value changes at a steady rate, alarms, and a stopwatch.

The stopwatch for an alarm is outside the bridge on purpose: it starts when the simulated
gateway latches the alarm and stops when the task, assigned to a worker, can be read from
the store, so nothing the bridge reports about itself is taken on trust.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import threading
import time
import urllib.request
from typing import Any

import psutil
from sqlalchemy import select

from canonical_model import Event, Task
from canonical_model.store import make_engine, session_factory

__all__ = ["A2T", "Load", "Poller", "pct", "quantile", "scrape", "series_sum"]

ALARMING = ("fall_detector", "smoke_alarm", "gas_alarm", "water_leak")
A2T = "device_bridge_alarm_to_task_seconds"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def series_sum(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


def quantile(before: dict[str, float], after: dict[str, float], name: str, q: float) -> float:
    """Upper bound (s) of the histogram bucket holding quantile ``q`` of what was added."""
    buckets = []
    for key, value in after.items():
        if key.startswith(f"{name}_bucket{{le="):
            le = key.split('"')[1]
            buckets.append(
                (float("inf") if le == "+Inf" else float(le), value - before.get(key, 0))
            )
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("nan")


class Poller(threading.Thread):
    """Watches the store for the tasks of injected alarms; notes when each first appears."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.sessions = session_factory(make_engine(url))
        self.pending: dict[str, float] = {}  # source_ref → injected at (time.time())
        self.latency: dict[str, float] = {}
        self.assigned: dict[str, str | None] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def expect(self, ref: str, at: float) -> None:
        with self.lock:
            self.pending[ref] = at

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                refs = list(self.pending)
            if refs:
                with self.sessions() as s:
                    rows = s.execute(
                        select(Event.source_ref, Task.assignee)
                        .join(Task, Task.event_id == Event.id)
                        .where(Event.source_ref.in_(refs))
                    ).all()
                seen = time.time()
                with self.lock:
                    for ref, assignee in rows:
                        if ref in self.pending:
                            self.latency[ref] = (seen - self.pending.pop(ref)) * 1000
                            self.assigned[ref] = assignee
            time.sleep(0.005)


class Load:
    """Value changes at a steady rate on random devices, alarms spread over the phase."""

    def __init__(self, estate: Any, proc: psutil.Process, port: int, url: str, seed: int) -> None:
        self.proc, self.port = proc, port
        self.rng = random.Random(seed)
        self.where = {d: g for g in estate.gateways for d in g.devices}
        self.ids = sorted(self.where)
        self.alarming = [d for d in self.ids if self.where[d].devices[d].spec.kind in ALARMING]
        self.rng.shuffle(self.alarming)
        self.poller = Poller(url)
        self.poller.start()

    async def _change(self) -> None:
        device_id = self.rng.choice(self.ids)
        gateway = self.where[device_id]
        device = gateway.devices[device_id]
        at = dt.datetime.now(dt.UTC)
        if device.spec.kind == "health_bracelet":
            change: dict[str, Any] = {"heart_rate": round(self.rng.uniform(60, 100), 1)}
        elif device.spec.kind == "door_contact":
            change = {"door_open": not device.values["door_open"]}
        else:
            change = {"last_seen": at}
        await gateway.write(device_id, change, at)

    async def _alarm(self) -> None:
        device_id = self.alarming.pop()
        gateway = self.where[device_id]
        wall = time.time()
        at = dt.datetime.fromtimestamp(wall, dt.UTC)
        episode = await gateway.raise_alarm(device_id, at=at)
        building = gateway.devices[device_id].spec.building_code
        ref = f"{gateway.id}/{building}/{device_id}/alarm/{episode}-{int(at.timestamp())}"
        self.poller.expect(ref, wall)

    async def phase(self, rate: float, duration: float, alarms: int) -> dict[str, Any]:
        self.poller.latency.clear()
        self.poller.assigned.clear()
        before = scrape(self.port)
        self.proc.cpu_percent(None)
        cpu: list[float] = []
        writes = 0
        alarm_every = duration / max(1, alarms)
        began = time.perf_counter()
        next_alarm = began + alarm_every / 2
        next_sample = began + 1
        due, step = began, 1 / rate
        while (now := time.perf_counter()) - began < duration:
            while due <= now:
                await self._change()
                writes += 1
                due += step
            if now >= next_alarm and self.alarming:
                await self._alarm()
                next_alarm += alarm_every
            if now >= next_sample:
                cpu.append(self.proc.cpu_percent(None))
                next_sample += 1
            await asyncio.sleep(max(0.0, min(due, next_alarm) - time.perf_counter()))
        elapsed = time.perf_counter() - began
        deadline = time.time() + 10
        while self.poller.pending and time.time() < deadline:
            await asyncio.sleep(0.05)
        after = scrape(self.port)
        readings = "device_bridge_readings_total"
        handled = series_sum(after, readings) - series_sum(before, readings)
        lag = "device_bridge_reading_lag_seconds"
        lag_n = after[f"{lag}_count"] - before.get(f"{lag}_count", 0)
        lag_sum = after[f"{lag}_sum"] - before.get(f"{lag}_sum", 0)
        latencies = list(self.poller.latency.values())
        return {
            "rate": rate,
            "duration_s": round(elapsed, 1),
            "offered_changes_per_s": round(writes / elapsed, 1),
            "handled_readings_per_s": round(handled / elapsed, 1),
            "cpu_percent_mean": round(statistics.mean(cpu), 1) if cpu else None,
            "cpu_percent_p95": round(pct(cpu, 95), 1) if cpu else None,
            "lag_mean_ms": round(lag_sum / lag_n * 1000, 1) if lag_n else None,
            "lag_p99_bucket_ms": quantile(before, after, lag, 0.99) * 1000,
            "alarms": alarms,
            "alarms_with_task": len(latencies),
            "alarms_assigned_to_worker": sum(1 for a in self.poller.assigned.values() if a),
            "alarm_p50_ms": round(pct(latencies, 50), 1) if latencies else None,
            "alarm_p99_ms": round(pct(latencies, 99), 1) if latencies else None,
            "alarm_max_ms": round(max(latencies), 1) if latencies else None,
            "bridge_alarm_to_commit_p99_bucket_ms": quantile(before, after, A2T, 0.99) * 1000,
        }
