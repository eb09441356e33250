"""``/api/v1/tasks``: the caller's inbox, one task, transitions and feedback with photos.

Photos are checked by their bytes, not by the declared type: a file is accepted only when
its signature is JPEG, PNG or WebP *and* matches what the client declared. They are stored by
sha256 (``workflow.attachments.PhotoStore``), so a photo is tamper-evident and stored once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.config import DEFAULT_TASK_PAGE, MAX_TASK_PAGE
from api.deps import CallerAccess, DbSession, HubDep
from api.errors import NotFound, PayloadTooLarge, UnsupportedMedia
from api.problems import problem_responses
from api.routes import respond
from api.routes.persons import UID_PATTERN
from api.tasks import TaskAction, TaskListView, Transition, get_task, list_tasks, transition
from api.views import TaskPage, TaskView
from canonical_model import TaskState
from workflow.attachments import Photo

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
TaskUid = Annotated[str, Path(pattern=UID_PATTERN, description="The task's uid (ULID).")]
SHA256 = "^[0-9a-f]{64}$"


class TransitionBody(BaseModel):
    """One act on a task. Which fields matter depends on ``action``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "reject", "start", "complete", "close", "escalate", "reassign"]
    reason: str | None = Field(default=None, max_length=2000, description="reject, escalate")
    rating: int | None = Field(default=None, ge=1, le=5, description="close: 1–5 stars")
    reassign_to: str | None = Field(default=None, max_length=80, description="reassign")
    result: Literal["resolved", "unresolved", "referred", "no_action_needed"] | None = Field(
        default=None, description="complete"
    )
    notes: str | None = Field(default=None, max_length=4000, description="complete")
    expected_version: int | None = Field(
        default=None, ge=1, description="Refuse (409) if the task changed since you read it."
    )


@router.get(
    "",
    name="task.list",
    operation_id="listTasks",
    summary="The caller's inbox (or every task in their grid units)",
    response_model=TaskPage,
    responses=problem_responses(401, 403, 422),
)
def tasks(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    view: Annotated[TaskListView, Query(description="inbox, grids or requested")] = (
        TaskListView.INBOX
    ),
    state: Annotated[
        list[TaskState] | None,
        Query(description="Only these states (repeatable); default: the open ones."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TASK_PAGE)] = DEFAULT_TASK_PAGE,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    return respond(
        list_tasks(
            session, hub.policy, access, view=view, states=state or (), limit=limit, cursor=cursor
        )
    )


@router.get(
    "/{uid}",
    name="task.get",
    operation_id="getTask",
    summary="One task with its history",
    response_model=TaskView,
    responses=problem_responses(401, 403, 404, 422),
)
def task(session: DbSession, hub: HubDep, access: CallerAccess, uid: TaskUid) -> Response:
    return respond(get_task(session, hub.policy, access, uid))


@router.post(
    "/{uid}/transitions",
    name="task.transition",
    operation_id="transitionTask",
    summary="Accept, reject, start, complete, close, escalate or reassign a task",
    response_model=TaskView,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def transition_task(
    session: DbSession, hub: HubDep, access: CallerAccess, uid: TaskUid, body: TransitionBody
) -> Response:
    """409 when the state does not allow the action or ``expected_version`` is stale."""
    change = Transition(
        action=TaskAction(body.action),
        reason=body.reason,
        rating=body.rating,
        reassign_to=body.reassign_to,
        result=body.result,
        notes=body.notes,
        expected_version=body.expected_version,
    )
    return respond(transition(session, hub.policy, access, uid, change, photos=hub.photos))


@router.post(
    "/{uid}/feedback",
    name="task.feedback",
    operation_id="completeTaskWithFeedback",
    summary="Complete a task with the result, notes, location and photos (multipart)",
    response_model=TaskView,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422),
)
def feedback(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    uid: TaskUid,
    result: Annotated[Literal["resolved", "unresolved", "referred", "no_action_needed"], Form()],
    notes: Annotated[str | None, Form(max_length=4000)] = None,
    latitude: Annotated[float | None, Form(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Form(ge=-180, le=180)] = None,
    expected_version: Annotated[int | None, Form(ge=1)] = None,
    photos: Annotated[
        list[UploadFile] | None,
        File(description="JPEG, PNG or WebP; limits per photo and per request apply."),
    ] = None,
) -> Response:
    config = hub.config
    files = photos or []
    if len(files) > config.max_photos:
        raise PayloadTooLarge(f"at most {config.max_photos} photos per feedback")
    taken = [_photo(f, config.max_photo_bytes, config.photo_types) for f in files]
    location = (latitude, longitude) if latitude is not None and longitude is not None else None
    change = Transition(
        action=TaskAction.COMPLETE,
        result=result,
        notes=notes,
        location=location,
        photos=taken,
        expected_version=expected_version,
    )
    return respond(transition(session, hub.policy, access, uid, change, photos=hub.photos))


@router.get(
    "/{uid}/photos/{sha256}",
    name="task.photo",
    operation_id="getTaskPhoto",
    summary="A feedback photo of the task, by its sha256",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        **problem_responses(401, 403, 404, 422),
    },
)
def photo(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    uid: TaskUid,
    sha256: Annotated[str, Path(pattern=SHA256)],
) -> Response:
    view = get_task(session, hub.policy, access, uid)
    if sha256 not in view.photos:
        raise NotFound("no such photo on this task")
    try:
        data = hub.photos.get(sha256)
    except (OSError, ValueError):
        raise NotFound("the photo is not available") from None
    return Response(data, media_type=_sniff(data[:16]) or "application/octet-stream")


_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def _sniff(head: bytes) -> str | None:
    for magic, media_type in _SIGNATURES:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _photo(upload: UploadFile, max_bytes: int, allowed: tuple[str, ...]) -> Photo:
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"a photo may be at most {max_bytes} bytes")
    actual = _sniff(data[:16])
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if (
        actual is None
        or actual not in allowed
        or declared not in (actual, "", "application/octet-stream")
    ):
        raise UnsupportedMedia("photos must be JPEG, PNG or WebP, as declared")
    return Photo(data=data, media_type=actual)
