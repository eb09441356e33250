"""Identity numbers that are valid and unique by construction.

Uniqueness is built in rather than checked against a set of issued numbers, so memory
stays flat at a million residents: phone tails are a bijection of a serial, and a
resident ID's sequence is a per-(region, birth date, gender) counter scrambled by a
bijection of 0..499.
"""

from __future__ import annotations

from datetime import date

from canonical_model.values.resident_id import check_digit

__all__ = [
    "MOBILE_PREFIXES",
    "IdAllocator",
    "credit_code",
    "landline",
    "mobile",
]

#: Mobile prefixes of the three carriers in rough order of subscriber numbers.
MOBILE_PREFIXES: tuple[str, ...] = (
    "138", "139", "137", "136", "135", "134", "159", "158", "157", "152", "151", "150",
    "188", "187", "182", "183", "184", "178", "147", "198",
    "130", "131", "132", "155", "156", "185", "186", "176", "166",
    "133", "153", "180", "181", "189", "177", "173", "199",
)  # fmt: skip

_HALF = 10**4
_ROUND_KEYS = (7_919, 104_729, 1_299_709, 15_485_863)

#: Serial ranges (each below 10**8) so that residents' current and previous numbers,
#: workers, organisations and outside callers never share a phone number.
PHONE_PREVIOUS = 40_000_000
PHONE_WORKER = 80_000_000
PHONE_OUTSIDER = 85_000_000
PHONE_ORGANISATION = 99_000_000


def _scatter(serial: int) -> int:
    """A bijection of 0..10**8-1 (a four-round Feistel network on two 4-digit halves):
    neighbouring serials, such as a person's current and previous numbers, get
    unrelated-looking tails."""
    left, right = divmod(serial, _HALF)
    for key in _ROUND_KEYS:
        left, right = right, (left + (right * right + key) * 2_654_435_761 // 97) % _HALF
    return left * _HALF + right


def mobile(serial: int, prefix_pick: int) -> str:
    """The mobile number of ``serial`` (unique for every serial below 10**8)."""
    return f"{MOBILE_PREFIXES[prefix_pick % len(MOBILE_PREFIXES)]}{_scatter(serial):08d}"


def landline(area_code: str, serial: int) -> str:
    """A household landline in normal form (``0571-8xxxxxxx``), unique per serial < 10**7."""
    local = (serial * 7_654_321 + 3_141_592) % 10**7
    lead = "8" if area_code != "021" else "6"
    return f"{area_code}-{lead}{local:07d}"


class IdAllocator:
    """Issues 18-digit resident IDs in one deterministic pass over the population.

    The sequence code (digits 15-17) is odd for men and even for women; 500 numbers exist
    per region, birth date and gender.  A multiplier coprime with 500 spreads the issued
    ones over the range so sequence codes do not all start at 001.
    """

    _SEQ_MUL = 197

    def __init__(self) -> None:
        self._issued: dict[str, int] = {}

    def issue(self, region_code: str, born: date, gender: str) -> str:
        base = region_code + born.isoformat().replace("-", "")
        key = base + gender
        k = self._issued.get(key, 0)
        if k >= 500:
            raise OverflowError(f"more than 500 {gender} residents born {born} in {region_code}")
        self._issued[key] = k + 1
        m = (k * self._SEQ_MUL + int(base) % 500) % 500
        first17 = f"{base}{2 * m + (1 if gender == 'M' else 0):03d}"
        return first17 + check_digit(first17)


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(region_code: str, serial: int) -> str:
    """A valid unified social credit code (GB 32100-2015) of a 民政-registered service
    organisation (prefix ``52``): the organisation code and the whole have check characters.
    """
    body8 = f"{_scatter(PHONE_ORGANISATION - 1 - serial):08d}"
    org_check = 11 - sum(int(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    org9 = body8 + {10: "X", 11: "0"}.get(org_check, str(org_check))
    first17 = "52" + region_code + org9
    total = sum(_USCC_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return first17 + _USCC_CHARS[(31 - total % 31) % 31]
