"""Transport to the 户籍 SOAP service: zeep for the WSDL, WS-Security and the HTTP exchange.

zeep builds and signs each request (UsernameToken, PasswordDigest by default) and posts it;
the reply comes back raw (``raw_response``) so that this module decides, in one place:

* **what to retry** — timeouts, connection errors, HTTP 5xx without a SOAP fault, truncated
  or malformed bodies and ``soap:Server`` faults are transient; ``soap:Client`` and
  ``wsse:*`` faults are the caller's fault and fail at once (retrying a wrong password only
  locks the account). Delays grow exponentially with full jitter so a fleet of workers does
  not hammer a recovering service in step.
* **how XML is parsed** — a DOCTYPE in the prolog is refused before libxml2 sees the bytes,
  then ``zeep.loader.parse_xml`` runs with DTDs, entities and external references forbidden
  and libxml2's huge-tree limits kept (``safety.py``), so an XXE or billion-laughs reply is
  refused, never expanded. A refused reply is not retried: a peer that sends one is
  misconfigured or hostile, and neither heals in seconds.
* **how a page is decoded** — ``lxml`` (default) reads the Person elements straight into
  dicts of wire text; ``zeep`` deserializes through the WSDL types. Both yield the same dicts;
  the benchmark compares them.

Nothing here logs or raises with record content: fault strings from the server may echo an
ID number, so only fault codes reach exceptions and logs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.loader import parse_xml
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from adapters.contract import SourceUnavailable
from adapters.hukou.config import HukouConfig
from adapters.hukou.safety import origin, prolog_has_doctype, safe_settings, token

__all__ = [
    "PERSON_FIELDS",
    "HukouClient",
    "HukouFault",
    "Page",
    "UnsafeResponse",
]

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
#: The Person fields of the WSDL, in order; every decoded record carries all of them.
PERSON_FIELDS = (
    "idNumber",
    "name",
    "gender",
    "birthDate",
    "ethnicity",
    "registeredAddress",
    "householdNo",
    "relationToHead",
    "status",
    "updatedAt",
    "version",
)
_BODY = f"{{{SOAP_ENV}}}Body"
_FAULT = f"{{{SOAP_ENV}}}Fault"
_UNSAFE = (
    zeep.exceptions.DTDForbidden,
    zeep.exceptions.EntitiesForbidden,
    zeep.exceptions.ExternalReferenceForbidden,
)
_TRANSIENT_HTTP = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HukouFault(SourceUnavailable):
    """The service answered with a SOAP fault that retrying will not fix."""

    def __init__(self, operation: str, faultcode: str, code: str | None) -> None:
        detail = f" ({code})" if code else ""
        super().__init__(f"hukou {operation} refused: {faultcode}{detail}")
        self.operation = operation
        self.faultcode = faultcode
        self.code = code


class UnsafeResponse(SourceUnavailable):
    """A reply carried a DTD, entities or external references; it was not parsed."""


class _Transient(Exception):
    """A failure worth another attempt; the message names the kind, never the content."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Page:
    persons: list[dict[str, str | None]]
    next_token: str | None


class _QuietTransport(Transport):
    """zeep's Transport, minus its DEBUG logging of whole request and response bodies:
    those are ID numbers, names and addresses."""

    def post(self, address: str, message: bytes, headers: Mapping[str, str]) -> Any:
        return self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout
        )


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _person_dict(element: etree._Element, names: dict[str, str]) -> dict[str, str | None]:
    """Child elements by local name; ``names`` caches tag → local name across a page."""
    record: dict[str, str | None] = dict.fromkeys(PERSON_FIELDS)
    for child in element:
        tag = child.tag
        name = names.get(tag) if isinstance(tag, str) else ""
        if name is None:
            name = names[tag] = _local(tag)
        if name:
            record[name] = child.text
    return record


