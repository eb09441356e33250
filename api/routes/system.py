"""Unauthenticated endpoints for machines: public keys, liveness, readiness, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import HubDep
from api.errors import Unavailable
from api.problems import problem_responses
from api.views import Status

router = APIRouter(tags=["system"])


@router.get(
    "/.well-known/jwks.json",
    name="system.jwks",
    operation_id="getJwks",
    summary="The hub's public signing keys (RFC 7517)",
    responses={
        200: {
            "description": "JWKS document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **problem_responses(503),
    },
)
def jwks(hub: HubDep) -> JSONResponse:
    """Public members only; services verifying the hub's tokens cache it for five minutes."""
    try:
        document: dict[str, Any] = hub.ring.jwks()
    except Exception:
        raise Unavailable("the signing keys are not available") from None
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/healthz",
    name="system.healthz",
    operation_id="healthz",
    summary="Liveness: the process answers",
    response_model=Status,
)
def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    name="system.readyz",
    operation_id="readyz",
    summary="Readiness: the canonical store answers",
    response_model=Status,
    responses=problem_responses(503),
)
def readyz(hub: HubDep) -> Status:
    if not hub.ready():
        raise Unavailable("the canonical store is not reachable")
    return Status(status="ok")


@router.get(
    "/metrics",
    name="system.metrics",
    operation_id="metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
