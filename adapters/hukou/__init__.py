"""Household registration (户籍) over SOAP: the district population system's change feed.

``create_adapter(HukouConfig(...))`` builds the adapter without touching the network; the
WSDL is fetched on first use, so a down service shows up in ``check_connection`` or as
``SourceUnavailable`` from the sync, never as an import-time error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from adapters.contract import Adapter, SourceUnavailable, Stream
from adapters.hukou.client import HukouClient, HukouFault, UnsafeResponse
from adapters.hukou.config import HukouConfig
from adapters.hukou.parallel import PageMapper
from adapters.hukou.streams import PersonsStream

__all__ = ["HukouAdapter", "HukouConfig", "create_adapter"]


class HukouAdapter(Adapter):
    name: ClassVar[str] = "hukou"

    def __init__(self, config: HukouConfig) -> None:
        self.client = HukouClient(config)
        self.mapper = PageMapper(config.map_workers)
        self.persons = PersonsStream(self.client, config.page_size, self.mapper)

    def streams(self) -> Sequence[Stream]:
        return [self.persons]

    def check_connection(self) -> tuple[bool, str | None]:
        try:
            self.client.ping()
        except HukouFault as fault:
            if fault.code == "AUTH_FAILED" or fault.faultcode.startswith("wsse:"):
                return False, f"authentication failed ({fault.faultcode})"
            return False, str(fault)
        except (SourceUnavailable, UnsafeResponse) as exc:
            return False, str(exc)
        except Exception as exc:  # the contract: report, never raise
            return False, f"unexpected {type(exc).__name__}"
        return True, None

    def close(self) -> None:
        self.mapper.close()
        self.client.close()


def create_adapter(config: HukouConfig) -> Adapter:
    return HukouAdapter(config)
