"""``bench.load`` at a tiny size, and the arithmetic of its figures.

The end-to-end run plants invalid tokens in every fifth request entry, so that its errors are
known in advance: every request scheduled must come back answered or counted as an error,
the errors must be exactly the planted ones (401 / UNAUTHENTICATED — anything else, a
timeout or a 5xx, is a real failure under load), and both syncs must take in their whole
register. Nothing here is asserted on time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.load import stats
from bench.load.__main__ import BAD_TOKEN, accounting, main
from bench.load.client import Sample

PLANTED = {"401", "UNAUTHENTICATED"}


def test_quantiles_are_latencies_some_request_really_had() -> None:
    values = [float(v) for v in range(1, 101)]
    assert stats.quantile(values, 0.50) == 50.0
    assert stats.quantile(values, 0.99) == 99.0
    assert stats.quantile([3.0], 0.99) == 3.0
    assert stats.quantile([], 0.5) is None


def test_a_window_counts_what_was_scheduled_in_it_with_its_whole_latency() -> None:
    samples: list[Sample] = [
        ("rest", 0.5, 0.0, 0.010, "200", True),  # before the window
        ("rest", 1.0, 0.0, 0.020, "200", True),
        ("rest", 1.5, 0.2, 3.000, "200", True),  # answered after the window: still counted
        ("rest", 1.9, 0.0, None, "timeout", False),
        ("grpc", 1.2, 0.0, 0.005, "OK", True),  # another protocol
        ("rest", 2.0, 0.0, 0.010, "200", True),  # the window's end is open
    ]
    w = stats.window(samples, "rest", 1.0, 2.0, offered_rate=4.0)
    assert (w["scheduled"], w["ok"], w["errors"]) == (3, 2, 1)
    assert w["error_statuses"] == {"timeout": 1}
    assert w["throughput"] == 2.0
    assert w["p50_ms"] == 20.0
    assert w["p99_ms"] == 3000.0
    assert w["max_send_lag_ms"] == 200.0


def test_planted_errors_follow_the_clients_cycle_through_its_list() -> None:
    plan = {
        "http_requests": [["/a", BAD_TOKEN], ["/b", "t"], ["/c", "t"]],
        "grpc_requests": [["u", "t"]],
    }
    samples: list[Sample] = [("rest", float(i), 0.0, 0.01, "200", True) for i in range(7)]
    counted = accounting(samples, plan)
    assert counted["rest"]["planted_errors"] == 3  # entries 0, 3 and 6
    assert counted["grpc"] == {
        "scheduled": 0, "ok": 0, "errors": 0, "planted_errors": 0, "error_statuses": {}
    }  # fmt: skip


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_tiny_run_accounts_for_every_request_and_record(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    args = "--persons 500 --sync-persons 300 --rest-rate 5 --grpc-rate 5 --load-alone 2"
    args += " --warmup 1 --server-warmup 1 --workers 1 --timeout 30 --bad-token-every 5"
    assert main([*args.split(), "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    phases = result["phases"]
    for name in ("load alone", "load during a sync"):
        for protocol, counted in phases[name]["accounting"].items():
            assert counted["scheduled"] > 0, (name, protocol)
            assert counted["scheduled"] == counted["ok"] + counted["errors"], (name, protocol)
            assert counted["planted_errors"] > 0, (name, protocol)
            assert counted["errors"] == counted["planted_errors"], (name, protocol, counted)
            assert set(counted["error_statuses"]) <= PLANTED, counted
        for protocol in ("rest", "grpc"):
            window = phases[name][protocol]
            assert set(window["error_statuses"]) <= PLANTED, window["error_statuses"]
            assert window["scheduled"] == window["ok"] + window["errors"]
    for name in ("sync alone", "load during a sync"):
        assert phases[name]["sync"]["records"] == 300, name
        assert phases[name]["sync"]["returncode"] == 0
    figures = {f["figure"]: f for f in result["figures"]}
    during = phases["load during a sync"]
    errors = figures["errors, load during a sync"]
    assert errors["value"] == during["rest"]["errors"] + during["grpc"]["errors"] > 0
    assert errors["met"] is False  # planted errors are errors: the verdict must say so
    for protocol in ("REST", "gRPC"):
        assert figures[f"{protocol} p99, load during a sync"]["value"] > 0
        assert figures[f"{protocol} throughput, load during a sync"]["value"] > 0
