"""One router per resource; each is thin: parse, call the shared function, return the view.

Handlers return :func:`respond` responses: the model is already validated (it was built from
the views), so letting FastAPI validate it again against ``response_model`` would only cost
a thread hop and a second serialisation. ``response_model`` stays on every route for the
OpenAPI document.
"""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel


def respond(model: BaseModel) -> Response:
    return Response(model.model_dump_json().encode("utf-8"), media_type="application/json")


__all__ = ["respond"]
