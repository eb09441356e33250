"""FHIR R4 resources → validation, then canonical fields.

Validation uses ``fhir.resources``' R4B models (the package's 8.x line ships R5 as its
default and R4B beside it; R4B is R4 plus fixes, and for Patient, Encounter and Observation
it accepts and refuses what R4 does — an R5-shaped ``Encounter.class`` list is refused). A
resource that fails is quarantined with the failing element paths and error kinds, never
the values.

A Patient becomes a canonical person (its resident-ID identifier → ``resident_id``). Its
``gender`` must be a FHIR administrative-gender code (``male``, ``female``, ``other``,
``unknown``): R4B only checks a code's syntax, so ``男`` validates, but a department system
that sends its own codes is quarantined with a reason that says how to proceed — fix the
source, or map its codes explicitly (``HealthConfig.gender_codes``), in which case each mapped
Patient records ``facts.patient.gender_issue = "local_code"``. A guessed mapping of an unknown
value to "unknown" would lose the value silently; a declared one is an operator's decision. An
Encounter or Observation is not a person: its canonical form has every person key empty
and carries what happened in ``facts`` — an inpatient admission or discharge with its
dates, a measurement outside its reference range — with ``facts.subject`` naming the
Patient record, so the workflow can turn "an elderly person living alone was discharged"
into a follow-up visit once resolution has linked the patient to a person.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from adapters.canonical import person_fields
from adapters.contract import RecordRejected
from adapters.health.config import GENDER_CODES
from adapters.health.validation import SkeletonValidator

__all__ = ["GENDER_CODES", "map_encounter", "map_observation", "map_patient", "validate"]

_MODELS: dict[str, Any] = {"Patient": Patient, "Encounter": Encounter, "Observation": Observation}
#: One per process (a forked worker starts with a copy): what one page validated, the next
#: page's equal sub-elements reuse.
_VALIDATOR = SkeletonValidator()
_CST = timezone(timedelta(hours=8))
_NNCHN = ("http://terminology.hl7.org/CodeSystem/v2-0203", "NNCHN")

_ABNORMAL = {"H": "high", "HH": "high", "HU": "high", "L": "low", "LL": "low", "LU": "low"}
_ABNORMAL_OTHER = frozenset({"A", "AA", "POS", "DET"})
#: LOINC codes the workflow has rules for, by plain name.
LOINC_NAMES = {
    "8867-4": "heart_rate",
    "59408-5": "spo2",
    "2708-6": "spo2",
    "85354-9": "blood_pressure",
    "8480-6": "systolic",
    "8462-4": "diastolic",
    "14749-6": "glucose",
    "2339-0": "glucose",
}


def validate(resource: Mapping[str, Any], expected: str) -> None:
    """Refuse what is not a valid FHIR R4 ``expected`` resource."""
    rtype = resource.get("resourceType")
    if rtype != expected:
        raise RecordRejected(
            "fhir.unexpected_type", f"a {expected} search returned a {str(rtype)[:40]} entry"
        )
    if not isinstance(resource.get("id"), str) or not resource["id"]:
        raise RecordRejected("fhir.missing_id", f"the {expected} has no id")
    try:
        if type(resource) is dict:
            _VALIDATOR.validate(_MODELS[expected], resource)
        else:
            _MODELS[expected].model_validate(resource)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'} ({err['type']})"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise RecordRejected(
            "fhir.invalid", f"{expected} is not valid FHIR R4: {'; '.join(problems[:5])}{more}"
        ) from None
    except Exception as exc:  # the models raise plain errors for some malformed input
        raise RecordRejected(
            "fhir.invalid", f"{expected} is not valid FHIR R4 ({type(exc).__name__})"
        ) from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _preferred(items: list[dict[str, Any]], uses: tuple[str, ...]) -> dict[str, Any] | None:
    for use in uses:
        for item in items:
            if item.get("use") == use:
                return item
    return items[0] if items else None


def _resident_id(identifiers: list[dict[str, Any]], systems: Collection[str]) -> str | None:
    for ident in identifiers:
        codings = _list((ident.get("type") or {}).get("coding"))
        typed = any((c.get("system"), c.get("code")) == _NNCHN for c in codings)
        if ident.get("system") in systems or typed:
            value = _text(ident.get("value"))
            if value:
                return value
    return None


def _name(names: list[dict[str, Any]]) -> str | None:
    human = _preferred([n for n in names if n.get("use") != "old"], ("official", "usual"))
    if human is None:
        return None
    text = _text(human.get("text"))
    if text:
        return text
    given = "".join(str(g) for g in human.get("given") or [])
    return _text(f"{human.get('family') or ''}{given}")


def _address(addresses: list[dict[str, Any]]) -> str | None:
    addr = _preferred([a for a in addresses if a.get("use") != "old"], ("home",))
    if addr is None:
        return None
    text = _text(addr.get("text"))
    if text:
        return text
    parts = [addr.get(k) or "" for k in ("state", "city", "district")]
    parts += [str(line) for line in addr.get("line") or []]
    return _text("".join(parts))


def _phone(telecom: list[dict[str, Any]]) -> str | None:
    phones = [t for t in telecom if t.get("system") == "phone" and t.get("use") != "old"]
    chosen = _preferred(phones, ("mobile", "home", "work"))
    return _text(chosen.get("value")) if chosen else None


def _local_date(value: Any) -> str | None:
    """The China-local calendar date of a FHIR date or dateTime."""
    text = _text(value)
    if text is None:
        return None
    if len(text) <= 10:
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.date().isoformat()
    return moment.astimezone(_CST).date().isoformat()


def _subject(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    ref = _text((resource.get("subject") or {}).get("reference"))
    if ref is None:
        return None
    key = ref.split("/_history/")[0]
    key = "/".join(key.rstrip("/").split("/")[-2:])  # absolute reference → Type/id
    return {"source": "health", "stream": "patients", "source_key": key}


def _gender(value: Any, local_codes: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The FHIR code and, when a configured local code was mapped, the issue to record."""
    if value is None or value in GENDER_CODES:
        return value, None
    if isinstance(value, str) and value in local_codes:
        return local_codes[value], "local_code"
    # The value itself is not named: the reason is stored and shown, the raw record keeps it.
    raise RecordRejected(
        "fhir.gender_code",
        "Patient.gender is not a FHIR R4 administrative-gender code (male, female, other, "
        "unknown); a source sending its own codes (such as 男/女 or GB/T 2261.1 1/2) must "
        "fix them, or have them declared in GRIDHUB_HEALTH__GENDER_CODES",
    )


