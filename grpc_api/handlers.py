"""From a proto service descriptor and a plain Python object to registered gRPC handlers.

Handlers are registered from the descriptors rather than through the generated
``add_*Servicer_to_server`` so that every method gets the same three things:

* **parsing that cannot crash**: a request that is not valid protobuf becomes a
  :class:`Malformed` stand-in (keeping the bytes), answered with INVALID_ARGUMENT — or, in the
  ingest stream, quarantined like any unreadable source record;
* **authentication first**: the ``authorization`` metadata is verified before the request is
  looked at; refusals are counted and logged without the token (``api.auth``);
* **one error mapping**: ``api.errors`` decides the status code, so REST and gRPC agree;
  anything unexpected is logged by type and frames only and answered INTERNAL.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from sqlalchemy.orm import Session

from api.auth import authenticate
from api.context import Hub
from api.errors import ApiError, InvalidRequest, TooManyStreams, translate
from api.policy import GRPC, Access
from api.problems import log_unexpected
from audit.buffered import LogUnavailable
from grpc_api.rpc import grpc
from identity import Principal

log = logging.getLogger("gridhub.grpc")
_READ_VERBS = ("Get", "Search", "List", "Subscribe")


@dataclass(frozen=True, slots=True)
class Malformed:
    """A request message that did not parse; ``data`` is what arrived."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated call: who, its metadata, and the gRPC context."""

    context: Any
    principal: Principal
    correlation_id: str
    purpose: str | None
    operation: str

    def access(self, hub: Hub, session: Session, *, reveal: bool = False) -> Access:
        return hub.policy.open(
            session,
            self.principal,
            channel=GRPC,
            correlation_id=self.correlation_id,
            operation=self.operation,
            purpose=self.purpose,
            reveal=reveal,
        )


