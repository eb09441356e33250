"""Applying a source's error rates to one record.

Errors are decided field by field in a fixed order from the view's generator, which is
seeded per source and grid: the same district always shows every source the same errors,
whichever view is read first or alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simulators.district import errors
from simulators.district.model import Person
from simulators.district.sources import ErrorRates

__all__ = ["apply_errors"]

_LEGACY_BORN_BEFORE = 1984  # 15-digit cards were replaced from 1999 on


def apply_errors(
    fields: dict[str, str | None],
    person: Person | None,
    rates: ErrorRates,
    rng: random.Random,
) -> dict[str, str | None]:
    """Corrupt ``fields`` (the source's true values) in place and return them."""
    draws = [rng.random() for _ in range(8)]
    id_number = fields.get("id_number")
    if id_number:
        r = draws[0]
        born_early = person is not None and person.birth_date.year < _LEGACY_BORN_BEFORE
        if born_early and r < rates.legacy_id:
            id_number = errors.legacy_id(id_number)
        elif (r := r - rates.legacy_id) >= 0 and r < rates.mistyped_id:
            id_number = errors.mistype_digit(id_number, rng)
        elif (r := r - rates.mistyped_id) >= 0 and r < rates.transposed_id:
            id_number = errors.transpose_digits(id_number, rng)
        fields["id_number"] = id_number
    name = fields.get("name")
    if name:
        if draws[1] < rates.homophone:
            name = errors.swap_homophone(name, rng)
        if draws[2] < rates.traditional:
            name = errors.to_traditional(name)
        fields["name"] = name
    address = fields.get("address")
    if address:
        if draws[3] < rates.abbreviated_address:
            address = errors.abbreviate_address(address, rng)
        if draws[4] < rates.traditional:
            address = errors.to_traditional(address)
        fields["address"] = address
    phone = fields.get("phone")
    if phone and draws[5] < rates.stale_phone:
        stale = person.previous_phone if person is not None else ""
        fields["phone"] = stale or errors.other_phone(phone, rng)
    if draws[6] < rates.fullwidth:
        _one_of(fields, ("id_number", "phone", "address"), rng, errors.to_fullwidth)
    if draws[7] < rates.whitespace:
        _one_of(fields, ("name", "id_number", "phone", "address"), rng, _whitespace(rng))
    for field_name, rate in rates.missing.items():
        if rng.random() < rate and field_name in fields:
            fields[field_name] = None
    return fields


def _whitespace(rng: random.Random) -> Callable[[str], str]:
    return lambda text: errors.whitespace_noise(text, rng)


def _one_of(
    fields: dict[str, str | None],
    names: tuple[str, ...],
    rng: random.Random,
    change: Callable[[str], str],
) -> None:
    present = [n for n in names if fields.get(n)]
    if present:
        target = present[rng.randrange(len(present))]
        value = fields[target]
        assert value is not None
        fields[target] = change(value)
