"""The sync engine shared by every adapter.

The promise it keeps: **the cursor never moves past data that was not stored.** Records are
written in checkpoints of N; each checkpoint — new and changed source records, quarantined
ones, the stream's cursor and one exchange-log entry — is a single transaction. A crash loses
at most the checkpoint in flight, whose records the source will deliver again from the stored
cursor; they are then recognised by their content hash, so a re-run neither loses nor
duplicates anything.

Three seams: ``encoding`` (a record → hashed, storable JSON), ``store`` (a checkpoint's
records → rows) and ``sync`` (the loop, the checkpoint transaction, the cursor).
"""

from adapters.engine.encoding import (
    DEFAULT_MAX_RECORD_BYTES,
    canonical_json,
    content_hash,
    raw_bytes,
)
from adapters.engine.sync import (
    SYNC_ACTOR,
    Commit,
    ConcurrentSyncError,
    ProgressCallback,
    load_cursor,
    sync_adapter,
    sync_stream,
)

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "SYNC_ACTOR",
    "Commit",
    "ConcurrentSyncError",
    "ProgressCallback",
    "canonical_json",
    "content_hash",
    "load_cursor",
    "raw_bytes",
    "sync_adapter",
    "sync_stream",
]
