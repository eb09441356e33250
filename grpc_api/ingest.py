"""IngestService: a platform pushes its source records through the adapters' sync engine.

The incoming client stream *is* the source: :class:`PushedStream` is an ordinary
``adapters.contract.Stream`` whose ``extract`` reads the gRPC request iterator, so records get
exactly what any adapter's get from ``adapters.engine.sync_stream`` — content-hash versions,
quarantine for what cannot be read (including messages that are not valid protobuf, kept
byte for byte), the platform's cursor committed with each checkpoint, and one exchange-log
entry per checkpoint under the platform's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from adapters.canonical import person_fields
from adapters.contract import (
    Adapter,
    Extracted,
    Flush,
    Mapped,
    RecordRejected,
    SourceUnavailable,
    Stream,
)
from adapters.engine import ConcurrentSyncError, sync_stream
from api.context import Hub
from api.errors import ApiError, Conflict, Forbidden, InvalidRequest
from api.policy import actor_name
from canonical_model import SyncState
from grpc_api import convert
from grpc_api.gen.gridhub.v1 import ingest_pb2
from grpc_api.handlers import Call, Malformed
from grpc_api.rpc import grpc
from identity import Permission

SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
STREAM = re.compile(r"[a-z][a-z0-9_]{0,59}")
MAX_RECORD_BYTES = 256 * 1024
MAX_KEY_CHARS = 200
PERSON_KEYS = (
    "name",
    "resident_id",
    "birth_date",
    "gender",
    "phone",
    "address",
    "registered_address",
    "household_no",
    "relation",
)


class Cancelled(ApiError):
    status, grpc_status, code = 499, "CANCELLED", "cancelled"
    title = "Cancelled by the client"


class PushedStream(Stream):
    """The records of one ``PushRecords`` call, in the order they arrive."""

    name: ClassVar[str] = "pushed"
    primary_key: ClassVar[tuple[str, ...]] = ("source_key",)
    cursor_field: ClassVar[str | None] = "position"

    def __init__(self, name: str, requests: Iterator[Any]) -> None:
        self.name = name  # type: ignore[misc]  # per instance: the platform names its stream
        self._requests = requests

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
        position = dict(cursor)
        while True:
            try:
                message = next(self._requests)
            except StopIteration:
                return
            except grpc.RpcError:
                raise SourceUnavailable("the client ended the stream early") from None
            if isinstance(message, Malformed):
                yield Extracted(raw=message.data, cursor=dict(position))
                continue
            if message.WhichOneof("item") != "record":
                yield Extracted(raw=message.SerializeToString(), cursor=dict(position))
                continue
            record = message.record
            if record.cursor:
                position = {"position": record.cursor}
            yield Extracted(
                raw=_body(record), cursor=dict(position), source_key=record.source_key or None
            )

    def map(self, item: Extracted) -> Mapped:
        raw = item.raw
        if isinstance(raw, bytes):
            raise RecordRejected(
                "schema.unparseable", "the record is neither a PushedRecord nor a JSON object"
            )
        key = item.source_key
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise RecordRejected("schema.source_key", "source_key must be 1 to 200 characters")
        if len(json.dumps(raw, ensure_ascii=False, default=str)) > MAX_RECORD_BYTES:
            raise RecordRejected("schema.too_large", "the record is larger than 256 KiB")
        if self.name != "persons":
            return Mapped(source_key=key, payload=raw, canonical={})
        fields = {k: raw.get(k) for k in PERSON_KEYS}
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RecordRejected("schema.tags", "tags must be a list of strings")
        canonical = person_fields(
            name=fields["name"],
            id_number=fields["resident_id"],
            birth_date=fields["birth_date"],
            gender=fields["gender"],
            phone=fields["phone"],
            address=fields["address"],
            registered_address=fields["registered_address"],
            household_no=fields["household_no"],
            relation=fields["relation"],
            tags=tags,
        )
        if not canonical["name"] and not canonical["resident_id"]:
            raise RecordRejected("identity.insufficient", "a person needs a name or a resident ID")
        return Mapped(source_key=key, payload=raw, canonical=canonical)


def _body(record: ingest_pb2.PushedRecord) -> Mapping[str, Any] | bytes:
    kind = record.WhichOneof("body")
    if kind == "payload":
        return convert.from_struct(record.payload)
    data = bytes(record.raw_json) if kind == "raw_json" else b""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # kept whole: quarantined as bytes
        return data
    return parsed if isinstance(parsed, dict) else data


class PushedSource(Adapter):
    """The platform as a source system; it is reachable for as long as it is pushing."""

    name: ClassVar[str] = "platform"

    def __init__(self, name: str, stream: PushedStream) -> None:
        self.name = name  # type: ignore[misc]
        self._stream = stream

    def streams(self) -> Sequence[Stream]:
        return (self._stream,)

    def check_connection(self) -> tuple[bool, str | None]:
        return True, None


class IngestService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _source(self, call: Call) -> str:
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            self.hub.policy.require(session, access, Permission.INGEST_RECORDS, call.operation)
        source = call.principal.subject
        if not SOURCE.fullmatch(source):
            raise Forbidden("this account's name cannot serve as a source name")
        return source

    def PushRecords(self, requests: Iterator[Any], call: Call) -> ingest_pb2.PushRecordsResponse:
        source = self._source(call)
        try:
            first = next(requests)
        except StopIteration:
            raise InvalidRequest("the stream must start with a header") from None
        if isinstance(first, Malformed) or first.WhichOneof("item") != "header":
            raise InvalidRequest("the stream must start with a header")
        header = first.header
        if not STREAM.fullmatch(header.stream):
            raise InvalidRequest("stream must match [a-z][a-z0-9_]{0,59}")
        every = header.checkpoint_every or 500
        if not 1 <= every <= 5000:
            raise InvalidRequest("checkpoint_every must be 0 to 5000")
        stream = PushedStream(header.stream, requests)
        try:
            report = sync_stream(
                PushedSource(source, stream),
                stream,
                self.hub.durable_sessions,
                checkpoint_every=every,
                actor=actor_name(call.principal.subject),
            )
        except ConcurrentSyncError:
            raise Conflict("another push to this stream is running; retry later") from None
        except SourceUnavailable:
            raise Cancelled("the stream ended early; records received before are stored") from None
        return ingest_pb2.PushRecordsResponse(
            source=report.source,
            stream=report.stream,
            batch_id=report.batch_id,
            received=report.received,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            quarantined=report.quarantined,
            checkpoints=report.checkpoints,
            cursor=str(report.cursor.get("position", "")),
        )

    def GetCursor(
        self, request: ingest_pb2.GetCursorRequest, call: Call
    ) -> ingest_pb2.GetCursorResponse:
        source = self._source(call)
        if not STREAM.fullmatch(request.stream):
            raise InvalidRequest("stream must match [a-z][a-z0-9_]{0,59}")
        with self.hub.sessions() as session:
            state = session.get(SyncState, (source, request.stream))
            if state is None:
                return ingest_pb2.GetCursorResponse()
            position = str((state.cursor or {}).get("position", ""))
            return ingest_pb2.GetCursorResponse(cursor=position, records_seen=state.records_seen)


__all__ = ["IngestService", "PushedSource", "PushedStream"]
