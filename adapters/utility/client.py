"""Transport for meter files: the inbox folder, its manifests, the archive and rejected folders.

A company's drop is complete when its manifest (``<file>.manifest.json``: file name, row
count, sha256, kind, format, encoding) is there; a data file without one is either still
arriving (left alone) or, after ``manifest_grace_s``, abandoned (rejected). Files leave the
inbox only by ``archive`` (loaded) or ``reject`` (refused, with ``<file>.reason.json``
beside it in the rejected folder saying why); both are renames, so a file is never in two
places or half-moved.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.contract import SourceUnavailable
from adapters.utility.config import UtilityConfig
from adapters.utility.parsing import FileRejected
from canonical_model.utility import UTILITY_KINDS

__all__ = ["MANIFEST_SUFFIX", "Delivery", "Inbox", "Manifest"]

log = logging.getLogger(__name__)
MANIFEST_SUFFIX = ".manifest.json"
_FORMATS = {".csv": "csv", ".xml": "xml"}
_MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Manifest:
    file: str
    kind: str
    fmt: str
    encoding: str
    rows: int
    sha256: str
    raw: bytes  # as received, kept with a rejection


@dataclass(frozen=True, slots=True)
class Delivery:
    """A data file in the inbox and its manifest, when there is one."""

    name: str
    data: Path | None
    manifest: Path | None

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.data, self.manifest) if p is not None]


class Inbox:
    def __init__(self, config: UtilityConfig) -> None:
        self.config = config

    def problem(self) -> str | None:
        """Why the folders cannot be used, or None."""
        inbox = self.config.inbox
        if not inbox.is_dir():
            return f"the inbox folder {inbox} does not exist"
        if not os.access(inbox, os.R_OK | os.W_OK | os.X_OK):
            return f"the inbox folder {inbox} is not readable and writable"
        for folder in (self.config.archive, self.config.rejected):
            existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
            if existing is None or not os.access(existing, os.W_OK | os.X_OK):
                return f"the folder {folder} cannot be written"
        return None

    def prepare(self) -> None:
        self.config.archive.mkdir(parents=True, exist_ok=True)
        self.config.rejected.mkdir(parents=True, exist_ok=True)

    def scan(self) -> list[Delivery]:
        """Deliveries in name order (the companies' names sort by day): complete ones,
        abandoned data files and orphan manifests. Files still arriving are left out."""
        names = sorted(p.name for p in self.config.inbox.iterdir() if p.is_file())
        present = set(names)
        now = time.time()
        out: list[Delivery] = []
        for name in names:
            if name.startswith(".") or name.endswith((".part", ".tmp")):
                continue
            path = self.config.inbox / name
            if name.endswith(MANIFEST_SUFFIX):
                data_name = name[: -len(MANIFEST_SUFFIX)]
                if data_name not in present and self._old(path, now):
                    out.append(Delivery(data_name, None, path))
                continue
            if Path(name).suffix.lower() not in _FORMATS:
                continue
            manifest = self.config.inbox / f"{name}{MANIFEST_SUFFIX}"
            if manifest.name in present:
                out.append(Delivery(name, path, manifest))
            elif self._old(path, now):
                out.append(Delivery(name, path, None))
            else:
                log.info("utility file %s waits for its manifest", name)
        return out

    def _old(self, path: Path, now: float) -> bool:
        try:
            return now - path.stat().st_mtime >= self.config.manifest_grace_s
        except FileNotFoundError:
            return False

    def read_manifest(self, delivery: Delivery) -> Manifest:
        if delivery.manifest is None:
            raise FileRejected("manifest.missing", "no manifest arrived within the grace period")
        if delivery.data is None:
            raise FileRejected("manifest.orphan", "a manifest without its data file")
        raw = delivery.manifest.read_bytes()[: _MAX_MANIFEST_BYTES + 1]
        try:
            if len(raw) > _MAX_MANIFEST_BYTES:
                raise ValueError("too large")
            doc: Any = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            rows, sha = int(doc["rows"]), str(doc["sha256"]).strip().lower()
            if rows < 0 or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
                raise ValueError("rows or sha256 out of form")
        except (ValueError, KeyError, TypeError, RecursionError):  # deep nesting: RecursionError
            raise FileRejected("manifest.invalid", "the manifest is not valid JSON with "
                               "file, rows and sha256") from None  # fmt: skip
        if doc.get("file") != delivery.name:
            raise FileRejected("manifest.name_mismatch", "the manifest names another file")
        fmt = _FORMATS[Path(delivery.name).suffix.lower()]
        if doc.get("format") not in (None, fmt):
            raise FileRejected("manifest.format", f"the manifest's format is not {fmt}")
        kind = str(doc.get("kind") or delivery.name.split("_", 1)[0]).lower()
        if kind not in UTILITY_KINDS:
            raise FileRejected("manifest.kind", f"unknown utility kind (expected {UTILITY_KINDS})")
        encoding = self.config.csv_encoding if fmt == "csv" else "utf-8"
        if doc.get("encoding"):
            try:
                encoding = codecs.lookup(str(doc["encoding"])).name
            except LookupError:
                raise FileRejected(
                    "manifest.encoding", "the manifest names an unknown encoding"
                ) from None
        return Manifest(delivery.name, kind, fmt, encoding, rows, sha, raw)

    # -- moving files --------------------------------------------------------------------

    @staticmethod
    def _move(path: Path, folder: Path) -> Path:
        target = folder / path.name
        n = 1
        while target.exists():  # a company re-sent a file of the same name
            target = folder / f"{path.name}.{n}"
            n += 1
        try:
            os.replace(path, target)
        except OSError:  # another file system: copy, then remove
            try:
                shutil.move(str(path), str(target))
            except OSError as exc:
                # A full or failing volume: the file stays whole where it was (a committed
                # file is archived by the next run) and no partial copy is left behind.
                if path.exists():
                    target.unlink(missing_ok=True)
                raise SourceUnavailable(
                    f"cannot move {path.name} to {folder}: {exc.strerror or exc}; "
                    f"it stays in {path.parent}"
                ) from None
        return target

    def archive(self, delivery: Delivery) -> None:
        for path in delivery.paths:  # data first: a manifest left behind is recognised
            if path.exists():
                self._move(path, self.config.archive)

    def reject(self, delivery: Delivery, code: str, reason: str) -> None:
        note = {
            "file": delivery.name,
            "reason_code": code,
            "reason": reason,
            "rejected_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "had_manifest": delivery.manifest is not None,
        }
        folder = self.config.rejected
        tmp = folder / f".{delivery.name}.reason.json.part"
        tmp.write_text(json.dumps(note, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, folder / f"{delivery.name}.reason.json")
        for path in delivery.paths:
            if path.exists():
                self._move(path, folder)
        log.warning("utility file %s rejected: %s", delivery.name, code)
