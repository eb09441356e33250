# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Property-based fuzzing of the utility file reader (CSV and XML) on arbitrary bytes.

``parse_file`` sees a company's file before anything is stored. Whatever the bytes, it must
either hand back a spool whose rows add up to the manifest, or refuse the file with a
``FileRejected`` code — never raise anything else, and never let a refusal reason quote the
file's content (libxml2 likes to quote the offending bytes).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.utility.parsing import FileRejected, parse_file

CODES = {
    "file.encoding",
    "file.header",
    "file.malformed_row",
    "file.truncated_row",
    "file.xml_doctype",
    "file.xml_malformed",
    "file.checksum_mismatch",
    "file.row_count",
}
HEADER = "户号,户名,联系电话,用水地址,表号,抄表日期,本期用量,本期示数\r\n"
ROW = "A{n:05d},张伟{n},13812345678,文三路{n}号,M{n},2026-03-0{d},{u},{m}\r\n"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<MeterReadings>\n'
XML_ROW = (
    "<Reading><AccountNo>A{n:05d}</AccountNo><HolderName>张伟</HolderName>"
    "<ReadingDate>2026-03-0{d}</ReadingDate><Usage>{u}</Usage></Reading>\n"
)


def _parse(data: bytes, fmt: str, encoding: str, rows: int, sha: str | None = None) -> int:
    """Rows the reader loaded; raises ``FileRejected`` when it refused the file."""
    with tempfile.TemporaryDirectory(prefix="gridhub-fuzz-") as tmp:
        path = Path(tmp) / f"water_20260301.{fmt}"
        path.write_bytes(data)
        spool = parse_file(
            path,
            fmt=fmt,
            encoding=encoding,
            sha256=sha or hashlib.sha256(data).hexdigest(),
            rows=rows,
            chunk=7,
        )
        try:
            good = sum(len(g) + len(b) for g, b in spool)
            assert good == spool.rows == rows
            return good
        finally:
            spool.close()


def _refusal_is_clean(exc: FileRejected, data: bytes) -> None:
    assert exc.code in CODES, exc.code
    reason = exc.reason.encode("utf-8", "replace")
    for start in range(0, max(len(data) - 8, 0), 8):
        chunk = data[start : start + 8]
        if len(set(chunk)) > 3 and chunk.isascii() and chunk.isalnum():
            assert chunk not in reason  # no run of the file's own text in the reason


csv_bytes = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: (HEADER + t).encode("gb18030", "replace")),
    st.lists(st.sampled_from([HEADER, ROW.format(n=1, d=1, u=3.5, m=100), "\ufeff", '"', ",",
             "\r\n", "\n", "浙", "--"]), max_size=12)
    .map(lambda p: "".join(p).encode("gbk", "replace")),
)  # fmt: skip


@settings(max_examples=200)
@given(csv_bytes, st.sampled_from(["gbk", "gb18030", "utf-8", "utf-8-sig"]), st.integers(0, 5))
@example(b"\xef\xbb\xbf" + HEADER.encode("utf-8"), "gbk", 0)
@example(HEADER.encode("gbk") + b"A1,\xff\xfe,1,2,3,2026-03-01,1,1\r\n", "gbk", 1)
def test_csv_reader_loads_or_refuses_with_a_code(data: bytes, encoding: str, rows: int) -> None:
    try:
        _parse(data, "csv", encoding, rows)
    except FileRejected as exc:
        _refusal_is_clean(exc, data)


xml_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([XML_HEAD, XML_ROW.format(n=1, d=2, u=1.5), "</MeterReadings>",
             "<!DOCTYPE r [<!ENTITY a 'b'>]>", "&a;", "<Reading>", "</Reading>", "<![CDATA[x]]>",
             "<?pi x?>", "<!-- c -->", "\x00", "浙", "<Usage>", "</Usage>"]), max_size=12)
    .map(lambda p: "".join(p).encode("utf-8", "replace")),
)  # fmt: skip


@settings(max_examples=120)
@given(xml_bytes, st.integers(0, 4))
def test_xml_reader_loads_or_refuses_with_a_code(data: bytes, rows: int) -> None:
    try:
        _parse(data, "xml", "utf-8", rows)
    except FileRejected as exc:
        _refusal_is_clean(exc, data)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e7)),
        max_size=30,
    ),
    st.sampled_from(["gbk", "gb18030", "utf-8"]),
)
def test_a_well_formed_csv_file_loads_every_row(
    rows: list[tuple[int, float, float]], encoding: str
) -> None:
    text = HEADER + "".join(ROW.format(n=i, d=d, u=u, m=m) for i, (d, u, m) in enumerate(rows))
    assert _parse(text.encode(encoding), "csv", encoding, len(rows)) == len(rows)


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(1, 9), st.floats(0, 1e6, allow_nan=False)), max_size=30))
def test_a_well_formed_xml_file_loads_every_row(rows: list[tuple[int, float]]) -> None:
    text = XML_HEAD + "".join(XML_ROW.format(n=i, d=d, u=u) for i, (d, u) in enumerate(rows))
    data = (text + "</MeterReadings>\n").encode("utf-8")
    assert _parse(data, "xml", "utf-8", len(rows)) == len(rows)


@settings(max_examples=60)
@given(st.integers(1, 20), st.data())
def test_a_file_cut_anywhere_is_never_loaded_short(n: int, data: st.DataObject) -> None:
    """A file cut in transit must never load as a shorter, complete-looking file."""
    text = HEADER + "".join(ROW.format(n=i, d=1, u=1, m=2) for i in range(n))
    whole = text.encode("gbk")
    cut = data.draw(st.integers(len(HEADER.encode("gbk")) + 1, len(whole) - 1))
    try:
        loaded = _parse(whole[:cut], "csv", "gbk", n)
    except FileRejected as exc:
        assert exc.code in {"file.truncated_row", "file.row_count", "file.encoding",
                            "file.malformed_row"}  # fmt: skip
    else:
        raise AssertionError(f"a file cut at byte {cut} of {len(whole)} loaded {loaded} rows")