def map_patient(
    resource: Mapping[str, Any],
    systems: Collection[str],
    gender_codes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Canonical person fields; ``gender_codes`` maps a source's own gender codes to FHIR's."""
    gender, gender_issue = _gender(resource.get("gender"), gender_codes or {})
    deceased = resource.get("deceasedBoolean") is True or bool(resource.get("deceasedDateTime"))
    mrn = next(
        (
            _text(i.get("value"))
            for i in _list(resource.get("identifier"))
            if any(c.get("code") == "MR" for c in _list((i.get("type") or {}).get("coding")))
        ),
        None,
    )
    return person_fields(
        name=_name(_list(resource.get("name"))),
        id_number=_resident_id(_list(resource.get("identifier")), systems),
        birth_date=resource.get("birthDate"),
        gender=gender,
        phone=_phone(_list(resource.get("telecom"))),
        address=_address(_list(resource.get("address"))),
        tags=("deceased",) if deceased else (),
        status="deceased" if deceased else None,
        facts={
            "patient": {
                "mrn": mrn,
                "active": resource.get("active"),
                "deceased_on": _local_date(resource.get("deceasedDateTime")),
                **({"gender_issue": gender_issue} if gender_issue else {}),
            }
        },
    )


def map_encounter(resource: Mapping[str, Any]) -> dict[str, Any]:
    period = _dict(resource.get("period"))
    status = _text(resource.get("status"))
    klass = _dict(resource.get("class")).get("code")
    ended = bool(period.get("end")) and status == "finished"
    inpatient = klass in ("IMP", "ACUTE", "NONAC")
    event = None
    if inpatient:
        event = "hospital_discharge" if ended else "hospital_admission"
    hospitalization = _dict(resource.get("hospitalization"))
    disposition = _list(_dict(hospitalization.get("dischargeDisposition")).get("coding"))
    facts = {
        "encounter": {
            "event": event,
            "class": klass,
            "status": status,
            "admitted_on": _local_date(period.get("start")),
            "discharged_on": _local_date(period.get("end")) if ended else None,
            "admitted_at": _text(period.get("start")),
            "discharged_at": _text(period.get("end")) if ended else None,
            "disposition": disposition[0].get("code") if disposition else None,
            "provider": _text((resource.get("serviceProvider") or {}).get("display")),
        },
        "subject": _subject(resource),
    }
    return person_fields(facts=facts)


def _number(quantity: Any) -> float | None:
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        return float(quantity["value"])
    return None


def _measurement(part: Mapping[str, Any]) -> dict[str, Any] | None:
    value = _number(part.get("valueQuantity"))
    if value is None:
        return None
    code = next((c.get("code") for c in _list((part.get("code") or {}).get("coding"))), None)
    ranges = _list(part.get("referenceRange"))
    low = _number(ranges[0].get("low")) if ranges else None
    high = _number(ranges[0].get("high")) if ranges else None
    flag = None
    if low is not None and value < low:
        flag = "low"
    elif high is not None and value > high:
        flag = "high"
    else:
        for interp in _list(part.get("interpretation")):
            for coding in _list(interp.get("coding")):
                code_i = str(coding.get("code"))
                if code_i in _ABNORMAL:
                    flag = flag or _ABNORMAL[code_i]
                elif code_i in _ABNORMAL_OTHER:
                    flag = flag or "abnormal"
    return {
        "code": code,
        "name": LOINC_NAMES.get(str(code)),
        "value": value,
        "unit": (part.get("valueQuantity") or {}).get("unit"),
        "low": low,
        "high": high,
        "flag": flag,
    }


def map_observation(resource: Mapping[str, Any]) -> dict[str, Any]:
    parts = [resource, *_list(resource.get("component"))]
    values = [m for m in (_measurement(p) for p in parts) if m is not None]
    flags = sorted({v["flag"] for v in values if v["flag"]})
    code = next((c.get("code") for c in _list((resource.get("code") or {}).get("coding"))), None)
    facts = {
        "observation": {
            "code": code,
            "name": LOINC_NAMES.get(str(code)),
            "status": _text(resource.get("status")),
            "effective": _text(resource.get("effectiveDateTime")),
            "effective_on": _local_date(resource.get("effectiveDateTime")),
            "values": values,
            "out_of_range": bool(flags),
            "flags": flags,
        },
        "subject": _subject(resource),
    }
    return person_fields(facts=facts)