def _parser(cls: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except Exception:  # DecodeError, or anything else the parser raises on garbage
            return Malformed(bytes(data))

    return parse


def _metadata(context: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str) and key not in found:
            found[key] = value
    return found


def _abort(context: Any, error: ApiError) -> None:
    context.abort(grpc.StatusCode[error.grpc_status], error.detail)


def _error_for(exc: Exception, correlation_id: str) -> ApiError:
    error = translate(exc)
    if error is None:
        log_unexpected(exc, correlation_id)
        return ApiError()
    return error


class Dispatcher:
    """Builds the handlers of one service around its implementation object.

    Streams take one of ``hub.config.grpc_streams`` slots for their life, authenticated
    first (an unauthenticated caller holds nothing), and run on ``stream_pool`` — a thread
    per slot, apart from the unary calls' (``grpc_api.server``) — when one is given.
    """

    def __init__(self, hub: Hub, *, stream_pool: ThreadPoolExecutor | None = None) -> None:
        self.hub = hub
        self._streams = threading.BoundedSemaphore(hub.config.grpc_streams)
        self.stream_pool = stream_pool

    @contextmanager
    def _stream_slot(self) -> Iterator[None]:
        if not self._streams.acquire(blocking=False):
            raise TooManyStreams()
        try:
            yield
        finally:
            self._streams.release()

    def _call(self, context: Any, operation: str) -> Call:
        rid = uuid.uuid4().hex
        context.set_trailing_metadata((("x-request-id", rid),))
        metadata = _metadata(context)
        principal = authenticate(
            self.hub,
            metadata.get("authorization"),
            channel=GRPC,
            where=operation,
            peer=context.peer() or "-",
        )
        purpose = metadata.get("purpose") or None
        return Call(context, principal, rid, purpose, operation)

    def _before_change(self) -> None:
        """Land the queued read entries first, so a read is chained before a later change."""
        reads = self.hub.policy.reads
        if reads is not None and reads.pending:
            reads.flush()

    def _not_sent(self, correlation_id: str) -> None:
        """A read failed after its entry was queued: the data did not leave, say so.

        The response is built only after ``fn`` returns, so an exception here means nothing
        was sent; the queued ``ok`` entry becomes ``not_sent`` (``BufferedAppender.amend_last``).
        A response that fails in transport after it was handed to gRPC stays ``ok``: it may
        have left, and the log errs on the side of a read. With durable read logs the entry is
        in the request's transaction: a failure before its commit rolls it back with the read.
        """
        reads = self.hub.policy.reads
        if reads is None:
            return
        try:
            reads.amend_last(correlation_id, "not_sent")
        except LogUnavailable:
            log.error("could not mark a failed read as not sent (read log unavailable)")

    def unary(
        self, operation: str, fn: Callable[[Any, Call], Any], *, changes: bool = False
    ) -> Callable[..., Any]:
        def handler(request: Any, context: Any) -> Any:
            rid = "-"
            started = False
            try:
                call = self._call(context, operation)
                rid = call.correlation_id
                if isinstance(request, Malformed):
                    raise _malformed()
                if changes:
                    self._before_change()
                started = True
                return fn(request, call)
            except Exception as exc:
                error = _error_for(exc, rid)
            if started and not changes:
                self._not_sent(rid)
            _abort(context, error)

        return handler

    def server_stream(
        self, operation: str, fn: Callable[[Any, Call], Iterator[Any]]
    ) -> Callable[..., Any]:
        def handler(request: Any, context: Any) -> Iterator[Any]:
            rid = "-"
            try:
                call = self._call(context, operation)
                rid = call.correlation_id
                if isinstance(request, Malformed):
                    raise _malformed()
                with self._stream_slot():
                    yield from fn(request, call)
                return
            except Exception as exc:
                error = _error_for(exc, rid)
            _abort(context, error)

        return handler

    def client_stream(
        self, operation: str, fn: Callable[[Iterator[Any], Call], Any]
    ) -> Callable[..., Any]:
        def handler(requests: Iterator[Any], context: Any) -> Any:
            rid = "-"
            try:
                call = self._call(context, operation)
                rid = call.correlation_id
                with self._stream_slot():
                    self._before_change()
                    return fn(requests, call)
            except Exception as exc:
                error = _error_for(exc, rid)
            _abort(context, error)

        return handler

    def _on_stream_pool(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        """grpcio runs a behavior carrying ``experimental_thread_pool`` on that pool instead of
        the server's (``grpc._server._select_thread_pool_for_behavior``; a grpcio without it
        ignores the attribute and runs the stream on the server's threads, as before)."""
        if self.stream_pool is not None:
            behavior.experimental_thread_pool = self.stream_pool  # type: ignore[attr-defined]
        return behavior

    def register(self, server: Any, service: ServiceDescriptor, impl: object) -> None:
        handlers: dict[str, Any] = {}
        for method in service.methods:
            request = _parser(GetMessageClass(method.input_type))
            respond = GetMessageClass(method.output_type).SerializeToString
            fn = getattr(impl, method.name)
            operation = f"{service.name}.{method.name}"
            if method.client_streaming and not method.server_streaming:
                handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                    self._on_stream_pool(self.client_stream(operation, fn)),
                    request_deserializer=request,
                    response_serializer=respond,
                )
            elif method.server_streaming and not method.client_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._on_stream_pool(self.server_stream(operation, fn)),
                    request_deserializer=request,
                    response_serializer=respond,
                )
            elif not method.client_streaming:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                    self.unary(operation, fn, changes=not method.name.startswith(_READ_VERBS)),
                    request_deserializer=request,
                    response_serializer=respond,
                )
            else:  # pragma: no cover - the contract has no bidirectional method
                raise NotImplementedError(f"{operation}: bidirectional streaming")
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service.full_name, handlers),)
        )


def _malformed() -> ApiError:
    return InvalidRequest("the request message could not be parsed", code="malformed_message")


__all__ = ["Call", "Dispatcher", "Malformed"]
