"""Hypothesis profiles for the corpus and fuzz tests, and the shared API/gRPC fixtures.

``ci`` is derandomized (the same examples every run, so a red CI build is reproducible on
any machine) and keeps no example database; ``dev`` explores afresh each run. Neither has a
deadline: a 2-core machine shared by several test runs makes per-example timing noise, and
speed belongs in ``bench/``. ``ci`` is the default (``make test`` and ``.ci/run`` set nothing);
``HYPOTHESIS_PROFILE=dev`` explores.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.api.fixtures import *  # noqa: F403  (REST/gRPC fixtures; defines `settings`)

hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")
