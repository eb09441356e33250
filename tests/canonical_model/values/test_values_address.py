"""Addresses: component splitting, canonical text, matching keys, rejections."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from canonical_model.values import (
    AddressParts,
    InvalidAddress,
    address_parts,
    normalize_address,
    parse_address,
)
from canonical_model.values.address import LEVELS


def parts(text: str) -> dict[str, str]:
    return {k: v for k, v in asdict(parse_address(text)).items() if v is not None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "上海市浦东新区张江镇科苑路88弄3号楼2单元302室",
            {
                "province": "上海市",
                "city": "上海市",
                "district": "浦东新区",
                "street": "张江镇",
                "road": "科苑路",
                "lane": "88",
                "building": "3",
                "unit": "2",
                "room": "302",
            },
            id="shanghai-full",
        ),
        pytest.param(
            "北京市朝陽區建國路十二號",
            {
                "province": "北京市",
                "city": "北京市",
                "district": "朝阳区",
                "road": "建国路",
                "number": "12",
            },
            id="traditional-with-numeral",
        ),
        pytest.param(
            "杭州市西湖区文一西路8号3#楼201",
            {
                "city": "杭州市",
                "district": "西湖区",
                "road": "文一西路",
                "number": "8",
                "building": "3",
                "room": "201",
            },
            id="hash-building-bare-room",
        ),
        pytest.param(
            "某某小区3-2-302",
            {"estate": "某某小区", "building": "3", "unit": "2", "room": "302"},
            id="dash-triple",
        ),
        pytest.param(
            "浙江省杭州市西湖区文新街道德加社区文一西路8弄12号3栋2单元302室",
            {
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "street": "文新街道",
                "community": "德加社区",
                "road": "文一西路",
                "lane": "8",
                "number": "12",
                "building": "3",
                "unit": "2",
                "room": "302",
            },
            id="every-level",
        ),
        pytest.param(
            "杭州市西湖區文一西路８號３＃樓２０１",
            {
                "city": "杭州市",
                "district": "西湖区",
                "road": "文一西路",
                "number": "8",
                "building": "3",
                "room": "201",
            },
            id="fullwidth-and-traditional",
        ),
        pytest.param(
            "　上海市　徐汇区　漕溪北路１２００弄１２号５０１　",
            {
                "province": "上海市",
                "city": "上海市",
                "district": "徐汇区",
                "road": "漕溪北路",
                "lane": "1200",
                "number": "12",
                "room": "501",
            },
            id="fullwidth-spaces",
        ),
        pytest.param(
            "三号楼二单元一〇二室",
            {"building": "3", "unit": "2", "room": "102"},
            id="numerals-building-unit-room",
        ),
        pytest.param("科苑路十二弄", {"road": "科苑路", "lane": "12"}, id="numeral-lane"),
        pytest.param("12#楼", {"building": "12"}, id="hash-lou"),
        pytest.param("阳光花园3#", {"estate": "阳光花园", "building": "3"}, id="hash-after-estate"),
        pytest.param("文一西路8#", {"road": "文一西路", "number": "8"}, id="hash-after-road"),
        pytest.param("3-302", {"building": "3", "room": "302"}, id="dash-pair"),
        pytest.param("12-1号", {"number": "12-1"}, id="dash-number"),
        pytest.param("302", {"room": "302"}, id="bare-room"),
        pytest.param("文一西路8", {"road": "文一西路", "number": "8"}, id="bare-after-road"),
        pytest.param("3楼302室", {"room": "302"}, id="floor-dropped"),
        pytest.param("A座1502", {"building": "A", "room": "1502"}, id="letter-building"),
        pytest.param("b栋0302室", {"building": "B", "room": "302"}, id="lowercase-leading-zero"),
        pytest.param(
            "浙江杭州西湖区文一西路８号",
            {
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "road": "文一西路",
                "number": "8",
            },
            id="suffixless-province-and-city",
        ),
        pytest.param("温州鹿城区", {"city": "温州市", "district": "鹿城区"}, id="x-zhou-city"),
        pytest.param(
            "宁波市鄞州区", {"city": "宁波市", "district": "鄞州区"}, id="zhou-in-district"
        ),
        pytest.param(
            "宁波市镇海区", {"city": "宁波市", "district": "镇海区"}, id="zhen-starts-name"
        ),
        pytest.param(
            "湖州市德清县新市镇",
            {"city": "湖州市", "district": "德清县", "street": "新市镇"},
            id="shi-inside-town-name",
        ),
        pytest.param("沙市区", {"district": "沙市区"}, id="shi-inside-district"),
        pytest.param(
            "江苏省苏州市昆山市玉山镇",
            {"province": "江苏省", "city": "苏州市", "district": "昆山市", "street": "玉山镇"},
            id="county-level-city",
        ),
        pytest.param(
            "吉林省吉林市船营区",
            {"province": "吉林省", "city": "吉林市", "district": "船营区"},
            id="city-named-like-province",
        ),
        pytest.param(
            "广州市越秀区北京路12号",
            {"city": "广州市", "district": "越秀区", "road": "北京路", "number": "12"},
            id="road-named-after-province",
        ),
        pytest.param(
            "上海市黄浦区四川中路100号",
            {
                "province": "上海市",
                "city": "上海市",
                "district": "黄浦区",
                "road": "四川中路",
                "number": "100",
            },
            id="road-named-after-province-with-direction",
        ),
        pytest.param("杨村路8号", {"road": "杨村路", "number": "8"}, id="cun-inside-road"),
        pytest.param(
            "沛县县前街1号",
            {"district": "沛县", "road": "县前街", "number": "1"},
            id="one-char-county",
        ),
        pytest.param(
            "北京市北京市东城区",
            {"province": "北京市", "city": "北京市", "district": "东城区"},
            id="duplicated-municipality",
        ),
        pytest.param(
            "新疆维吾尔自治区乌鲁木齐市天山区",
            {"province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "district": "天山区"},
            id="autonomous-region",
        ),
        pytest.param(
            "广西南宁市青秀区",
            {"province": "广西壮族自治区", "city": "南宁市", "district": "青秀区"},
            id="short-autonomous-region",
        ),
        pytest.param(
            "內蒙古錫林郭勒盟錫林浩特市",
            {"province": "内蒙古自治区", "city": "锡林郭勒盟", "district": "锡林浩特市"},
            id="league-traditional",
        ),
        pytest.param(
            "湖北省恩施土家族苗族自治州恩施市",
            {"province": "湖北省", "city": "恩施土家族苗族自治州", "district": "恩施市"},
            id="autonomous-prefecture",
        ),
        pytest.param(
            "江苏省南京市鼓楼区新街口街道中山路1号",
            {
                "province": "江苏省",
                "city": "南京市",
                "district": "鼓楼区",
                "street": "新街口街道",
                "road": "中山路",
                "number": "1",
            },
            id="jie-inside-street-name",
        ),
        pytest.param(
            "北京市海淀区中关村大街27号院3号楼",
            {
                "province": "北京市",
                "city": "北京市",
                "district": "海淀区",
                "road": "中关村大街",
                "number": "27",
                "building": "3",
            },
            id="hao-yuan",
        ),
        pytest.param(
            "福建省厦门市思明区鹭江道8号",
            {
                "province": "福建省",
                "city": "厦门市",
                "district": "思明区",
                "road": "鹭江道",
                "number": "8",
            },
            id="dao-road",
        ),
        pytest.param("某某村3组12号", {"community": "某某村", "number": "12"}, id="village-group"),
        pytest.param(
            "文一西路8号3号",
            {"road": "文一西路", "number": "8", "building": "3"},
            id="second-hao-is-building",
        ),
        pytest.param("臺北市", {"city": "台北市"}, id="traditional-city"),
    ],
)
def test_parse_address(text: str, expected: dict[str, str]) -> None:
    assert parts(text) == expected


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        pytest.param(
            "浙江省杭州市西湖区文新街道德加社区文一西路8弄12号3栋2单元302室",
            "浙江省杭州市西湖区文新街道德加社区文一西路8弄12号3栋2单元302室",
            id="fixed-point",
        ),
        pytest.param(
            "上海市浦东新区张江镇科苑路88弄3号楼2单元302室",
            "上海市浦东新区张江镇科苑路88弄3栋2单元302室",
            id="municipality-once",
        ),
        pytest.param("北京市朝陽區建國路十二號", "北京市朝阳区建国路12号", id="traditional"),
        pytest.param(
            "杭州市西湖区文一西路8号3#楼201", "杭州市西湖区文一西路8号3栋201室", id="hash"
        ),
        pytest.param("某某小区3-2-302", "某某小区3栋2单元302室", id="dash"),
        pytest.param("文一西路8号阳光小区3幢", "文一西路8号阳光小区3栋", id="estate-after-number"),
    ],
)
def test_normalize_address(text: str, normalized: str) -> None:
    assert normalize_address(text) == normalized
    assert normalize_address(normalized) == normalized  # idempotent


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(
            "浙江省杭州市西湖区文一西路8号3幢201室",
            "西湖区文一西路八号3#楼201",
            id="with-and-without-province-city",
        ),
        pytest.param(
            "杭州市西湖区文新街道文一西路8号3栋201",
            "杭州市西湖區文一西路８號３棟２０１室",
            id="street-omitted-traditional",
        ),
        pytest.param(
            "上海市浦东新区科苑路88弄3号楼2单元302室", "浦东新区科苑路88弄3-2-302", id="dash-form"
        ),
    ],
)
def test_key_matches_across_styles(left: str, right: str) -> None:
    assert parse_address(left).key() == parse_address(right).key()


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("西湖区文一西路8号3栋201室", "西湖区文一西路8号3栋202室", id="room"),
        pytest.param("西湖区文一西路8号", "滨江区文一西路8号", id="district"),
        pytest.param("西湖区文一西路8号", "西湖区文二西路8号", id="road"),
    ],
)
def test_key_separates_different_dwellings(left: str, right: str) -> None:
    assert parse_address(left).key() != parse_address(right).key()


def test_key_shape() -> None:
    key = parse_address("北京市朝阳区建国路12号").key()
    assert key == ("朝阳区", "建国路", "", "12", "", "", "")


def test_key_falls_back_to_city_when_district_unknown() -> None:
    assert parse_address("杭州市文一西路8号").key()[0] == "杭州市"


def test_municipality_normalized_with_city_only_address() -> None:
    assert AddressParts(province="上海市", city="上海市").normalized == "上海市"
    assert AddressParts(district="西湖区", room="302").normalized == "西湖区302室"
    assert AddressParts().is_empty()
    assert not AddressParts(room="1").is_empty()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("  \u3000\t", "empty", id="whitespace"),
        pytest.param("abc", "unparseable", id="letters"),
        pytest.param("，，、", "unparseable", id="punctuation"),
        pytest.param("新街口", "unparseable", id="no-suffix"),
        pytest.param("###---", "unparseable", id="symbols"),
    ],
)
def test_parse_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        parse_address(text)
    assert (info.value.field, info.value.reason) == ("address", reason)
    assert text.strip() == "" or text not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "浙江省杭州市西湖区文新街道德加社区文一西路8弄12号3栋2单元302室",
        "上海市浦东新区张江镇科苑路88弄3号楼2单元302室",
        "北京市朝陽區建國路十二號",
        "杭州市西湖區文一西路８號３棟２０１室",
        "某某小区3-2-302",
        "文一西路8号阳光小区3幢",
        "臺北市",
        "上海市",
        "西湖区文一西路8号3#楼201",
    ],
)
def test_address_parts_is_parse_address_without_the_dataclass(text: str) -> None:
    """The mapper's path and the dataclass's agree: same text, same parts, in level order."""
    normalized, found = address_parts(text)
    assert normalized == parse_address(text).normalized
    assert found == parts(text)
    assert list(found) == [level for level in LEVELS if level in found]


@pytest.mark.parametrize(("text", "reason"), [("", "empty"), ("新街口", "unparseable")])
def test_address_parts_refuses_what_parse_address_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        address_parts(text)
    assert info.value.reason == reason