def _wire_text(value: Any) -> str | None:
    """A zeep-typed value back to the text the server sent (for ``decoder="zeep"``)."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class HukouClient:
    """One connection to the service: lazy WSDL load, retried calls, decoded pages."""

    def __init__(
        self,
        config: HukouConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._jitter = jitter
        self._session = requests.Session()
        self._transport = _QuietTransport(  # type: ignore[no-untyped-call]
            session=self._session, timeout=config.timeout_s, operation_timeout=config.timeout_s
        )
        self._settings = safe_settings()
        self._client: zeep.Client | None = None
        self._service: Any = None
        self.attempts = 0  # requests sent, retries included (tests and metrics read it)

    # -- public operations ---------------------------------------------------------------

    def query_changed(
        self,
        *,
        since: str | None = None,
        after_id: str | None = None,
        page_token: str | None = None,
        page_size: int | None = None,
    ) -> Page:
        """One page of the change feed after (since, after_id), or after ``page_token``."""
        params: dict[str, Any] = {"pageSize": page_size or self.config.page_size}
        if page_token:
            params["pageToken"] = page_token
        else:
            if since:
                params["since"] = since
            if after_id:
                params["afterId"] = after_id
        doc = self._call("QueryChangedPersons", params)
        if self.config.decoder == "zeep":
            result = self._zeep_decode("QueryChangedPersons", doc)
            persons = [self._zeep_person(p) for p in (result.person or [])]
            return Page(persons, result.nextPageToken or None)
        response = _response_element(doc, "QueryChangedPersons")
        ns = etree.QName(response).namespace
        prefix = f"{{{ns}}}" if ns else ""
        person_tag, token_tag = f"{prefix}person", f"{prefix}nextPageToken"
        names: dict[str, str] = {}
        persons = [_person_dict(p, names) for p in response.iterchildren(person_tag)]
        token = response.findtext(token_tag)
        return Page(persons, token.strip() if token and token.strip() else None)

    def get_person(self, id_number: str) -> dict[str, str | None] | None:
        """The person with this ID number, or None when the service does not know it."""
        try:
            doc = self._call("GetPersonByIdNumber", {"idNumber": id_number})
        except HukouFault as fault:
            if fault.code == "NOT_FOUND":
                return None
            raise
        if self.config.decoder == "zeep":
            return self._zeep_person(self._zeep_decode("GetPersonByIdNumber", doc))
        reply = _response_element(doc, "GetPersonByIdNumber")
        person = next(reply.iterchildren(etree.Element), None)
        return None if person is None else _person_dict(person, {})

    def ping(self) -> None:
        """The cheapest authenticated call: an empty page from the far future."""
        self.query_changed(since="9999-12-31T00:00:00+08:00", page_size=1)

    def close(self) -> None:
        self._session.close()

    # -- the one retry loop --------------------------------------------------------------

    def _call(self, operation: str, params: Mapping[str, Any]) -> etree._Element:
        attempts = self.config.max_retries + 1
        last: _Transient | None = None
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._delay(attempt, last))
            try:
                service = self._ensure_service()
                self.attempts += 1
                response = getattr(service, operation)(**params)
                return self._check(operation, response)
            except _Transient as exc:
                last = exc
            except _TRANSIENT_HTTP as exc:
                last = _Transient(type(exc).__name__)
            log.warning(
                "hukou %s failed (%s), attempt %d of %d", operation, last, attempt + 1, attempts
            )
        raise SourceUnavailable(f"hukou {operation}: {last} after {attempts} attempt(s)")

    def _delay(self, attempt: int, last: _Transient | None) -> float:
        cap = self.config.max_backoff_s
        delay = min(cap, self.config.backoff_s * 2.0 ** (attempt - 1)) * self._jitter()
        if last is not None and last.retry_after is not None:
            delay = max(delay, min(cap, last.retry_after))
        return delay

    def _ensure_service(self) -> Any:
        if self._service is not None:
            return self._service
        try:
            client = zeep.Client(  # type: ignore[no-untyped-call]
                self.config.wsdl_url,
                transport=self._transport,
                settings=self._settings,
                wsse=UsernameToken(  # type: ignore[no-untyped-call]
                    self.config.username,
                    self.config.password.get_secret_value(),
                    use_digest=self.config.password_digest,
                ),
            )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status in (408, 429):
                raise _Transient(f"WSDL: HTTP {status}") from None
            raise SourceUnavailable(f"hukou WSDL could not be loaded: HTTP {status}") from None
        except _UNSAFE as exc:
            raise UnsafeResponse(f"hukou WSDL refused: {type(exc).__name__}") from None
        except zeep.exceptions.XMLSyntaxError:
            raise _Transient("WSDL: malformed XML") from None
        except zeep.exceptions.Error as exc:
            raise SourceUnavailable(f"hukou WSDL is not usable: {type(exc).__name__}") from None
        if self.config.service_url:
            binding = next(iter(client.wsdl.bindings))
            self._service = client.create_service(  # type: ignore[no-untyped-call]
                binding, self.config.service_url
            )
        else:
            service = client.service
            address = str(service._binding_options.get("address") or "")
            if origin(address) != origin(self.config.wsdl_url):
                # zeep would send the WS-Security token wherever the WSDL points.
                raise SourceUnavailable(
                    "hukou WSDL names a service on another host; set service_url to trust it"
                )
            self._service = service
        self._client = client
        return self._service

    def _check(self, operation: str, response: requests.Response) -> etree._Element:
        """The reply's SOAP envelope, or the exception that says what to do about it."""
        status = response.status_code
        is_xml = "xml" in response.headers.get("Content-Type", "").lower()
        if status in (408, 429) or (status >= 500 and not is_xml):
            raise _Transient(f"HTTP {status}", _retry_after(response))
        if status not in (200, 500):
            raise SourceUnavailable(f"hukou {operation}: unexpected HTTP {status}")
        content = response.content
        if prolog_has_doctype(content):
            raise _unsafe(operation, "DTDForbidden")
        try:
            # zeep annotates ``content`` as str; lxml wants the bytes, encoding declaration
            # and all.
            doc = parse_xml(content, self._transport, settings=self._settings)  # type: ignore[arg-type]
        except _UNSAFE as exc:
            raise _unsafe(operation, type(exc).__name__) from None
        except zeep.exceptions.XMLSyntaxError as exc:
            if "entit" in str(exc.message).lower():  # libxml2 stopped an expansion
                raise _unsafe(operation, "EntitiesForbidden") from None
            raise _Transient(f"HTTP {status} with malformed or truncated XML") from None
        fault = doc.find(f"{_BODY}/{_FAULT}")
        if fault is not None:
            faultcode = token(fault.findtext("faultcode")) or ""
            code = token(
                next((el.text for el in fault.iter() if _local(el.tag) == "code" and el.text), None)
            )
            if faultcode.rpartition(":")[2] in ("Server", "Receiver"):
                raise _Transient(f"soap:Server fault ({code or 'no code'})")
            raise HukouFault(operation, faultcode or "fault without code", code)
        if status != 200:
            raise _Transient(f"HTTP {status} without a SOAP fault")
        return doc

    # -- zeep decoding -------------------------------------------------------------------

    def _zeep_decode(self, operation: str, doc: etree._Element) -> Any:
        try:
            return self._service._binding.get(operation).process_reply(doc)
        except (zeep.exceptions.Error, ValueError, TypeError) as exc:
            raise SourceUnavailable(
                f"hukou {operation}: reply does not match the WSDL ({type(exc).__name__})"
            ) from None

    @staticmethod
    def _zeep_person(obj: Any) -> dict[str, str | None]:
        return {name: _wire_text(getattr(obj, name, None)) for name in PERSON_FIELDS}


def _response_element(doc: etree._Element, operation: str) -> etree._Element:
    body = doc.find(_BODY)
    element = None if body is None else next(body.iterchildren(etree.Element), None)
    if element is None or _local(element.tag) != f"{operation}Response":
        raise SourceUnavailable(f"hukou {operation}: the reply is not a {operation}Response")
    return element


def _unsafe(operation: str, what: str) -> UnsafeResponse:
    return UnsafeResponse(
        f"hukou {operation}: refused a reply with {what} (SOAP forbids DTDs; entity expansion "
        "and external references are never allowed)"
    )


def _retry_after(response: requests.Response) -> float | None:
    value = str(response.headers.get("Retry-After") or "")
    try:
        return float(value) if value else None
    except ValueError:
        return None
