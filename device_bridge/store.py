"""The bridge's writes to the canonical store: events with their tasks, quarantine, heartbeats.

Every call here blocks and runs on the bridge's one database thread, so the event loop that
keeps the gateway subscriptions alive never waits on SQLite or PostgreSQL, and writes never
race each other. An event and its exchange-log entry commit together (the log never claims
an alarm that was not stored); heartbeats are not logged, because a "last seen" time says
nothing about a person and would swamp the log that auditors read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

import audit
from canonical_model import Direction, Quarantine, new_uid
from canonical_model.store import transaction
from device_bridge.model import Detection
from device_bridge.registry import DeviceInfo, flush_seen, load_devices
from workflow import IntakeStatus, publish_event

__all__ = ["ACTOR", "SOURCE", "Quarantined", "Store", "Stored"]

log = logging.getLogger(__name__)

SOURCE = "device_gateway"  # the workflow's destination for acknowledgements, too
ACTOR = "system:device_bridge"
_PURPOSE = {"emergency": "emergency_response", "high": "welfare_visit"}


@dataclass(frozen=True, slots=True)
class Stored:
    status: str  # new, joined, duplicate
    event_uid: str
    task_uids: tuple[str, ...]
    committed_at: float  # time.time() right after commit


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A reading or message refused, kept whole for review."""

    gateway: str
    device: str
    stream: str  # readings, messages, devices
    raw: bytes
    code: str
    reason: str
    at: datetime


class Store:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def load(self, since: datetime | None = None) -> dict[str, DeviceInfo]:
        with self.sessions() as s:
            return load_devices(s, since)

    def publish(self, det: Detection) -> Stored:
        """Event → rules → tasks assigned, and one exchange-log entry, in one transaction."""
        body = json.dumps(det.payload, sort_keys=True, ensure_ascii=False, default=str)
        with transaction(self.sessions) as s:
            published = publish_event(
                s,
                type=det.event_type,
                occurred_at=det.occurred_at,
                source=SOURCE,
                source_ref=str(det.ref),
                severity=det.severity,
                person_id=det.person_id,
                address_id=det.address_id,
                grid_code=det.building_code,
                dedup_key=det.dedup_key,
                payload=det.payload,
            )
            status = str(published.intake.status)
            tasks = tuple(t.uid for t in published.tasks)
            event_uid = published.intake.event.uid
            if published.intake.status is not IntakeStatus.DUPLICATE:
                audit.append(
                    s,
                    direction=Direction.INBOUND,
                    counterpart=f"{SOURCE}:{det.ref.gateway}"[:80],
                    actor_subject=ACTOR,
                    actor_role="system",
                    purpose=_PURPOSE.get(det.severity),
                    operation=det.event_type,
                    object_refs={
                        "events": [event_uid],
                        "tasks": list(tasks),
                        "devices": [det.ref.device],
                        "source_ref": str(det.ref),
                    },
                    record_count=1,
                    payload_sha256=hashlib.sha256(body.encode()).hexdigest(),
                    result=status,
                    correlation_id=event_uid,
                )
        return Stored(status, event_uid, tasks, time.time())

    def quarantine(self, items: Sequence[Quarantined]) -> int:
        """Keep refused readings with their reasons; one exchange-log entry per batch."""
        if not items:
            return 0
        batch = new_uid()
        with transaction(self.sessions) as s:
            s.add_all(
                Quarantine(
                    source=SOURCE,
                    stream=item.stream,
                    source_key=f"{item.gateway}/{item.device}"[:200],
                    raw=item.raw,
                    reason_code=item.code,
                    reason=item.reason,
                    batch_id=batch,
                    received_at=item.at,
                )
                for item in items
            )
            audit.append(
                s,
                direction=Direction.INBOUND,
                counterpart=SOURCE,
                actor_subject=ACTOR,
                actor_role="system",
                operation="device.quarantine",
                object_refs={"reasons": dict(Counter(i.code for i in items))},
                record_count=len(items),
                result="quarantined",
                correlation_id=batch,
            )
        return len(items)

    def flush_seen(self, updates: Mapping[int, tuple[datetime | None, datetime | None]]) -> int:
        if not updates:
            return 0
        with transaction(self.sessions) as s:
            return flush_seen(s, updates)
