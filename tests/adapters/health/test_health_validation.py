"""Validation that reuses validated sub-elements accepts and refuses exactly what full
``fhir.resources`` validation does, with the same errors and quarantine reasons."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from adapters.contract import RecordRejected
from adapters.health.mapping import _MODELS, validate
from adapters.health.validation import SkeletonValidator
from simulators.health.resources import encounter, observation, patient
from tests.adapters.health.test_health_mapping import FIELDS, STAMP

GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def _patient(n: int) -> dict[str, Any]:
    name = f"张{GIVEN[n % 20]}{GIVEN[n // 20 % 20]}"
    return patient(f"PT{n}", {**FIELDS, "name": name}, stamp=STAMP)


def _encounter(n: int) -> dict[str, Any]:
    return encounter(f"EN{n}", f"PT{n}", start="2024-12-20T01:00:00+08:00",
                     end="2024-12-28T23:30:00+08:00", hospital="西湖区人民医院",
                     stamp=STAMP)  # fmt: skip


def _observation(n: int) -> dict[str, Any]:
    if n % 2:
        return observation(f"OB{n}", f"PT{n}", "blood_pressure", (120.0 + n, 80.0),
                           effective=STAMP, stamp=STAMP)  # fmt: skip
    return observation(f"OB{n}", f"PT{n}", "heart_rate", (70.0 + n,), effective=STAMP,
                       stamp=STAMP)  # fmt: skip


MAKERS: dict[str, Callable[[int], dict[str, Any]]] = {
    "Patient": _patient,
    "Encounter": _encounter,
    "Observation": _observation,
}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(res: dict[str, Any]) -> None:
        target: Any = res
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda res: res.pop(key)


#: Invalid resources of each type: at the top, inside a part the cache holds valid copies
#: of, inside a part that is never cached, and in the skeleton's own rules.
INVALID = [
    pytest.param("Patient", _set(("birthDate",), "1949-13-45"), id="patient-bad-date"),
    pytest.param(
        "Patient",
        _set(("identifier", 0, "type", "coding", 0, "code"), " NNCHN"),
        id="patient-bad-code-in-a-cached-part",
    ),
    pytest.param("Patient", _set(("identifier", 1), None), id="patient-null-in-a-list"),
    pytest.param("Patient", _set(("name", 0, "nickname"), "娜娜"), id="patient-unknown-key"),
    pytest.param("Patient", _set(("telecom",), {"system": "phone"}), id="patient-dict-for-list"),
    pytest.param("Patient", _set(("meta", "lastUpdated"), "yesterday"), id="patient-bad-meta"),
    pytest.param("Patient", _set(("gender",), ["female"]), id="patient-wrong-shape"),
    pytest.param("Encounter", lambda r: r.update({"class": [r["class"]]}), id="encounter-r5-class"),
    pytest.param("Encounter", _set(("period", "start"), "2024-12-32"), id="encounter-bad-period"),
    pytest.param("Encounter", _drop("status"), id="encounter-no-status"),
    pytest.param("Encounter", _set(("class", "code"), ""), id="encounter-empty-code"),
    pytest.param("Observation", _drop("status"), id="observation-no-status"),
    pytest.param(
        "Observation", _set(("code", "coding"), {"code": "8867-4"}), id="observation-dict-for-list"
    ),
    pytest.param(
        "Observation", _set(("valueQuantity", "value"), "七十二"), id="observation-text-value"
    ),
    pytest.param("Observation", _set(("valueString",), "72"), id="observation-two-values"),
    pytest.param(
        "Observation",
        _set(("interpretation", 0, "coding", 0, "code"), "N "),
        id="observation-bad-uri-in-a-cached-part",
    ),
    pytest.param("Observation", _set(("subject", "reference"), 7), id="observation-bad-ref"),
    pytest.param(
        "Observation", _set(("effectiveDateTime",), datetime(2025, 1, 1)), id="observation-not-json"
    ),
]


def _warm(validator: SkeletonValidator, rtype: str, count: int = 80) -> None:
    """Validate enough resources that every position has been judged (cached or not)."""
    for n in range(count):
        validator.validate(_MODELS[rtype], MAKERS[rtype](n))


def _full_errors(model: type[BaseModel], res: dict[str, Any]) -> list[Any]:
    with pytest.raises(Exception) as caught:
        model.model_validate(res)
    return _errors(caught.value)


def _errors(exc: BaseException) -> list[Any]:
    """What a refusal says: every error's type, location, message and input."""
    if isinstance(exc, ValidationError):
        return list(exc.errors(include_url=False, include_context=False))
    return [type(exc), str(exc)]


def _full_reason(res: dict[str, Any], rtype: str) -> str:
    """The quarantine reason as ``mapping.validate`` wrote it before the cache existed."""
    try:
        _MODELS[rtype].model_validate(res)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'} ({err['type']})"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        return f"{rtype} is not valid FHIR R4: {'; '.join(problems[:5])}{more}"
    except Exception as exc:
        return f"{rtype} is not valid FHIR R4 ({type(exc).__name__})"
    raise AssertionError("the resource was expected to be invalid")


@pytest.mark.parametrize(("rtype", "change"), INVALID)
def test_invalid_resources_get_exactly_the_errors_of_full_validation(
    rtype: str, change: Callable[[dict[str, Any]], None]
) -> None:
    model = _MODELS[rtype]
    validator = SkeletonValidator()
    _warm(validator, rtype)
    res = MAKERS[rtype](4)  # an Observation with a value of its own, not a panel
    change(res)
    expected = _full_errors(model, res)
    before = copy.deepcopy(res)
    with pytest.raises(Exception) as caught:
        validator.validate(model, res)
    assert _errors(caught.value) == expected
    assert validator.fallbacks == 1
    assert res == before  # the resource as received is what gets stored

    for n in range(80):  # the process-wide validator, warm too
        validate(MAKERS[rtype](n), rtype)
    with pytest.raises(RecordRejected) as rejected:
        validate(res, rtype)
    assert rejected.value.reason_code == "fhir.invalid"
    assert rejected.value.reason == _full_reason(res, rtype)


@pytest.mark.parametrize("rtype", sorted(MAKERS))
def test_valid_resources_pass_reuse_their_parts_and_stay_untouched(rtype: str) -> None:
    validator = SkeletonValidator()
    resources = [MAKERS[rtype](n) for n in range(120)]
    before = copy.deepcopy(resources)
    for res in resources:
        _MODELS[rtype].model_validate(res)  # valid in full: the cache must agree
        validator.validate(_MODELS[rtype], res)
    assert resources == before
    assert validator.fallbacks == 0
    assert validator.hits > validator.misses  # the repeated parts came from the cache


def test_the_cache_is_bounded_and_still_right_after_evictions() -> None:
    validator = SkeletonValidator(max_entries=8, probe=4)
    for n in range(200):
        validator.validate(_MODELS["Observation"], _observation(n))
        assert len(validator) <= 8
    bad = _observation(5)
    bad["component"][0]["code"]["coding"][0]["code"] = " 8480-6"
    with pytest.raises(ValidationError) as caught:
        validator.validate(_MODELS["Observation"], bad)
    assert _errors(caught.value) == _full_errors(_MODELS["Observation"], bad)
