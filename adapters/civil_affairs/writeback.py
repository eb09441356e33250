"""Write-back to 民政: a grid worker's visit outcome becomes a visit record over ODBC.

Called by the workflow's outbox relay (through ``gridhub.writeback``). The insert is keyed by
the outbox idempotency key, so a delivery retried after a lost acknowledgement writes once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.civil_affairs.client import OdbcClient
from adapters.civil_affairs.config import CivilAffairsConfig

VISIT_TABLE = "visit_record"
_COLUMNS = ("idempotency_key", "case_ref", "task_ref", "status", "result", "worker", "visited_at")


class CivilAffairsWriteback:
    """One ODBC connection for visit records; ``SourceUnavailable`` means retry later."""

    def __init__(self, config: CivilAffairsConfig) -> None:
        self._client = OdbcClient(config)

    def deliver(self, visit: Mapping[str, Any], idempotency_key: str) -> bool:
        """Store one visit record; False when this key was already stored (a repeat)."""
        values = [idempotency_key, *(_text(visit.get(c)) for c in _COLUMNS[1:])]
        placeholders = ", ".join("?" for _ in _COLUMNS)
        sql = (
            f"INSERT INTO {VISIT_TABLE} ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT (idempotency_key) DO NOTHING"
        )
        self._client.dialect()  # connect (with retries) before the write
        return self._client.execute(sql, values) == 1

    def close(self) -> None:
        self._client.close()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = ["VISIT_TABLE", "CivilAffairsWriteback"]
