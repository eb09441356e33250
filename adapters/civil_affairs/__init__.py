"""Civil affairs (民政) over ODBC: 低保, 特困, 高龄补贴, 残疾 and 死亡登记 tables.

``create_adapter(CivilAffairsConfig(...))`` builds the adapter without connecting; the
database is reached on first use, so a locked or absent source shows up in
``check_connection`` or as ``SourceUnavailable`` from the sync, never at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from adapters.civil_affairs.client import OdbcClient
from adapters.civil_affairs.config import CivilAffairsConfig
from adapters.civil_affairs.streams import STREAM_CLASSES, CivilAffairsStream
from adapters.contract import Adapter, SourceUnavailable, Stream
from adapters.parallel import PageMapper

__all__ = ["CivilAffairsAdapter", "CivilAffairsConfig", "create_adapter"]


class CivilAffairsAdapter(Adapter):
    name: ClassVar[str] = "civil_affairs"

    def __init__(self, config: CivilAffairsConfig) -> None:
        self.client = OdbcClient(config, source=self.name)
        self.mapper = PageMapper(config.map_workers, label="civil_affairs mapping")
        self._streams: list[CivilAffairsStream] = [
            cls(self.client, self.mapper) for cls in STREAM_CLASSES
        ]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def check_connection(self) -> tuple[bool, str | None]:
        """Connect once (no retries) and ask for one row of every table, so a wrong DSN, a
        missing table and a missing column are all reported here rather than mid-sync."""
        self.client.close()  # a fresh connection: an old one may have been cut meanwhile
        try:
            dialect = self.client.dialect(retry=False)
            for stream in self._streams:
                self.client.fetch(stream.probe_sql(dialect), retry=False)
        except SourceUnavailable as exc:
            return False, str(exc)
        except Exception as exc:  # the contract: report, never raise
            return False, f"unexpected {type(exc).__name__}"
        finally:
            self.client.close()
        return True, None

    def close(self) -> None:
        for stream in self._streams:
            stream.drop_prefetch()  # read by a sync that ended: never continued by the next
        self.mapper.close()
        self.client.close()


def create_adapter(config: CivilAffairsConfig) -> Adapter:
    return CivilAffairsAdapter(config)
