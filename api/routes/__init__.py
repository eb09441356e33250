"""One router per resource; each is thin: parse, call the shared function, return the view.

Handlers return :func:`respond` responses: the model is already validated (it was built from
the views), so letting FastAPI validate it again against ``response_model`` would only cost
a thread hop and a second serialisation. ``response_model`` stays on every route for the
OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool


def respond(model: BaseModel) -> Response:
    return Response(model.model_dump_json().encode("utf-8"), media_type="application/json")


async def read_and_respond(session: Session, read: Callable[[], BaseModel]) -> Response:
    """Run ``read``, commit and serialise in ONE worker-thread hop (async handlers only).

    A sync handler costs two hops: one for the handler, one for ``DbSession``'s commit. Here
    the commit happens in the read's hop, before anything is serialised, so the data still
    leaves only after its transaction ended well; ``DbSession`` then finds nothing to commit.
    """

    def work() -> Response:
        model = read()
        session.commit()
        return respond(model)

    return await run_in_threadpool(work)


__all__ = ["read_and_respond", "respond"]
