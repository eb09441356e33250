"""Who serves the district: grid workers (网格员) and social organisations (社会组织).

The workflow dispatches tasks to these, so they are part of the same ground truth as the
residents: a grid's worker, an organisation's served communities, and their phones are
fixed by the seed like everything else.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from simulators.district.model import Gender, GridUnit, Organisation, Worker
from simulators.district.names import NameSampler
from simulators.district.numbers import PHONE_ORGANISATION, PHONE_WORKER, credit_code, mobile
from simulators.district.spec import PLACE_STEMS, DistrictSpec

__all__ = ["SERVICE_CATEGORIES", "build_organisations", "build_workers"]

#: The service categories organisations declare; workflow rules route tasks by them.
SERVICE_CATEGORIES: tuple[str, ...] = (
    "elder_care",
    "disability",
    "poverty_relief",
    "mental_health",
    "mediation",
    "youth",
    "community_service",
    "medical",
)

_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("社会工作服务中心", ("elder_care", "disability", "poverty_relief", "community_service")),
    ("居家养老服务中心", ("elder_care",)),
    ("助残服务社", ("disability",)),
    ("心理咨询服务中心", ("mental_health",)),
    ("人民调解服务社", ("mediation",)),
    ("青少年服务中心", ("youth",)),
    ("志愿者协会", ("community_service", "elder_care")),
    ("康复服务中心", ("disability", "medical")),
)


def build_workers(grids: Sequence[GridUnit], names: NameSampler, seed: int) -> list[Worker]:
    """One full-time worker per grid, and a part-time one in about half of them."""
    rng = random.Random(f"{seed}:workers")
    workers: list[Worker] = []
    for grid in grids:
        roles = ["专职网格员"] + (["兼职网格员"] if rng.random() < 0.5 else [])
        for k, role in enumerate(roles, 1):
            gender: Gender = "F" if rng.random() < 0.6 else "M"
            workers.append(
                Worker(
                    worker_id=f"WG{grid.code}{k}",
                    name=names.full(rng, gender, rng.randint(1970, 2000)),
                    gender=gender,
                    phone=mobile(PHONE_WORKER + len(workers), rng.randrange(64)),
                    grid_code=grid.code,
                    role=role,
                )
            )
    return workers


def build_organisations(
    spec: DistrictSpec,
    communities: Sequence[GridUnit],
    names: NameSampler,
    seed: int,
) -> list[Organisation]:
    """A handful of organisations, each serving a few communities; every category is
    offered somewhere so that no workflow rule is left without a provider."""
    rng = random.Random(f"{seed}:organisations")
    count = max(len(_KINDS), min(16, len(communities) // 4 + 4))
    stems = rng.sample(PLACE_STEMS, count)
    result: list[Organisation] = []
    for i in range(count):
        suffix, categories = _KINDS[i % len(_KINDS)]
        served = sorted(
            c.code for c in rng.sample(list(communities), min(len(communities), rng.randint(2, 8)))
        )
        result.append(
            Organisation(
                org_id=f"ORG{i + 1:03d}",
                name=f"{spec.city}{spec.district}{stems[i]}{suffix}",
                credit_code=credit_code(spec.region_code, i),
                categories=categories,
                communities=tuple(served),
                contact_name=names.full(rng, "F" if rng.random() < 0.5 else "M", 1975),
                phone=mobile(PHONE_ORGANISATION + i, rng.randrange(64)),
            )
        )
    return result
