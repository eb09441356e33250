"""The utility drop writes what companies send: GB18030 CSV and XML with manifests, planted
anomalies, and each file fault as documented."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from lxml import etree

from simulators.utility import CSV_HEADER, UtilityDrop, manifest_name
from simulators.utility.data import UtilityDistrict


@pytest.fixture(scope="module")
def district() -> UtilityDistrict:
    return UtilityDistrict(400, seed=9)


@pytest.fixture
def drop(tmp_path: Path) -> UtilityDrop:
    return UtilityDrop(tmp_path / "inbox", 60, seed=9)


def manifest(path: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(path.with_name(manifest_name(path.name)).read_text())
    return doc


def csv_rows(path: Path, encoding: str = "gb18030") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def test_a_day_is_one_file_per_company_with_a_true_manifest(drop: UtilityDrop) -> None:
    paths = drop.write_day(drop.as_of)
    assert [p.name for p in paths] == [
        "water_20250101.csv",
        "power_20250101.xml",
        "gas_20250101.csv",
    ]
    for path in paths:
        m = manifest(path)
        assert m["file"] == path.name
        assert m["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    water = csv_rows(paths[0])
    assert tuple(water[0]) == CSV_HEADER
    assert manifest(paths[0])["rows"] == len(water) - 1 == 60 * 1  # one water account a flat
    power = etree.parse(str(paths[1]))
    assert len(power.getroot()) == manifest(paths[1])["rows"] == 60
    assert not list((drop.inbox).glob(".*"))  # no .part left behind


def test_meters_move_forward_by_the_usage(drop: UtilityDrop) -> None:
    day1, day2 = drop.write_day(drop.as_of - timedelta(days=1))[0], drop.write_day(drop.as_of)[0]
    before = {r[0]: float(r[7]) for r in csv_rows(day1)[1:]}
    for row in csv_rows(day2)[1:]:
        assert float(row[7]) == pytest.approx(before[row[0]] + float(row[6]), abs=1e-3)


def test_no_use_is_planted_at_homes_of_elders_living_alone(district: UtilityDistrict) -> None:
    no_use = [a for a in district.anomalies if a.type == "no_use"]
    assert no_use, "a district of 400 flats has elders living alone"
    assert {a.kind for a in no_use} == {"water", "power"}
    target = no_use[0]
    readings = {r.account.account: r for r in district.readings(target.kind, target.start)}
    assert readings[target.account].usage == 0.0
    assert readings[target.account].account.residents == 1
    lived_in = [r for r in readings.values() if r.account.residents > 0 and r.usage > 0]
    assert len(lived_in) > len(readings) // 2


def test_spikes_are_planted_as_leaks() -> None:
    district = UtilityDistrict(300, seed=4, spike_share=0.2)
    spike = next(a for a in district.anomalies if a.type == "spike")
    day = spike.start
    mean = {r.account.account: r.usage for r in district.readings("water", day - timedelta(days=1))}
    during = {r.account.account: r.usage for r in district.readings("water", day)}
    assert during[spike.account] > 10 * max(mean[spike.account], 0.01)


def faulted(drop: UtilityDrop, kind: str, fault: str) -> Iterator[Path]:
    yield from drop.write_day(drop.as_of, kinds=[kind], faults={kind: fault})


def test_fault_wrong_checksum(drop: UtilityDrop) -> None:
    (path,) = faulted(drop, "water", "wrong_checksum")
    assert manifest(path)["sha256"] != hashlib.sha256(path.read_bytes()).hexdigest()


def test_fault_wrong_encoding(drop: UtilityDrop) -> None:
    (path,) = faulted(drop, "water", "wrong_encoding")
    assert manifest(path)["encoding"] == "GB18030"
    assert tuple(csv_rows(path, "utf-8")[0]) == CSV_HEADER  # it is really UTF-8


def test_fault_truncated_row(drop: UtilityDrop) -> None:
    (path,) = faulted(drop, "gas", "truncated_row")
    m = manifest(path)
    assert m["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not path.read_bytes().endswith(b"\n")
    (xml,) = faulted(drop, "power", "truncated_row")
    with pytest.raises(etree.XMLSyntaxError):
        etree.parse(str(xml))


def test_fault_missing_manifest_and_doctype(drop: UtilityDrop) -> None:
    (path,) = faulted(drop, "water", "missing_manifest")
    assert not path.with_name(manifest_name(path.name)).exists()
    (xml,) = faulted(drop, "power", "doctype")
    assert b"<!DOCTYPE" in xml.read_bytes()


def test_gb18030_round_trips_rare_characters(tmp_path: Path) -> None:
    from simulators.utility.data import Account, Reading
    from simulators.utility.files import write_file

    acc = Account("water", "3301W000000001", "王𠮷喆", None, "西湖区𬱖巷1号", "WM1", 1, "H1", "P1")
    path = write_file(
        tmp_path, "water", date(2025, 1, 1), [Reading(acc, date(2025, 1, 1), 0.1, 1.1)]
    )
    raw = path.read_bytes()
    assert "王𠮷喆".encode("gb18030") in raw
    assert csv_rows(path)[1][1] == "王𠮷喆"
