"""The transport's decisions, without a database: decoding, retry classes, connection strings."""

from __future__ import annotations

import pyodbc
import pytest

from adapters.civil_affairs.client import (
    Dialect,
    UndecodableText,
    _effective_connection_string,
    connection_attributes,
    decode_text,
    describe,
    is_transient,
)
from adapters.civil_affairs.config import CivilAffairsConfig
from simulators.district import District


@pytest.mark.parametrize(
    "text",
    [
        "张三",
        "欧阳娜娜",
        "阿依古丽·买买提",
        "杭州市西湖区文三路259号3幢2单元302室",
        "１３８",
        "張偉",
    ],
)
def test_gb18030_text_decodes_to_what_was_written(text: str) -> None:
    assert decode_text(text.encode("gb18030"), "gb18030") == text


@pytest.mark.parametrize(
    ("raw", "issue"),
    [
        pytest.param("张三".encode("gb18030")[:-1], "invalid", id="cut-mid-character"),
        pytest.param(b"\xff\xfe", "invalid", id="not-gb18030"),
        pytest.param("张三".encode(), "mismatch", id="utf8-that-decodes-as-gb18030"),
        pytest.param("王小明".encode(), "mismatch", id="utf8-that-does-not"),
    ],
)
def test_wrong_encodings_are_refused_with_the_issue_and_no_text(raw: bytes, issue: str) -> None:
    with pytest.raises(UndecodableText) as caught:
        decode_text(raw, "gb18030")
    assert caught.value.issue == issue
    assert "张" not in str(caught.value)
    assert "王" not in str(caught.value)


def test_no_real_name_or_address_is_mistaken_for_utf8(district: District) -> None:
    """GB18030 Chinese that happens to be valid UTF-8 would be quarantined by mistake."""
    values = [p.name for p in district.persons()] + [p.residence.full for p in district.persons()]
    for value in values:
        assert decode_text(value.encode("gb18030"), "gb18030") == value


def test_ascii_and_utf8_sources_pass_through() -> None:
    assert decode_text(b"330106194812044083", "gb18030") == "330106194812044083"
    assert decode_text("张三".encode(), "utf-8") == "张三"


def test_sqlite_connections_never_create_a_file_and_do_not_wait_minutes() -> None:
    config = CivilAffairsConfig(
        connection_string="Driver=SQLite3;Database=/x/y.db", lock_timeout_ms=250
    )
    attrs = connection_attributes(_effective_connection_string(config))
    assert attrs["nocreat"] == "1"
    assert attrs["timeout"] == "250"
    given = CivilAffairsConfig(connection_string="Driver={SQLite3};Database=/x/y.db;Timeout=9")
    assert connection_attributes(_effective_connection_string(given))["timeout"] == "9"
    pg = CivilAffairsConfig(connection_string="Driver={PostgreSQL Unicode};Server=h;Pwd={a;b}")
    assert _effective_connection_string(pg) == "Driver={PostgreSQL Unicode};Server=h;Pwd={a;b}"
    assert connection_attributes(pg.connection_string.get_secret_value())["pwd"] == "{a;b}"


def test_the_connection_string_is_secret() -> None:
    config = CivilAffairsConfig(connection_string="Driver={PostgreSQL Unicode};Pwd=hunter2")
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config.model_dump())


@pytest.mark.parametrize(
    ("state", "message", "transient"),
    [
        ("HY000", "[SQLite]database is locked (5)", True),
        ("55P03", "ERROR: canceling statement due to lock timeout", True),
        ("08001", "connection to server failed: Connection refused", True),
        ("08S01", "The connection has been lost", True),
        ("57P01", "terminating connection due to administrator command", True),
        ("HYT00", "Timeout expired", True),
        ("40P01", "deadlock detected", True),
        ("08001", 'FATAL: database "x" does not exist', False),
        ("08001", "FATAL: password authentication failed for user", False),
        ("42S02", "no such table: tekun", False),
        ("HY000", "[SQLite]connect failed (14)", False),
        ("01000", "Can't open lib 'x' : file not found", False),
    ],
)
def test_what_is_worth_retrying(state: str, message: str, transient: bool) -> None:
    assert is_transient(pyodbc.Error(state, message)) is transient


def test_errors_are_described_without_driver_manager_noise() -> None:
    exc = pyodbc.Error(
        "01000",
        "[01000] [unixODBC][Driver Manager]Can't open lib 'x' : file not found"
        " (0) (SQLDriverConnect)",
    )
    assert describe(exc) == "[01000] Can't open lib 'x' : file not found"


def test_dialects_page_in_their_own_sql() -> None:
    assert Dialect.from_dbms("SQLite").limit("SELECT 1", 5) == "SELECT 1 LIMIT 5"
    assert Dialect.from_dbms("PostgreSQL").limit("SELECT 1", 5).endswith("FETCH NEXT 5 ROWS ONLY")
    assert Dialect.from_dbms("Microsoft SQL Server") is Dialect.OTHER


def test_unknown_encodings_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="unknown text encoding"):
        CivilAffairsConfig(text_encoding="gb99999")
    with pytest.raises(ValueError, match="not ASCII-compatible"):
        CivilAffairsConfig(text_encoding="utf-16")
    assert CivilAffairsConfig(text_encoding="GBK").text_encoding == "gbk"
