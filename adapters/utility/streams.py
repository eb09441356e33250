"""The utility stream ``accounts``: meter files from the inbox, readings on the side.

Per file: the manifest is read and the whole file parsed and checked in one pass
(``parsing.parse_file``). A refused file is moved to the rejected folder with its reason
file, after a quarantine entry (key ``file:<name>``) has been committed; other files go on.
A good file is then loaded chunk by chunk (``rows_per_checkpoint`` rows):

1. every account in the chunk that this run has not seen unchanged becomes a candidate;
2. a ``Commit`` (the engine's ``Flush`` that commits even with no record pending) takes a
   checkpoint now. Inside that transaction ``on_checkpoint`` looks up the candidates'
   stored payloads and writes the chunk's readings into ``utility_reading`` (one bulk
   upsert), so readings commit with the checkpoint;
3. candidates whose payload differs from what is stored (new holder, new phone, new
   account) are handed to the engine as records; unchanged accounts never are — in a daily
   file nearly every row, which is why readings reach their throughput. A daily file of
   unchanged accounts hands the engine no record at all: nothing is mapped, and the
   pinyin dictionary (a third of a CPU second to load) is never loaded.

The cursor with the file in it (``{"files": {name: sha256}}``, the last ``keep_processed``)
commits with the file's last chunk when no candidate is left to follow it (the usual day:
one transaction per file), else in one more checkpoint after the candidates; only after
that commit does the file move to the archive. A crash before leaves the file in the
inbox and the cursor without it: the next run reads it again, and the readings' unique key
and the accounts' content hashes absorb the repetition. A crash after the commit but
before the move leaves a file the cursor already names: it is archived without being read.

The engine calls ``on_checkpoint`` only when it commits, which a ``Commit`` guarantees. The
generator resuming after a ``Commit`` is the proof that the checkpoint committed: a failed
commit ends the sync without resuming it.
"""

from __future__ import annotations

import json
import logging
import operator
from collections import deque
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from adapters.contract import Extracted, Flush, Mapped, SourceUnavailable, Stream
from adapters.engine.sync import Commit
from adapters.utility.ahead import ParseAhead, Parsing
from adapters.utility.client import Delivery, Inbox, Manifest
from adapters.utility.config import UtilityConfig
from adapters.utility.mapping import (
    ReadingRow,
    StoredAccount,
    account_payload,
    map_record,
    normalized_address,
    stored_accounts,
    upsert_readings,
)
from adapters.utility.parsing import FileRejected, Good, Spool, split_holding

__all__ = ["AccountsStream"]

log = logging.getLogger(__name__)
_Cursor = dict[str, Any]
#: ReadingRow by account, the order the parse sorted its chunk in (see parsing): ``ready``
#: and ``waiting`` rows are two ascending runs, which the sort merges.
_index_order = operator.itemgetter(1)
#: Files started (manifest read, parse queued) ahead of the one loading: one with the
#: worker, the others queued for it, the next of which this process parses itself when it
#: would otherwise wait (``ParseAhead``). Two were too few on a backlog: a file stolen by
#: this process left the worker with nothing queued until the current file had loaded
#: (1.32 of 2 cores used). Six keep the worker fed across a day's XML file, which parses
#: slower than it loads. Each parsed file waits as an unlinked spool on disk (a few MB),
#: not in memory, so memory stays flat in the backlog's size.
_AHEAD = 6


class _Chunk:
    """A chunk's readings on their way to the checkpoint that writes them: ``ready`` rows
    have their address (the account was seen unchanged this run), ``waiting`` rows get it
    from the store's lookup of the ``candidates``."""

    __slots__ = ("candidates", "file", "kind", "ready", "waiting")

    def __init__(self, kind: str, file: str) -> None:
        self.kind = kind
        self.file = file
        self.ready: list[ReadingRow] = []
        self.waiting: list[Good] = []
        self.candidates: dict[str, Good] = {}


