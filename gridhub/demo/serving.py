"""The serving half of the demo: API, gRPC and the device bridge up, the loop turning, the
summary and the commands to paste — each server the same ``gridhub`` command a district runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from gridhub.demo.config import DemoConfig
from gridhub.demo.processes import Supervisor, wait_for_port
from gridhub.demo.sources import Sources
from gridhub.demo.summary import collect, dumps, render
from gridhub.settings import REPO_ROOT

__all__ = ["SERVED", "audit_verify", "final_summary", "serve"]

#: Ports only the serving half binds (``--no-serve`` does not need them free).
SERVED = frozenset({"api", "grpc", "bridge"})
_START_TIMEOUT_S = 120.0
_PURPOSE = "welfare_visit"


def _gridhub(
    config: DemoConfig, env: Mapping[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the venv's gridhub with our own arguments
        config.gridhub(*args), env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def audit_verify(config: DemoConfig, env: Mapping[str, str]) -> dict[str, Any]:
    """``gridhub audit verify`` as an auditor runs it: its exit code and its last line."""
    done = _gridhub(config, env, "audit", "verify")
    lines = (done.stdout.strip() or done.stderr.strip() or "(no output)").splitlines()
    return {"ok": done.returncode == 0, "code": done.returncode, "line": lines[-1][:300]}


def _token(config: DemoConfig, env: Mapping[str, str], grid: str, worker: str) -> str | None:
    done = _gridhub(
        config, env, "identity", "issue-token", "--role", "grid_worker", "--subject", worker,
        "--grid", grid, "--purpose", _PURPOSE, "--ttl", "8h",
    )  # fmt: skip
    return done.stdout.strip() or None if done.returncode == 0 else None


def commands(config: DemoConfig, showcase: Mapping[str, str] | None) -> list[str]:
    """Ready-to-paste commands (run from the repository, with the demo's environment)."""
    p = config.ports
    prefix = f"GRIDHUB_VAR_DIR={config.paths.root} GRIDHUB_DATABASE_URL={config.database_url}"
    grid = showcase["grid"] if showcase else "GRID_CODE"
    worker = showcase["worker"] if showcase else "WORKER_CODE"
    uid = showcase["uid"] if showcase else "PERSON_UID"
    return [
        f"export {prefix}",
        f"export GRIDHUB_TOKEN=$(.venv/bin/gridhub identity issue-token --role grid_worker "
        f"--subject {worker} --grid {grid} --purpose {_PURPOSE} --ttl 8h)",
        f'curl -s -H "Authorization: Bearer $GRIDHUB_TOKEN" '
        f"http://127.0.0.1:{p['api']}/api/v1/persons/{uid}",
        f".venv/bin/python -m gridhub.demo.grpc_call {uid} --target 127.0.0.1:{p['grpc']}",
        ".venv/bin/gridhub tasks list --state completed",
        ".venv/bin/gridhub audit verify",
    ]


def final_summary(
    config: DemoConfig,
    env: Mapping[str, str],
    sources: Sources,
    pipeline: Mapping[str, Any],
    started: float,
    serving_after: float | None = None,
) -> dict[str, Any]:
    summary = collect(config.database_url, sources.truth)
    summary["offered"] = sources.offered
    summary["pipeline"] = {
        step: {"state": e["state"], "seconds": round(float(e.get("seconds") or 0), 1)}
        for step, e in pipeline.items()
    }
    resolution = pipeline.get("identity_resolution", {}).get("results", {})
    summary["identity_resolution"] = next(iter(resolution.values()), None) if resolution else None
    summary["audit"] = audit_verify(config, env)
    summary["serving_after_s"] = serving_after
    summary["timings"] = {
        **sources.timings,
        **{f"airflow:{k}": v["seconds"] for k, v in summary["pipeline"].items()},
    }
    summary["elapsed_s"] = round(time.monotonic() - started, 1)
    config.paths.summary.write_text(dumps(summary), encoding="utf-8")
    return summary


def _trickle_lines(config: DemoConfig, seen: int) -> tuple[list[dict[str, Any]], int]:
    path = config.paths.root / "trickle.jsonl"
    if not path.exists():
        return [], seen
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[seen:]], len(lines)


def serve(
    config: DemoConfig,
    env: Mapping[str, str],
    sup: Supervisor,
    console: Console,
    sources: Sources,
    pipeline: Mapping[str, Any],
    started: float,
) -> int:
    p = config.ports
    api = sup.spawn("api", config.gridhub("serve", "api", "--port", str(p["api"])), env=env)
    grpc = sup.spawn("grpc", config.gridhub("serve", "grpc", "--port", str(p["grpc"])), env=env)
    bridge = sup.spawn(
        "device-bridge",
        config.gridhub(
            "device-bridge", "run", "--config", str(config.paths.devices / "bridge.json"),
            "--http-port", str(p["bridge"]),
        ),
        env=env,
    )  # fmt: skip
    for name, child in (("api", api), ("grpc", grpc), ("bridge", bridge)):
        wait_for_port(p[name], timeout=_START_TIMEOUT_S, what=child.name, alive=child.alive)
    serving_after = time.monotonic() - started
    console.print(
        f"[green]serving after {serving_after:.0f} s[/green]: REST 127.0.0.1:{p['api']}, "
        f"gRPC 127.0.0.1:{p['grpc']}, device bridge 127.0.0.1:{p['bridge']}"
    )
    sup.spawn(
        "trickle",
        [sys.executable, "-m", "gridhub.demo.trickle", "--every", str(config.trickle_every),
         "--events", str(config.paths.root / "trickle.jsonl")],
        env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    summary = final_summary(config, env, sources, pipeline, started, serving_after)
    console.print(render(summary))
    showcase = summary.get("showcase")
    token = _token(config, env, showcase["grid"], showcase["worker"]) if showcase else None
    console.print("\ntry (a token for the demo's grid worker, 8 h):")
    for line in commands(config, showcase):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    if token:
        (config.paths.root / "token.txt").write_text(token + "\n")
        console.print(f"  (a token is already in {config.paths.root / 'token.txt'})")
    config.paths.state.write_text(
        json.dumps(
            {"ports": p, "pids": {**sup.pids(), **sources.pids}, "bootstrap": config.bootstrap},
            indent=1,
        )
    )
    console.print("\nthe loop (Ctrl-C stops everything):")
    seen = 0
    deadline = None if config.duration is None else time.monotonic() + config.duration
    while deadline is None or time.monotonic() < deadline:
        sup.check()
        rounds, seen = _trickle_lines(config, seen)
        for r in rounds:
            console.print(_round_line(r), highlight=False)
        time.sleep(1.0)
    summary = final_summary(config, env, sources, pipeline, started, serving_after)
    console.print(render(summary))
    return 0 if summary["audit"]["ok"] else 1


def _round_line(r: Mapping[str, Any]) -> str:
    if r.get("state") != "success":
        return f"  round failed ({r.get('error')}); next round retries"
    relay = r.get("relay") or {}
    done = r.get("completed_task")
    return (
        f"  +{(r.get('hotline') or {}).get('received', 0)} calls, "
        f"events {sum((r.get('events') or {}).values())}, "
        + (f"task {done} completed by its grid worker, " if done else "")
        + f"relay {json.dumps(relay)} ({r.get('seconds')} s)"
    )
