"""Settings of the 民政 adapter: ``GRIDHUB_CIVIL_AFFAIRS__<FIELD>``, ``Settings.civil_affairs``.

The defaults fit the embedded demo (the simulator's SQLite file, read through the SQLite3
ODBC driver) and a district's legacy database alike: GB18030 text, a source that is locked
now and then by its own clerks, and a nightly window in which it may be down for minutes.
"""

from __future__ import annotations

import codecs

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["DEFAULT_CONNECTION_STRING", "CivilAffairsConfig"]

#: The simulator's SQLite file, relative to the working directory (the repository root for
#: the CLI, the DAGs and ``make``).
DEFAULT_CONNECTION_STRING = "Driver={SQLite3};Database=var/civil_affairs.db"
_SAMPLE = "Az09 -:./"


class CivilAffairsConfig(BaseModel):
    """Where the civil-affairs database is, how it encodes text and how hard to try."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connection_string: SecretStr = Field(
        SecretStr(DEFAULT_CONNECTION_STRING),
        description="ODBC connection string (Driver=… or DSN=…); secret because it may hold "
        "PWD. For the SQLite drivers NoCreat=1 and Timeout are added unless given.",
    )
    page_size: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Rows per keyset query: the most the adapter holds in memory, and how "
        "long the source's read lock is held at a time.",
    )
    fetch_size: int = Field(1000, ge=1, le=100_000, description="Rows per cursor.fetchmany.")
    map_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="Processes mapping pages while the sync stores the page before; 0 maps "
        "inline. Pages under 200 rows (small incremental syncs) are always mapped inline.",
    )
    text_encoding: str = Field(
        "gb18030",
        description="Encoding of narrow (SQL_CHAR) text; wide (SQL_WCHAR) text is Unicode.",
    )
    connect_timeout_s: int = Field(10, ge=1, description="ODBC login timeout.")
    query_timeout_s: int = Field(
        120, ge=0, description="ODBC query timeout per statement (0 waits forever)."
    )
    lock_timeout_ms: int = Field(
        1000,
        ge=0,
        description="How long the SQLite driver waits on a locked file before reporting "
        "'database is locked' (its Timeout); the retries below then take over.",
    )
    max_retries: int = Field(
        5, ge=0, le=20, description="Retries after a lock, a timeout or a lost connection."
    )
    backoff_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry, with full jitter."
    )
    max_backoff_s: float = Field(15.0, ge=0, description="Upper bound of one retry delay.")
    lookback_s: int = Field(
        300,
        ge=0,
        description="Each sync re-reads rows stamped this long before its cursor, so a row "
        "committed late with an older updated_at is not skipped; re-read rows cost a hash.",
    )

    @field_validator("text_encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            name = codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        if _SAMPLE.encode(name, "replace") != _SAMPLE.encode("ascii"):
            # ASCII text (ID numbers, dates, codes) is taken as is, without decoding.
            raise ValueError(f"text encoding {value!r} is not ASCII-compatible")
        return name
