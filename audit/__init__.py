"""The exchange log: append-only, hash-chained, signed, verifiable offline by auditors.

Every hop across the hub's boundary appends one entry in the caller's transaction
(:func:`append`). Entries form a hash chain; signed checkpoints (:func:`checkpoint`) let anyone
holding the public key (:meth:`FileSigner.jwks`) verify the log (:func:`verify_store`), an
export (:func:`export`, :func:`verify_file`) or the archives plus the live table
(:func:`archive`, :func:`verify_all`). The reference design is X-Road's message log.

Imports only ``canonical_model``; the signing key is handed in as a :class:`Signer`.
"""

from audit.archive import ArchiveError, ArchiveInfo, archive, list_archives, purge, verify_all
from audit.canonical import FIELDS, GENESIS, canonical_json, entry_hash, payload_digest
from audit.checkpoint import ChainBroken, checkpoint, checkpoint_if_due, last_checkpoint
from audit.export import ExportResult, export
from audit.log import Head, append, append_many, head
from audit.offline import FileReport, verify_file
from audit.queries import Access, by_actor, by_counterpart, in_window, who_accessed
from audit.signing import (
    CheckpointInvalid,
    FileSigner,
    KeySet,
    Signer,
    open_checkpoint,
    read_jwks,
)
from audit.verify import Anchor, Finding, Reason, Report, Verifier, verify_store

__all__ = [
    "FIELDS",
    "GENESIS",
    "Access",
    "Anchor",
    "ArchiveError",
    "ArchiveInfo",
    "ChainBroken",
    "CheckpointInvalid",
    "ExportResult",
    "FileReport",
    "FileSigner",
    "Finding",
    "Head",
    "KeySet",
    "Reason",
    "Report",
    "Signer",
    "Verifier",
    "append",
    "append_many",
    "archive",
    "by_actor",
    "by_counterpart",
    "canonical_json",
    "checkpoint",
    "checkpoint_if_due",
    "entry_hash",
    "export",
    "head",
    "in_window",
    "last_checkpoint",
    "list_archives",
    "open_checkpoint",
    "payload_digest",
    "purge",
    "read_jwks",
    "verify_all",
    "verify_file",
    "verify_store",
    "who_accessed",
]
