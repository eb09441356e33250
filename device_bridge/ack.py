"""Closing the loop: a task accepted or completed clears the alarm on the device.

The workflow writes an outbox message to ``device_gateway`` in the same transaction as the
task change; the relay calls :func:`deliver` with it. The message's ``request_ref`` is the
event's :class:`~device_bridge.model.DeviceRef`, so it names the gateway, the device and the
*episode*: the gateway clears the latch only if that episode is still the latched one, so a
late acknowledgement never silences a newer alarm. Raising means "not delivered, try again":
a gateway that is down keeps the message pending and nothing is lost.

Where gateways are is configuration, handed over by the composition root with
:func:`configure` (the bridge service does it at start; a relay run elsewhere must too).
:class:`GatewayRelay` is the relay the bridge runs itself, so acknowledgements leave within
a second instead of waiting for the next scheduled relay run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Outbox, OutboxState, utcnow
from device_bridge.config import BridgeConfig
from device_bridge.model import DeviceRef
from device_bridge.mqtt import publish_command
from device_bridge.opcua import acknowledge
from device_bridge.store import SOURCE
from workflow.outbox import Relay, RelayReport

__all__ = [
    "AckError",
    "AckNotConfigured",
    "GatewayRelay",
    "GatewayUnavailable",
    "configure",
    "deliver",
]

log = logging.getLogger(__name__)

#: Task states whose write-back means "someone is on it": the latch can go.
ACK_STATES = frozenset({"accepted", "in_progress", "completed", "closed"})

_config: BridgeConfig | None = None
_observer: Callable[[str, float | None], None] | None = None


class AckError(RuntimeError):
    """The acknowledgement did not reach the device; the relay will try again."""


class AckNotConfigured(AckError):
    """This process was not told where the gateways are (see :func:`configure`)."""


class GatewayUnavailable(AckError):
    """The gateway or broker did not answer."""


def configure(
    config: BridgeConfig | None, observer: Callable[[str, float | None], None] | None = None
) -> None:
    """Tell :func:`deliver` where the gateways are; ``observer(outcome, latency_s)`` is told
    of every acknowledgement (the bridge feeds its metrics with it)."""
    global _config, _observer
    _config, _observer = config, observer


def _run(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def _latency(payload: dict[str, Any]) -> float | None:
    try:
        at = datetime.fromisoformat(str(payload.get("at")))
    except ValueError:
        return None
    return max(0.0, time.time() - at.timestamp()) if at.tzinfo else None


def deliver(payload: dict[str, Any], idempotency_key: str) -> None:
    """The relay's handler for ``device_gateway``: acknowledge the alarm the task answers."""
    state = str(payload.get("state", ""))
    try:
        ref = DeviceRef.parse(str(payload.get("request_ref") or ""))
    except ValueError:
        raise ValueError("request_ref is not a device reference; cannot acknowledge") from None
    if ref.signal != "alarm" or state not in ACK_STATES:
        return  # nothing is latched for a health alert, a silence or a pending task
    config = _config
    if config is None:
        raise AckNotConfigured(
            "device gateways are not configured in this process: call "
            "device_bridge.ack.configure(BridgeConfig(...)) in the composition root"
        )
    episode = int(ref.episode.partition("-")[0])  # the latch counter; see detect.alarm_episode
    gateway = config.gateway(ref.gateway)
    try:
        if gateway is not None:
            outcome = str(
                _run(lambda: acknowledge(gateway, ref.device, episode, config.ack_timeout_s))
            )
        elif config.mqtt is not None and config.mqtt.gateway_id == ref.gateway:
            body = {
                "command": "acknowledge",
                "episode": episode,
                "idempotency_key": idempotency_key,
                "task": payload.get("task"),
                "state": state,
            }
            publish_command(config.mqtt, ref.building, ref.device, body, config.ack_timeout_s)
            outcome = "sent"
        else:
            raise AckNotConfigured(f"gateway {ref.gateway} is not in this bridge's configuration")
    except AckError:
        raise
    except (OSError, TimeoutError, ConnectionError) as exc:
        if _observer is not None:
            _observer("unavailable", None)
        raise GatewayUnavailable(
            f"gateway {ref.gateway} unreachable ({type(exc).__name__})"
        ) from None
    except Exception as exc:  # asyncua's status errors: the gateway answered, but refused
        if _observer is not None:
            _observer("refused", None)
        raise AckError(f"gateway {ref.gateway} refused: {type(exc).__name__}") from None
    log.info(
        "alarm %s acknowledged on %s (%s) for task %s",
        ref,
        ref.gateway,
        outcome,
        payload.get("task"),
    )
    if _observer is not None:
        _observer(outcome, _latency(payload))


class GatewayRelay(Relay):
    """The outbox relay restricted to ``device_gateway`` messages.

    The stock relay delivers every destination; run inside the bridge it would note "no
    handler" on the hotline's messages and push them back. This one selects only its own
    destination and reuses the stock relay's per-message delivery (attempts, backoff, dead
    letters) unchanged.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__({SOURCE: deliver}, **kwargs)

    def run_once(self, sessions: sessionmaker[Session], now: datetime | None = None) -> RelayReport:
        now = now or utcnow()
        report = RelayReport()
        with sessions() as s:
            due = s.execute(
                select(Outbox.id, Outbox.task_id)
                .where(
                    Outbox.state == OutboxState.PENDING,
                    Outbox.destination == SOURCE,
                    Outbox.next_attempt_at <= now,
                )
                .order_by(Outbox.id)
                .limit(self.batch)
            ).all()
            waiting: dict[int | None, list[int]] = {}
            for oid, task_id in s.execute(
                select(Outbox.id, Outbox.task_id)
                .where(
                    Outbox.state == OutboxState.PENDING,
                    Outbox.destination == SOURCE,
                    Outbox.task_id.in_({r.task_id for r in due if r.task_id is not None}),
                )
                .order_by(Outbox.id)
            ):
                waiting.setdefault(task_id, []).append(oid)
        delivered: set[int] = set()
        for row in due:
            earlier = [i for i in waiting.get(row.task_id, ()) if i < row.id]
            if any(i not in delivered for i in earlier):  # a task's messages go in order
                report.deferred += 1
                continue
            outcome = self._deliver_one(sessions, row.id, now)
            if outcome == "delivered":
                delivered.add(row.id)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report
