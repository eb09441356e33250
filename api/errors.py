"""Refusals of the API layer, shared by REST and gRPC so both answer alike.

Each class fixes its HTTP status, its gRPC status and a stable ``code``; the REST layer turns
one into an RFC 7807 problem, the gRPC layer into ``context.abort``. ``detail`` texts are
written here or come from packages that promise not to carry personal data (``identity``,
``workflow``), so an error can be shown to a client as it is.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.exc import OperationalError

import workflow
from audit.buffered import LogUnavailable
from identity.errors import (
    AuthError,
    IdentityError,
    KeySourceUnavailable,
    NotPermitted,
    PurposeRequired,
    UnknownPurpose,
)


class ApiError(Exception):
    status: ClassVar[int] = 500
    grpc_status: ClassVar[str] = "INTERNAL"
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    default_detail: ClassVar[str] = "the request could not be completed"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.default_detail
        self.problem_code = code or self.code
        super().__init__(self.detail)


class Unauthenticated(ApiError):
    status, grpc_status, code = 401, "UNAUTHENTICATED", "unauthenticated"
    title = "Authentication required"
    default_detail = "a valid bearer token is required"


class Forbidden(ApiError):
    status, grpc_status, code = 403, "PERMISSION_DENIED", "forbidden"
    title = "Forbidden"
    default_detail = "the caller's role does not allow this"


class OutsideScope(Forbidden):
    code = "outside_scope"
    default_detail = "the record is outside the caller's grid units"


class PurposeNotAllowed(Forbidden):
    code = "purpose_not_allowed"
    default_detail = "the declared purpose is not granted to this token"


class RevealRefused(Forbidden):
    code = "reveal_refused"
    default_detail = "this token may not see identifiers in clear"


class InvalidRequest(ApiError):
    status, grpc_status, code = 422, "INVALID_ARGUMENT", "invalid_request"
    title = "Invalid request"
    default_detail = "the request is invalid"


class PurposeMissing(InvalidRequest):
    code = "purpose_required"
    title = "Purpose required"
    default_detail = "declare a purpose (X-Purpose header / purpose metadata) to reveal identifiers"


class PurposeUnknown(InvalidRequest):
    code = "unknown_purpose"
    default_detail = "the declared purpose is not in the purpose vocabulary"


class NotFound(ApiError):
    status, grpc_status, code = 404, "NOT_FOUND", "not_found"
    title = "Not found"
    default_detail = "no such resource"


class Conflict(ApiError):
    status, grpc_status, code = 409, "ABORTED", "conflict"
    title = "Conflict"
    default_detail = "the resource was changed by someone else; reload it and try again"


class StateConflict(ApiError):
    status, grpc_status, code = 409, "FAILED_PRECONDITION", "illegal_transition"
    title = "Not allowed in the current state"


class PayloadTooLarge(ApiError):
    status, grpc_status, code = 413, "INVALID_ARGUMENT", "payload_too_large"
    title = "Payload too large"


class UnsupportedMedia(ApiError):
    status, grpc_status, code = 415, "INVALID_ARGUMENT", "unsupported_media_type"
    title = "Unsupported media type"


class TooManyStreams(ApiError):
    status, grpc_status, code = 503, "RESOURCE_EXHAUSTED", "too_many_streams"
    title = "Too many open streams"
    default_detail = "this server process holds as many open streams as it may; retry with backoff"


class Unavailable(ApiError):
    status, grpc_status, code = 503, "UNAVAILABLE", "unavailable"
    title = "Service unavailable"
    default_detail = "a backing service is unavailable; retry later"


def translate(exc: BaseException) -> ApiError | None:
    """The ``ApiError`` for a refusal raised below the API, or None for a genuine fault."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, KeySourceUnavailable):
        return Unavailable()
    if isinstance(exc, LogUnavailable):  # no read is served that could not be logged
        return Unavailable("the exchange log cannot record reads at the moment; retry later")
    if isinstance(exc, AuthError):
        return Unauthenticated(str(exc), code=exc.code)
    if isinstance(exc, PurposeRequired):
        return PurposeMissing()
    if isinstance(exc, UnknownPurpose):
        return PurposeUnknown()
    if isinstance(exc, NotPermitted):
        return Forbidden()
    if isinstance(exc, IdentityError):
        return Forbidden(str(exc), code=exc.code)
    return _translate_workflow(exc)


def _translate_workflow(exc: BaseException) -> ApiError | None:
    # workflow's messages carry task uids, states and actor codes, never personal data.
    if isinstance(exc, workflow.TaskNotFound):
        return NotFound("no such task")
    if isinstance(exc, workflow.TaskConflict):
        return Conflict(str(exc))
    if isinstance(exc, workflow.IllegalTransition):
        return StateConflict(str(exc))
    if isinstance(exc, workflow.NotPermitted):
        return Forbidden(str(exc))
    if isinstance(exc, workflow.InvalidInput):
        return InvalidRequest(str(exc))
    if isinstance(exc, OperationalError):
        return Unavailable()
    return None


__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "OutsideScope",
    "PayloadTooLarge",
    "PurposeMissing",
    "PurposeNotAllowed",
    "PurposeUnknown",
    "RevealRefused",
    "StateConflict",
    "TooManyStreams",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMedia",
    "translate",
]
