"""The road from a detection to the store: queued, coalesced, written on one thread, retried.

An alarm must never be lost to a busy or restarting database, so a failed write is retried
with backoff until it lands (the queue holds it meanwhile, and the health check shows the
backlog). A write that fails for a reason retrying cannot fix — a bug, a constraint — is
tried a few times and then dropped with an error naming the reference, so one bad detection
cannot block every alarm behind it. Under a flood, a second alarm of the same device that is
still waiting replaces the first (its episode is newer; the gateway latches only the newest).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, OperationalError

from device_bridge.metrics import BridgeMetrics
from device_bridge.model import Detection
from device_bridge.store import Store, Stored

__all__ = ["DetectionQueue", "Writer"]

log = logging.getLogger(__name__)

_GIVE_UP_AFTER = 5  # attempts, for errors a retry cannot fix


@dataclass(slots=True)
class _Entry:
    detection: Detection
    after: list[Callable[[], None]] = field(default_factory=list)
    attempts: int = 0


class DetectionQueue:
    """FIFO of detections; a waiting alarm of the same device is replaced by a newer one."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._ready = asyncio.Event()
        self._serial = 0
        self.coalesced = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, det: Detection, after: Callable[[], None] | None = None) -> None:
        ref = det.ref
        if ref.signal == "alarm":
            key: tuple[str, ...] = (ref.gateway, ref.device, "alarm")
        else:
            self._serial += 1
            key = (str(ref), str(self._serial))
        entry = self._entries.get(key)
        if entry is not None and entry.detection.ref != ref:
            self.coalesced += 1
            entry.detection = det
        elif entry is None:
            entry = self._entries[key] = _Entry(det)
        if after is not None:
            entry.after.append(after)
        self._ready.set()

    def requeue(self, entry: _Entry) -> None:
        key = ("retry", str(entry.detection.ref))
        self._entries[key] = entry
        self._entries.move_to_end(key, last=False)
        self._ready.set()

    async def get(self) -> _Entry:
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        return self._entries.popitem(last=False)[1]


class Writer:
    """Drains the queue into the store on ``executor`` (one thread)."""

    def __init__(
        self,
        store: Store,
        queue: DetectionQueue,
        executor: Executor,
        metrics: BridgeMetrics,
        on_stored: Callable[[Detection, Stored], None] | None = None,
    ) -> None:
        self.store, self.queue, self.executor, self.metrics = store, queue, executor, metrics
        self.on_stored = on_stored
        self.failing_since: float | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.2
        while True:
            entry = await self.queue.get()
            self.metrics.backlog.set(len(self.queue))
            det = entry.detection
            try:
                stored = await loop.run_in_executor(self.executor, self.store.publish, det)
            except (OperationalError, DBAPIError) as exc:
                transient = isinstance(exc, OperationalError) or exc.connection_invalidated
                entry.attempts += 1
                self.metrics.write_errors.inc()
                if not transient and entry.attempts >= _GIVE_UP_AFTER:
                    log.error("dropping detection %s after %d attempts", det.ref, entry.attempts)
                    self._release(entry)
                    continue
                log.warning(
                    "store unavailable writing %s (%s); retrying in %.1fs",
                    det.ref,
                    type(exc).__name__,
                    delay,
                )
                self.failing_since = self.failing_since or time.monotonic()
                self.queue.requeue(entry)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            except Exception:
                entry.attempts += 1
                self.metrics.write_errors.inc()
                if entry.attempts >= _GIVE_UP_AFTER:
                    log.exception(
                        "dropping detection %s after %d attempts", det.ref, entry.attempts
                    )
                    self._release(entry)
                else:
                    log.exception("writing detection %s failed; will retry", det.ref)
                    self.queue.requeue(entry)
                    await asyncio.sleep(delay)
                continue
            delay, self.failing_since = 0.2, None
            self.metrics.events.labels(det.event_type, stored.status).inc()
            if det.ref.signal == "alarm" and stored.status == "new":
                self.metrics.alarm_latency.observe(
                    max(0.0, stored.committed_at - det.occurred_at.timestamp())
                )
            if stored.status != "duplicate":
                log.info(
                    "%s %s → event %s (%s), tasks %s",
                    det.event_type,
                    det.ref,
                    stored.event_uid,
                    stored.status,
                    ",".join(stored.task_uids) or "-",
                )
            self._release(entry)
            if self.on_stored is not None:
                self.on_stored(det, stored)

    @staticmethod
    def _release(entry: _Entry) -> None:
        """Run what waited on the write (MQTT acknowledgements): a poison message is dropped
        with an error above, not left in flight to stall the broker session forever."""
        for callback in entry.after:
            callback()
