"""12345 work orders (工单) as the hotline dispatches them, built from the district's callers.

The district's hotline view says who called, from which number, about what and where, in
the caller's own words; this module turns those calls into dispatched work orders with the
fields a 12345 order carries: order number, category, urgency, channel, dispatch time and
the deadline the 接诉即办 rules set (emergencies 2 h; water, power, gas and heating 24 h;
general 7 days; complex 15 days). Several callers often report one incident — a burst main
floods a stairwell and three neighbours ring within minutes — so some orders are followed
by repeat calls about the same address and category that the workflow can merge later.

The truth (which resident called, which calls are one incident) stays on the Python
object; it is never put on the wire.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from simulators.district import District, SourceRow

__all__ = [
    "CATEGORIES",
    "CHINA",
    "POISON_KINDS",
    "OrderGenerator",
    "WorkOrder",
    "deadline_for",
    "poison",
]

CHINA = timezone(timedelta(hours=8))
UTILITIES = frozenset({"water", "power", "gas", "heating"})
COMPLEX = frozenset({"property_dispute", "neighbour"})

#: category code → (名称, chance a call is 紧急, content templates; {place} is where).
CATEGORIES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "water": (
        "供水",
        0.45,
        (
            "{place}楼道水管爆裂，水流到楼下，请尽快派人关阀抢修。",
            "{place}停水一天了，没有接到任何通知。",
            "{place}自来水发黄有异味，不敢饮用。",
        ),
    ),
    "power": (
        "供电",
        0.2,
        ("{place}整栋楼停电，家里有老人用制氧机。", "{place}电压不稳，电器频繁跳闸。"),
    ),
    "gas": (
        "燃气",
        0.85,
        ("{place}楼道里燃气异味很重，担心泄漏。", "{place}燃气表附近有嘶嘶声，闻到煤气味。"),
    ),
    "heating": (
        "供暖",
        0.05,
        ("{place}暖气不热，室温只有十四度。", "{place}暖气管道漏水，地板被泡。"),
    ),
    "noise": ("噪音扰民", 0.02, ("{place}楼上装修噪音很大，晚上十点后仍在施工，请求处理。",)),
    "environment": ("环境卫生", 0.02, ("{place}附近垃圾桶满溢多日无人清运。",)),
    "municipal": (
        "市政设施",
        0.1,
        ("{place}附近路灯不亮，夜间行走不安全。", "{place}门口井盖缺失，容易有人掉下去。"),
    ),
    "elder_care": (
        "养老服务",
        0.3,
        (
            "{place}有独居老人行动不便，希望社区上门看看。",
            "{place}独居老人两天没出门，敲门无人应答，请求上门查看。",
            "咨询居家养老服务补贴如何申请。",
        ),
    ),
    "property": ("物业管理", 0.05, ("{place}电梯故障停运两天，老人上下楼困难。",)),
    "property_dispute": ("物业纠纷", 0.0, ("{place}物业费收费标准不透明，要求公示。",)),
    "neighbour": ("邻里纠纷", 0.0, ("与邻居因空调外机噪音发生纠纷，请社区调解。",)),
    "parking": ("停车管理", 0.03, ("{place}门口车辆乱停，消防通道被占。",)),
}
#: The district's own categories → ours; its content text is kept.
_DISTRICT_CATEGORY = {
    "噪音扰民": "noise",
    "垃圾清运": "environment",
    "路灯损坏": "municipal",
    "漏水": "water",
    "独居老人求助": "elder_care",
    "停车管理": "parking",
    "物业纠纷": "property_dispute",
    "电梯故障": "property",
    "邻里纠纷": "neighbour",
    "养老服务": "elder_care",
}
_CHANNEL_NAMES = ("电话", "网站", "微信", "APP")
_CHANNEL_WEIGHTS = (0.72, 0.08, 0.12, 0.08)
_REPEAT_OPENERS = ("又来电反映：", "同一情况，", "邻居也反映：", "")
POISON_KINDS = ("not_json", "wrong_schema", "bad_encoding", "not_object")


def deadline_for(category: str, urgency: str, dispatched_at: datetime) -> datetime:
    """The 接诉即办 time limit for an order dispatched at ``dispatched_at``."""
    if urgency == "紧急":
        return dispatched_at + timedelta(hours=2)
    if category in UTILITIES:
        return dispatched_at + timedelta(hours=24)
    if category in COMPLEX:
        return dispatched_at + timedelta(days=15)
    return dispatched_at + timedelta(days=7)


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One dispatched order; ``person_key`` and ``incident`` are truth, not on the wire."""

    order_no: str
    caller_name: str | None
    caller_phone: str | None
    content: str
    address: str | None
    category: str
    urgency: str
    channel: str
    called_at: datetime
    dispatched_at: datetime
    deadline: datetime
    person_key: str
    incident: str

    @property
    def category_name(self) -> str:
        return CATEGORIES[self.category][0]

    def message(self) -> dict[str, Any]:
        """The JSON object the hotline puts on its topic."""
        return {
            "order_no": self.order_no,
            "caller_name": self.caller_name,
            "caller_phone": self.caller_phone,
            "content": self.content,
            "address": self.address,
            "category": self.category,
            "category_name": self.category_name,
            "urgency": self.urgency,
            "channel": self.channel,
            "called_at": self.called_at.isoformat(),
            "dispatched_at": self.dispatched_at.isoformat(),
            "deadline": self.deadline.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class _Call:
    at: datetime
    row: SourceRow
    category: str
    content: str
    address: str | None
    incident: str


class OrderGenerator:
    """An endless, time-ordered stream of orders from the district's callers.

    Callers are the district's hotline view (residents ``P…`` and outsiders ``X…``), cycled
    as long as orders are asked for, so any number of orders comes out in flat memory.
    ``start`` is the first call's time (default: 90 days before the district's as-of date);
    calls arrive every ``mean_gap`` on average. Fully determined by ``seed``.
    """

    def __init__(
        self,
        district: District | None = None,
        *,
        seed: int = 7,
        start: datetime | None = None,
        mean_gap: timedelta = timedelta(seconds=40),
        repeat_share: float = 0.12,
        utility_share: float = 0.3,
    ) -> None:
        district = district or District(persons=20_000, seed=seed)
        self.callers: Sequence[SourceRow] = tuple(district.view("hotline"))
        if not self.callers:
            raise ValueError("the district has no hotline callers: make it larger")
        # Repeat callers give the incident's address, not their own: take them from the
        # callers the district knows no spoken address for, so no one gets a false home.
        self._repeat_callers = tuple(r for r in self.callers if not r.fields.get("address"))
        self._repeat_callers = self._repeat_callers or self.callers
        as_of = datetime.combine(district.as_of, time(0), CHINA)
        self.start = start or as_of - timedelta(days=90)
        self.mean_gap = mean_gap.total_seconds()
        self.repeat_share = repeat_share
        self.utility_share = utility_share
        self.rng = random.Random(f"{seed}:hotline")

    def orders(self, n: int | None = None) -> Iterator[WorkOrder]:
        """``n`` orders (forever when None), in dispatch order, numbered per day."""
        rng = self.rng
        pending: list[tuple[datetime, int, _Call]] = []
        tie = itertools.count()
        moment = self.start
        serials: dict[date, int] = {}  # per dispatch day: dispatch times are not monotonic
        made = 0
        incidents = itertools.count(1)
        while n is None or made < n:
            if not pending or pending[0][0] > moment:
                call = self._first_call(moment, f"I{next(incidents):07d}")
                heapq.heappush(pending, (call.at, next(tie), call))
                if rng.random() < self.repeat_share:
                    for repeat in self._repeats(call):
                        heapq.heappush(pending, (repeat.at, next(tie), repeat))
                moment += timedelta(seconds=max(1, round(rng.expovariate(1 / self.mean_gap))))
            _, _, call = heapq.heappop(pending)
            dispatched = call.at + timedelta(minutes=rng.randint(2, 15))
            serial = serials[dispatched.date()] = serials.get(dispatched.date(), 0) + 1
            made += 1
            yield self._order(call, dispatched, f"GD{dispatched:%Y%m%d}{serial:06d}")

    def _first_call(self, at: datetime, incident: str) -> _Call:
        rng = self.rng
        row = self.callers[rng.randrange(len(self.callers))]
        fields = row.fields
        address = fields.get("address")
        district_category = _DISTRICT_CATEGORY.get(fields.get("category") or "")
        if district_category and rng.random() >= self.utility_share:
            category, content = district_category, fields.get("content") or ""
        else:
            category = rng.choice(sorted(UTILITIES))
            content = rng.choice(CATEGORIES[category][2]).format(place=address or "我家")
        return _Call(at, row, category, content, address, incident)

    def _repeats(self, first: _Call) -> Iterator[_Call]:
        """Other callers about the same incident: same address and category, minutes later."""
        rng = self.rng
        at = first.at
        for _ in range(rng.choice((1, 1, 2, 3))):
            at += timedelta(minutes=rng.randint(1, 12))
            row = self._repeat_callers[rng.randrange(len(self._repeat_callers))]
            content = rng.choice(_REPEAT_OPENERS) + first.content
            yield _Call(at, row, first.category, content, first.address, first.incident)

    def _order(self, call: _Call, dispatched: datetime, order_no: str) -> WorkOrder:
        rng = self.rng
        urgent_share = CATEGORIES[call.category][1]
        urgency = "紧急" if rng.random() < urgent_share else "一般"
        return WorkOrder(
            order_no=order_no,
            caller_name=call.row.fields.get("name"),
            caller_phone=call.row.fields.get("phone"),
            content=call.content,
            address=call.address,
            category=call.category,
            urgency=urgency,
            channel=rng.choices(_CHANNEL_NAMES, _CHANNEL_WEIGHTS)[0],
            called_at=call.at,
            dispatched_at=dispatched,
            deadline=deadline_for(call.category, urgency, dispatched),
            person_key=call.row.person_key,
            incident=call.incident,
        )


def poison(kind: str, rng: random.Random | None = None) -> bytes:
    """A message the hotline should never send but sometimes does."""
    rng = rng or random.Random(0)
    serial = rng.randrange(1_000_000)
    if kind == "not_json":
        return f'{{"order_no": "GD20241019{serial:06d}", "content": 水管爆裂'.encode()
    if kind == "wrong_schema":
        return (
            f'{{"order_no": "GD20241019{serial:06d}", "urgency": "很急", '
            '"deadline": "明天", "content": 123}'
        ).encode()
    if kind == "bad_encoding":  # a GBK-encoded order: not UTF-8
        return f'{{"order_no": "GD20241019{serial:06d}", "content": "燃气异味"}}'.encode("gbk")
    if kind == "not_object":
        return b'["GD20241019000001", "\xe7\x87\x83\xe6\xb0\x94"]'
    raise ValueError(f"unknown poison kind {kind!r} (known: {', '.join(POISON_KINDS)})")
