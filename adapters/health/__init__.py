"""Health (卫健) over FHIR R4: the district health platform's patients, inpatient stays and
vital signs.

``create_adapter(HealthConfig(...))`` builds the adapter without touching the network; a
down server shows up in ``check_connection`` or as ``SourceUnavailable`` from the sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from adapters.contract import Adapter, SourceUnavailable, Stream
from adapters.health.client import FhirClient
from adapters.health.config import HealthConfig
from adapters.health.parallel import PageMapper
from adapters.health.streams import (
    EncountersStream,
    FhirStream,
    ObservationsStream,
    PatientsStream,
)

__all__ = ["HealthAdapter", "HealthConfig", "create_adapter"]

_STREAMS: dict[str, type[FhirStream]] = {
    "Patient": PatientsStream,
    "Encounter": EncountersStream,
    "Observation": ObservationsStream,
}


class HealthAdapter(Adapter):
    name: ClassVar[str] = "health"

    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        self.client = FhirClient(config)
        self.mapper = PageMapper(config.map_workers)
        # Patients first: a run that stops early has the people before their events.
        self._streams: list[Stream] = [
            _STREAMS[t](self.client, config, self.mapper) for t in _STREAMS if t in config.resources
        ]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def check_connection(self) -> tuple[bool, str | None]:
        try:
            capability = self.client.metadata()
        except SourceUnavailable as exc:
            return False, str(exc)
        except Exception as exc:  # the contract: report, never raise
            return False, f"unexpected {type(exc).__name__}"
        if capability.get("resourceType") != "CapabilityStatement":
            return False, "the metadata endpoint did not return a CapabilityStatement"
        version = str(capability.get("fhirVersion") or "")
        if version and not version.startswith(("4.0", "4.3")):
            return False, f"the server speaks FHIR {version[:20]}, not R4"
        return True, None

    def close(self) -> None:
        self.mapper.close()
        self.client.close()


def create_adapter(config: HealthConfig) -> Adapter:
    return HealthAdapter(config)
