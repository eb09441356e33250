"""``/api/v1/persons``: search within the caller's grids, and the unified record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.config import DEFAULT_PAGE, MAX_PAGE, MAX_QUERY_CHARS
from api.deps import DbSession, HubDep, ReadAccess
from api.person_record import read_person
from api.person_search import SearchField, search_persons
from api.problems import problem_responses
from api.routes import read_and_respond
from api.views import PersonPage, PersonRecord

router = APIRouter(prefix="/api/v1/persons", tags=["persons"])
UID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"


@router.get(
    "",
    name="person.search",
    operation_id="searchPersons",
    summary="Search persons in the caller's grid units",
    response_model=PersonPage,
    responses=problem_responses(401, 403, 422),
)
async def search(
    session: DbSession,
    hub: HubDep,
    access: ReadAccess,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="A name (prefix), pinyin syllables (`zhang w`), a full resident ID, "
            "a full phone number, or an address fragment.",
        ),
    ],
    by: Annotated[
        SearchField, Query(description="What `q` is; `auto` guesses from its shape.")
    ] = SearchField.AUTO,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=256, description="From `next_cursor`.")] = None,
) -> Response:
    """Matches ordered by uid, identifiers masked unless revealed. Every search is logged
    (the uids shown and the kind of search, never the search string)."""
    return await read_and_respond(
        session,
        hub.policy,
        access,
        lambda: search_persons(
            session, hub.policy, access, q, field=by, limit=limit, cursor=cursor
        ),
    )


@router.get(
    "/{uid}",
    name="person.get",
    operation_id="getPerson",
    summary="The unified person record",
    response_model=PersonRecord,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_person(
    session: DbSession,
    hub: HubDep,
    access: ReadAccess,
    uid: Annotated[str, Path(pattern=UID_PATTERN, description="The person's uid (ULID).")],
) -> Response:
    """Golden fields with their lineage, household, a summary per source, tags, recent
    events and open tasks. 403 (and a logged attempt) outside the caller's grid units."""
    return await read_and_respond(
        session, hub.policy, access, lambda: read_person(session, hub.policy, access, uid)
    )
