"""A synthetic district of N persons, bulk-loaded into a migrated PostgreSQL store with COPY.

Shape (per 1,000,000 persons): 1,000 grids of ~1,000 residents (10 subdistricts × 10
communities × 10 grids), one address per ~4 persons, 2 source records and 3 lineage rows per
person, households of ~3, an event and a task for every 20th person. Names, pinyin keys and
resident IDs are valid and varied enough that searches behave as on real data; the phone of
person *i* is ``13`` + 9 digits derived from *i*, so the benchmark can ask for known ones.
Rows go in as text COPY streams written in large chunks (the driver's per-row path would
dominate), and ``ANALYZE`` runs at the end so the planner sees the real sizes.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from canonical_model import new_uid
from canonical_model.values import check_digit, pinyin_key

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯俊峰琳"
    "晶雪梅莉婷颖欣怡佳慧"
)
ROADS = ["文三路", "文二路", "教工路", "学院路", "天目山路", "莫干山路", "古墩路", "紫荆花路"]
DISTRICT = "330106"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CHUNK = 20_000


def grid_codes() -> list[str]:
    return [
        f"{DISTRICT}{s:03d}{c:03d}{g:03d}"
        for s in range(1, 11)
        for c in range(1, 11)
        for g in range(1, 11)
    ]


def phone_of(i: int) -> str:
    return f"13{(i * 7919 + 100_000_000) % 1_000_000_000:09d}"


def resident_id_of(i: int, rng: random.Random) -> str:
    born = datetime(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 85))
    first17 = f"{DISTRICT}{born:%Y%m%d}{i % 1000:03d}"
    return first17 + check_digit(first17)


Sample = tuple[str, str, str, str, str, str]
"""(uid, name, pinyin, resident_id, phone, road) of one resident the benchmark asks about."""


@dataclass
class Loaded:
    """What the benchmark needs to know about the data it asks for."""

    persons: int
    grids: list[str]
    samples: dict[str, list[Sample]] = field(default_factory=dict)  # per grid
    seconds: float = 0.0


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: Iterator[str]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for count, line in enumerate(rows, 1):
            buffer.write(line)
            if count % CHUNK == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def load(
    dsn: str, persons: int, *, seed: int = 7, progress: Callable[[str], None] = print
) -> Loaded:
    """Fill the (migrated, empty) database at ``dsn``; ids are assigned here, 1..n."""
    import time

    started = time.perf_counter()
    rng = random.Random(seed)
    grids = grid_codes()
    names = [s + a + b for s in SURNAMES for a in GIVEN for b in ("", *GIVEN[:8])]
    rng.shuffle(names)
    pinyin = {n: pinyin_key(n) for n in names[:20_000]}
    names = list(pinyin)
    result = Loaded(persons=persons, grids=grids)
    stamp = NOW.isoformat()
    with psycopg.connect(dsn, autocommit=False) as conn:
        _units(conn, grids)
        addresses = max(1, persons // 4)
        _copy(
            conn,
            "address",
            "id, road, number, normalized, building_code",
            (
                f"{a}\t{ROADS[a % 8]}\t{a % 300 + 1}\t"
                f"浙江省杭州市西湖区{ROADS[a % 8]}{a % 300 + 1}号"
                f"{a % 20 + 1}栋{a % 6 + 1}0{a % 4 + 1}室"
                "\t\\N\n"
                for a in range(1, addresses + 1)
            ),
        )
        progress(f"addresses: {addresses:,}")

        def people() -> Iterator[str]:
            for i in range(1, persons + 1):
                grid = grids[(i - 1) % len(grids)]
                name = names[rng.randrange(len(names))]
                rid = resident_id_of(i, rng)
                uid = new_uid()
                address = (i - 1) // 4 + 1
                gender = "M" if int(rid[16]) % 2 else "F"
                tags = '["elderly"]' if rid[6:10] < "1956" else "[]"
                yield (
                    f"{i}\t{uid}\t{name}\t{pinyin[name]}\t{rid}\t{gender}\t"
                    f"{rid[6:10]}-{rid[10:12]}-{rid[12:14]}\t{phone_of(i)}\t{address}\t{address}\t"
                    f"{grid}\t{tags}\t[]\t{{}}\tactive\t{stamp}\t{stamp}\n"
                )

        _copy(
            conn,
            "person",
            "id, uid, name, name_pinyin, resident_id, gender, birth_date, phone, "
            "residential_address_id, registered_address_id, grid_code, tags, flags, conflicts, "
            "status, created_at, updated_at",
            people(),
        )
        progress(f"persons: {persons:,}")
        _copy(
            conn,
            "source_record",
            "id, source, stream, source_key, content_hash, payload, canonical, version, "
            "batch_id, received_at, updated_at, person_id",
            (
                f"{2 * i - k}\t{src}\t{stream}\t{src[:2]}-{i:09d}\t{i:064x}\t"
                f'{{"n": {i}}}\t{{"n": {i}}}\t1\tbench\t{stamp}\t{stamp}\t{i}\n'
                for i in range(1, persons + 1)
                for k, (src, stream) in enumerate(
                    (("hukou", "persons"), ("civil_affairs", "dibao"))
                )
            ),
        )
        progress(f"source records: {2 * persons:,}")
        _copy(
            conn,
            "person_field_lineage",
            "person_id, field, source_record_id, rule, chosen_at",
            (
                f"{i}\t{f}\t{2 * i - (1 if f == 'phone' else 0)}\tbench\t{stamp}\n"
                for i in range(1, persons + 1)
                for f in ("name", "resident_id", "phone")
            ),
        )
        progress(f"lineage rows: {3 * persons:,}")
        households = max(1, persons // 3)
        _copy(
            conn,
            "household",
            "id, household_no, address_id, created_at",
            (
                f"{h}\tH{h:012d}\t{min((3 * h - 1) // 4 + 1, addresses)}\t{stamp}\n"
                for h in range(1, households + 1)
            ),
        )
        _copy(
            conn,
            "household_member",
            "household_id, person_id, relation",
            (
                f"{min((i - 1) // 3 + 1, households)}\t{i}\t{'户主' if i % 3 == 1 else '家属'}\n"
                for i in range(1, persons + 1)
            ),
        )
        progress(f"households: {households:,}")
        _events_and_tasks(conn, persons, grids, stamp)
        progress("events and tasks")
        for table in ("person", "address", "source_record", "person_field_lineage", "household"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    result.seconds = time.perf_counter() - started
    return result


def sample(dsn: str, grids: int, per_grid: int, rng: random.Random) -> Loaded:
    """Residents to ask about, read back from a loaded database (so a load can be reused)."""
    with psycopg.connect(dsn) as conn:
        counted = conn.execute("SELECT count(*) FROM person").fetchone()
        assert counted is not None  # count(*) always returns one row
        persons = int(counted[0])
        codes = [row[0] for row in conn.execute("SELECT code FROM grid_unit WHERE level = 'grid'")]
        chosen = rng.sample(sorted(codes), min(grids, len(codes)))
        samples: dict[str, list[Sample]] = {}
        for code in chosen:
            rows = conn.execute(
                "SELECT p.uid, p.name, p.name_pinyin, p.resident_id, p.phone, a.road "
                "FROM person p JOIN address a ON a.id = p.residential_address_id "
                "WHERE p.grid_code = %s ORDER BY p.uid LIMIT %s",
                (code, per_grid),
            ).fetchall()
            samples[code] = [tuple(row) for row in rows]
    return Loaded(persons=persons, grids=sorted(codes), samples=samples)


def _units(conn: psycopg.Connection, grids: list[str]) -> None:
    stamp = NOW.isoformat()
    rows = [f"{DISTRICT}\t西湖区\tdistrict\t\\N\t{stamp}\n"]
    seen: set[str] = set()
    for grid in grids:
        sub, com = grid[:9], grid[:12]
        if sub not in seen:
            rows.append(f"{sub}\t街道{sub[-3:]}\tsubdistrict\t{DISTRICT}\t{stamp}\n")
            seen.add(sub)
        if com not in seen:
            rows.append(f"{com}\t社区{com[-3:]}\tcommunity\t{sub}\t{stamp}\n")
            seen.add(com)
        rows.append(f"{grid}\t网格{grid[-3:]}\tgrid\t{com}\t{stamp}\n")
    _copy(conn, "grid_unit", "code, name, level, parent_code, created_at", iter(rows))


def _events_and_tasks(conn: psycopg.Connection, persons: int, grids: list[str], stamp: str) -> None:
    every = 20
    _copy(
        conn,
        "event",
        "id, uid, type, severity, occurred_at, person_id, grid_code, source, source_ref, "
        "payload, report_count, created_at",
        (
            f"{i // every}\t{new_uid()}\thotline.complaint\tmedium\t{stamp}\t{i}\t"
            f"{grids[(i - 1) % len(grids)]}\thotline\tWO-{i}\t{{}}\t1\t{stamp}\n"
            for i in range(every, persons + 1, every)
        ),
    )
    _copy(
        conn,
        "task",
        "id, uid, category, priority, state, sla_deadline, grid_code, assignee, assignee_kind, "
        "event_id, person_id, title, escalation_level, created_at, updated_at, version",
        (
            f"{i // every}\t{new_uid()}\telder_visit\tnormal\tpending\t{stamp}\t"
            f"{grids[(i - 1) % len(grids)]}\tW{(i - 1) % len(grids)}\tworker\t{i // every}\t{i}\t"
            f"走访\t0\t{stamp}\t{stamp}\t1\n"
            for i in range(every, persons + 1, every)
        ),
    )
    for table in ("event", "task"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )


__all__ = ["Loaded", "Sample", "grid_codes", "load", "phone_of", "sample"]
