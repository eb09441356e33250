"""The ways real source systems get a value wrong, as deterministic functions.

Each function takes the true value (and a seeded ``random.Random`` where it must choose)
and returns what a clerk, an IME, an old register or a caller would have produced.  The
resolution engine is scored on undoing exactly these, so each one imitates a mechanism
seen in district data: pinyin IMEs pick a homophone, first-generation cards have 15
digits, Hong Kong-era software stores traditional script, forms are typed in full-width
mode, utility clerks write ``3-2-302``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import lru_cache

from canonical_model.values.text import to_simplified
from simulators.district.numbers import MOBILE_PREFIXES

__all__ = [
    "HOMOPHONES",
    "abbreviate_address",
    "caller_name",
    "legacy_id",
    "mistype_digit",
    "other_phone",
    "swap_homophone",
    "to_fullwidth",
    "to_traditional",
    "transpose_digits",
    "whitespace_noise",
]

# Characters a pinyin IME offers for the same syllable (tone ignored, as IMEs do), among
# those common in names.  One group per syllable; a character is in at most one group.
_HOMOPHONE_GROUPS = (
    "伟玮炜", "丽莉俐", "明铭", "华骅", "静婧", "军君钧", "芳方", "娟鹃", "刚钢", "志智",
    "建健剑", "红虹宏鸿", "玲铃龄", "燕艳雁", "霞侠", "萍平苹", "英瑛", "梅玫", "婷亭庭",
    "杰洁捷", "涛韬滔", "峰锋枫", "辉晖徽", "勇永咏", "斌彬", "俊骏峻", "鹏朋", "飞菲",
    "宇雨羽禹", "浩昊皓", "凯恺铠", "旭煦", "龙隆", "林琳霖", "秀绣", "兰岚", "桂贵", "珍贞",
    "颖影", "晶菁京", "欣馨新", "琴勤芹", "慧惠蕙", "彤桐童", "瑶遥", "怡宜仪", "涵寒含",
    "轩萱宣", "梓紫子", "睿瑞", "晨辰臣", "文雯闻", "强蔷", "洋阳扬", "敏闽", "国帼", "荣容蓉",
    "云芸耘", "凤奉", "玉钰毓", "佳嘉家", "春椿", "兵冰", "东冬", "波玻",
    "张章", "萧肖", "傅付", "戴代",
)  # fmt: skip

#: Each character to the characters that sound like it.
HOMOPHONES: dict[str, tuple[str, ...]] = {
    c: tuple(o for o in group if o != c) for group in _HOMOPHONE_GROUPS for c in group
}

_COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "诸葛", "上官", "东方", "慕容", "令狐", "皇甫"})


def legacy_id(id18: str) -> str:
    """The first-generation 15-digit form: no century, no check digit.

    Only numbers of people born in the 1900s had one; others are returned unchanged.
    """
    if len(id18) != 18 or id18[6:8] != "19":
        return id18
    return id18[:6] + id18[8:17]


def mistype_digit(id_number: str, rng: random.Random) -> str:
    """One digit of the body replaced by another: MOD 11-2 catches every such slip."""
    body = len(id_number) - 1 if len(id_number) == 18 else len(id_number)
    pos = rng.randrange(body)
    new = str((int(id_number[pos]) + rng.randint(1, 9)) % 10)
    return id_number[:pos] + new + id_number[pos + 1 :]


def transpose_digits(id_number: str, rng: random.Random) -> str:
    """Two adjacent, different digits of the body swapped (the commonest keying error)."""
    body = len(id_number) - 1 if len(id_number) == 18 else len(id_number)
    spots = [i for i in range(body - 1) if id_number[i] != id_number[i + 1]]
    if not spots:
        return id_number
    i = spots[rng.randrange(len(spots))]
    return id_number[:i] + id_number[i + 1] + id_number[i] + id_number[i + 2 :]


def swap_homophone(name: str, rng: random.Random) -> str:
    """One character replaced by a homophone, preferring the given name: surnames are
    the part people spell out (弓长张) when asked."""
    start = 2 if name[:2] in _COMPOUND_SURNAMES else 1
    given = [i for i in range(start, len(name)) if name[i] in HOMOPHONES]
    surname = [i for i in range(start) if name[i] in HOMOPHONES]
    spots = given if given and (not surname or rng.random() < 0.85) else surname
    if not spots:
        return name
    i = spots[rng.randrange(len(spots))]
    options = HOMOPHONES[name[i]]
    return name[:i] + options[rng.randrange(len(options))] + name[i + 1 :]


@lru_cache(maxsize=1)
def _s2t() -> Callable[[str], str]:
    from opencc import OpenCC

    return OpenCC("s2t").convert  # type: ignore[no-any-return]


@lru_cache(maxsize=65536)
def to_traditional(text: str) -> str:
    """Traditional script, keeping only conversions that fold back (乾 → 干 would not):
    a source that stored traditional characters still meant the same name."""
    converted = _s2t()(text)
    if converted == text or to_simplified(converted) == text:
        return converted
    if len(converted) != len(text):
        return text
    return "".join(t if to_simplified(t) == s else s for s, t in zip(text, converted, strict=True))


_FULLWIDTH = {cp: cp + 0xFEE0 for cp in range(0x21, 0x7F)}


def to_fullwidth(text: str) -> str:
    """ASCII digits, letters and punctuation typed in an IME's full-width mode."""
    return text.translate(_FULLWIDTH)


