"""The API benchmark's server is the deployed one: same uvicorn options, same frozen heap."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

import api
import gridhub.cli.serve as serve
import gridhub.settings
from bench.api import server


def test_the_benchmark_app_freezes_its_start_up_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the freeze every full collection of a served process took ~105 ms of CPU
    (153k start-up objects), a pause ``gridhub serve`` does not have."""
    calls: list[str] = []
    made = object()
    monkeypatch.setattr(gridhub.settings, "Settings", lambda: "settings")

    def create_app(*args: Any, **kwargs: Any) -> object:
        calls.append("create")
        return made

    monkeypatch.setattr(api, "create_app", create_app)
    monkeypatch.setattr(serve, "settle_heap", lambda: calls.append("settle"))
    assert server.make_app() is made
    assert calls == ["create", "settle"]


def _uvicorn_options(monkeypatch: pytest.MonkeyPatch, run: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    run()
    return seen


def test_the_benchmark_runs_uvicorn_as_the_cli_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    cli = _uvicorn_options(
        monkeypatch,
        lambda: serve.api(port=8123, workers=2, log_level="warning", host="127.0.0.1",
                          durable_read_logs=False, tls_cert=None, tls_key=None),
    )  # fmt: skip
    bench = _uvicorn_options(
        monkeypatch, lambda: server.main(["--http", "--port", "8123", "--workers", "2"])
    )
    assert cli.pop("app") == "gridhub.cli.serve:make_api"
    assert bench.pop("app") == "bench.api.server:make_app"
    assert cli == bench
    assert bench["workers"] == 2
    assert bench["access_log"] is False
    assert bench["factory"] is True


def test_one_benchmark_server_is_switched_between_logging_reads_and_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The logging benchmark's two sides are one process: its policy's flag follows the
    signals, and only when the benchmark asks for the switch."""
    policy = api.Policy(log_reads=True)
    app = SimpleNamespace(state=SimpleNamespace(hub=SimpleNamespace(policy=policy)))
    monkeypatch.setattr(gridhub.settings, "Settings", lambda: "settings")
    monkeypatch.setattr(api, "create_app", lambda *a, **k: app)
    monkeypatch.setattr(serve, "settle_heap", lambda: None)
    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    try:
        server.make_app()
        assert signal.getsignal(signal.SIGUSR1) == before[signal.SIGUSR1]  # not asked for
        monkeypatch.setenv("GRIDHUB_BENCH_LOG_SWITCH", "1")
        server.make_app()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert policy.log_reads is False
        os.kill(os.getpid(), signal.SIGUSR2)
        assert policy.log_reads is True
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
