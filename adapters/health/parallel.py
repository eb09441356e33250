"""Validating (and mapping) pages in worker processes while the engine stores the page before.

``fhir.resources`` validation is about half of a health sync's CPU, mapping names and
addresses about a third, the engine the rest — all pure Python: in one process they add up,
in several they overlap. Workers handle page N+1 while the sync process stores page N;
results come back in page order, so the engine sees exactly what inline handling would
give it. With one worker (a two-core machine) the worker only validates and the sync
process maps, which splits the work about evenly; with more, workers validate and map.

The pool, its forked workers and the fall-back to inline handling are the shared
``adapters.parallel.PageMapper``; this module adds health's worker function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from adapters import parallel
from adapters.contract import RecordRejected
from adapters.health.mapping import map_encounter, map_observation, map_patient, validate

__all__ = ["PageMapper", "Result", "canonical_of", "map_resource"]

#: ("ok", canonical) — canonical None when the worker only validated — or
#: ("rejected", reason_code, reason), or ("error",): the worker raised, and the caller handles
#: that record again inline, so the engine sees the real exception.
Result = parallel.Result

Codes = Mapping[str, str]
"""A source's own gender codes → FHIR administrative-gender (``HealthConfig.gender_codes``)."""

_CANONICAL: dict[str, Callable[[Mapping[str, Any], Sequence[str], Codes], dict[str, Any]]] = {
    "Patient": map_patient,
    "Encounter": lambda r, _s, _c: map_encounter(r),
    "Observation": lambda r, _s, _c: map_observation(r),
}
_NO_CODES: Codes = {}


def canonical_of(
    resource: Mapping[str, Any],
    resource_type: str,
    systems: Sequence[str],
    gender_codes: Codes = _NO_CODES,
) -> dict[str, Any]:
    """The canonical fields of a resource already validated."""
    return _CANONICAL[resource_type](resource, systems, gender_codes)


def map_resource(
    resource: Any, resource_type: str, systems: Sequence[str], gender_codes: Codes = _NO_CODES
) -> dict[str, Any]:
    """Validate one search entry and return its canonical fields, or ``RecordRejected``."""
    if not isinstance(resource, Mapping):
        raise RecordRejected("fhir.empty_entry", "a Bundle entry carries no resource")
    validate(resource, resource_type)
    return canonical_of(resource, resource_type, systems, gender_codes)


def _validate_only(
    resource: Any, resource_type: str, systems: Sequence[str], gender_codes: Codes
) -> None:
    if not isinstance(resource, Mapping):
        raise RecordRejected("fhir.empty_entry", "a Bundle entry carries no resource")
    validate(resource, resource_type)


def map_page(
    resource_type: str,
    systems: Sequence[str],
    resources: Sequence[Any],
    validate_only: bool,
    gender_codes: Codes = _NO_CODES,
) -> list[Result]:
    """Handle one page (in a worker); never raises for a single bad resource."""
    handle = _validate_only if validate_only else map_resource
    out: list[Result] = []
    for resource in resources:
        try:
            canonical = handle(resource, resource_type, systems, gender_codes)
        except RecordRejected as r:
            out.append(("rejected", r.reason_code, r.reason))
        except Exception:
            out.append(("error",))
        else:
            out.append(("ok", canonical))
    return out


class PageMapper(parallel.PageMapper):
    """The shared one-page-ahead pipeline with health's worker function (``map_page``);
    ``submit`` returns None when a page stays inline."""

    def __init__(self, workers: int, *, min_page: int = 100) -> None:
        super().__init__(workers, min_page=min_page, label="health mapping")
        self.validate_only = workers == 1

    def submit(
        self,
        resource_type: str,
        systems: Sequence[str],
        resources: Sequence[Any],
        gender_codes: Codes = _NO_CODES,
    ) -> Future[list[Result]] | None:
        return self.run(
            len(resources),
            map_page,
            resource_type,
            list(systems),
            list(resources),
            self.validate_only,
            dict(gender_codes),
        )