_PROVINCE = re.compile(r"^(?:[^省]{2,3}省|[^区]{2,8}自治区|(?:北京|上海|天津|重庆)市)")
_CITY = re.compile(r"^[^市区县]{2,4}市(?=[^市]{1,6}[区县])")
_FLAT = re.compile(r"(\d+)(?:栋|幢|号楼)(?:(\d+)单元)?(\d+)室")
_TOWER = re.compile(r"(\d+)号楼")


def abbreviate_address(address: str, rng: random.Random | None = None) -> str:
    """How a clerk shortens an address: no province or city, ``3栋2单元302室`` as
    ``3-2-302``, ``5号楼`` as ``5#``.  Without ``rng`` every shortening is applied; with it
    a random, non-empty selection of those that apply."""
    steps = (
        (_PROVINCE, lambda m: ""),
        (_CITY, lambda m: ""),
        (_FLAT, lambda m: "-".join(g for g in m.groups() if g)),
        (_TOWER, lambda m: m.group(1) + "#"),
    )
    shortened = address
    for rx, repl in steps:
        if rx.search(shortened) and (rng is None or rng.random() < 0.6):
            shortened = rx.sub(repl, shortened, count=1)
    if shortened == address and rng is not None:
        for rx, repl in steps:
            if rx.search(address):
                return rx.sub(repl, address, count=1)
    return shortened


def other_phone(phone: str, rng: random.Random) -> str:
    """A different, valid mobile number: the one the person had before, or a relative's."""
    while True:
        prefix = MOBILE_PREFIXES[rng.randrange(len(MOBILE_PREFIXES))]
        candidate = f"{prefix}{rng.randrange(10**8):08d}"
        if candidate != phone:
            return candidate


_NOISE = (" ", "  ", "\u3000", "\t")


def whitespace_noise(text: str, rng: random.Random) -> str:
    """Stray spaces: around the value, or inside it (``王 伟``, ``3301 0619…``)."""
    pad = _NOISE[rng.randrange(len(_NOISE))]
    where = rng.randrange(3)
    if where == 0 or len(text) < 2:
        return pad + text + pad
    if where == 1:
        return text + pad
    i = rng.randrange(1, len(text))
    return text[:i] + pad + text[i:]


def caller_name(name: str, gender: str) -> str:
    """What a hotline operator types for a caller who gives only a surname: 王先生."""
    surname = name[:2] if name[:2] in _COMPOUND_SURNAMES else name[:1]
    return surname + ("先生" if gender == "M" else "女士")
