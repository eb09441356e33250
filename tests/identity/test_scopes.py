"""Grid scopes: the covers rule, who sees which unit, which grants a role may hold."""

from __future__ import annotations

import pytest

from identity.errors import NotPermitted
from identity.grids import Level, covers, level_of
from identity.principal import Principal
from identity.roles import ROLE_PERMISSIONS, Permission, Role, validate_grids

DISTRICT = "330106"  # 杭州市西湖区
SUBDISTRICT = "330106001"
COMMUNITY = "330106001001"
GRID = "330106001001001"
SIBLING_GRID = "330106001001002"
OTHER_COMMUNITY = "330106001002"
OTHER_COMMUNITY_GRID = "330106001002001"
OTHER_DISTRICT_GRID = "330105001001001"


@pytest.mark.parametrize(
    ("scope", "target", "expected"),
    [
        pytest.param(GRID, GRID, True, id="unit-covers-itself"),
        pytest.param(COMMUNITY, GRID, True, id="community-covers-its-grid"),
        pytest.param(DISTRICT, GRID, True, id="district-covers-grid"),
        pytest.param(SUBDISTRICT, COMMUNITY, True, id="subdistrict-covers-community"),
        pytest.param(GRID, GRID + "001", True, id="grid-covers-micro-grid"),
        pytest.param(GRID, COMMUNITY, False, id="child-does-not-cover-parent"),
        pytest.param(COMMUNITY, OTHER_COMMUNITY_GRID, False, id="other-community"),
        pytest.param(GRID, SIBLING_GRID, False, id="sibling-grid"),
        pytest.param("33010600", SUBDISTRICT, False, id="off-boundary-scope-is-malformed"),
        pytest.param("3301060010", COMMUNITY, False, id="ten-digit-scope-is-malformed"),
        pytest.param(DISTRICT, "3301061", False, id="malformed-target"),
        pytest.param("", GRID, False, id="empty-scope"),
        pytest.param(COMMUNITY, GRID + " ", False, id="target-with-whitespace"),
        pytest.param("*", GRID, True, id="wildcard"),
        pytest.param("*", "not-a-code", False, id="wildcard-needs-well-formed-target"),
        pytest.param("３３０１０６", "３３０１０６００１", False, id="fullwidth-digits"),
    ],
)
def test_covers(scope: str, target: str, expected: bool) -> None:
    assert covers(scope, target) is expected


@pytest.mark.parametrize(
    ("code", "level"),
    [
        pytest.param(DISTRICT, Level.DISTRICT, id="district"),
        pytest.param(SUBDISTRICT, Level.SUBDISTRICT, id="subdistrict"),
        pytest.param(COMMUNITY, Level.COMMUNITY, id="community"),
        pytest.param(GRID, Level.GRID, id="grid"),
        pytest.param(GRID + "001", Level.MICRO_GRID, id="micro-grid"),
    ],
)
def test_level_of(code: str, level: Level) -> None:
    assert level_of(code) is level


def test_level_of_refuses_malformed_codes() -> None:
    with pytest.raises(ValueError, match="malformed"):
        level_of("33010600")


def _p(role: Role, *grids: str) -> Principal:
    return Principal(subject="s", role=role, grids=frozenset(grids))


@pytest.mark.parametrize(
    ("principal", "target", "visible"),
    [
        pytest.param(_p(Role.GRID_WORKER, GRID), GRID, True, id="worker-own-grid"),
        pytest.param(_p(Role.GRID_WORKER, GRID), SIBLING_GRID, False, id="worker-sibling-grid"),
        pytest.param(_p(Role.GRID_WORKER, GRID), COMMUNITY, False, id="worker-parent-community"),
        pytest.param(
            _p(Role.GRID_WORKER, GRID, SIBLING_GRID), SIBLING_GRID, True, id="worker-two-grids"
        ),
        pytest.param(_p(Role.COMMUNITY_ADMIN, COMMUNITY), GRID, True, id="admin-subtree-grid"),
        pytest.param(
            _p(Role.COMMUNITY_ADMIN, COMMUNITY), SIBLING_GRID, True, id="admin-subtree-other-grid"
        ),
        pytest.param(
            _p(Role.COMMUNITY_ADMIN, COMMUNITY), COMMUNITY, True, id="admin-community-itself"
        ),
        pytest.param(
            _p(Role.COMMUNITY_ADMIN, COMMUNITY),
            OTHER_COMMUNITY_GRID,
            False,
            id="admin-other-community",
        ),
        pytest.param(
            _p(Role.COMMUNITY_ADMIN, COMMUNITY), SUBDISTRICT, False, id="admin-parent-subdistrict"
        ),
        pytest.param(_p(Role.DISTRICT_IT), OTHER_DISTRICT_GRID, True, id="district-it-all"),
        pytest.param(_p(Role.AUDITOR), GRID, True, id="auditor-all"),
        pytest.param(_p(Role.PLATFORM, "*"), OTHER_DISTRICT_GRID, True, id="platform-wildcard"),
        pytest.param(_p(Role.PLATFORM, DISTRICT), GRID, True, id="platform-district-scope"),
        pytest.param(
            _p(Role.PLATFORM, DISTRICT), OTHER_DISTRICT_GRID, False, id="platform-other-district"
        ),
        pytest.param(_p(Role.PLATFORM), GRID, False, id="platform-without-grids-sees-nothing"),
        pytest.param(_p(Role.DISTRICT_IT), "garbage", False, id="malformed-target-hidden"),
    ],
)
def test_can_see(principal: Principal, target: str, visible: bool) -> None:
    assert principal.can_see(target) is visible


