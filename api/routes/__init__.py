"""One router per resource; each is thin: parse, call the shared function, return the view.

Handlers return :func:`respond` responses: the model is already validated (it was built from
the views), so letting FastAPI validate it again against ``response_model`` would only cost
a thread hop and a second serialisation. ``response_model`` stays on every route for the
OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.policy import Access, Policy
from audit.buffered import LogUnavailable

log = logging.getLogger("gridhub.api")


def respond(model: BaseModel) -> Response:
    return Response(model.model_dump_json().encode("utf-8"), media_type="application/json")


def read_commit_respond(
    session: Session, policy: Policy, access: Access, read: Callable[[], BaseModel]
) -> Response:
    """Read, commit, serialise; a failure on the way marks the queued read entry ``not_sent``.

    The entry is queued as ``ok`` when the data is read (``Policy.record_read``), before the
    commit and the serialisation that could still fail (a lost connection is a 503): then the
    data never left, and the log must say so rather than record a read that did not happen.
    The amendment runs on this thread, the one that queued the entry
    (``BufferedAppender.amend_last`` is per thread). With durable read logs the entry is in
    this transaction and the failed commit takes it back with the read.
    """
    try:
        model = read()
        session.commit()
        return respond(model)
    except Exception:
        if policy.reads is not None:
            try:
                policy.reads.amend_last(access.correlation_id, "not_sent")
            except LogUnavailable:
                log.error("could not mark a failed read as not sent (read log unavailable)")
        raise


async def read_and_respond(
    session: Session, policy: Policy, access: Access, read: Callable[[], BaseModel]
) -> Response:
    """Run ``read``, commit and serialise in ONE worker-thread hop (async handlers only).

    A sync handler costs two hops: one for the handler, one for ``DbSession``'s commit. Here
    the commit happens in the read's hop, before anything is serialised, so the data still
    leaves only after its transaction ended well; ``DbSession`` then finds nothing to commit.
    """
    return await run_in_threadpool(read_commit_respond, session, policy, access, read)


__all__ = ["read_and_respond", "read_commit_respond", "respond"]
