"""The REST application: ``create_app(settings)`` builds it around one :class:`~api.context.Hub`.

The OpenAPI document is post-processed so it tells the truth about errors: every failure is
``application/problem+json`` with the ``Problem`` schema, including FastAPI's own 422s, whose
default schema (``HTTPValidationError``) is not what this API sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.config import ApiConfig, HubSettings
from api.context import Hub
from api.fast_path import PersonFastPath
from api.middleware import RequestContext
from api.problems import PROBLEM_JSON, FieldError, Problem, install
from api.routes import audit, events, persons, stats, system, tasks

DESCRIPTION = """\
The unified query API of gridhub for grid workers (网格员) and auditors.

* **Authentication**: `Authorization: Bearer <JWT>`; the token names the caller's role, grid
  units and the purposes it may declare.
* **Scope**: persons, events and tasks outside the caller's grid units are refused (403),
  and the attempt is logged.
* **Masking**: identifiers are masked by default. `reveal=true` with an `X-Purpose` header
  shows them in clear, if the role may unmask and the token lists the purpose.
* **Exchange log**: every read of personal data is logged (who, role, purpose, which
  persons, which fields) before its data is returned.
* **Errors**: RFC 7807 `application/problem+json` with a stable `code`.
"""

MAX_BODY = 64 * 1024
"""JSON bodies are small (a transition); only feedback uploads get the large cap."""


def create_app(
    settings: HubSettings,
    config: ApiConfig | None = None,
    *,
    hub: Hub | None = None,
    sessions: sessionmaker[Session] | None = None,
    log_reads: bool = True,
) -> FastAPI:
    """The app for ``settings``; ``hub``/``sessions`` let tests and benchmarks bring their own.

    ``log_reads=False`` exists only for the benchmark that measures what logging costs; the
    CLI never sets it.
    """
    owned = hub is None
    hub = hub or Hub.from_settings(settings, config, sessions=sessions, log_reads=log_reads)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:  # shutdown: commit the queued read entries before the process goes
            await run_in_threadpool(hub.close)

    app = FastAPI(
        lifespan=lifespan,
        title="gridhub API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.hub = hub
    install(app)
    for module in (persons, events, tasks, stats, audit, system):
        app.include_router(module.router)
    large = hub.config.max_photos * hub.config.max_photo_bytes + 64 * 1024
    app.add_middleware(PersonFastPath, fastapi=app)  # inside RequestContext (added last)
    app.add_middleware(
        RequestContext, max_body=MAX_BODY, large_body=large, large_body_paths=("/feedback",)
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["FieldError"] = FieldError.model_json_schema()
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem.pop("$defs", None)
    schemas["Problem"] = problem
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid request", "content": problem_content}
    return doc


__all__ = ["create_app"]
