"""Fetch one unified person over gRPC, no grpcurl needed: ``python -m gridhub.demo.grpc_call``.

The token comes from ``$GRIDHUB_TOKEN`` (never the command line, where other local users
could read it); the answer is printed masked unless ``--reveal`` and a purpose the token
allows are given, exactly as the server's policy decides.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from google.protobuf.json_format import MessageToJson

    from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
    from grpc_api.rpc import grpc

    parser = argparse.ArgumentParser(prog="python -m gridhub.demo.grpc_call")
    parser.add_argument("uid", help="the person's uid")
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--purpose", default=None)
    parser.add_argument("--reveal", action="store_true")
    args = parser.parse_args(argv)
    token = os.environ.get("GRIDHUB_TOKEN", "")
    if not token:
        print("set GRIDHUB_TOKEN to a token from `gridhub identity issue-token`", file=sys.stderr)
        return 2
    metadata = [("authorization", f"Bearer {token}")]
    if args.purpose:
        metadata.append(("purpose", args.purpose))
    with grpc.insecure_channel(args.target) as channel:
        stub = person_pb2_grpc.PersonServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            person = stub.GetPerson(
                person_pb2.GetPersonRequest(uid=args.uid, reveal=args.reveal),
                metadata=metadata,
                timeout=10,
            )
        except grpc.RpcError as exc:
            print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(MessageToJson(person, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
