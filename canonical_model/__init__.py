"""The canonical community data model: entities, value types and the store.

Ground floor: imports no other gridhub package. The first use of any name exported here
(``from canonical_model import SourceRecord``) imports every entity module, so every table
is registered on ``Base.metadata`` as before; importing only the value types
(``canonical_model.values``) no longer pays for SQLAlchemy and the ORM (about a second).
To export a name from a new entity module: import it in the ``TYPE_CHECKING`` block, list
the module in ``_MODULES`` and the name in ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canonical_model.base import Base, new_uid, utcnow
    from canonical_model.devices import DEVICE_KINDS, DEVICE_PROTOCOLS, Device
    from canonical_model.enums import (
        Direction,
        Gender,
        GridLevel,
        OutboxState,
        PersonStatus,
        QuarantineStatus,
        Severity,
        TaskState,
    )
    from canonical_model.exchange import AuditCheckpoint, ExchangeLogEntry, Outbox
    from canonical_model.geography import Address, GridUnit
    from canonical_model.people import (
        Household,
        HouseholdMember,
        Person,
        PersonFieldLineage,
        PersonIdentifier,
    )
    from canonical_model.records import Quarantine, SourceRecord, SourceRecordHistory, SyncState
    from canonical_model.resolution_state import (
        ConstraintKind,
        MatchReview,
        PersonMergeLog,
        ResolutionBlock,
        ResolutionConstraint,
        ResolutionEntry,
        ResolutionModel,
        ResolutionTerm,
        ReviewStatus,
    )
    from canonical_model.roster import GridWorker, RulesVersion, ServiceOrganisation, TaskDailyStats
    from canonical_model.utility import UtilityReading
    from canonical_model.work import (
        Event,
        EventReport,
        Task,
        TaskAttachment,
        TaskFeedback,
        TaskTransition,
    )

__all__ = [
    "DEVICE_KINDS",
    "DEVICE_PROTOCOLS",
    "Address",
    "AuditCheckpoint",
    "Base",
    "ConstraintKind",
    "Device",
    "Direction",
    "Event",
    "EventReport",
    "ExchangeLogEntry",
    "Gender",
    "GridLevel",
    "GridUnit",
    "GridWorker",
    "Household",
    "HouseholdMember",
    "MatchReview",
    "Outbox",
    "OutboxState",
    "Person",
    "PersonFieldLineage",
    "PersonIdentifier",
    "PersonMergeLog",
    "PersonStatus",
    "Quarantine",
    "QuarantineStatus",
    "ResolutionBlock",
    "ResolutionConstraint",
    "ResolutionEntry",
    "ResolutionModel",
    "ResolutionTerm",
    "ReviewStatus",
    "RulesVersion",
    "ServiceOrganisation",
    "Severity",
    "SourceRecord",
    "SourceRecordHistory",
    "SyncState",
    "Task",
    "TaskAttachment",
    "TaskDailyStats",
    "TaskFeedback",
    "TaskState",
    "TaskTransition",
    "UtilityReading",
    "new_uid",
    "utcnow",
]

#: Entity modules, imported together on first use so the metadata is always complete.
_MODULES = (
    "base",
    "devices",
    "enums",
    "exchange",
    "geography",
    "people",
    "records",
    "resolution_state",
    "roster",
    "utility",
    "work",
)


def _load() -> None:
    modules = [importlib.import_module(f"{__name__}.{name}") for name in _MODULES]
    namespace = globals()
    for name in __all__:
        if name in namespace:
            continue
        for module in modules:
            if hasattr(module, name):
                namespace[name] = getattr(module, name)
                break


def __getattr__(name: str) -> Any:  # PEP 562: the entity modules load on first use
    if name in __all__:
        _load()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
