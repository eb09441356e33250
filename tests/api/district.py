"""A small district for the API and gRPC tests, with tokens for each kind of caller.

330106                       西湖区
  330106001                  北山街道
    330106001001             宝石社区 (community admin CA1)
      330106001001001  G1    workers W1, W2; 张伟 (P1, household head), 李娜 (P2, spouse)
        330106001001001001   building B1
      330106001001002  G2    worker W4; 王芳 (P3, P1's daughter, same household), 赵敏 (P4)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import (
    Address,
    Event,
    ExchangeLogEntry,
    GridLevel,
    GridUnit,
    Household,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    PersonIdentifier,
    SourceRecord,
    Task,
    TaskState,
    TaskTransition,
)
from canonical_model.roster import GridWorker
from canonical_model.store import transaction
from canonical_model.values import check_digit, pinyin_key
from identity import KeyRing, issue_token

if TYPE_CHECKING:
    from api import Hub

DISTRICT = "330106"
COMMUNITY = "330106001001"
G1 = "330106001001001"
G2 = "330106001001002"
B1 = "330106001001001001"
ISSUER = "gridhub"
AUDIENCE = "gridhub-api"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def resident_id(first17: str) -> str:
    return first17 + check_digit(first17)


P1_ID = resident_id("33010619500307123")
P2_ID = resident_id("33010619520611222")
P3_ID = resident_id("33010619800101332")
P4_ID = resident_id("33010619900202442")
P1_PHONE = "13812345678"
P1_ADDRESS = "浙江省杭州市西湖区文三路90号3栋201室"


@dataclass
class Settings:
    """What ``api.config.HubSettings`` asks of the real settings object."""

    var_dir: Path
    database_url: str
    jwt_issuer: str = ISSUER
    jwt_audience: str = AUDIENCE
    jwt_algorithm: str = "ES256"
    jwks_url: str | None = None
    idp_issuer: str | None = None
    jwks_cache_ttl_seconds: int = 600
    purpose_extras: list[str] = field(default_factory=list)
    key_passphrase: SecretStr = field(default_factory=lambda: SecretStr("test-passphrase"))
    key_grace_days: int = 30

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    @property
    def effective_database_url(self) -> str:
        return self.database_url


@dataclass(frozen=True)
class Seeded:
    p1: str
    p2: str
    p3: str
    p4: str
    event_g1: str
    event_g2: str
    task_g1: str
    task_g2: str


def _unit(code: str, level: GridLevel, parent: str | None) -> GridUnit:
    return GridUnit(code=code, name=f"unit {code}", level=level, parent_code=parent)


def _person(name: str, rid: str, grid: str, **kw: object) -> Person:
    return Person(
        name=name,
        name_pinyin=pinyin_key(name),
        resident_id=rid,
        gender=kw.pop("gender", "M"),
        birth_date=date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14])),
        grid_code=grid,
        **kw,
    )


def seed(sessions: sessionmaker[Session]) -> Seeded:
    with transaction(sessions) as s:
        for unit in (
            _unit(DISTRICT, GridLevel.DISTRICT, None),
            _unit("330106001", GridLevel.SUBDISTRICT, DISTRICT),
            _unit(COMMUNITY, GridLevel.COMMUNITY, "330106001"),
            _unit(G1, GridLevel.GRID, COMMUNITY),
            _unit(G2, GridLevel.GRID, COMMUNITY),
            _unit(B1, GridLevel.BUILDING, G1),
        ):
            s.add(unit)
            s.flush()
        s.add_all(
            [
                GridWorker(code="W1", name="w1", grid_code=G1),
                GridWorker(code="W2", name="w2", grid_code=G1),
                GridWorker(code="W4", name="w4", grid_code=G2),
                GridWorker(code="CA1", name="ca", grid_code=COMMUNITY, role="community_admin"),
            ]
        )
        home = Address(normalized=P1_ADDRESS, road="文三路", number="90", building_code=B1)
        registered = Address(normalized="浙江省杭州市西湖区北山街道宝石社区12号")
        s.add_all([home, registered])
        s.flush()
        p1 = _person(
            "张伟",
            P1_ID,
            G1,
            phone=P1_PHONE,
            residential_address_id=home.id,
            registered_address_id=registered.id,
            tags=["elderly", "dibao"],
            conflicts={"phone": ["13812345678", "13900000000"]},
        )
        p2 = _person("李娜", P2_ID, G1, gender="F", residential_address_id=home.id)
        p3 = _person("王芳", P3_ID, G2, gender="F")
        p4 = _person("赵敏", P4_ID, G2, gender="F", phone="13700001111")
        s.add_all([p1, p2, p3, p4])
        s.flush()
        s.add(PersonIdentifier(person_id=p4.id, kind="phone", value="13700009999"))
        hukou = SourceRecord(
            source="hukou",
            stream="persons",
            source_key=P1_ID,
            content_hash="a" * 64,
            payload={"name": "张伟"},
            canonical={"name": "张伟"},
            batch_id="b1",
            person_id=p1.id,
        )
        civil = SourceRecord(
            source="civil_affairs",
            stream="dibao",
            source_key="DB-0001",
            content_hash="b" * 64,
            payload={"phone": P1_PHONE},
            canonical={"phone": P1_PHONE},
            batch_id="b2",
            version=2,
            person_id=p1.id,
        )
        s.add_all([hukou, civil])
        s.flush()
        s.add_all(
            [
                PersonFieldLineage(
                    person_id=p1.id, field="name", source_record_id=hukou.id, rule="hukou wins"
                ),
                PersonFieldLineage(
                    person_id=p1.id,
                    field="resident_id",
                    source_record_id=hukou.id,
                    rule="hukou wins",
                ),
                PersonFieldLineage(
                    person_id=p1.id, field="phone", source_record_id=civil.id, rule="most recent"
                ),
            ]
        )
        household = Household(household_no=f"H{P1_ID}", address_id=registered.id)
        household.members = [
            HouseholdMember(person_id=p1.id, relation="户主"),
            HouseholdMember(person_id=p2.id, relation="配偶"),
            HouseholdMember(person_id=p3.id, relation="女"),
        ]
        s.add(household)
        e1 = Event(
            type="hotline.complaint",
            severity="medium",
            occurred_at=T0,
            person_id=p1.id,
            grid_code=G1,
            source="hotline",
            source_ref="WO-1",
            payload={"text": "张伟 13812345678 反映楼道漏水"},
        )
        e2 = Event(
            type="device.smoke", occurred_at=T0, grid_code=G2, source="device", source_ref="D-1"
        )
        s.add_all([e1, e2])
        s.flush()
        t1 = Task(
            category="elder_visit",
            title="走访",
            state=TaskState.PENDING,
            sla_deadline=T0 + timedelta(days=2),
            grid_code=G1,
            assignee="W1",
            person_id=p1.id,
            event_id=e1.id,
            requester_source="hotline",
            requester_ref="WO-1",
            created_at=T0,
            updated_at=T0,
            transitions=[
                TaskTransition(
                    from_state=None,
                    to_state=TaskState.PENDING,
                    action="create",
                    actor="system:rules",
                    at=T0,
                )
            ],
        )
        t2 = Task(
            category="fire_check",
            title="烟感",
            state=TaskState.PENDING,
            sla_deadline=T0 + timedelta(days=1),
            grid_code=G2,
            assignee="W4",
            event_id=e2.id,
            created_at=T0,
            updated_at=T0,
        )
        s.add_all([t1, t2])
        s.flush()
        return Seeded(p1.uid, p2.uid, p3.uid, p4.uid, e1.uid, e2.uid, t1.uid, t2.uid)


@dataclass
class Tokens:
    ring: KeyRing

    def make(
        self,
        role: str,
        subject: str,
        grids: tuple[str, ...] = (),
        purposes: tuple[str, ...] = (),
        **kw: object,
    ) -> str:
        return issue_token(
            self.ring,
            subject=subject,
            role=role,
            issuer=ISSUER,
            audience=AUDIENCE,
            grids=grids,
            purposes=purposes,
            **kw,  # type: ignore[arg-type]
        )

    @property
    def w1(self) -> str:
        return self.make("grid_worker", "W1", (G1,), ("welfare_visit",))

    @property
    def w4(self) -> str:
        return self.make("grid_worker", "W4", (G2,), ("welfare_visit",))

    @property
    def admin(self) -> str:
        return self.make("community_admin", "CA1", (COMMUNITY,), ("welfare_visit",))

    @property
    def auditor(self) -> str:
        return self.make("auditor", "aud-1", (), ())

    @property
    def operator(self) -> str:
        return self.make("district_it", "ops-1", (), ())

    @property
    def hotline(self) -> str:
        return self.make("platform", "hotline", ("*",), ("hotline_case",))

    @property
    def scoped_platform(self) -> str:
        return self.make("platform", "device_gateway", (G2,), ())


def bearer(token: str, **headers: str) -> dict[str, str]:
    """REST headers: the bearer token plus any others (``X-Purpose`` is not a valid kwarg)."""
    return {"Authorization": f"Bearer {token}", **headers}


def purpose(token: str, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Purpose": name}


def grpc_auth(token: str, purpose: str | None = None) -> list[tuple[str, str]]:
    metadata = [("authorization", f"Bearer {token}")]
    if purpose:
        metadata.append(("purpose", purpose))
    return metadata


def logged_results(hub: Hub, operation: str) -> list[tuple[str, str | None]]:
    """(result, correlation id) of every exchange-log entry for ``operation``, in seq order,
    after the queued read entries are committed."""
    hub.flush_reads()
    with hub.sessions() as s:
        rows = s.execute(
            select(ExchangeLogEntry.result, ExchangeLogEntry.correlation_id)
            .where(ExchangeLogEntry.operation == operation)
            .order_by(ExchangeLogEntry.seq)
        ).all()
    return [(r[0], r[1]) for r in rows]
