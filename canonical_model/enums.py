"""The closed vocabularies of the model. Stored as plain strings (no native DB enums), so a
new value is a code change, not a schema migration on every deployment."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum


class GridLevel(enum.StrEnum):
    DISTRICT = "district"  # 区/县
    SUBDISTRICT = "subdistrict"  # 街道/镇
    COMMUNITY = "community"  # 社区/村
    GRID = "grid"  # 网格
    BUILDING = "building"  # 楼栋


GRID_LEVEL_ORDER = tuple(GridLevel)


class Gender(enum.StrEnum):
    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    MERGED = "merged"  # absorbed into another person; kept for history and unmerge


class QuarantineStatus(enum.StrEnum):
    OPEN = "open"
    RELEASED = "released"  # re-processed successfully
    DISCARDED = "discarded"


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    EMERGENCY = "emergency"


class TaskState(enum.StrEnum):
    PENDING = "pending"  # 待确认
    ACCEPTED = "accepted"  # 已接单
    REJECTED = "rejected"  # 已拒绝
    IN_PROGRESS = "in_progress"  # 处理中
    COMPLETED = "completed"  # 已完成
    CLOSED = "closed"  # 已关闭 (confirmed and rated, or auto-closed)


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up after the retry budget; visible on the task


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    READ = "read"
    ADMIN = "admin"


def str_enum(cls: type[enum.StrEnum], length: int = 20) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


__all__: list[Any] = [
    "GRID_LEVEL_ORDER",
    "Direction",
    "Gender",
    "GridLevel",
    "OutboxState",
    "PersonStatus",
    "QuarantineStatus",
    "Severity",
    "TaskState",
    "str_enum",
]
