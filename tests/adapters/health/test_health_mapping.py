"""FHIR resources → validation and canonical fields, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.contract import Extracted, RecordRejected
from adapters.health import HealthConfig, create_adapter
from adapters.health.mapping import map_encounter, map_observation, map_patient, validate
from simulators.health.resources import RESIDENT_ID_SYSTEM, encounter, observation, patient

SYSTEMS = (RESIDENT_ID_SYSTEM,)
STAMP = "2025-01-01T08:00:00.000+08:00"
FIELDS: dict[str, str | None] = {
    "name": "欧阳娜娜",
    "id_number": "11010519491231002X",
    "gender": "female",
    "birth_date": "1949-12-31",
    "phone": "+86 138-0013-8000",
    "address": "浙江省杭州市西湖区文三路259号3幢2单元302室",
    "deceased_date": None,
}


def test_patient_maps_to_a_canonical_person() -> None:
    c = map_patient(patient("PT1", FIELDS, stamp=STAMP), SYSTEMS)
    assert c["name"] == "欧阳娜娜"
    assert c["name_pinyin"]
    assert c["resident_id"] == "11010519491231002X"
    assert (c["birth_date"], c["gender"]) == ("1949-12-31", "F")
    assert c["phone"] == "13800138000"
    assert c["address_parts"]["room"] == "302"
    assert c["facts"]["patient"]["mrn"] == "PT1"
    assert c["status"] is None


def test_resident_id_found_by_its_nnchn_type_under_another_system() -> None:
    res = patient("PT2", FIELDS, stamp=STAMP)
    res["identifier"][0]["system"] = "urn:oid:2.16.156.10011.1.1"
    assert map_patient(res, SYSTEMS)["resident_id"] == "11010519491231002X"
    del res["identifier"][0]["type"]
    assert map_patient(res, SYSTEMS)["resident_id"] is None
    assert map_patient(res, ("urn:oid:2.16.156.10011.1.1",))["resident_id"] is not None


def test_name_from_family_and_given_and_a_deceased_patient() -> None:
    res = patient("PT3", {**FIELDS, "deceased_date": "2024-12-01"}, stamp=STAMP)
    del res["name"][0]["text"]
    c = map_patient(res, SYSTEMS)
    assert c["name"] == "欧阳娜娜"
    assert c["status"] == "deceased"
    assert "deceased" in c["tags"]
    assert c["facts"]["patient"]["deceased_on"] == "2024-12-01"


def test_a_bad_resident_id_is_kept_as_evidence_not_rejected() -> None:
    c = map_patient(
        patient("PT4", {**FIELDS, "id_number": "110105194912310021"}, stamp=STAMP), SYSTEMS
    )
    assert c["resident_id"] is None
    assert c["resident_id_raw"] == "110105194912310021"


@pytest.mark.parametrize(
    ("end", "event", "discharged_on"),
    [
        pytest.param(
            "2024-12-28T23:30:00+08:00", "hospital_discharge", "2024-12-28", id="finished"
        ),
        pytest.param(None, "hospital_admission", None, id="in-progress"),
    ],
)
def test_inpatient_encounters_become_admission_or_discharge_facts(
    end: str | None, event: str, discharged_on: str | None
) -> None:
    res = encounter("EN1", "PT9", start="2024-12-20T01:00:00+08:00", end=end,
                    hospital="西湖区人民医院", stamp=STAMP)  # fmt: skip
    validate(res, "Encounter")
    facts = map_encounter(res)["facts"]
    assert facts["encounter"]["event"] == event
    assert facts["encounter"]["admitted_on"] == "2024-12-20"
    assert facts["encounter"]["discharged_on"] == discharged_on
    assert facts["subject"] == {
        "source": "health",
        "stream": "patients",
        "source_key": "Patient/PT9",
    }
    assert map_encounter(res)["name"] is None  # not a person record


@pytest.mark.parametrize(
    ("kind", "values", "flags"),
    [
        pytest.param("heart_rate", (72.0,), [], id="normal"),
        pytest.param("heart_rate", (128.0,), ["high"], id="tachycardia"),
        pytest.param("spo2", (88.0,), ["low"], id="low-spo2"),
        pytest.param("blood_pressure", (168.0, 84.0), ["high"], id="systolic-high"),
        pytest.param("glucose", (12.4,), ["high"], id="glucose"),
    ],
)
def test_observations_outside_their_range_are_flagged(
    kind: str, values: tuple[float, ...], flags: list[str]
) -> None:
    res = observation("OB1", "PT9", kind, values, effective=STAMP, stamp=STAMP)
    validate(res, "Observation")
    obs = map_observation(res)["facts"]["observation"]
    assert obs["flags"] == flags
    assert obs["out_of_range"] is bool(flags)
    assert [v["value"] for v in obs["values"] if v["code"] != "85354-9"][-len(values) :] == list(
        values
    )


def test_interpretation_counts_when_there_is_no_range() -> None:
    res = observation("OB2", "PT9", "heart_rate", (72.0,), effective=STAMP, stamp=STAMP)
    del res["referenceRange"]
    res["interpretation"][0]["coding"][0]["code"] = "HH"
    assert map_observation(res)["facts"]["observation"]["flags"] == ["high"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"birthDate": "1949-13-45"}, "fhir.invalid", id="bad-date"),
        pytest.param({"resourceType": "Observation"}, "fhir.unexpected_type", id="wrong-type"),
        pytest.param({"id": None}, "fhir.missing_id", id="no-id"),
        pytest.param({"gender": ["female"]}, "fhir.invalid", id="wrong-shape"),
    ],
)
def test_invalid_patients_are_refused_without_echoing_values(
    change: dict[str, Any], code: str
) -> None:
    res = {**patient("PT5", FIELDS, stamp=STAMP), **change}
    with pytest.raises(RecordRejected) as caught:
        validate(res, "Patient")
    assert caught.value.reason_code == code
    assert "1949" not in caught.value.reason
    assert "欧阳" not in caught.value.reason


def test_stream_map_quarantines_an_entry_without_resource() -> None:
    adapter = create_adapter(HealthConfig())
    try:
        with pytest.raises(RecordRejected) as caught:
            adapter.stream("patients").map(Extracted(raw=b"", cursor={}))
        assert caught.value.reason_code == "fhir.empty_entry"
        mapped = adapter.stream("patients").map(
            Extracted(raw=patient("PT6", FIELDS, stamp=STAMP), cursor={})
        )
        assert mapped.source_key == "Patient/PT6"
    finally:
        adapter.close()


# -- Patient.gender: FHIR's code set, or a source's own codes declared by the operator -------

NO_ID = {**FIELDS, "id_number": None}  # the ID number would give the gender itself
LOCAL = {"男": "male", "女": "female", "未知": "unknown"}


@pytest.mark.parametrize(
    ("gender", "expected"),
    [
        pytest.param("male", "M", id="male"),
        pytest.param("female", "F", id="female"),
        pytest.param("other", "U", id="other"),
        pytest.param("unknown", "U", id="unknown"),
        pytest.param(None, "U", id="absent"),
    ],
)
def test_fhir_gender_codes_map_without_an_issue(gender: str | None, expected: str) -> None:
    res = patient("PT7", {**NO_ID, "gender": gender}, stamp=STAMP)
    validate(res, "Patient")
    c = map_patient(res, SYSTEMS)
    assert c["gender"] == expected
    assert "gender_issue" not in c["facts"]["patient"]


@pytest.mark.parametrize(
    "gender",
    [
        pytest.param("男", id="chinese"),
        pytest.param("女性", id="chinese-long"),
        pytest.param("Male", id="wrong-case"),
        pytest.param("1", id="gb-t-2261-code"),
        pytest.param("M", id="hl7-v2-code"),
    ],
)
def test_other_gender_values_are_refused_with_a_clear_reason(gender: str) -> None:
    res = patient("PT8", {**FIELDS, "gender": gender}, stamp=STAMP)
    validate(res, "Patient")  # R4B checks the code's syntax only: this passes
    with pytest.raises(RecordRejected) as caught:
        map_patient(res, SYSTEMS)
    assert caught.value.reason_code == "fhir.gender_code"
    reason = caught.value.reason
    assert "male, female, other, unknown" in reason
    assert "GRIDHUB_HEALTH__GENDER_CODES" in reason
    with pytest.raises(RecordRejected) as other:
        map_patient({**res, "gender": "X"}, SYSTEMS)
    assert other.value.reason == reason  # the value itself is never in the reason
    assert "欧阳" not in reason
    with pytest.raises(RecordRejected):  # a declared map of other codes does not cover it
        map_patient(res, SYSTEMS, {"未说明": "unknown"})


@pytest.mark.parametrize(
    ("gender", "expected"),
    [pytest.param("男", "M", id="男"), pytest.param("女", "F", id="女"), pytest.param("未知", "U")],
)
def test_declared_local_codes_map_and_record_the_issue(gender: str, expected: str) -> None:
    res = patient("PT9", {**NO_ID, "gender": gender}, stamp=STAMP)
    c = map_patient(res, SYSTEMS, LOCAL)
    assert c["gender"] == expected
    assert c["facts"]["patient"]["gender_issue"] == "local_code"
    assert (
        map_patient(patient("PT9", NO_ID, stamp=STAMP), SYSTEMS, LOCAL)["facts"]["patient"].get(
            "gender_issue"
        )
        is None
    )  # a FHIR code is not an issue, map or no map


def test_gender_codes_from_the_environment_and_what_is_refused() -> None:
    assert HealthConfig.model_validate({"gender_codes": '{"男": "male"}'}).gender_codes == {
        "男": "male"
    }
    assert HealthConfig.model_validate({"gender_codes": ""}).gender_codes == {}
    for bad in ({"male": "female"}, {"男": "男性"}, {" 男": "male"}, {"": "male"}):
        with pytest.raises(ValueError, match="gender_codes"):
            HealthConfig.model_validate({"gender_codes": bad})


@pytest.mark.parametrize("validate_only", [True, False], ids=["validating", "mapping"])
def test_the_page_workers_apply_the_same_gender_rule(validate_only: bool) -> None:
    from adapters.health.parallel import map_page

    page = [patient("PT10", {**NO_ID, "gender": "男"}, stamp=STAMP)]
    (strict,) = map_page("Patient", SYSTEMS, page, validate_only)
    (declared,) = map_page("Patient", SYSTEMS, page, validate_only, LOCAL)
    if validate_only:  # the worker only validates; the stream maps (and refuses) inline
        assert strict == declared == ("ok", None)
    else:
        assert strict[:2] == ("rejected", "fhir.gender_code")
        assert declared[0] == "ok"
        assert declared[1]["gender"] == "M"


def test_the_stream_uses_the_configured_gender_codes() -> None:
    item = Extracted(raw=patient("PT11", {**NO_ID, "gender": "女"}, stamp=STAMP), cursor={})
    strict = create_adapter(HealthConfig())
    declared = create_adapter(HealthConfig(gender_codes=LOCAL))
    try:
        with pytest.raises(RecordRejected) as caught:
            strict.stream("patients").map(item)
        assert caught.value.reason_code == "fhir.gender_code"
        mapped = declared.stream("patients").map(item)
        assert mapped.canonical["gender"] == "F"
        assert mapped.payload["gender"] == "女"  # the record as received is kept
    finally:
        strict.close()
        declared.close()
