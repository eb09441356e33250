"""The canonical community data model: entities, value types and the store.

Ground floor: imports no other gridhub package. Importing this package registers every
table on ``Base.metadata``.
"""

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
    "Outbox",
    "OutboxState",
    "Person",
    "PersonFieldLineage",
    "PersonIdentifier",
    "PersonStatus",
    "Quarantine",
    "QuarantineStatus",
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
