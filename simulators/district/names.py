"""Chinese personal names with a realistic frequency, so that common names collide.

Surnames and the common given names come from Faker's zh_CN tables (surnames carry
population weights: 王 7.2 %, 李 7.0 %, 张 6.7 % …).  Sampling them with our own
``random.Random`` instead of calling ``Faker.name()`` keeps the output independent of
Faker's internal call pattern and is about twenty times faster.  Faker's given names are
mostly single characters, which real name sets are not, so generation-specific two-
character names (建国 for the 1950s, 子涵 for the 2010s) are mixed in by birth year.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from typing import Literal

from faker.providers.person.zh_CN import Provider as _ZhPerson

__all__ = ["NameSampler"]

_ERA_MALE: dict[int, tuple[str, ...]] = {
    1940: ("建国", "国庆", "德明", "福生", "根宝", "志刚", "振华", "国华", "金华", "宝林"),
    1960: ("建华", "建军", "志强", "卫东", "国平", "立新", "永刚", "伟民", "志明", "红军"),
    1980: ("俊杰", "志伟", "晓东", "海涛", "建伟", "文斌", "明辉", "鹏飞", "晓峰", "国强"),
    2000: ("浩然", "子轩", "宇轩", "一鸣", "俊熙", "梓豪", "皓轩", "子墨", "睿泽", "铭宇"),
}
_ERA_FEMALE: dict[int, tuple[str, ...]] = {
    1940: ("秀英", "桂英", "秀兰", "玉兰", "淑珍", "桂兰", "凤英", "玉珍", "素珍", "月娥"),
    1960: ("丽华", "红梅", "建芳", "秀芳", "玉芬", "丽萍", "海燕", "美华", "爱华", "卫红"),
    1980: ("丽娟", "晓燕", "婷婷", "静怡", "雪梅", "晓丽", "文静", "佳丽", "丽君", "慧敏"),
    2000: ("子涵", "梓萱", "欣怡", "一诺", "诗涵", "雨桐", "可馨", "语嫣", "思琪", "梓涵"),
}
# Two-character names are composed from a first and a second character, the first one
# depending on the generation: this gives the long tail real name sets have.
_FIRST_MALE = {
    1940: "德国建永福金宝根振志明家文海",
    1985: "志建文明海永俊晓国家德立小",
    2000: "子宇浩梓一俊思天嘉博睿皓",
}
_SECOND_MALE = "伟强军平华明杰涛峰辉斌鹏飞宇浩凯龙林然轩睿泽辰航阳成东亮刚勇"
_FIRST_FEMALE = {
    1940: "秀桂玉凤素月金美淑丽春彩",
    1985: "丽晓海静春美雪慧红小佳文",
    2000: "梓子一思雨佳诗可欣语若紫",
}
_SECOND_FEMALE = "英兰珍芳华梅娟燕霞玲萍红婷琳颖怡涵萱彤琪妍悦瑶雯洁慧敏丹倩静"
_ERAS = (1940, 1960, 1980, 2000)
_FIRSTS = (1940, 1985, 2000)
_FAKER_SHARE = 0.2  # Faker's short list: the very common names (伟, 芳, 秀英)
_ERA_SHARE = 0.15  # the generation's typical names


def _rank_weights(n: int) -> list[float]:
    """Faker's given-name lists are in rough frequency order: a Zipf-like weight."""
    return list(itertools.accumulate(1.0 / (rank + 10) for rank in range(n)))


def _generation(birth_year: int, cuts: tuple[int, ...]) -> int:
    return next((c for c in reversed(cuts) if birth_year >= c), cuts[0])


class NameSampler:
    """Draws surnames and given names; one instance serves the whole run."""

    def __init__(self) -> None:
        surnames = list(_ZhPerson.last_names.items())
        self._surnames: Sequence[str] = [s for s, _ in surnames]
        self._surname_cum = list(itertools.accumulate(w for _, w in surnames))
        self._male: Sequence[str] = list(_ZhPerson.first_names_male)
        self._female: Sequence[str] = list(_ZhPerson.first_names_female)
        self._male_cum = _rank_weights(len(self._male))
        self._female_cum = _rank_weights(len(self._female))

    def surname(self, rng: random.Random) -> str:
        total = self._surname_cum[-1]
        return self._surnames[bisect.bisect_right(self._surname_cum, rng.random() * total)]

    def given(self, rng: random.Random, gender: Literal["M", "F"], birth_year: int) -> str:
        r = rng.random()
        male = gender == "M"
        if r < _FAKER_SHARE:
            names, cum = (self._male, self._male_cum) if male else (self._female, self._female_cum)
            return names[bisect.bisect_right(cum, rng.random() * cum[-1])]
        if r < _FAKER_SHARE + _ERA_SHARE:
            table = (_ERA_MALE if male else _ERA_FEMALE)[_generation(birth_year, _ERAS)]
            return table[rng.randrange(len(table))]
        first = (_FIRST_MALE if male else _FIRST_FEMALE)[_generation(birth_year, _FIRSTS)]
        second = _SECOND_MALE if male else _SECOND_FEMALE
        return first[rng.randrange(len(first))] + second[rng.randrange(len(second))]

    def full(self, rng: random.Random, gender: Literal["M", "F"], birth_year: int) -> str:
        return self.surname(rng) + self.given(rng, gender, birth_year)
