"""A small synthetic district for the resolution tests: households, sources, typos.

Deterministic (seeded) so test outcomes never flicker.  It exists so the engine trains
on a realistic background (common surnames, shared buildings and family phones, valid
IDs) instead of on the handful of records a test case is about: m and u estimated from
six records would prove nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
from opencc import OpenCC

from canonical_model.values import check_digit

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵"
)
# weighted so 王/李/张 are as common as in real registers
SURNAME_WEIGHTS = [12, 11, 10, 7, 6, 4, 3, 3, 3, 3] + [1] * (len(SURNAMES) - 10)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩凯俊婷雪慧晶欣颖"
    "飞鑫波斌宁琳晨阳佳丹亮成国海峰志春梅云莉东新"
)
HOMOPHONES = {
    "张": "章", "王": "汪", "徐": "许", "伟": "玮", "静": "婧", "丽": "莉", "明": "铭",
    "华": "桦", "军": "君", "涛": "滔", "杰": "洁", "芳": "方", "云": "芸", "浩": "昊",
    "俊": "骏", "婷": "亭", "慧": "惠", "欣": "新", "颖": "影", "波": "博", "斌": "彬",
    "琳": "霖", "晨": "辰", "佳": "嘉", "宇": "雨", "鹏": "朋", "林": "琳", "杨": "阳",
}  # fmt: skip
ROADS = ["文一西路", "文二路", "古墩路", "天目山路", "学院路", "教工路", "莫干山路", "余杭塘路"]
ESTATES = ["翠苑一区", "嘉绿苑", "西溪花园", "耀江文鼎苑", "紫金港小区", "府苑新村"]
CN_DIGITS = "〇一二三四五六七八九"
REGION = "330106"

_T2S = OpenCC("s2t")


@dataclass
class Person:
    pid: int
    name: str
    id18: str
    birth: str  # YYYYMMDD
    gender: str
    phone: str
    address: str  # canonical spelling
    building: tuple[str, int, int]  # (anchor, building, room) for variations


def resident_id(rng: random.Random, birth: str, male: bool) -> str:
    seq = rng.randrange(0, 100) * 10 + rng.choice([1, 3, 5, 7, 9] if male else [0, 2, 4, 6, 8])
    first17 = f"{REGION}{birth}{seq:03d}"
    return first17 + check_digit(first17)


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(0, 10**9):09d}"


def make_people(n_households: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    people: list[Person] = []
    for _ in range(n_households):
        surname = rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
        if rng.random() < 0.5:
            anchor, building = rng.choice(ROADS), rng.randrange(1, 30)
            base = f"杭州市西湖区{anchor}{rng.randrange(1, 400)}号{building}幢"
        else:
            anchor, building = rng.choice(ESTATES), rng.randrange(1, 40)
            base = f"杭州市西湖区{anchor}{building}幢"
        room = rng.randrange(1, 19) * 100 + rng.randrange(1, 5)
        family_phone = mobile(rng)
        for member in range(rng.choice([1, 2, 2, 3, 3, 4])):
            male = rng.random() < 0.5
            year = rng.randrange(1940, 2015)
            birth = f"{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
            own_surname = surname if member == 0 or rng.random() < 0.7 else rng.choice(SURNAMES)
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
            phone = family_phone if rng.random() < 0.3 else mobile(rng)
            people.append(
                Person(
                    pid=len(people),
                    name=own_surname + given,
                    id18=resident_id(rng, birth, male),
                    birth=birth,
                    gender="男" if male else "女",
                    phone=phone,
                    address=f"{base}{room}室",
                    building=(anchor, building, room),
                )
            )
    return people


def _vary_name(rng: random.Random, name: str) -> str:
    r = rng.random()
    if r < 0.06:
        return "".join(HOMOPHONES.get(c, c) for c in name)
    if r < 0.10:
        return str(_T2S.convert(name))
    if r < 0.12 and len(name) == 2:
        return name[0] + "　" + name[1]  # IME full-width space
    return name


def _vary_id(rng: random.Random, p: Person) -> str:
    r = rng.random()
    if r < 0.08 and p.birth < "20000000":
        return p.id18[:6] + p.id18[8:17]  # first-generation 15-digit card
    if r < 0.10:
        i = rng.randrange(6, 16)
        return p.id18[:i] + p.id18[i + 1] + p.id18[i] + p.id18[i + 2 :]  # transposition
    if r < 0.12:
        i = rng.randrange(0, 17)
        return p.id18[:i] + str((int(p.id18[i]) + 1) % 10) + p.id18[i + 1 :]
    return p.id18


def _vary_phone(rng: random.Random, phone: str) -> str:
    r = rng.random()
    if r < 0.1:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if r < 0.2:
        return "+86 " + phone
    if r < 0.28:
        return mobile(rng)  # changed number
    return phone


def _vary_address(rng: random.Random, p: Person) -> str:
    _, building, room = p.building
    r = rng.random()
    if r < 0.15:
        return p.address.replace("杭州市西湖区", "")
    if r < 0.25 and building < 10:
        return p.address.replace(f"{building}幢", f"{CN_DIGITS[building]}幢")
    if r < 0.32:
        return p.address.replace(f"{building}幢{room}室", f"{building}#楼{room}")
    return p.address


SOURCES = {
    # source: probability each field is present
    "hukou": {"name": 1.0, "id_number": 1.0, "birth_date": 1.0, "gender": 1.0, "phone": 0.3,
              "address": 1.0},
    "grid_app": {"name": 1.0, "id_number": 0.5, "birth_date": 0.4, "gender": 0.8, "phone": 0.95,
                 "address": 0.95},
    "health": {"name": 1.0, "id_number": 0.9, "birth_date": 0.9, "gender": 0.9, "phone": 0.8,
               "address": 0.4},
}  # fmt: skip


def make_records(people: list[Person], seed: int = 11) -> tuple[pd.DataFrame, list[int]]:
    """Source records for ``people`` and the true person index of each record."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    truth: list[int] = []
    for p in people:
        sources = [s for s in SOURCES if rng.random() < 0.7] or ["hukou"]
        for src in sources:
            present = SOURCES[src]
            row = {
                "source": src,
                "source_key": f"{src}-{len(rows):06d}",
                "name": _vary_name(rng, p.name),
                "id_number": _vary_id(rng, p),
                "birth_date": f"{p.birth[:4]}-{p.birth[4:6]}-{p.birth[6:]}"
                if rng.random() < 0.5
                else p.birth,
                "gender": p.gender,
                "phone": _vary_phone(rng, p.phone),
                "address": _vary_address(rng, p),
            }
            for col, prob in present.items():
                if rng.random() >= prob:
                    row[col] = ""
            rows.append(row)
            truth.append(p.pid)
    return pd.DataFrame(rows), truth
