"""Masked forms of identifiers, and the purpose rule deciding when they are shown in clear."""

from __future__ import annotations

import pytest

from identity.errors import PurposeRequired, UnknownPurpose
from identity.masking import (
    MASKERS,
    MaskingPolicy,
    mask_address,
    mask_name,
    mask_phone,
    mask_resident_id,
)
from identity.principal import Principal
from identity.purposes import Purpose, PurposeVocabulary
from identity.roles import Role

GRID = "330106001001001"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param("110101199003071234", "110101********1234", id="18-digit"),
        pytest.param("11010119900307123x", "110101********123X", id="check-digit-x"),
        pytest.param(" 110101 19900307 1234 ", "110101********1234", id="spaced"),
        pytest.param("110101900307123", "110101*****7123", id="15-digit"),
        pytest.param("1101011990030712", "****************", id="wrong-length-fully-hidden"),
        pytest.param("G12345678", "*********", id="not-an-id-fully-hidden"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_resident_id(value: str, masked: str) -> None:
    assert mask_resident_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param("13812345678", "138****5678", id="mobile"),
        pytest.param("+86 13812345678", "+86 138****5678", id="mobile-country-code"),
        pytest.param("008613812345678", "0086 138****5678", id="mobile-0086"),
        pytest.param("010-12345678", "010-****5678", id="beijing-landline"),
        pytest.param("0571-87654321", "0571-****4321", id="hangzhou-landline"),
        pytest.param("0571-8765432", "0571-***5432", id="seven-digit-local"),
        pytest.param("(021)62345678", "021-****5678", id="parenthesised-area"),
        pytest.param("01012345678", "010-****5678", id="beijing-landline-compact"),
        pytest.param("057187654321", "0571-****4321", id="hangzhou-landline-compact"),
        pytest.param("02087654321", "020-****4321", id="guangzhou-landline-compact"),
        pytest.param("0571-87654321-808", "0571-****4321-***", id="extension-hidden"),
        pytest.param("12345", "*****", id="short-fully-hidden"),
        pytest.param("+1 (415) 555-0100", "+* (***) ***-0100", id="foreign-keeps-last-four"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param("张三丰", "张**", id="three-characters"),
        pytest.param("李四", "李*", id="two-characters"),
        pytest.param("王", "*", id="one-character-fully-hidden"),
        pytest.param("欧阳娜娜", "欧阳**", id="compound-surname"),
        pytest.param("诸葛亮", "诸葛*", id="compound-surname-three"),
        pytest.param("司马", "司*", id="compound-surname-alone-is-surname-plus-name"),
        pytest.param("阿沛·阿旺晋美", "阿*·****", id="transliterated-with-dot"),
        pytest.param("John Smith", "J*** *****", id="latin"),
        pytest.param(" 张三 ", "张*", id="trimmed"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_name(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param(
            "浙江省杭州市西湖区文三路90号东部软件园1号楼301室",
            "浙江省杭州市西湖区文三路****",
            id="road-and-number",
        ),
        pytest.param(
            "杭州市西湖区翠苑街道翠苑一区十二幢301室",
            "杭州市西湖区翠苑街道翠苑一区****",
            id="chinese-numeral-building",
        ),
        pytest.param(
            "北京市东城区东华门街道南池子大街12号院3号楼2单元501",
            "北京市东城区东华门街道南池子大街****",
            id="hutong-courtyard",
        ),
        pytest.param(
            "西湖区北山街道宝石社区3幢2单元", "西湖区北山街道宝石社区****", id="community"
        ),
        pytest.param("阳光花园3栋502", "阳光花园****", id="compound-name"),
        pytest.param("西湖区文三路", "西湖区文三路", id="nothing-private"),
        pytest.param("门卫室旁边", "****", id="no-marker-fully-hidden"),
        pytest.param("12号楼", "****", id="number-only"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_address(value: str, masked: str) -> None:
    assert mask_address(value) == masked


def test_maskers_by_field_kind() -> None:
    assert MASKERS["phone"]("13812345678") == "138****5678"
    assert set(MASKERS) == {"resident_id", "phone", "name", "address"}


# --- the policy -----------------------------------------------------------------------------


def _p(role: Role, *purposes: str) -> Principal:
    grids = {Role.GRID_WORKER: [GRID], Role.COMMUNITY_ADMIN: [GRID[:12]]}.get(role, [])
    return Principal(subject="s", role=role, grids=frozenset(grids), purposes=frozenset(purposes))


@pytest.mark.parametrize(
    ("principal", "purpose", "unmask"),
    [
        pytest.param(_p(Role.GRID_WORKER, "welfare_visit"), "welfare_visit", True, id="allowed"),
        pytest.param(
            _p(Role.GRID_WORKER, "welfare_visit"), "hotline_case", False, id="purpose-not-granted"
        ),
        pytest.param(_p(Role.GRID_WORKER), "welfare_visit", False, id="no-purposes-in-token"),
        pytest.param(
            _p(Role.COMMUNITY_ADMIN, "emergency_response"),
            "emergency_response",
            True,
            id="community-admin-emergency",
        ),
        pytest.param(
            _p(Role.PLATFORM, "hotline_case"), "hotline_case", True, id="platform-hotline"
        ),
        pytest.param(
            _p(Role.DISTRICT_IT, "data_quality"), "data_quality", False, id="role-lacks-unmask"
        ),
        pytest.param(_p(Role.AUDITOR, "audit"), "audit", False, id="auditor-stays-masked"),
    ],
)
def test_decide(principal: Principal, purpose: str, unmask: bool) -> None:
    assert MaskingPolicy().decide(principal, purpose) is unmask


@pytest.mark.parametrize("purpose", [pytest.param(None, id="none"), pytest.param("  ", id="blank")])
def test_unmask_without_purpose_is_an_error(purpose: str | None) -> None:
    with pytest.raises(PurposeRequired) as caught:
        MaskingPolicy().decide(_p(Role.GRID_WORKER, "welfare_visit"), purpose)
    assert caught.value.code == "purpose_required"


def test_masked_by_default_when_unmask_not_requested() -> None:
    principal = _p(Role.GRID_WORKER, "welfare_visit")
    assert MaskingPolicy().decide(principal, None, requested=False) is False
    assert MaskingPolicy().decide(principal, "welfare_visit", requested=False) is False


def test_unknown_purpose_is_loud_even_for_roles_that_could_unmask() -> None:
    principal = _p(Role.GRID_WORKER, "welfare_visit", "shopping")
    with pytest.raises(UnknownPurpose) as caught:
        MaskingPolicy().decide(principal, "shopping")
    assert caught.value.code == "unknown_purpose"


def test_configured_extra_purpose() -> None:
    policy = MaskingPolicy(PurposeVocabulary(extras=["flood_drill"]))
    assert policy.decide(_p(Role.GRID_WORKER, "flood_drill"), "flood_drill") is True
    assert "flood_drill" not in PurposeVocabulary()


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("Flood Drill", id="spaces-and-capitals"),
        pytest.param("x", id="too-short"),
        pytest.param("防汛", id="not-ascii"),
    ],
)
def test_extra_purposes_must_be_machine_names(extra: str) -> None:
    with pytest.raises(ValueError, match="purpose names"):
        PurposeVocabulary(extras=[extra])


def test_vocabulary_has_the_built_in_purposes() -> None:
    assert {p.value for p in Purpose} == {
        "welfare_visit",
        "emergency_response",
        "hotline_case",
        "audit",
        "data_quality",
    }
