"""Roles, permissions, and which grid scopes each role may hold.

The tables here are the whole authorisation policy, so a reviewer (or the district's data
protection officer) can read it in one screen. Unmasking is a permission *and* needs a declared,
allowed purpose (see ``masking``); holding ``UNMASK_IDENTIFIERS`` alone reveals nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from identity.grids import ALL_GRIDS, Level, is_grid_code, level_of


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    """网格员: works their own grids."""
    COMMUNITY_ADMIN = "community_admin"
    """社区管理员: a community (or several) and every grid below it."""
    DISTRICT_IT = "district_it"
    """区大数据/信息中心: runs the hub; sees every unit but identifiers stay masked."""
    AUDITOR = "auditor"
    """审计: reads the exchange log; sees every unit, masked."""
    PLATFORM = "platform"
    """Service account of another system (gRPC / hotline / device bridge)."""


class Permission(StrEnum):
    READ_PERSON = "read_person"
    UNMASK_IDENTIFIERS = "unmask_identifiers"
    READ_AUDIT = "read_audit"
    TRANSITION_TASK = "transition_task"
    PUBLISH_EVENT = "publish_event"
    INGEST_RECORDS = "ingest_records"
    ADMIN = "admin"


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Field staff need names and phone numbers to visit and call residents, for a purpose.
    Role.GRID_WORKER: frozenset({_P.READ_PERSON, _P.UNMASK_IDENTIFIERS, _P.TRANSITION_TASK}),
    Role.COMMUNITY_ADMIN: frozenset({_P.READ_PERSON, _P.UNMASK_IDENTIFIERS, _P.TRANSITION_TASK}),
    # Operators see everything, so they never see identifiers in clear (least privilege).
    Role.DISTRICT_IT: frozenset({_P.READ_PERSON, _P.INGEST_RECORDS, _P.PUBLISH_EVENT, _P.ADMIN}),
    Role.AUDITOR: frozenset({_P.READ_PERSON, _P.READ_AUDIT}),
    # E.g. the 12345 hotline must call a resident back: unmask only for the purposes its
    # token lists, and only inside the grids its token lists.
    Role.PLATFORM: frozenset(
        {
            _P.READ_PERSON,
            _P.UNMASK_IDENTIFIERS,
            _P.TRANSITION_TASK,
            _P.PUBLISH_EVENT,
            _P.INGEST_RECORDS,
        }
    ),
}

SEES_ALL_GRIDS: frozenset[Role] = frozenset({Role.DISTRICT_IT, Role.AUDITOR})
"""Roles whose view is the whole hub (one hub serves one district)."""

MIN_SCOPE_LEVEL: dict[Role, Level] = {
    Role.GRID_WORKER: Level.GRID,
    Role.COMMUNITY_ADMIN: Level.COMMUNITY,
}
"""The coarsest unit a scoped role may be granted, so a misconfigured identity provider cannot
hand a grid worker a whole district."""


def parse_role(value: str) -> Role:
    """Raise ``ValueError`` (without echoing the value) for an unknown role."""
    try:
        return Role(value)
    except ValueError:
        raise ValueError("unknown role") from None


def validate_grids(role: Role, grids: Iterable[str]) -> frozenset[str]:
    """Check that ``grids`` is a grant this role may hold; raise ``ValueError`` if not.

    * ``grid_worker`` / ``community_admin``: at least one code, each at their level or finer;
    * ``district_it`` / ``auditor``: nothing, or ``*`` (they see everything anyway; a list of
      codes would suggest a restriction that is not enforced, so it is refused);
    * ``platform``: nothing (sees no unit), ``*`` alone (every unit), or codes of any level.
    """
    granted = frozenset(grids)
    codes = granted - {ALL_GRIDS}
    if any(not is_grid_code(code) for code in codes):
        raise ValueError("malformed grid code in grant")
    if role in SEES_ALL_GRIDS:
        if codes:
            raise ValueError(f"role {role.value} sees every grid; grant no codes")
        return granted
    if role is Role.PLATFORM:
        if ALL_GRIDS in granted and codes:
            raise ValueError("'*' cannot be combined with grid codes")
        return granted
    if ALL_GRIDS in granted:
        raise ValueError(f"role {role.value} cannot hold '*'")
    if not codes:
        raise ValueError(f"role {role.value} needs at least one grid code")
    minimum = MIN_SCOPE_LEVEL[role]
    if any(level_of(code) < minimum for code in codes):
        raise ValueError(f"role {role.value} needs codes at {minimum.name.lower()} level or finer")
    return granted


__all__ = [
    "MIN_SCOPE_LEVEL",
    "ROLE_PERMISSIONS",
    "SEES_ALL_GRIDS",
    "Permission",
    "Role",
    "parse_role",
    "validate_grids",
]
