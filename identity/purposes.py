"""The purposes for which identifiers may be unmasked.

Purpose limitation (PIPL art. 6) is only checkable if purposes are a closed vocabulary: a free
text "reason" field cannot be audited. A district may add its own purposes by configuration;
they must look like the built-in ones so they stay stable machine names in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from identity.errors import UnknownPurpose

_NAME = re.compile(r"[a-z][a-z0-9_]{1,47}")


class Purpose(StrEnum):
    WELFARE_VISIT = "welfare_visit"
    """走访慰问: visiting elderly, disabled or low-income residents."""
    EMERGENCY_RESPONSE = "emergency_response"
    """应急处置: fire, flood, missing person."""
    HOTLINE_CASE = "hotline_case"
    """12345 热线工单: calling back the resident who raised the case."""
    AUDIT = "audit"
    """审计核查: checking that an access was justified."""
    DATA_QUALITY = "data_quality"
    """数据治理: resolving a suspected duplicate or wrong identifier."""


class PurposeVocabulary:
    """The built-in purposes plus a district's configured extras."""

    def __init__(self, extras: Iterable[str] = ()) -> None:
        extra = frozenset(extras)
        bad = [name for name in extra if _NAME.fullmatch(name) is None]
        if bad:
            raise ValueError(f"purpose names must match {_NAME.pattern}: {sorted(bad)}")
        self.names: frozenset[str] = frozenset(p.value for p in Purpose) | extra

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def check(self, name: str) -> str:
        """Return ``name`` if known; raise ``UnknownPurpose`` so a typo is loud, not a denial."""
        if name not in self.names:
            raise UnknownPurpose()
        return name

    def check_all(self, names: Iterable[str]) -> frozenset[str]:
        return frozenset(self.check(name) for name in names)


def is_purpose_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


__all__ = ["Purpose", "PurposeVocabulary", "is_purpose_name"]
