"""Helpers for the 户籍 adapter tests: configs pointing at a simulator, planted records."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.hukou import HukouConfig
from canonical_model.values import check_digit
from simulators.hukou import HukouSimulator
from simulators.hukou.store import parse_ts


def config_for(sim: HukouSimulator, **overrides: Any) -> HukouConfig:
    """A config for ``sim`` with quick retries, so failure tests stay fast."""
    values: dict[str, Any] = {
        "wsdl_url": sim.wsdl_url,
        "username": sim.username,
        "password": SecretStr(sim.password),
        "page_size": 100,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
    }
    values.update(overrides)
    return HukouConfig(**values)


def valid_id(region: str = "330106", born: str = "19800101", seq: int = 1) -> str:
    first17 = f"{region}{born}{seq:03d}"
    return first17 + check_digit(first17)


def wrong_check_digit(id18: str) -> str:
    """The same number with a check character that cannot be right."""
    return id18[:17] + ("0" if id18[17] != "0" else "1")


def person(id_number: str, **fields: str) -> dict[str, str]:
    """One registration in wire form; fields override the defaults."""
    return {
        "idNumber": id_number,
        "name": "测试居民",
        "gender": "女",
        "birthDate": "1980-01-01",
        "ethnicity": "汉族",
        "registeredAddress": "浙江省杭州市西湖区翠苑街道文三路259号3幢2单元302室",
        "householdNo": "3301060010010010001",
        "relationToHead": "户主",
        "status": "正常",
        **fields,
    }


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def feed_key(entry: dict[str, Any]) -> tuple[int, str]:
    """The simulator's keyset position of a snapshot entry or a cursor."""
    if "since" in entry:
        return parse_ts(entry["since"]), entry["last_id"]
    return parse_ts(entry["updatedAt"]), entry["idNumber"]