class AccountsStream(Stream):
    name: ClassVar[str] = "accounts"
    primary_key: ClassVar[tuple[str, ...]] = ("kind", "account")
    cursor_field: ClassVar[str | None] = "file"

    def __init__(self, inbox: Inbox, config: UtilityConfig) -> None:
        self.inbox = inbox
        self.config = config
        self.ahead = ParseAhead(config.parse_workers > 0)
        # kind → account → (holding, normalized address), as seen this run
        self._known: dict[str, dict[str, StoredAccount]] = {}
        self._chunk: _Chunk | None = None
        self._stored: dict[str, StoredAccount] = {}
        self._uncommitted = 0  # records handed to the engine since its last commit
        self.stats = {"files": 0, "readings": 0, "rejected": 0, "skipped": 0}

    # -- engine hooks --------------------------------------------------------------------

    def map(self, item: Extracted) -> Mapped:
        return map_record(item)

    def on_checkpoint(self, session: Session, mapped: Sequence[Mapped]) -> None:
        self._uncommitted = 0
        chunk, self._chunk = self._chunk, None
        if chunk is None:
            return
        self._stored = stored_accounts(session, chunk.candidates)
        kind, file, rows = chunk.kind, chunk.file, chunk.ready
        known = self._known.setdefault(kind, {})
        if len(known) + len(chunk.waiting) > self.config.account_cache:
            known.clear()  # bounded memory: later files look their accounts up again
        for row in chunk.waiting:
            holding = row[4]
            stored = self._stored.get(f"{kind}:{row[0]}")
            if stored is not None and stored[0] == holding:
                address = stored[1]
            else:
                address = normalized_address(split_holding(holding)[2])
            if self.config.account_cache:
                known[row[0]] = (holding, address)
            rows.append((kind, row[0], row[1], row[2], row[3], address, file))
        if chunk.waiting:  # two sorted runs to merge; ``ready`` alone is in order already
            rows.sort(key=_index_order)  # index order: appends to the index, no page splits
        upsert_readings(session, rows)
        self.stats["readings"] += len(rows)

    # -- extraction ----------------------------------------------------------------------

    def _record(self, raw: Mapping[str, Any], cursor: _Cursor, key: str | None) -> Extracted:
        self._uncommitted += 1
        return Extracted(raw=raw, cursor=cursor, source_key=key)

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
        problem = self.inbox.problem()
        if problem is not None:
            raise SourceUnavailable(problem)
        self.inbox.prepare()
        files: dict[str, str] = dict(cursor.get("files") or {})
        self._uncommitted = 0
        # Each job: a delivery with its manifest and its parse (running ahead), or the
        # reason it was refused before parsing.
        jobs: deque[tuple[Delivery, Manifest | None, Parsing | FileRejected]] = deque()
        try:
            for delivery in self.inbox.scan():
                if delivery.name in files and self._already_loaded(delivery, files[delivery.name]):
                    self.inbox.archive(delivery)  # committed by a run that died before moving it
                    self.stats["skipped"] += 1
                    continue
                jobs.append(self._start(delivery))
                while len(jobs) > _AHEAD:
                    files = yield from self._finish(*jobs.popleft(), files)
            while jobs:
                files = yield from self._finish(*jobs.popleft(), files)
        finally:
            for _, _, job in jobs:
                if isinstance(job, Parsing):
                    job.cancel()

    def _start(
        self, delivery: Delivery
    ) -> tuple[Delivery, Manifest | None, Parsing | FileRejected]:
        try:
            manifest = self.inbox.read_manifest(delivery)
        except FileRejected as exc:
            return delivery, None, exc
        assert delivery.data is not None  # read_manifest refuses an orphan manifest
        parsing = self.ahead.start(
            delivery.data,
            fmt=manifest.fmt,
            encoding=manifest.encoding,
            sha256=manifest.sha256,
            rows=manifest.rows,
            chunk=self.config.rows_per_checkpoint,
        )
        return delivery, manifest, parsing

    def _finish(
        self,
        delivery: Delivery,
        manifest: Manifest | None,
        job: Parsing | FileRejected,
        files: dict[str, str],
    ) -> Generator[Extracted | Flush, None, dict[str, str]]:
        """Load (or reject) one file; returns the processed-files cursor after it."""
        position: _Cursor = {"files": files}
        try:
            if isinstance(job, FileRejected):
                raise job
            assert manifest is not None
            spool = job.result()
        except FileRejected as exc:
            yield from self._reject(delivery, position, exc)
            return files
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {delivery.name}: {exc.strerror}") from None
        files = dict(files)  # a new dict: a cursor handed to the engine is never changed
        files.pop(delivery.name, None)
        files[delivery.name] = manifest.sha256
        while len(files) > self.config.keep_processed:
            files.pop(next(iter(files)))
        done: _Cursor = {"files": files}
        try:
            committed = yield from self._load(manifest, spool, position, done)
        finally:
            spool.close()
        if not committed:  # one more checkpoint, to commit ``done``
            yield Commit(done)
            self._check_committed()
        self.inbox.archive(delivery)
        self.stats["files"] += 1
        log.info("utility file %s loaded: %d rows", delivery.name, spool.rows)
        return files

    def _already_loaded(self, delivery: Delivery, sha256: str) -> bool:
        try:
            return self.inbox.read_manifest(delivery).sha256 == sha256
        except FileRejected:
            return delivery.data is None  # an orphan manifest of a loaded file

    def _check_committed(self) -> None:
        if self._chunk is not None or self._uncommitted:
            raise RuntimeError("the engine did not commit at a Commit: readings would be lost")

    def _reject(
        self, delivery: Delivery, position: _Cursor, exc: FileRejected
    ) -> Iterator[Extracted | Flush]:
        manifest: Any = None
        if delivery.manifest is not None and delivery.manifest.exists():
            text = delivery.manifest.read_bytes()[:65536].decode("utf-8", "replace")
            try:
                manifest = json.loads(text)
            except (ValueError, RecursionError):  # kept as text: not JSON, or nested too deep
                manifest = text
        raw = {
            "file": delivery.name,
            "manifest": manifest,
            "problem": {"code": exc.code, "reason": exc.reason},
        }
        yield self._record(raw, position, f"file:{delivery.name}")
        yield Flush(position)
        self._check_committed()
        self.inbox.reject(delivery, exc.code, exc.reason)
        self.stats["rejected"] += 1

    def _load(
        self, manifest: Manifest, spool: Spool, position: _Cursor, done: _Cursor
    ) -> Generator[Extracted | Flush, None, bool]:
        """Every chunk of a verified file; returns whether ``done`` (the cursor naming the
        file) has committed.

        The last chunk's checkpoint carries ``done`` when nothing can follow it (no
        candidate left to compare with the store): one commit per file, not two.
        """
        kind = manifest.kind
        for index, (good, bad) in enumerate(spool, start=1):
            for number, code, reason, fields in bad:
                raw = {"file": manifest.file, "row": number, "kind": kind, "fields": fields,
                       "problem": {"code": code, "reason": reason}}  # fmt: skip
                yield self._record(raw, position, f"{kind}:row:{manifest.file}:{number}")
            if not good:
                continue
            chunk = _Chunk(kind, manifest.file)
            known = self._known.get(kind, {})
            ready, waiting, file = chunk.ready.append, chunk.waiting, manifest.file
            for row in good:
                seen = known.get(row[0])
                if seen is not None and seen[0] == row[4]:
                    ready((kind, row[0], row[1], row[2], row[3], seen[1], file))
                else:
                    waiting.append(row)
            chunk.candidates = {f"{kind}:{row[0]}": row for row in waiting}
            self._chunk = chunk
            # The file's last checkpoint when no candidate can turn into a record after it:
            # it commits the readings and the cursor naming the file in one transaction.
            final = done if index == spool.chunks and not waiting else position
            yield Commit(final)  # on_checkpoint: look up the candidates, write readings
            self._check_committed()
            if final is done:
                return True
            for key, row in chunk.candidates.items():
                stored = self._stored.get(key)
                if stored is None or stored[0] != row[4]:
                    yield self._record(account_payload(kind, row), position, key)
            self._stored = {}
        return False
