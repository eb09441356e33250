"""Suffix and province tables for the address scanner.

Kept apart from the scanner so the rules read as data: each entry says which
administrative or house level a suffix marks, and how long the name before it must
be for the suffix to count (沛县 is a county, but 市 after one character is not a city).
"""

from __future__ import annotations

LEVELS = (
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "lane",
    "number",
    "estate",
    "building",
    "unit",
    "room",
)
RANK = {name: i for i, name in enumerate(LEVELS)}
MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})


PROVINCES = (
    ("北京", "北京市"),
    ("天津", "天津市"),
    ("上海", "上海市"),
    ("重庆", "重庆市"),
    ("河北", "河北省"),
    ("山西", "山西省"),
    ("辽宁", "辽宁省"),
    ("吉林", "吉林省"),
    ("黑龙江", "黑龙江省"),
    ("江苏", "江苏省"),
    ("浙江", "浙江省"),
    ("安徽", "安徽省"),
    ("福建", "福建省"),
    ("江西", "江西省"),
    ("山东", "山东省"),
    ("河南", "河南省"),
    ("湖北", "湖北省"),
    ("湖南", "湖南省"),
    ("广东", "广东省"),
    ("海南", "海南省"),
    ("四川", "四川省"),
    ("贵州", "贵州省"),
    ("云南", "云南省"),
    ("陕西", "陕西省"),
    ("甘肃", "甘肃省"),
    ("青海", "青海省"),
    ("台湾", "台湾省"),
    ("内蒙古", "内蒙古自治区"),
    ("广西", "广西壮族自治区"),
    ("西藏", "西藏自治区"),
    ("宁夏", "宁夏回族自治区"),
    ("新疆", "新疆维吾尔自治区"),
    ("香港", "香港特别行政区"),
    ("澳门", "澳门特别行政区"),
)
PROVINCE_BY_HEAD = {short[:2]: (short, full) for short, full in PROVINCES}
PROVINCE_TAILS = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")
DIRECTIONS = frozenset("东南西北中")

# Name suffixes, longest first within each first character: (suffix, level, min name length).
SUFFIXES: dict[str, tuple[tuple[str, str, int], ...]] = {}
for _suffix, _level, _min in (
    ("特别行政区", "province", 2),
    ("自治区", "province", 2),
    ("省", "province", 2),
    ("自治州", "city", 2),
    ("地区", "city", 2),
    ("盟", "city", 2),
    ("市", "city", 2),
    ("州", "city", 1),
    ("区", "district", 1),
    ("县", "district", 1),
    ("旗", "district", 2),
    ("街道办事处", "street", 1),
    ("街道", "street", 1),
    ("镇", "street", 1),
    ("乡", "street", 1),
    ("居民委员会", "community", 1),
    ("居委会", "community", 1),
    ("村委会", "community", 1),
    ("社区", "community", 1),
    ("村", "community", 1),
    ("大道", "road", 1),
    ("大街", "road", 1),
    ("胡同", "road", 1),
    ("路", "road", 1),
    ("街", "road", 2),
    ("巷", "road", 1),
    ("道", "road", 2),
    ("小区", "estate", 1),
    ("校区", "estate", 1),
    ("厂区", "estate", 1),
    ("景区", "estate", 1),
    ("花园", "estate", 1),
    ("家园", "estate", 1),
    ("公寓", "estate", 1),
    ("大厦", "estate", 1),
    ("广场", "estate", 1),
    ("山庄", "estate", 1),
    ("大院", "estate", 1),
):
    SUFFIXES[_suffix[0]] = (*SUFFIXES.get(_suffix[0], ()), (_suffix, _level, _min))
for _key, _entries in SUFFIXES.items():
    SUFFIXES[_key] = tuple(sorted(_entries, key=lambda e: -len(e[0])))
# A city-level "市" may also be a county-level city inside a prefecture (苏州市昆山市).
ALSO_DISTRICT = frozenset({"市"})

# House-level suffixes after a value, longest first.
HOUSE_SUFFIXES = (
    ("号楼", "building"),
    ("号院", "number"),
    ("#楼", "building"),
    ("单元", "unit"),
    ("房间", "room"),
    ("号", "number"),
    ("#", "#"),
    ("弄", "lane"),
    ("栋", "building"),
    ("幢", "building"),
    ("座", "building"),
    ("室", "room"),
    ("房", "room"),
    ("户", "room"),
    ("楼", "floor"),
    ("层", "floor"),
    ("组", "ignore"),
)
HOUSE_FIRST = frozenset(s[0] for s, _ in HOUSE_SUFFIXES)
SEPARATORS = frozenset(" \t\n,;:、()[]/\"'|。，；：")
DASHES = {ord(c): "-" for c in "‐‑‒–—―−﹣~～"}
ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
