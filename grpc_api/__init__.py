"""grpc_api: the gRPC services of the ``gridhub.v1`` contract (``grpc/protos``).

Thin adapters over ``api`` — the same policy, read models and task operations as REST —
plus the server (TLS / mTLS, health checking, reflection). ``gen/`` holds the stubs made by
``scripts/gen_proto.py``; this package is not called ``grpc`` because that name is grpcio's.
"""

from grpc_api.server import RunningServer, TlsFiles, build_server

__all__ = ["RunningServer", "TlsFiles", "build_server"]
