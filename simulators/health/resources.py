"""FHIR R4 resources as a district health platform (区域全民健康信息平台) publishes them.

JSON dictionaries, not model objects: the simulator must be able to serve what a real
server sends, including resources that do not validate. The identifier systems are this
project's, documented here and in the adapter's settings; a district configures its own
(often an OID under 2.16.156, China's arc) without any code change.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LOINC",
    "MRN_SYSTEM",
    "RESIDENT_ID_SYSTEM",
    "RESIDENT_ID_TYPE",
    "VITALS",
    "Vital",
    "encounter",
    "observation",
    "patient",
]

#: The system of the resident identity card number (居民身份证号, GB 11643).
RESIDENT_ID_SYSTEM = "http://gridhub.example/fhir/sid/resident-id"
#: HL7 v2 table 0203 "national person identifier" for China, set on the same identifier so
#: a client can recognise the number even under another system URI.
RESIDENT_ID_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNCHN"}
#: The hospital's medical record number (病案号).
MRN_SYSTEM = "http://gridhub.example/fhir/sid/mrn"
LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "司徒", "令狐")


class Vital:
    """One kind of measurement: LOINC code, Chinese label, unit and reference range."""

    __slots__ = ("category", "code", "display", "high", "label", "low", "unit")

    def __init__(
        self,
        code: str,
        display: str,
        label: str,
        unit: str,
        low: float | None,
        high: float | None,
        category: str = "vital-signs",
    ) -> None:
        self.code, self.display, self.label, self.unit = code, display, label, unit
        self.low, self.high, self.category = low, high, category


VITALS: dict[str, Vital] = {
    "heart_rate": Vital("8867-4", "Heart rate", "心率", "/min", 60, 100),
    "spo2": Vital("59408-5", "Oxygen saturation by Pulse oximetry", "血氧饱和度", "%", 95, 100),
    "systolic": Vital("8480-6", "Systolic blood pressure", "收缩压", "mm[Hg]", 90, 139),
    "diastolic": Vital("8462-4", "Diastolic blood pressure", "舒张压", "mm[Hg]", 60, 89),
    "glucose": Vital(
        "14749-6",
        "Glucose [Moles/volume] in Serum or Plasma",
        "空腹血糖",
        "mmol/L",
        3.9,
        6.1,
        category="laboratory",
    ),
}
_BP_PANEL = ("85354-9", "Blood pressure panel", "血压")


def _meta(version: int, stamp: str) -> dict[str, Any]:
    return {"versionId": str(version), "lastUpdated": stamp}


def _split(name: str) -> tuple[str, str]:
    text = name.strip()
    for compound in _COMPOUND_SURNAMES:
        if text.startswith(compound) and len(text) > 2:
            return compound, text[2:]
    return text[:1], text[1:]


def patient(
    pid: str,
    fields: dict[str, str | None],
    *,
    stamp: str,
    version: int = 1,
    name_parts: bool = True,
) -> dict[str, Any]:
    """A Patient from a health-view row (``name``, ``id_number``, ``gender`` …).

    Some hospitals fill only ``HumanName.text``; ``name_parts`` adds family/given as well.
    """
    identifiers: list[dict[str, Any]] = [
        {
            "use": "usual",
            "type": {"coding": [{"system": RESIDENT_ID_TYPE["system"], "code": "MR"}]},
            "system": MRN_SYSTEM,
            "value": pid,
        }
    ]
    if fields.get("id_number"):
        identifiers.insert(
            0,
            {
                "use": "official",
                "type": {"coding": [dict(RESIDENT_ID_TYPE)], "text": "居民身份证"},
                "system": RESIDENT_ID_SYSTEM,
                "value": fields["id_number"],
            },
        )
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "meta": _meta(version, stamp),
        "identifier": identifiers,
        "active": not fields.get("deceased_date"),
    }
    name = fields.get("name")
    if name:
        human: dict[str, Any] = {"use": "official", "text": name}
        if name_parts and name.strip():
            family, given = _split(name)
            human["family"] = family
            if given:
                human["given"] = [given]
        res["name"] = [human]
    phone = fields.get("phone")
    if phone:
        mobile = phone.strip().startswith("1") and len(phone.strip()) == 11
        res["telecom"] = [
            {"system": "phone", "value": phone, "use": "mobile" if mobile else "home"}
        ]
    if fields.get("gender"):
        res["gender"] = fields["gender"]
    if fields.get("birth_date"):
        res["birthDate"] = fields["birth_date"]
    if fields.get("deceased_date"):
        res["deceasedDateTime"] = f"{fields['deceased_date']}T00:00:00+08:00"
    if fields.get("address"):
        res["address"] = [{"use": "home", "type": "physical", "text": fields["address"]}]
    return res


def encounter(
    eid: str,
    patient_id: str,
    *,
    start: str,
    end: str | None,
    hospital: str,
    stamp: str,
    version: int = 1,
) -> dict[str, Any]:
    """An inpatient stay: in progress (admitted) or finished (discharged home)."""
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "meta": _meta(version, stamp),
        "status": "finished" if end else "in-progress",
        "class": {"system": _ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "type": [{"text": "住院"}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": start, **({"end": end} if end else {})},
        "serviceProvider": {"display": hospital},
    }
    if end:
        res["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [{"system": _DISPOSITION, "code": "home", "display": "Home"}],
                "text": "出院回家",
            }
        }
    return res


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}


def _range(v: Vital) -> list[dict[str, Any]]:
    rng: dict[str, Any] = {}
    if v.low is not None:
        rng["low"] = _quantity(v.low, v.unit)
    if v.high is not None:
        rng["high"] = _quantity(v.high, v.unit)
    return [rng]


def _flag(v: Vital, value: float) -> list[dict[str, Any]]:
    code = "N"
    if v.low is not None and value < v.low:
        code = "L"
    elif v.high is not None and value > v.high:
        code = "H"
    return [{"coding": [{"system": _INTERPRETATION, "code": code}]}]


def _code(code: str, display: str, label: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": label}


def observation(
    oid: str,
    patient_id: str,
    kind: str,
    values: tuple[float, ...],
    *,
    effective: str,
    stamp: str,
    version: int = 1,
) -> dict[str, Any]:
    """A vital sign or lab value with its reference range; ``kind`` ``blood_pressure``
    takes (systolic, diastolic) and becomes a panel with two components."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "meta": _meta(version, stamp),
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": effective,
    }
    if kind == "blood_pressure":
        res["category"] = [{"coding": [{"system": _CATEGORY, "code": "vital-signs"}]}]
        res["code"] = _code(*_BP_PANEL)
        res["component"] = [
            {
                "code": _code(v.code, v.display, v.label),
                "valueQuantity": _quantity(value, v.unit),
                "referenceRange": _range(v),
                "interpretation": _flag(v, value),
            }
            for v, value in zip((VITALS["systolic"], VITALS["diastolic"]), values, strict=True)
        ]
        return res
    v = VITALS[kind]
    res["category"] = [{"coding": [{"system": _CATEGORY, "code": v.category}]}]
    res["code"] = _code(v.code, v.display, v.label)
    res["valueQuantity"] = _quantity(values[0], v.unit)
    res["referenceRange"] = _range(v)
    res["interpretation"] = _flag(v, values[0])
    return res
