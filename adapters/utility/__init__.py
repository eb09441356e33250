"""Utilities (水电气) over files: the water, power and gas companies' daily meter readings.

``create_adapter(UtilityConfig(...))`` touches no file; a missing or unwritable folder
shows up in ``check_connection`` or as ``SourceUnavailable`` from the sync. Accounts are
source records (stream ``accounts``, key ``kind:account``); readings go to the narrow
``utility_reading`` table in the same transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from adapters.contract import Adapter, Stream
from adapters.utility.client import Inbox
from adapters.utility.config import UtilityConfig
from adapters.utility.streams import AccountsStream

__all__ = ["UtilityAdapter", "UtilityConfig", "create_adapter"]


class UtilityAdapter(Adapter):
    name: ClassVar[str] = "utility"

    def __init__(self, config: UtilityConfig) -> None:
        self.config = config
        self.inbox = Inbox(config)
        self.accounts = AccountsStream(self.inbox, config)

    def streams(self) -> Sequence[Stream]:
        return [self.accounts]

    def check_connection(self) -> tuple[bool, str | None]:
        try:
            problem = self.inbox.problem()
        except Exception as exc:  # the contract: report, never raise
            return False, f"unexpected {type(exc).__name__}"
        return (problem is None), problem

    def close(self) -> None:
        self.accounts.ahead.close()


def create_adapter(config: UtilityConfig) -> Adapter:
    return UtilityAdapter(config)
