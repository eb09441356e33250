"""The authenticated caller, as every other package sees it.

A ``Principal`` is only ever built from a verified token (or by tests), and is frozen so a
handler cannot widen its own scope half-way through a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from identity.errors import NotPermitted
from identity.grids import covers_any, is_grid_code
from identity.roles import ROLE_PERMISSIONS, SEES_ALL_GRIDS, Permission, Role, validate_grids


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    grids: frozenset[str] = field(default_factory=frozenset)
    purposes: frozenset[str] = field(default_factory=frozenset)
    token_id: str = ""
    issuer: str = ""
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        # A principal with a grant its role may not hold must not exist, however it was built.
        validate_grids(self.role, self.grids)

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def has(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise ``NotPermitted`` so handlers need no if/raise boilerplate of their own."""
        if not self.has(permission):
            raise NotPermitted()

    def can_see(self, grid_code: str) -> bool:
        """Whether records filed under ``grid_code`` are within this caller's view.

        ``district_it`` and ``auditor`` see every well-formed code; everyone else sees what
        their ``grids`` claim covers (``identity.grids.covers``), and ``platform`` with ``*``
        sees everything. A malformed code is never visible: fail closed.
        """
        if not is_grid_code(grid_code):
            return False
        return self.role in SEES_ALL_GRIDS or covers_any(self.grids, grid_code)

    def may_use_purpose(self, purpose: str) -> bool:
        return purpose in self.purposes


__all__ = ["Principal"]
