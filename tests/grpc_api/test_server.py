"""The server around the services: health, reflection, garbage on the wire, TLS and mTLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import grpc
from api import Hub
from grpc_api import TlsFiles, build_server
from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
from tests.api.district import Seeded, Tokens, grpc_auth

SERVICES = {
    "gridhub.v1.PersonService",
    "gridhub.v1.EventService",
    "gridhub.v1.TaskService",
    "gridhub.v1.IngestService",
}


def test_health_checking_reports_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", *SERVICES):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request])))
    names = {s.name for s in response.list_services_response.service}
    assert names >= SERVICES | {"grpc.health.v1.Health"}
    files = reflection_pb2.ServerReflectionRequest(file_containing_symbol="gridhub.v1.Person")
    (described,) = list(stub.ServerReflectionInfo(iter([files])))
    assert described.file_descriptor_response.file_descriptor_proto


@pytest.mark.parametrize(
    "garbage", [b"\xff\xff\xff\xff", b"\x0a\xff", b"\x12\x05ab", b"\x00"], ids=str
)
def test_malformed_protobuf_is_invalid_argument_and_the_server_stays_up(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded, garbage: bytes
) -> None:
    unary = channel.unary_unary("/gridhub.v1.PersonService/GetPerson")
    with pytest.raises(grpc.RpcError) as info:
        unary(garbage, metadata=grpc_auth(tokens.w1), timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    streaming = channel.unary_stream("/gridhub.v1.EventService/SubscribeEvents")
    with pytest.raises(grpc.RpcError) as info:
        next(streaming(garbage, metadata=grpc_auth(tokens.w1), timeout=10))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    without_token = channel.unary_unary("/gridhub.v1.TaskService/GetTask")
    with pytest.raises(grpc.RpcError) as info:
        without_token(garbage, timeout=10)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    stub = person_pb2_grpc.PersonServiceStub(channel)
    alive = stub.GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1)
    )
    assert alive.uid == seeded.p1


# --- TLS and mutual TLS --------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: bytes
    client_key: bytes
    stranger_cert: bytes
    stranger_key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _cert("gridhub test CA", ca_key, ca=True)
    issuer = (ca.subject, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _cert("localhost", server_key, issuer, server=True)
    client = _cert("hotline", client_key, issuer)
    stranger = _cert("stranger", stranger_key)  # self-signed: not from our CA
    paths = {"ca.pem": ca, "server.pem": server}
    for name, cert in paths.items():
        (folder / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(_pem_key(server_key))
    pem = serialization.Encoding.PEM
    return Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=client.public_bytes(pem),
        client_key=_pem_key(client_key),
        stranger_cert=stranger.public_bytes(pem),
        stranger_key=_pem_key(stranger_key),
    )


@pytest.fixture
def mtls_port(hub: Hub, pki: Pki) -> Iterator[int]:
    running = build_server(
        hub,
        "127.0.0.1:0",
        tls=TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca),
        max_workers=4,
    )
    yield running.port
    running.stop(0)


def _get(port: int, credentials: grpc.ChannelCredentials, token: str, uid: str) -> str:
    with grpc.secure_channel(f"localhost:{port}", credentials) as ch:
        stub = person_pb2_grpc.PersonServiceStub(ch)
        person = stub.GetPerson(
            person_pb2.GetPersonRequest(uid=uid), metadata=grpc_auth(token), timeout=10
        )
        return str(person.uid)


def test_mutual_tls_accepts_our_clients_only(
    mtls_port: int, pki: Pki, tokens: Tokens, seeded: Seeded
) -> None:
    root = pki.ca.read_bytes()
    ours = grpc.ssl_channel_credentials(root, pki.client_key, pki.client_cert)
    assert _get(mtls_port, ours, tokens.hotline, seeded.p1) == seeded.p1
    for credentials in (
        grpc.ssl_channel_credentials(root),  # no client certificate
        grpc.ssl_channel_credentials(root, pki.stranger_key, pki.stranger_cert),
    ):
        with pytest.raises(grpc.RpcError) as info:
            _get(mtls_port, credentials, tokens.hotline, seeded.p1)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_tls_without_client_certificates(
    hub: Hub, pki: Pki, tokens: Tokens, seeded: Seeded
) -> None:
    running = build_server(hub, "127.0.0.1:0", tls=TlsFiles(pki.server_cert, pki.server_key))
    try:
        credentials = grpc.ssl_channel_credentials(pki.ca.read_bytes())
        assert _get(running.port, credentials, tokens.w1, seeded.p1) == seeded.p1
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as plain:
            stub = person_pb2_grpc.PersonServiceStub(plain)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetPerson(
                    person_pb2.GetPersonRequest(uid=seeded.p1),
                    metadata=grpc_auth(tokens.w1),
                    timeout=5,
                )
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(0)
