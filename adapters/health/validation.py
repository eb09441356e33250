"""FHIR validation that checks each distinct sub-element once.

A district's resources repeat most of their parts exactly: the same LOINC ``code``, the same
``category``, ``referenceRange`` and ``interpretation`` of an Observation, the same identifier
``type`` of every Patient, the same ``class`` of every inpatient Encounter. ``fhir.resources``
validates every one of them again, each a nested pydantic model with Python hooks (about
30 µs apiece); a resource is a dozen or more of them.

``fhir_core`` validates a complex element the same way wherever it sits: the field's type
names one model class, a dict there is ``Model.model_validate(dict)`` (no context, nothing
from the parent), and an instance of that class is taken as it is. So a sub-element validated
once, as its field's class, can stand in for every equal sub-element later:
``SkeletonValidator`` replaces each complex element of a resource (recursively) by the model
instance that validating it gave — from a bounded LRU cache keyed by (class, canonical JSON)
— and validates the resource's skeleton. Anything unusual (a sub-element or skeleton that
fails, a value that is not plain JSON, a field whose type is not one model class such as
``contained``) falls back to a full ``model_validate`` of the untouched resource, so an
invalid resource is refused with exactly the errors full validation reports, and a valid one
is accepted exactly when full validation accepts it. Only successes are cached; the input
is never modified. A full cache (4,096 elements) holds about 7 MiB.

Not locked: two threads sharing one validator can at worst make a lookup fail (an entry
evicted under it), and that too ends in full validation — the cache only ever holds
elements that validated, under their exact JSON.
"""

from __future__ import annotations

import json
import types
import typing
from collections import OrderedDict
from functools import cache
from typing import Any

from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import BaseModel

__all__ = ["SkeletonValidator", "complex_fields"]

#: A position stays cached when at least one lookup in this many finds its element.
_WORTH = 4

#: A field's JSON key (alias and name) → (the model class of its value, whether a list).
FieldMap = dict[str, tuple[type[BaseModel], bool]]

_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=True
).encode


def _element_type(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The one model class a field holds and whether it holds a list of them; None for a
    primitive, a polymorphic ``Resource``/``Element`` field or anything less plain."""
    many = False
    found: list[type[FhirBase]] = []
    pending = [annotation]
    while pending:
        tp = pending.pop()
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            pending += [a for a in typing.get_args(tp) if a is not type(None)]
        elif origin is list:
            many = True
            pending += list(typing.get_args(tp))
        elif isinstance(tp, type) and issubclass(tp, FhirBase):
            found.append(tp)
        elif origin is not None or tp is Any:
            return None  # a shape this module does not reason about
    if len(found) != 1 or issubclass(found[0], FhirElementOrResourceBase):
        return None
    model = found[0].get_model_klass()
    return (model, many) if isinstance(model, type) and issubclass(model, BaseModel) else None


@cache
def complex_fields(model: type[BaseModel]) -> FieldMap:
    """The fields of ``model`` whose values are single-class FHIR elements, by JSON key."""
    out: FieldMap = {}
    for name, info in model.model_fields.items():
        spec = _element_type(info.annotation)
        if spec is None:
            continue
        out[name] = spec
        if info.alias:
            out[info.alias] = spec
    return out


class _Position:
    """How often elements at one (parent class, key) were already in the cache."""

    __slots__ = ("cached", "hits", "lookups")

    def __init__(self) -> None:
        self.lookups = 0
        self.hits = 0
        self.cached = True


class SkeletonValidator:
    """``validate(Model, resource)`` accepts and refuses exactly what
    ``Model.model_validate(resource)`` does, validating each distinct sub-element once.

    A position (parent class, key) whose elements seldom repeat (``meta`` with its
    ``lastUpdated``, a Patient's names and identifiers) stops being cached after ``probe``
    lookups with fewer than one in ``_WORTH`` found: its elements are then validated inside
    their parent, as full validation does, while their own repeating parts (an identifier's
    ``type``) still come from the cache. Which positions are cached changes the cost only,
    never the outcome."""

    def __init__(self, max_entries: int = 4096, probe: int = 64) -> None:
        self.max_entries = max_entries
        self.probe = probe
        self.hits = 0
        self.misses = 0
        self.fallbacks = 0
        self._cache: OrderedDict[tuple[type[BaseModel], str], BaseModel] = OrderedDict()
        self._positions: dict[tuple[type[BaseModel], str], _Position] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def validate(self, model: type[BaseModel], resource: dict[str, Any]) -> None:
        """Raise what full validation raises (``ValidationError`` or the models' plain
        errors) when ``resource`` is not a valid ``model``; return None otherwise."""
        try:
            model.model_validate(self._skeleton(model, resource))
        except Exception:  # whatever it was, full validation decides
            self.fallbacks += 1
            model.model_validate(resource)

    def _skeleton(self, model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
        """A shallow copy of ``data`` whose complex elements are validated instances (or,
        at positions not worth caching, skeletons themselves)."""
        fields = complex_fields(model)
        out: dict[str, Any] | None = None
        for key, value in data.items():
            spec = fields.get(key)
            if spec is None:
                continue
            klass, many = spec
            where = self._positions.get((model, key))
            if where is None:
                where = self._positions[(model, key)] = _Position()
            new: Any
            if many and type(value) is list:
                new = [self._part(klass, v, where) if type(v) is dict else v for v in value]
            elif not many and type(value) is dict:
                new = self._part(klass, value, where)
            else:
                continue  # a wrong shape: the skeleton fails as the resource would
            if out is None:
                out = dict(data)
            out[key] = new
        return data if out is None else out

    def _part(self, klass: type[BaseModel], value: dict[str, Any], where: _Position) -> Any:
        """The validated instance of ``value`` (cached), or its skeleton."""
        if not where.cached:
            return self._skeleton(klass, value)
        key = (klass, _dumps(value))
        cached = self._cache.get(key)
        if where.lookups < self.probe:
            where.lookups += 1
            where.hits += cached is not None
            if where.lookups == self.probe and where.hits * _WORTH < where.lookups:
                where.cached = False
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return cached
        self.misses += 1
        instance = klass.model_validate(self._skeleton(klass, value))
        self._cache[key] = instance
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return instance
