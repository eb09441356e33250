"""Canonical value types: the normal forms every adapter converts its raw fields into.

Pure functions and frozen dataclasses over the standard library, pypinyin and OpenCC;
nothing here imports another gridhub package, so every layer may depend on it.
"""

from canonical_model.values.address import (
    AddressParts,
    address_parts,
    normalize_address,
    parse_address,
)
from canonical_model.values.errors import (
    InvalidAddress,
    InvalidName,
    InvalidPhone,
    InvalidResidentId,
    InvalidValue,
)
from canonical_model.values.person_name import (
    initials_key,
    normalize_name,
    pinyin_key,
    split_surname,
)
from canonical_model.values.phone import Phone, PhoneKind, is_valid_phone, parse_phone
from canonical_model.values.resident_id import (
    Gender,
    ResidentId,
    check_digit,
    is_valid_resident_id,
    parse_resident_id,
    upgrade_legacy,
)
from canonical_model.values.text import cn_numeral_to_int, fold, to_halfwidth, to_simplified

__all__ = [
    "AddressParts",
    "Gender",
    "InvalidAddress",
    "InvalidName",
    "InvalidPhone",
    "InvalidResidentId",
    "InvalidValue",
    "Phone",
    "PhoneKind",
    "ResidentId",
    "address_parts",
    "check_digit",
    "cn_numeral_to_int",
    "fold",
    "initials_key",
    "is_valid_phone",
    "is_valid_resident_id",
    "normalize_address",
    "normalize_name",
    "parse_address",
    "parse_phone",
    "parse_resident_id",
    "pinyin_key",
    "split_surname",
    "to_halfwidth",
    "to_simplified",
    "upgrade_legacy",
]
