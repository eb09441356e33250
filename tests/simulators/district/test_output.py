"""The files ``gridhub simulate generate`` writes: complete, consistent, reproducible."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridhub.cli.simulate import app
from simulators.district import FILES, RECORD_COLUMNS, District, write_district


def _digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def _rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_district(District(400, seed=1), tmp_path / "a")
    write_district(District(400, seed=1, keep_in_memory=False), tmp_path / "b")
    write_district(District(400, seed=2), tmp_path / "c")
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert sorted(a) == sorted(FILES)
    assert a == b
    assert all(a[name] != c[name] for name in FILES if name != "organisations.csv")


def test_records_and_truth_line_up(tmp_path: Path) -> None:
    counts = write_district(District(600, seed=4), tmp_path)
    records = _rows(tmp_path / "records.csv")
    truth = _rows(tmp_path / "truth.csv")
    persons = _rows(tmp_path / "persons.csv")
    assert list(records[0]) == list(RECORD_COLUMNS)
    assert len(records) == len(truth) == counts["records.csv"]
    assert [(r["source"], r["source_key"]) for r in records] == [
        (t["source"], t["source_key"]) for t in truth
    ]
    keys = {p["person_key"] for p in persons}
    assert {t["person_key"] for t in truth if not t["person_key"].startswith("X")} <= keys
    assert [s for s in dict.fromkeys(r["source"] for r in records)] == [
        "hukou",
        "civil_affairs",
        "hotline",
        "health",
        "utility",
    ]
    assert not (tmp_path / ".parts").exists()


def test_cli_generates_with_the_requested_encoding(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--persons",
            "300",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
            "--encoding",
            "gb18030",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "persons.csv" in result.output
    persons = _rows(tmp_path / "persons.csv", "gb18030")
    assert len(persons) == 300
    assert persons[0]["residence_address"].startswith("浙江省杭州市西湖区")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--district", "atlantis"], id="district"),
        pytest.param(["--encoding", "klingon"], id="encoding"),
        pytest.param(["--as-of", "yesterday"], id="as-of"),
        pytest.param(["--persons", "0"], id="persons"),
    ],
)
def test_cli_refuses_bad_options(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert not (tmp_path / "persons.csv").exists()


def test_cli_lists_the_sources() -> None:
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 0
    assert "hukou" in result.output
    assert "gb18030" in result.output
