"""A REST read's log entry tells what became of it: ``ok`` when served, ``not_sent`` when the
request failed after the data was read but before the response was built."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.routes
from api import Hub, create_app
from tests.api.district import Seeded, Settings, Tokens, bearer, logged_results


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        pytest.param("/api/v1/persons/{uid}", "person.get", id="fast-path"),
        pytest.param("/api/v1/persons/{uid}?reveal=false", "person.get", id="fastapi-route"),
        pytest.param("/api/v1/persons?q=张", "person.search", id="search"),
    ],
)
def test_a_read_that_fails_before_its_response_is_logged_not_sent(
    settings: Settings,
    hub: Hub,
    tokens: Tokens,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    operation: str,
) -> None:
    assert hub.policy.reads is not None  # the group-committing appender is what is tested
    url = path.format(uid=seeded.p1)
    with TestClient(create_app(settings, hub=hub), raise_server_exceptions=False) as client:
        assert client.get(url, headers=bearer(tokens.w1)).status_code == 200

        def broken(model: Any) -> Any:
            raise RuntimeError("serialisation failed")

        monkeypatch.setattr(api.routes, "respond", broken)
        failed = client.get(url, headers=bearer(tokens.w1))
        assert failed.status_code == 500
        monkeypatch.undo()
        assert client.get(url, headers=bearer(tokens.w1)).status_code == 200
    logged = logged_results(hub, operation)
    assert [result for result, _ in logged] == ["ok", "not_sent", "ok"]
    assert logged[1][1] == failed.headers["x-request-id"]  # the failed request's own entry
