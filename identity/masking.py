"""Masking of personal identifiers, and the one rule deciding when they are shown in clear.

Masked forms follow common practice in Chinese government systems (and GB/T 35273's
de-identification examples): enough is kept for a grid worker to tell two residents apart or
recognise a number on a call log, never enough to contact or impersonate anyone. Input that does
not look as expected is masked *more*, never less. The masked part of an address is a fixed
``****`` so its length does not hint at the house number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from identity.errors import PurposeRequired
from identity.principal import Principal
from identity.purposes import PurposeVocabulary
from identity.roles import Permission

STAR = "*"
ADDRESS_TAIL = "****"

# --- resident identity card (居民身份证) ----------------------------------------------------

_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")


def mask_resident_id(value: str) -> str:
    """``110101199003071234`` → ``110101********1234``: keeps the issuing area and the last four
    (what residents themselves quote), hides the birth date."""
    compact = re.sub(r"\s+", "", value)
    if _RESIDENT_ID.fullmatch(compact):
        return compact[:6] + STAR * (len(compact) - 10) + compact[-4:].upper()
    return STAR * len(compact)


# --- phone numbers --------------------------------------------------------------------------

_MOBILE = re.compile(r"(?P<cc>\+86|0086)?[\s-]?(?P<num>1[3-9][0-9]{9})")
_LANDLINE = re.compile(
    r"\(?(?P<area>0[0-9]{2,3})(?:\)[\s-]?|[\s-])(?P<local>[0-9]{7,8})(?:[\s-]+(?P<ext>[0-9]{1,6}))?"
)
_LANDLINE_COMPACT = re.compile(r"0[0-9]{9,11}")


def _area_split(digits: str) -> tuple[str, str]:
    # Beijing 010 and the 02x cities have 3-digit area codes; all others have 4.
    size = 3 if digits.startswith(("010", "02")) else 4
    return digits[:size], digits[size:]


def _keep_last4(local: str) -> str:
    return STAR * (len(local) - 4) + local[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``; ``010-12345678`` → ``010-****5678``.

    A landline keeps its area code (it only says which city); an extension is hidden.
    """
    text = value.strip()
    mobile = _MOBILE.fullmatch(text)
    if mobile:
        number = mobile["num"]
        prefix = f"{mobile['cc']} " if mobile["cc"] else ""
        return f"{prefix}{number[:3]}{STAR * 4}{number[-4:]}"
    landline = _LANDLINE.fullmatch(text)
    if landline:
        ext = f"-{STAR * len(landline['ext'])}" if landline["ext"] else ""
        return f"{landline['area']}-{_keep_last4(landline['local'])}{ext}"
    if _LANDLINE_COMPACT.fullmatch(text):
        area, local = _area_split(text)
        if 7 <= len(local) <= 8:
            return f"{area}-{_keep_last4(local)}"
    digits = sum(ch.isdigit() for ch in text)
    if digits < 8:
        return re.sub(r"[0-9]", STAR, text)
    seen, out = 0, []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else STAR)
        else:
            out.append(ch)
    return "".join(out)


# --- personal names -------------------------------------------------------------------------

COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "东郭",
        "申屠",
        "万俟",
        "闻人",
        "澹台",
        "公冶",
        "太史",
        "仲孙",
        "钟离",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "公羊",
        "赫连",
        "拓跋",
        "完颜",
        "第五",
        "左丘",
        "谷梁",
        "梁丘",
        "段干",
        "歐陽",
        "司馬",
        "諸葛",
        "長孫",
        "鍾離",
    }
)
_NAME_SEPARATORS = frozenset(" ·•・.-")


def mask_name(value: str) -> str:
    """``张三丰`` → ``张**``, ``欧阳娜娜`` → ``欧阳**``: keep the surname, star the given name.

    Transliterated names (``阿沛·阿旺晋美``) and Latin names keep only their first character;
    separators stay so the shape is readable. A one-character name is fully hidden.
    """
    name = value.strip()
    if len(name) <= 1:
        return STAR * len(name)
    if any(ch in _NAME_SEPARATORS for ch in name) or not all(_is_han(ch) for ch in name):
        return name[0] + "".join(ch if ch in _NAME_SEPARATORS else STAR for ch in name[1:])
    keep = 2 if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else 1
    return name[:keep] + STAR * (len(name) - keep)


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f"


# --- addresses ------------------------------------------------------------------------------

# Administrative, street and residential-compound markers, longest first so 街道 wins over
# 街 and 道.
_ADDRESS_MARKER = re.compile(
    r"特别行政区|自治区|自治州|自治县|居委会|村委会|街道|社区|大道|胡同|小区|花园|家园|新村|公寓|"
    r"[省市州盟区县旗镇乡村路街道巷弄里园苑]"
)
# Where the private part starts: a digit, or a Chinese-numeral building/unit/room.
_ADDRESS_DETAIL = re.compile(
    r"[0-9０-９]|[一二三四五六七八九十百零〇两]+(?:号|栋|幢|单元|室|楼|层|座)"
)


def mask_address(value: str) -> str:
    """``浙江省杭州市西湖区文三路90号3幢201室`` → ``浙江省杭州市西湖区文三路****``.

    Keeps everything up to the last district / street / road / community marker that comes
    before the first house-number-like part, and replaces the rest with ``****``. An address
    with no recognisable marker is hidden entirely.
    """
    text = value.strip()
    if not text:
        return ""
    detail = _ADDRESS_DETAIL.search(text)
    limit = detail.start() if detail else len(text)
    cut = max((m.end() for m in _ADDRESS_MARKER.finditer(text) if m.end() <= limit), default=0)
    if cut == 0:
        return ADDRESS_TAIL
    if cut == len(text):
        return text
    return text[:cut] + ADDRESS_TAIL


MASKERS: Mapping[str, Callable[[str], str]] = {
    "resident_id": mask_resident_id,
    "phone": mask_phone,
    "name": mask_name,
    "address": mask_address,
}
"""Field kind → masker, so a serializer can mask a record by its schema."""


# --- the policy -----------------------------------------------------------------------------


class MaskingPolicy:
    """Identifiers are masked unless the caller may unmask *and* states an allowed purpose."""

    def __init__(self, vocabulary: PurposeVocabulary | None = None) -> None:
        self.vocabulary = vocabulary or PurposeVocabulary()

    def decide(self, principal: Principal, purpose: str | None, *, requested: bool = True) -> bool:
        """Return ``True`` to show identifiers in clear for this request.

        * not ``requested`` → masked; nothing else is checked;
        * requested without a purpose → ``PurposeRequired`` (the client must say why);
        * a purpose outside the vocabulary → ``UnknownPurpose`` (a typo is loud, not a denial);
        * otherwise clear only if the role has ``UNMASK_IDENTIFIERS`` and the token lists the
          purpose among the holder's allowed purposes; else masked.
        """
        if not requested:
            return False
        if purpose is None or not purpose.strip():
            raise PurposeRequired()
        self.vocabulary.check(purpose)
        return principal.has(Permission.UNMASK_IDENTIFIERS) and principal.may_use_purpose(purpose)


__all__ = [
    "COMPOUND_SURNAMES",
    "MASKERS",
    "MaskingPolicy",
    "mask_address",
    "mask_name",
    "mask_phone",
    "mask_resident_id",
]