@pytest.mark.parametrize(
    ("role", "grids", "message"),
    [
        pytest.param(Role.GRID_WORKER, [], "at least one", id="worker-no-grid"),
        pytest.param(Role.GRID_WORKER, [COMMUNITY], "grid level", id="worker-community"),
        pytest.param(Role.GRID_WORKER, ["*"], "cannot hold", id="worker-wildcard"),
        pytest.param(Role.COMMUNITY_ADMIN, [SUBDISTRICT], "community level", id="admin-too-wide"),
        pytest.param(Role.COMMUNITY_ADMIN, [], "at least one", id="admin-no-community"),
        pytest.param(Role.DISTRICT_IT, [DISTRICT], "sees every grid", id="it-with-codes"),
        pytest.param(Role.AUDITOR, [GRID], "sees every grid", id="auditor-with-codes"),
        pytest.param(Role.PLATFORM, ["*", DISTRICT], "combined", id="platform-mixed"),
        pytest.param(Role.PLATFORM, ["33010"], "malformed", id="malformed"),
    ],
)
def test_grants_a_role_may_not_hold(role: Role, grids: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_grids(role, grids)
    with pytest.raises(ValueError, match=message):
        Principal(subject="s", role=role, grids=frozenset(grids))


@pytest.mark.parametrize(
    ("role", "grids"),
    [
        pytest.param(Role.GRID_WORKER, [GRID], id="worker-grid"),
        pytest.param(Role.GRID_WORKER, [GRID + "001"], id="worker-micro-grid"),
        pytest.param(Role.COMMUNITY_ADMIN, [COMMUNITY, OTHER_COMMUNITY], id="admin-two"),
        pytest.param(Role.COMMUNITY_ADMIN, [GRID], id="admin-single-grid"),
        pytest.param(Role.DISTRICT_IT, [], id="it-nothing"),
        pytest.param(Role.AUDITOR, ["*"], id="auditor-wildcard"),
        pytest.param(Role.PLATFORM, [], id="platform-nothing"),
        pytest.param(Role.PLATFORM, ["*"], id="platform-wildcard"),
        pytest.param(Role.PLATFORM, [DISTRICT, COMMUNITY], id="platform-codes"),
    ],
)
def test_grants_a_role_may_hold(role: Role, grids: list[str]) -> None:
    assert validate_grids(role, grids) == frozenset(grids)


@pytest.mark.parametrize(
    ("role", "permission", "granted"),
    [
        pytest.param(Role.GRID_WORKER, Permission.UNMASK_IDENTIFIERS, True, id="worker-unmask"),
        pytest.param(Role.GRID_WORKER, Permission.ADMIN, False, id="worker-admin"),
        pytest.param(Role.GRID_WORKER, Permission.READ_AUDIT, False, id="worker-audit"),
        pytest.param(Role.COMMUNITY_ADMIN, Permission.TRANSITION_TASK, True, id="admin-task"),
        pytest.param(Role.DISTRICT_IT, Permission.ADMIN, True, id="it-admin"),
        pytest.param(Role.DISTRICT_IT, Permission.UNMASK_IDENTIFIERS, False, id="it-no-unmask"),
        pytest.param(Role.AUDITOR, Permission.READ_AUDIT, True, id="auditor-audit"),
        pytest.param(Role.AUDITOR, Permission.UNMASK_IDENTIFIERS, False, id="auditor-no-unmask"),
        pytest.param(Role.AUDITOR, Permission.TRANSITION_TASK, False, id="auditor-read-only"),
        pytest.param(Role.PLATFORM, Permission.INGEST_RECORDS, True, id="platform-ingest"),
        pytest.param(Role.PLATFORM, Permission.ADMIN, False, id="platform-no-admin"),
    ],
)
def test_role_permissions(role: Role, permission: Permission, granted: bool) -> None:
    grids = {Role.GRID_WORKER: [GRID], Role.COMMUNITY_ADMIN: [COMMUNITY]}.get(role, [])
    principal = Principal(subject="s", role=role, grids=frozenset(grids))
    assert principal.has(permission) is granted
    if granted:
        principal.require(permission)
    else:
        with pytest.raises(NotPermitted) as caught:
            principal.require(permission)
        assert caught.value.code == "forbidden"


def test_every_role_has_a_permission_row() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert all(Permission.READ_PERSON in perms for perms in ROLE_PERMISSIONS.values())


def test_principal_is_frozen() -> None:
    principal = _p(Role.GRID_WORKER, GRID)
    with pytest.raises(AttributeError):
        principal.role = Role.DISTRICT_IT  # type: ignore[misc]
