"""HTTP load from ``wrk`` (C, one epoll loop per thread) instead of the Python client.

On a 2-core machine the load generator competes with the server for CPU: the asyncio client
spends more per request than wrk does, so wrk leaves more of the machine to what is
measured. A Lua script walks the benchmark's (path, token) pairs — each thread from its own
offset — sets the bearer header per request, stops a thread at its share of the request
budget, and prints the figures as one JSON line in the same shape ``bench.api.client``
prints. Non-2xx answers are counted as errors by wrk itself.

wrk is a Debian package: :func:`ensure_wrk` installs it with apt-get when it is missing (as
``scripts/setup.sh`` does for the others); without apt, the Python client is the fallback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_SCRIPT = r"""
local plan = {
%s
}
local n = #plan
local limit = %d
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", (#threads * 7919) %% n)
  table.insert(threads, thread)
end

function init(args)
  i = offset
  done_here = 0
end

function request()
  i = i %% n + 1
  local item = plan[i]
  return wrk.format("GET", item[1], {["Authorization"] = "Bearer " .. item[2]})
end

function response(status, headers, body)
  done_here = done_here + 1
  if done_here >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    '{"requests": %%d, "errors": %%d, "seconds": %%.3f, "p50_ms": %%.3f, "p90_ms": %%.3f, ' ..
    '"p99_ms": %%.3f, "mean_ms": %%.3f, "status_errors": %%d}\n',
    summary.requests, errors, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000, e.status))
end
"""


def ensure_wrk() -> str | None:
    """The path of ``wrk``, installing the Debian package if needed; None if impossible."""
    found = shutil.which("wrk")
    if found or not shutil.which("apt-get"):
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run([*sudo, *command], env=env, capture_output=True, check=False)
        if done.returncode != 0 and command[1] == "install":
            return None
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(requests: list[Any], limit_per_thread: int) -> str:
    rows = ",\n".join(
        f"  {{{_lua_string(path)}, {_lua_string(token)}}}" for path, token in requests
    )
    return _SCRIPT % (rows, limit_per_thread)


def run_wrk(wrk: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Run one plan (port, requests, concurrency, duration, max_requests) through wrk."""
    concurrency = int(plan["concurrency"])
    threads = min(2, concurrency)  # two cores: more threads would only fight the server
    per_thread = max(1, int(plan["max_requests"]) // threads)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script(plan["requests"], per_thread))
    try:
        duration = max(1, round(float(plan["duration"])))
        out = subprocess.run(
            [
                wrk,
                "-t",
                str(threads),
                "-c",
                str(concurrency),
                "-d",
                f"{duration}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                f"http://127.0.0.1:{plan['port']}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    ok = result["requests"] - result["errors"]
    result["rps"] = round(ok / result["seconds"], 1) if result["seconds"] else 0.0
    result["statuses"] = {"non-2xx": result.pop("status_errors")}
    result["client"] = "wrk"
    return result


__all__ = ["ensure_wrk", "run_wrk", "script"]
