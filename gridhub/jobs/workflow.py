"""Workflow jobs: produce events, dispatch queued tasks, watch SLAs, relay, daily stats.

Called by ``dags/task_sla_watch.py``, ``dags/feedback_delivery.py``, ``dags/daily_stats.py``
and ``gridhub tasks …``. This is the composition root for write-backs: ``workflow`` never
imports an adapter, so the relay's handlers come from ``gridhub.writeback``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from canonical_model import utcnow
from canonical_model.store import transaction
from gridhub.settings import get_settings
from gridhub.wiring import sessions
from gridhub.writeback import LazyHandlers
from workflow.attachments import PhotoStore
from workflow.dispatch import dispatch_waiting
from workflow.outbox import Handler, Relay
from workflow.producers import PRODUCERS, produce
from workflow.rule_versions import active_rules
from workflow.sla import sla_watch
from workflow.stats import refresh_daily_stats
from workflow.utility_signals import produce_utility

__all__ = [
    "daily_stats",
    "dispatch_queued",
    "photo_store",
    "produce_events",
    "relay_once",
    "watch_slas",
]


def photo_store() -> PhotoStore:
    return PhotoStore(get_settings().var_dir / "attachments")


def produce_events(
    database_url: str | None = None,
    producers: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every producer (or the named ones) until caught up; one transaction per batch."""
    factory = sessions(database_url)
    names = producers or [*PRODUCERS, "utility"]
    out: dict[str, Any] = {}
    for name in names:
        totals: dict[str, int] = {}
        more = True
        while more:
            with transaction(factory) as s:
                rules = active_rules(s)
                if name == "utility":
                    report = produce_utility(s, rules=rules, now=now or utcnow())
                else:
                    report = produce(s, name, rules=rules, now=now or utcnow())
            more = report.more
            for key, value in report.as_dict().items():
                if isinstance(value, int) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
        out[name] = totals
    return out


def dispatch_queued(database_url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Queued tasks of a grid go to workers who have come on duty."""
    with transaction(sessions(database_url)) as s:
        return {"assigned": dispatch_waiting(s, now=now or utcnow())}


def watch_slas(
    database_url: str | None = None,
    now: datetime | None = None,
    auto_close_after_days: int = 7,
) -> dict[str, int]:
    """Escalate SLA breaches (community admin, then district) and auto-close old completions."""
    with transaction(sessions(database_url)) as s:
        report = sla_watch(s, now=now or utcnow(), auto_close_after_days=auto_close_after_days)
    return report.as_dict()


def relay_once(
    database_url: str | None = None,
    handlers: Mapping[str, Handler] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Deliver the due outbox messages once (write-backs to hotline, gateways, 民政)."""
    relay = Relay(handlers if handlers is not None else LazyHandlers())
    return relay.run_once(sessions(database_url), now=now or utcnow()).as_dict()


def daily_stats(database_url: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Rebuild task_daily_stats for every day whose tasks changed since the last run."""
    with transaction(sessions(database_url)) as s:
        return refresh_daily_stats(s, now=now or utcnow())
