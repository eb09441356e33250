"""Validating (and mapping) pages in worker processes while the engine stores the page before.

``fhir.resources`` validation is about half of a health sync's CPU, mapping names and
addresses about a third, the engine the rest — all pure Python: in one process they add up,
in several they overlap. Workers handle page N+1 while the sync process stores page N;
results come back in page order, so the engine sees exactly what inline handling would
give it. With one worker (a two-core machine) the worker only validates and the sync
process maps, which splits the work about evenly; with more, workers validate and map.

Workers are forked (they inherit the loaded models instead of importing them again) and
leave as soon as their parent is gone, so a sync killed with ``kill -9`` leaves no orphan.
Where forking is not possible, or a worker dies, pages are handled inline."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from adapters.contract import RecordRejected
from adapters.health.mapping import map_encounter, map_observation, map_patient, validate

__all__ = ["PageMapper", "Result", "canonical_of", "map_resource"]

log = logging.getLogger(__name__)

#: ("ok", canonical) — canonical None when the worker only validated — or
#: ("rejected", reason_code, reason), or ("error",): the worker raised, and the caller handles
#: that record again inline, so the engine sees the real exception.
Result = tuple[Any, ...]

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


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class PageMapper:
    """A one-page-ahead pipeline; ``submit`` returns None when a page stays inline."""

    def __init__(self, workers: int, *, min_page: int = 100) -> None:
        self.workers = workers
        self.min_page = min_page
        self.validate_only = workers == 1
        self._pool: ProcessPoolExecutor | None = None
        self.pages = 0  # pages handed to the worker
        self._broken = workers < 1 or "fork" not in multiprocessing.get_all_start_methods()

    def submit(
        self,
        resource_type: str,
        systems: Sequence[str],
        resources: Sequence[Any],
        gender_codes: Codes = _NO_CODES,
    ) -> Future[list[Result]] | None:
        # A small page (an incremental sync of a few changes) is not worth a process.
        if self._broken or len(resources) < self.min_page:
            return None
        try:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
            future = self._pool.submit(
                map_page,
                resource_type,
                list(systems),
                list(resources),
                self.validate_only,
                dict(gender_codes),
            )
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None
        self.pages += 1
        return future

    def results(self, future: Future[list[Result]] | None) -> list[Result] | None:
        """The page's results, or None to handle it inline (the worker died, say by OOM)."""
        if future is None:
            return None
        try:
            return future.result()
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None

    def _give_up(self, exc: BaseException) -> None:
        log.warning("health mapping worker unavailable (%s); mapping inline", type(exc).__name__)
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
