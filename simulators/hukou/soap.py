"""SOAP 1.1 on the wire: parse a request safely, render responses and faults.

Requests are parsed with entity resolution, DTD loading and network access off, and a request
that carries a DOCTYPE at all is refused (SOAP 1.1 forbids DTDs in messages). Responses are
rendered from text templates: each person's fragment is rendered once per version and reused,
which is what lets one simulator feed a 100,000-record sync without becoming the bottleneck.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from xml.sax.saxutils import escape

from lxml import etree

from simulators.hukou.store import FIELDS, HukouPerson

__all__ = [
    "SOAP_ENV",
    "TNS",
    "SoapRequest",
    "SoapRequestError",
    "billion_laughs",
    "fault",
    "get_person_response",
    "parse_request",
    "query_response",
    "xxe",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://gridhub.example/hukou/v1"
MAX_REQUEST_BYTES = 1 << 20
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
_OPEN = f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:h="{TNS}"><soap:Body>'
_HEAD = _DECL + _OPEN
_TAIL = "</soap:Body></soap:Envelope>"


class SoapRequestError(Exception):
    """The request is not a SOAP request this service can read (a Client fault)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SoapRequest:
    """The parts of a request the service needs: the security header and the operation."""

    __slots__ = ("header", "operation", "params")

    def __init__(
        self, header: etree._Element | None, operation: str, params: dict[str, str | None]
    ) -> None:
        self.header = header
        self.operation = operation
        self.params = params


def parse_request(body: bytes) -> SoapRequest:
    if len(body) > MAX_REQUEST_BYTES:
        raise SoapRequestError("REQUEST_TOO_LARGE", "the request exceeds 1 MiB")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        raise SoapRequestError("MALFORMED_REQUEST", "the request is not well-formed XML") from None
    if root.getroottree().docinfo.doctype:
        raise SoapRequestError("DTD_FORBIDDEN", "a SOAP message must not contain a DTD")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapRequestError("NOT_SOAP", "the request is not a SOAP 1.1 envelope")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    op_el = None if body_el is None else next(iter(body_el.iterchildren(etree.Element)), None)
    if op_el is None:
        raise SoapRequestError("NOT_SOAP", "the SOAP body is empty")
    qname = etree.QName(op_el)
    if qname.namespace != TNS:
        raise SoapRequestError("UNKNOWN_OPERATION", "the operation is not in this service")
    params = {etree.QName(c).localname: c.text for c in op_el.iterchildren(etree.Element)}
    return SoapRequest(header, qname.localname, params)


def _text(value: str) -> str:
    return escape(_BAD_CHARS.sub("", value))


def _person(p: HukouPerson) -> bytes:
    """The person's fragment; cached on the record until its next version."""
    cached = p.xml
    if cached:
        return cached
    parts = ["<h:person>"]
    for name, value in zip(FIELDS, p.as_fields().values(), strict=True):
        if value is not None:
            parts.append(f"<h:{name}>{_text(value)}</h:{name}>")
    parts.append("</h:person>")
    p.xml = "".join(parts).encode("utf-8")
    return p.xml


def query_response(persons: Iterable[HukouPerson], next_token: str | None) -> bytes:
    out = [(_HEAD + "<h:QueryChangedPersonsResponse>").encode()]
    out.extend(_person(p) for p in persons)
    if next_token:
        out.append(f"<h:nextPageToken>{_text(next_token)}</h:nextPageToken>".encode())
    out.append(("</h:QueryChangedPersonsResponse>" + _TAIL).encode())
    return b"".join(out)


def get_person_response(p: HukouPerson) -> bytes:
    return b"".join(
        [
            (_HEAD + "<h:GetPersonByIdNumberResponse>").encode(),
            _person(p),
            ("</h:GetPersonByIdNumberResponse>" + _TAIL).encode(),
        ]
    )


def fault(faultcode: str, message: str, code: str) -> bytes:
    """A SOAP 1.1 fault; ``faultcode`` is a QName (``soap:Client``, ``wsse:…``)."""
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:h="{TNS}" xmlns:wsse="{wsse}">'
        "<soap:Body><soap:Fault>"
        f"<faultcode>{_text(faultcode)}</faultcode><faultstring>{_text(message)}</faultstring>"
        f"<detail><h:ServiceFault><h:code>{_text(code)}</h:code>"
        f"<h:message>{_text(message)}</h:message></h:ServiceFault></detail>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def xxe() -> bytes:
    """A response that would read a local file into a person's name if entities resolved."""
    return (
        _DECL
        + '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + _OPEN
        + "<h:QueryChangedPersonsResponse><h:person><h:idNumber>110101199003074514</h:idNumber>"
        "<h:name>&xxe;</h:name><h:gender>男</h:gender><h:householdNo>1</h:householdNo>"
        "<h:relationToHead>户主</h:relationToHead><h:status>正常</h:status>"
        "<h:updatedAt>2024-01-01T00:00:00.000000+08:00</h:updatedAt><h:version>1</h:version>"
        "</h:person></h:QueryChangedPersonsResponse>" + _TAIL
    ).encode()


def billion_laughs() -> bytes:
    """Nine levels of ten-fold entity expansion: 10⁹ copies of "lol" if a parser allowed it."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    return (
        _DECL
        + f"<!DOCTYPE soap:Envelope [{''.join(entities)}]>\n"
        + _OPEN
        + "<h:QueryChangedPersonsResponse><h:person><h:idNumber>&lol9;</h:idNumber>"
        "</h:person></h:QueryChangedPersonsResponse>" + _TAIL
    ).encode()
