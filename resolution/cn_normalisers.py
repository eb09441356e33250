"""Normaliser steps for Chinese resident data, on top of ``canonical_model.values``.

Parsing is the value layer's job; this module only adapts it to the engine's contract
(text in, comparable key or ``None`` out) and decides what a *failed* parse still gives
the matcher.  A resident ID that fails its checksum is kept as cleaned text, because a
one-digit typo is precisely what the ID comparison's edit levels are for; only the
``resident_id_valid`` key, used where an ID is trusted (clustering conflicts), drops it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from canonical_model.values import (
    AddressParts,
    InvalidValue,
    fold,
    initials_key,
    normalize_name,
    parse_address,
    parse_phone,
    parse_resident_id,
    pinyin_key,
    split_surname,
    to_halfwidth,
)

__all__ = ["SIMPLE", "WITH_ARG", "honorific_surname"]

Step = Callable[[Any], Any]
_NOT_ID_CHAR = re.compile(r"[^0-9X]+")
_NOT_DIGIT = re.compile(r"\D+")
_ADDRESS_FIELDS = frozenset(AddressParts.__dataclass_fields__) | {"area", "anchor"}


def _name(value: Any) -> str | None:
    try:
        return normalize_name(str(value))
    except InvalidValue:
        return None


def _pinyin(value: Any) -> str | None:
    try:
        return pinyin_key(str(value)) or None
    except InvalidValue:
        return None


def _initials(value: Any) -> str | None:
    try:
        return initials_key(str(value)) or None
    except InvalidValue:
        return None


def _surname(value: Any) -> str | None:
    try:
        return split_surname(str(value))[0] or None
    except InvalidValue:
        return None


def _surname_pinyin(value: Any) -> str | None:
    """Pinyin of the surname alone: blocks 张/章 together when the given name differs."""
    try:
        surname = split_surname(str(value))[0]
        return pinyin_key(surname) if surname else None
    except InvalidValue:
        return None


# What a hotline operator types for a caller who gives only a surname: 王先生, 欧阳女士.
_HONORIFIC = re.compile(r"^(.{1,2}?)(先生|女士|小姐|阿姨|师傅|老师|大爷|大妈|奶奶|爷爷)$")


def honorific_surname(value: Any) -> str | None:
    """The surname of a surname-plus-title name (王先生 → 王), ``None`` for a real name.

    Such a "name" says nothing about the given name, so comparing it with 王建国 by edits
    or pinyin calls two records of one caller different; its surname is all it offers.
    """
    name = _name(value)
    if name is None:
        return None
    found = _HONORIFIC.match(name)
    return found.group(1) if found else None


def _not_honorific(value: Any) -> str | None:
    """The name unless it is a surname plus a title: 王女士 has no given name to compare."""
    return None if _HONORIFIC.match(str(value)) else str(value)


_TITLE_GENDER = {
    "先生": "M",
    "大爷": "M",
    "爷爷": "M",
    "女士": "F",
    "小姐": "F",
    "阿姨": "F",
    "大妈": "F",
    "奶奶": "F",
}


def _gender_or_title(value: Any) -> str | None:
    """Gender, else the one a caller's title states (王女士 → F; 师傅 and 老师 say none).

    Fed ``gender`` and ``name`` joined by a space: a recorded gender wins, and a hotline
    record that only has 王女士 still rules out 王建军 at her flat.
    """
    text = str(value)
    head, _, rest = text.partition(" ")
    found = _gender(head)
    if found is not None:
        return found
    name = _name(rest or head) if rest else _name(text)
    if name is None:
        return None
    title = _HONORIFIC.match(name)
    return _TITLE_GENDER.get(title.group(2)) if title else None


def _honorific_surname_pinyin(value: Any) -> str | None:
    surname = honorific_surname(value)
    return _pinyin(surname) if surname else None


def _resident_id(value: Any) -> str | None:
    """The 18-digit form when valid (15-digit IDs upgraded); else the cleaned text."""
    try:
        return parse_resident_id(str(value)).number
    except InvalidValue:
        cleaned = _NOT_ID_CHAR.sub("", to_halfwidth(str(value)).upper())
        return cleaned if 15 <= len(cleaned) <= 18 else None


def _resident_id_valid(value: Any) -> str | None:
    try:
        return parse_resident_id(str(value)).number
    except InvalidValue:
        return None


def _phone(value: Any) -> str | None:
    try:
        return parse_phone(str(value)).number
    except InvalidValue:
        digits = _NOT_DIGIT.sub("", to_halfwidth(str(value)))
        return digits if len(digits) >= 7 else None


# The value layer reads a name ending in 村 or 区 as a community or district even when
# 街道/社区 follows at once (蒋村街道, 丰潭新村社区, 清水一区社区), and the rest of the
# admin chain then lands in ``road``.  A space after the admin suffix closes the name
# there, so the full register style and the short postal style share one anchor.
_ADMIN_SUFFIX = re.compile(r"(街道|社区|居委会|村委会)(?=\S)")
# Whitespace typed inside a Chinese address (文一　西路, 1-\t2-901) is never part of it,
# but the scanner reads it as a separator and splits a road or a house number in two.
_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _address(value: Any) -> AddressParts | None:
    text = str(value)
    if _HAN.search(text):
        text = _ADMIN_SUFFIX.sub(r"\1 ", _SPACE.sub("", text))
    try:
        parts = parse_address(text)
    except InvalidValue:
        return None
    return None if parts.is_empty() else parts


def _address_text(value: Any) -> str | None:
    return value.normalized or None if isinstance(value, AddressParts) else None


def _parts(arg: str) -> Step:
    """``parts:anchor,number?,building,room``: address parts joined into one key.

    A plain name must be present (else the key is ``None``: this address cannot say
    "same building"); a name with ``?`` joins the key as written, empty or not, so
    ``3栋2单元501`` and ``3栋3单元501`` differ while an address without units still has
    a key.  ``area`` and ``anchor`` are the value layer's style-independent parts
    (district or city; road, else estate, community or street).
    """
    wanted = [(p.strip().rstrip("?"), p.strip().endswith("?")) for p in arg.split(",")]
    unknown = {name for name, _ in wanted} - _ADDRESS_FIELDS
    if unknown:
        raise ValueError(f"unknown address parts {sorted(unknown)}")

    needs_key = any(name in ("area", "anchor") for name, _ in wanted)

    def pick(value: Any) -> str | None:
        if not isinstance(value, AddressParts):
            return None
        key: tuple[str, ...] = value.key() if needs_key else ("", "")
        out = []
        for name, optional in wanted:
            if name == "area":
                part = key[0]
            elif name == "anchor":
                part = key[1]
            else:
                part = getattr(value, name)
            if not part and not optional:
                return None
            out.append(str(part or ""))
        return "|".join(out)

    return pick


_MALE = frozenset({"男", "m", "male", "1", "男性"})
_FEMALE = frozenset({"女", "f", "female", "2", "女性"})


def _gender(value: Any) -> str | None:
    text = to_halfwidth(str(value)).strip().lower()
    if text in _MALE:
        return "M"
    if text in _FEMALE:
        return "F"
    return None


def _fold(value: Any) -> str | None:
    return fold(str(value)) or None


SIMPLE: dict[str, Step] = {
    "cn_name": _name,
    "pinyin": _pinyin,
    "initials": _initials,
    "surname": _surname,
    "surname_pinyin": _surname_pinyin,
    "resident_id": _resident_id,
    "resident_id_valid": _resident_id_valid,
    "phone": _phone,
    "cn_address": _address,
    "address_text": _address_text,
    "gender": _gender,
    "fold": _fold,
    "honorific_surname_pinyin": _honorific_surname_pinyin,
    "not_honorific": _not_honorific,
    "gender_or_title": _gender_or_title,
}
WITH_ARG: dict[str, Callable[[str], Step]] = {"parts": _parts}
