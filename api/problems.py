"""RFC 7807 problem details: the only shape an error takes on the REST API.

A problem says what kind of failure it was (``type``, ``code``) and what to do about it
(``detail``) but never echoes input: validation errors keep the location and the rule, not
the value (a search string is often an ID number), and unexpected faults are logged by
exception type and stack frames only — messages of database errors can carry parameters.
``instance`` is ``urn:uuid:<request id>``, the same id as the exchange-log correlation id.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError, PayloadTooLarge, translate
from api.middleware import BodyTooLarge, request_id

log = logging.getLogger("gridhub.api")
PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    loc: list[str | int] = Field(description='Where: e.g. `["query", "q"]`.')
    msg: str = Field(description="What rule the value broke (the value is never echoed).")
    type: str


class Problem(BaseModel):
    """An RFC 7807 problem document (``application/problem+json``)."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="URI reference naming the problem type: `/problems/<code>`.")
    title: str
    status: int
    detail: str
    instance: str = Field(description="`urn:uuid:<request id>`; also the X-Request-ID header.")
    code: str = Field(description="Stable machine-readable code, e.g. `token_expired`.")
    errors: list[FieldError] | None = Field(
        default=None, description="Validation failures (422 only)."
    )


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    rid: str,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:uuid:{rid}" if rid else "urn:uuid:unknown",
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, code, title, detail, request_id(request.scope), errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _api_error(request: Request, error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="gridhub"'} if error.status == 401 else None
    return problem_response(
        request, error.status, error.problem_code, error.title, error.detail, headers=headers
    )


async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    error = translate(exc)
    if error is None:
        return await handle_unexpected(request, exc)
    return _api_error(request, error)


async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in exc.errors()
    ]
    return problem_response(
        request,
        422,
        "validation_error",
        "Invalid request",
        "the request failed validation",
        errors=errors,
    )


async def handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    title = _TITLES.get(status, "Error")
    code = title.lower().replace(" ", "_")
    # Starlette's own details ("Not Found", "Method Not Allowed") are generic; others may not be.
    return problem_response(request, status, code, title, title, headers=exc.headers)


async def handle_too_large(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        request, 413, "payload_too_large", "Payload too large", "the request body is too large"
    )


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log_unexpected(exc, request_id(request.scope))
    return problem_response(
        request, 500, "internal_error", "Internal error", "the request could not be completed"
    )


def log_unexpected(exc: BaseException, rid: str) -> None:
    """The exception's type and frames, never its message (it may hold query parameters)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, frames)


def problem_for(exc: Exception, rid: str) -> tuple[int, bytes]:
    """Status and body for an exception that escaped the app (used by the middleware)."""
    if isinstance(exc, BodyTooLarge):
        error: ApiError | None = PayloadTooLarge("the request body is too large")
    else:
        error = translate(exc)
    if error is None:
        log_unexpected(exc, rid)
        error = ApiError()
    body = problem_body(error.status, error.problem_code, error.title, error.detail, rid)
    return error.status, json.dumps(body).encode()


def install(app: FastAPI) -> None:
    from sqlalchemy.exc import OperationalError

    from identity.errors import IdentityError
    from workflow.errors import WorkflowError

    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(BodyTooLarge, handle_too_large)
    for kind in (ApiError, IdentityError, WorkflowError, OperationalError):
        app.add_exception_handler(kind, handle_api_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given statuses, each an ``application/problem+json``."""
    return {
        status: {
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


__all__ = [
    "PROBLEM_JSON",
    "FieldError",
    "Problem",
    "install",
    "log_unexpected",
    "problem_body",
    "problem_for",
    "problem_response",
    "problem_responses",
]
