"""Treating the 户籍 service as an untrusted peer: its XML, its addresses, its fault text.

A department's SOAP gateway is usually benign, but the adapter runs with the hub's database
credentials next to it, so a reply is parsed as if it could be hostile (XXE, entity bombs),
the WSDL may not redirect our WS-Security token to another host, and the little of its text
that reaches logs is cut down to machine tokens.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import zeep

__all__ = ["origin", "prolog_has_doctype", "safe_settings", "token"]

_LONG_NUMBER = re.compile(r"\d{6,}")


def safe_settings() -> zeep.Settings:
    """zeep settings for an untrusted peer: no DTD, no entities, no external fetches, libxml2's
    size limits kept, and replies handed back raw for ``HukouClient._check``."""
    return zeep.Settings(
        strict=True,
        raw_response=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


def prolog_has_doctype(content: bytes) -> bool:
    """Whether a DOCTYPE precedes the root element (checked before libxml2 sees the bytes).

    SOAP 1.1 messages must not carry a DTD, so any DOCTYPE is refused, whatever it declares.
    Only the prolog is scanned — declarations, PIs, comments — so the text of a record
    can never trigger it.
    """
    pos = 0
    while True:
        lt = content.find(b"<", pos)
        if lt < 0:
            return False
        if content.startswith(b"<?", lt):
            pos = content.find(b"?>", lt)
        elif content.startswith(b"<!--", lt):
            pos = content.find(b"-->", lt)
        else:
            return content.startswith(b"<!DOCTYPE", lt)
        if pos < 0:
            return False


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def token(text: str | None) -> str | None:
    """A fault code as a short machine token: the server's text never reaches a log whole
    (a faultcode or detail code is no place for an ID number, but nothing stops a server)."""
    if not text:
        return None
    cleaned = "".join(c for c in text.strip()[:60] if c.isascii() and (c.isalnum() or c in "_.:-"))
    if _LONG_NUMBER.search(cleaned):
        return "withheld"  # six digits in a row may be part of an ID or phone number
    return cleaned or None
