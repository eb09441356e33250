"""Photos and files of completed tasks, stored once by their sha256.

Content addressing makes a photo tamper-evident (its name is its hash, recorded with the
feedback) and de-duplicated (the same photo sent twice is one file). Files are written
before the database commits; a rolled-back completion leaves an unreferenced file, which
is harmless and never a dangling reference.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Photo", "PhotoStore"]

MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    media_type: str = "image/jpeg"


class PhotoStore:
    """``root/ab/cd/abcd…`` files; the composition root chooses ``root`` (var/attachments)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        if len(data) > MAX_BYTES:
            raise ValueError(f"attachment of {len(data)} bytes is over the {MAX_BYTES} limit")
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)  # atomic: readers never see half a photo
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        data = self.path_for(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"attachment {sha256} does not match its hash")
        return data
