"""Transport to the district's FHIR R4 server: searches, Bundle paging, retries.

A search is followed through its ``next`` links to the end; a link that comes back (a
server bug that makes paging circular), one that leaves the server, or more pages than
``max_pages`` stop the search with ``PagingError`` instead of spinning forever. Timeouts,
connection errors, 429 and 5xx are retried with exponential backoff and full jitter
(``Retry-After`` honoured, capped); a 4xx is the client's mistake and is not. Errors name the
resource type, the page and the server's OperationOutcome codes — never a URL's query or a
resource's content, which could carry personal data.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx

from adapters.contract import SourceUnavailable
from adapters.health.config import HealthConfig

__all__ = ["FhirClient", "FhirError", "Page", "PagingError"]

log = logging.getLogger(__name__)
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class FhirError(SourceUnavailable):
    """The server answered with an error (after retries, where retrying made sense)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PagingError(SourceUnavailable):
    """The search's paging cannot be trusted: a loop, a foreign link, too many pages."""


@dataclass(frozen=True, slots=True)
class Page:
    """One Bundle of a search: its match entries' resources (``None`` for an entry that
    has none), its ``next`` link and its ``meta.lastUpdated`` (when the snapshot was
    taken)."""

    number: int
    resources: list[Any]
    next_url: str | None
    snapshot: str | None
    total: int | None


def _outcome_codes(body: bytes) -> str:
    """The issue codes of an OperationOutcome body (``exception``, ``invalid`` …)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return ""
    codes = [
        f"{i.get('severity', '?')}/{i.get('code', '?')}"
        for i in doc.get("issue") or []
        if isinstance(i, dict)
    ]
    return f" (OperationOutcome {', '.join(codes[:5])})" if codes else " (OperationOutcome)"


def _normalized(url: str) -> str:
    """One spelling per page URL, so a loop is seen whatever order or encoding the
    server writes its parameters in."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}?{query}"


class FhirClient:
    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        headers = {"Accept": "application/fhir+json"}
        if config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s),
            headers=headers,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=2, max_connections=4),
        )
        origin = urlsplit(config.base_url)
        self._origin = (origin.scheme, origin.netloc)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    # -- requests ------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        cfg = self.config
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), cfg.max_backoff_s)
        return random.uniform(0, min(cfg.max_backoff_s, cfg.backoff_s * 2**attempt))

    def get_json(
        self, url: str, params: dict[str, Any] | None = None, *, what: str
    ) -> dict[str, Any]:
        """GET a FHIR JSON resource, retrying what is worth retrying."""
        attempts = self.config.max_retries + 1
        problem = ""
        status: int | None = None
        for attempt in range(attempts):
            retry_after: str | None = None
            try:
                self.requests += 1
                resp = self._http.get(url, params=params)
            except httpx.TimeoutException:
                problem, status = "timed out", None
            except httpx.TransportError as exc:
                problem, status = f"connection failed ({type(exc).__name__})", None
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        doc = json.loads(resp.content)
                    except (ValueError, RecursionError):  # not JSON, or nested too deep
                        problem = "answered 200 with a body that is not JSON"
                    else:
                        if isinstance(doc, dict):
                            return doc
                        problem = "answered 200 with JSON that is not a resource"
                elif status in _RETRY_STATUS:
                    problem = f"answered {status}{_outcome_codes(resp.content)}"
                    retry_after = resp.headers.get("Retry-After")
                else:
                    raise FhirError(
                        f"FHIR server refused {what}: {status}{_outcome_codes(resp.content)}",
                        status=status,
                    )
            if attempt + 1 < attempts:
                delay = self._delay(attempt, retry_after)
                log.warning("FHIR %s %s; retry %d in %.1fs", what, problem, attempt + 1, delay)
                time.sleep(delay)
        raise FhirError(
            f"FHIR server {problem} for {what} after {attempts} attempt(s)", status=status
        )

    def metadata(self) -> dict[str, Any]:
        return self.get_json(f"{self.config.base_url}/metadata", what="metadata")

    # -- searching -----------------------------------------------------------------------

    def _checked_next(self, current: str, link: str, seen: set[str], what: str) -> str:
        url = urljoin(current, link)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise PagingError(f"{what}: a next link leaves the FHIR server; paging stopped")
        if _normalized(url) in seen:
            raise PagingError(
                f"{what}: a next link repeats an earlier page (paging loop); "
                "the search was abandoned and the watermark not moved"
            )
        if len(seen) >= self.config.max_pages:
            raise PagingError(f"{what}: more than {self.config.max_pages} pages; paging stopped")
        return url

    def search(self, resource_type: str, since: str | None) -> Iterator[Page]:
        """Every page of ``resource_type`` updated after ``since`` (all when None), oldest
        ``lastUpdated`` first."""
        params: dict[str, Any] = {"_count": self.config.page_size, "_sort": "_lastUpdated"}
        if since:
            params["_lastUpdated"] = f"gt{since}"
        url = f"{self.config.base_url}/{resource_type}"
        seen: set[str] = set()
        number = 1
        doc = self.get_json(url, params, what=f"{resource_type} search page 1")
        url = str(httpx.URL(url, params=params))
        seen.add(_normalized(url))
        while True:
            page = self._page(doc, number, resource_type)
            yield page
            if page.next_url is None:
                return
            what = f"{resource_type} search page {number + 1}"
            url = self._checked_next(url, page.next_url, seen, what)
            seen.add(_normalized(url))
            number += 1
            doc = self.get_json(url, what=what)

    @staticmethod
    def _page(doc: dict[str, Any], number: int, resource_type: str) -> Page:
        if doc.get("resourceType") != "Bundle" or doc.get("type") != "searchset":
            raise FhirError(f"{resource_type} search page {number} is not a searchset Bundle")
        next_url = next(
            (
                link.get("url")
                for link in doc.get("link") or []
                if isinstance(link, dict) and link.get("relation") == "next"
            ),
            None,
        )
        resources: list[Any] = []
        for entry in doc.get("entry") or []:
            if not isinstance(entry, dict):
                resources.append(None)
                continue
            mode = (entry.get("search") or {}).get("mode", "match")
            if mode != "match":  # included resources and OperationOutcome warnings
                continue
            resources.append(entry.get("resource"))
        meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
        total = doc.get("total")
        return Page(
            number=number,
            resources=resources,
            next_url=str(next_url) if next_url else None,
            snapshot=meta.get("lastUpdated") if meta else None,
            total=total if isinstance(total, int) else None,
        )
