"""Events, rules, dispatch, the task lifecycle, the outbox and the measures.

``workflow`` turns what happens in the district into tasks for the right grid worker and
closes the loop with the system the request came from. It imports only
``canonical_model`` (and may use ``resolution``); write-back handlers are given to the
:class:`Relay` by the composition root, so no adapter is imported here.

Typical use::

    with transaction(sessions) as s:
        published = publish_event(s, type="device.smoke", severity="emergency",
                                   occurred_at=now, source="device_gateway",
                                   source_ref=alarm_id, grid_code=building_code)
    with transaction(sessions) as s:
        accept(s, task_uid, actor="WG001")
    Relay({"hotline": deliver}).run_once(sessions)
"""

from workflow.attachments import Photo, PhotoStore
from workflow.dispatch import Assignment, assign, dispatch_waiting, pick_worker
from workflow.errors import (
    IllegalTransition,
    InvalidInput,
    NotAssignee,
    NotPermitted,
    RulesError,
    TaskConflict,
    TaskNotFound,
    WorkflowError,
)
from workflow.events import EventIntake, IntakeStatus, raise_event
from workflow.lifecycle import (
    accept,
    close,
    complete,
    escalate,
    get_task,
    reassign,
    reject,
    start,
)
from workflow.measures import Figures, measures, ranking
from workflow.orders import open_orders, oversight, place_order, request_service, take_order
from workflow.outbox import Relay, RelayReport, delivery_status
from workflow.producers import PRODUCERS, ProducerReport, produce
from workflow.reports import grid_summary, ledger_csv, service_ledger
from workflow.rule_versions import active_rules, default_rules, load_rules, rules_history
from workflow.rules import RuleSet, parse_duration, parse_rules
from workflow.sla import SlaReport, sla_watch
from workflow.stats import refresh_daily_stats
from workflow.transitions import ACTIONS, allowed_actions, next_state
from workflow.triage import Published, publish_event, triage
from workflow.utility_signals import UtilityThresholds, produce_utility

__all__ = [
    "ACTIONS",
    "PRODUCERS",
    "Assignment",
    "EventIntake",
    "Figures",
    "IllegalTransition",
    "IntakeStatus",
    "InvalidInput",
    "NotAssignee",
    "NotPermitted",
    "Photo",
    "PhotoStore",
    "ProducerReport",
    "Published",
    "Relay",
    "RelayReport",
    "RuleSet",
    "RulesError",
    "SlaReport",
    "TaskConflict",
    "TaskNotFound",
    "UtilityThresholds",
    "WorkflowError",
    "accept",
    "active_rules",
    "allowed_actions",
    "assign",
    "close",
    "complete",
    "default_rules",
    "delivery_status",
    "dispatch_waiting",
    "escalate",
    "get_task",
    "grid_summary",
    "ledger_csv",
    "load_rules",
    "measures",
    "next_state",
    "open_orders",
    "oversight",
    "parse_duration",
    "parse_rules",
    "pick_worker",
    "place_order",
    "produce",
    "produce_utility",
    "publish_event",
    "raise_event",
    "ranking",
    "reassign",
    "refresh_daily_stats",
    "reject",
    "request_service",
    "rules_history",
    "service_ledger",
    "sla_watch",
    "start",
    "take_order",
    "triage",
]
