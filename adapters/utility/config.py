"""Settings of the utility adapter: ``GRIDHUB_UTILITY__<FIELD>`` under ``Settings.utility``.

The defaults fit the embedded demo (folders under ``var/utility/``, relative to the working
directory — the repository root for the CLI, the DAGs and ``make``). In a district the inbox
is where the companies' SFTP drop lands; archive and rejected should sit on the same file
system so that moving a file is a rename.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["UtilityConfig"]


class UtilityConfig(BaseModel):
    """Where the reading files arrive and go, and how they are read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inbox: Path = Field(Path("var/utility/inbox"), description="Where companies drop files.")
    archive: Path = Field(
        Path("var/utility/archive"), description="Loaded files (and manifests) move here."
    )
    rejected: Path = Field(
        Path("var/utility/rejected"),
        description="Refused files move here, each with a `<file>.reason.json`.",
    )
    csv_encoding: str = Field(
        "gb18030", description="Encoding of CSV files whose manifest does not name one."
    )
    rows_per_checkpoint: int = Field(
        20_000,
        ge=100,
        le=1_000_000,
        description="Readings per transaction (and the most held in memory at a time).",
    )
    parse_workers: int = Field(
        1,
        ge=0,
        le=1,
        description="1 parses the next file in a forked process while the current one "
        "loads (the halves overlap on two cores); 0 parses inline.",
    )
    manifest_grace_s: int = Field(
        3600,
        ge=0,
        description="A data file older than this without its manifest is rejected; a younger "
        "one is left for the next run (its manifest may still be on the way).",
    )
    keep_processed: int = Field(
        2000,
        ge=10,
        description="Loaded files remembered in the cursor (name → sha256), so a file left "
        "in the inbox by a crash after its commit is archived, not re-read.",
    )
    account_cache: int = Field(
        200_000,
        ge=0,
        description="Accounts remembered per utility during a run, so an unchanged account is "
        "looked up in the store once per run, not once per file.",
    )

    @field_validator("csv_encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
