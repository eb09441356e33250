"""Load while a sync runs: ``python -m bench.load [--persons 100000] [--sync-persons 50000]``.

A PostgreSQL store holds a synthetic district (``bench.api.dataset``: persons, addresses,
source records, households, tasks). ``gridhub serve api`` and ``gridhub serve grpc`` serve
it, each a process of its own; a second process (``bench.load.client``) sends REST requests
(40 % ``GET /api/v1/persons/{uid}``, 60 % searches by ID, phone and name) and gRPC
``GetPerson`` calls at fixed rates, open loop, under ~100 grid workers' tokens. Three phases:

1. **sync alone** — ``gridhub sync hukou`` from the 户籍 SOAP simulator into the same store,
   servers up but idle: the sync's rate without load;
2. **load alone** — the request rates for ``--load-alone`` seconds, no sync (the servers are
   warmed up with ``--server-warmup`` seconds of load after they start, not counted);
3. **load during a sync** — the load starts, then a sync of a fresh register runs to its end;
   the figures count the requests scheduled while it ran.

Reports per protocol throughput, p50/p99 (from each request's scheduled time: stalls are not
hidden) and errors (must be 0 at the target rate), and the sync's rate with and without the
load. The default rates, 100 REST requests and 100 gRPC calls a second, are a district's
1,000 grid workers each asking once every 10 s, with another platform polling beside them.
Every phase is bounded in time and requests. Writes ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.api.dataset import Loaded, load, sample
from bench.load import hub, stats
from bench.load.client import Sample

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "load.json"
BAD_TOKEN = "not-a-token"
GRIDS_SAMPLED, PER_GRID = 100, 20


def _say(message: str) -> None:
    print(f"[load {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def requests_for(
    data: Loaded, var_dir: Path, bad_every: int
) -> tuple[list[list[str]], list[list[str]]]:
    """(REST path, token) and (gRPC uid, token) lists: each token asks only about its grid;
    with ``bad_every`` every so many entries carry an invalid token (errors to be counted)."""
    from urllib.parse import quote

    from identity import KeyRing, issue_token

    ring = KeyRing(var_dir / "keys", passphrase=hub.PASSPHRASE)
    rest: list[list[str]] = []
    rpc: list[list[str]] = []
    for n, grid in enumerate(sorted(data.samples)):
        token = issue_token(
            ring, subject=f"W{n:04d}", role="grid_worker", issuer="gridhub",
            audience="gridhub-api", grids=[grid], purposes=["welfare_visit"],
            ttl=timedelta(hours=6),
        )  # fmt: skip
        for uid, name, _pinyin, rid, phone, _road in data.samples[grid]:
            rpc.append([uid, token])
            rest += [[f"/api/v1/persons/{uid}", token]] * 2
            for q, by in ((rid, "resident_id"), (phone, "phone"), (name, "name")):
                rest.append([f"/api/v1/persons?q={quote(q)}&by={by}", token])
    rng = random.Random(5)
    rng.shuffle(rest)
    rng.shuffle(rpc)
    if bad_every:
        for items in (rest, rpc):
            for i in range(0, len(items), bad_every):
                items[i] = [items[i][0], BAD_TOKEN]
    return rest, rpc


def check(servers: hub.Servers, rest: list[list[str]], rpc: list[list[str]]) -> None:
    """The requests work before anything is timed (a refused token would measure nothing)."""
    import httpx

    from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
    from grpc_api.rpc import grpc

    path, token = next(r for r in rest if r[1] != BAD_TOKEN)
    reply = httpx.get(
        f"http://127.0.0.1:{servers.http_port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    if reply.status_code != 200:
        raise RuntimeError(f"REST check failed: HTTP {reply.status_code}")
    uid, token = next(r for r in rpc if r[1] != BAD_TOKEN)
    with grpc.insecure_channel(f"127.0.0.1:{servers.grpc_port}") as channel:
        stub = person_pb2_grpc.PersonServiceStub(channel)  # type: ignore[no-untyped-call]
        stub.GetPerson(
            person_pb2.GetPersonRequest(uid=uid),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=30,
        )


class Load:
    """The load process: started, ready, stopped with SIGINT, its samples read back."""

    def __init__(self, plan: dict[str, Any], folder: Path) -> None:
        self.plan_path, self.out = folder / "plan.json", folder / "samples.json"
        self.plan_path.write_text(json.dumps(plan), encoding="utf-8")
        self.out.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load.client", str(self.plan_path), str(self.out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError("the load process did not start")
        self.started = time.monotonic()
        self.limit_s = float(plan["duration_s"]) + float(plan["timeout_s"]) + 60

    def stop(self) -> list[Sample]:
        """SIGINT: it stops scheduling and lets what is in flight answer (or time out)."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self) -> list[Sample]:
        """Until it ends on its own bounds (duration, request count)."""
        self.proc.wait(timeout=self.limit_s)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the load process exited {self.proc.returncode}")
        return [tuple(s) for s in json.loads(self.out.read_text(encoding="utf-8"))]


def accounting(samples: list[Sample], plan: dict[str, Any]) -> dict[str, Any]:
    """Per protocol, over the whole phase: scheduled = ok + errors, and the errors planted
    with invalid tokens (the client cycles its list, so request i is entry i mod length)."""
    result: dict[str, Any] = {}
    for protocol, key in (("rest", "http_requests"), ("grpc", "grpc_requests")):
        mine = [s for s in samples if s[0] == protocol]
        entries = plan[key]
        planted = sum(1 for i in range(len(mine)) if entries[i % len(entries)][1] == BAD_TOKEN)
        result[protocol] = {
            "scheduled": len(mine),
            "ok": sum(1 for s in mine if s[5]),
            "errors": sum(1 for s in mine if not s[5]),
            "planted_errors": planted,
            "error_statuses": dict(Counter(s[4] for s in mine if not s[5])),
        }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.adapters.harness import machine, migrated
    from simulators.hukou import HukouSimulator
    from tests.support import postgres

    info = machine()
    phases: dict[str, Any] = {}
    postgres.ensure_running()
    with (
        postgres.temporary_database() as db,
        tempfile.TemporaryDirectory(prefix="bench-load-") as tmp,
    ):
        url = migrated(postgres.url_for(db))
        dsn = f"host={postgres.HOST} port={postgres.PORT} user={postgres.USER} dbname={db}"
        folder = Path(tmp)
        loaded = load(dsn, args.persons, progress=lambda m: _say(f"loaded {m}"))
        _say(f"district of {args.persons:,} persons loaded in {loaded.seconds:.0f} s")
        data = sample(dsn, GRIDS_SAMPLED, PER_GRID, random.Random(3))
        rest, rpc = requests_for(data, folder, args.bad_token_every)
        plan: dict[str, Any] = {
            "http_rate": args.rest_rate,
            "grpc_rate": args.grpc_rate,
            "http_requests": rest,
            "grpc_requests": rpc,
            "http_connections": args.connections,
            "timeout_s": args.timeout,
            "max_requests": args.max_requests,
        }
        env = hub.hub_env(url, folder)
        with hub.servers(env, folder, api_workers=args.workers, grpc_threads=16) as servers:
            plan |= {"http_port": servers.http_port, "grpc_port": servers.grpc_port}
            check(servers, rest, rpc)
            _say(f"warming the servers up: {args.server_warmup:.0f} s of load, not counted")
            Load(plan | {"duration_s": args.server_warmup}, folder).wait()
            for phase, seed in (("sync alone", 101), ("load during a sync", 202)):
                if phase == "load during a sync":
                    phases["load alone"] = load_alone(plan, args, servers, folder)
                _say(f"{phase}: a register of {args.sync_persons:,} persons (seed {seed})")
                with HukouSimulator(args.sync_persons, seed=seed, subprocess=True) as sim:
                    sync_env = hub.hub_env(
                        url, folder,
                        hukou={"wsdl_url": sim.wsdl_url, "username": sim.username,
                               "password": sim.password, "page_size": 1000},
                    )  # fmt: skip
                    if phase == "sync alone":
                        ran = hub.sync(
                            "hukou", sync_env, dsn, folder / "sync-alone.log", args.sync_timeout
                        )
                        phases[phase] = {"sync": ran.summary()}
                    else:
                        phases[phase] = during_sync(plan, args, servers, sync_env, dsn, folder)
                _say(f"{phase}: {json.dumps(phases[phase]['sync'])}")
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    settings = {k: v for k, v in plan.items() if not k.endswith(("_requests", "_port"))}
    settings |= {"persons": args.persons, "sync_persons": args.sync_persons,
                 "api_workers": args.workers, "bad_token_every": args.bad_token_every}  # fmt: skip
    return {
        "benchmark": "load while a sync runs (REST + gRPC on PostgreSQL, 户籍 sync)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "settings": settings,
        "phases": phases,
        "figures": figures(phases, args),
    }


def load_alone(
    plan: dict[str, Any], args: argparse.Namespace, servers: hub.Servers, folder: Path
) -> dict[str, Any]:
    """The rates for ``--warmup`` + ``--load-alone`` seconds; the warm-up is not counted."""
    _say(f"load alone: {args.load_alone:.0f} s after {args.warmup:.0f} s of warm-up")
    phase_plan = plan | {"duration_s": args.warmup + args.load_alone}
    cpu = servers.cpu()
    samples = Load(phase_plan, folder).wait()
    start = min((s[1] for s in samples), default=0.0) + args.warmup
    return summarise(samples, phase_plan, start, start + args.load_alone, cpu, servers.cpu())


def during_sync(
    plan: dict[str, Any],
    args: argparse.Namespace,
    servers: hub.Servers,
    env: dict[str, str],
    dsn: str,
    folder: Path,
) -> dict[str, Any]:
    phase_plan = plan | {"duration_s": args.sync_timeout}
    cpu = servers.cpu()
    load_proc = Load(phase_plan, folder)
    time.sleep(args.warmup)
    ran = hub.sync("hukou", env, dsn, folder / "sync-under-load.log", args.sync_timeout)
    samples = load_proc.stop()
    result = summarise(samples, phase_plan, ran.started, ran.ended, cpu, servers.cpu())
    result["sync"] = ran.summary()
    return result


Cpu = tuple[float, frozenset[int]]


def summarise(
    samples: list[Sample], plan: dict[str, Any], start: float, end: float, before: Cpu, after: Cpu
) -> dict[str, Any]:
    counted = accounting(samples, plan)
    total = sum(c["scheduled"] for c in counted.values())
    same = before[1] == after[1]
    return {
        "rest": stats.window(samples, "rest", start, end, plan["http_rate"]),
        "grpc": stats.window(samples, "grpc", start, end, plan["grpc_rate"]),
        "accounting": counted,
        # None when a server process was replaced meanwhile: its CPU went with it.
        "server_cpu_ms_per_request": round((after[0] - before[0]) / max(1, total) * 1000, 3)
        if same
        else None,
        "server_processes_replaced": not same,
    }


def _row(name: str, unit: str, value: float | None, size: str, **extra: Any) -> dict[str, Any]:
    return {"figure": name, "unit": unit, "value": value, "data_size": size, **extra}


def figures(phases: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    size = f"{args.persons:,} persons; sync of {args.sync_persons:,}"
    rows: list[dict[str, Any]] = []
    for phase in ("load during a sync", "load alone"):
        where = "during a sync" if phase == "load during a sync" else "alone"
        for protocol, label in (("rest", "REST"), ("grpc", "gRPC")):
            w = phases[phase][protocol]
            rate = f"{w['offered_rate']:g}/s offered"
            rows += [
                _row(f"{label} throughput, load {where}", "requests/s", w["throughput"], size,
                     offered_rate=w["offered_rate"]),
                _row(f"{label} p50, load {where}", "ms", w["p50_ms"], size, rate=rate),
                _row(f"{label} p99, load {where}", "ms", w["p99_ms"], size, rate=rate,
                     max_send_lag_ms=w["max_send_lag_ms"]),
            ]  # fmt: skip
    during = phases["load during a sync"]
    errors = during["rest"]["errors"] + during["grpc"]["errors"]
    rows.append(
        _row("errors, load during a sync", "requests", errors, size, target="0", met=errors == 0,
             statuses={**during["rest"]["error_statuses"], **during["grpc"]["error_statuses"]})
    )  # fmt: skip
    alone = phases["sync alone"]["sync"]
    loaded = during["sync"]
    for label, s in (("alone", alone), ("under load", loaded)):
        rows.append(
            _row(f"hukou sync rate into PostgreSQL, {label}", "records/s",
                 s["rate_first_to_last_checkpoint"], size,
                 whole_process=s["rate_whole_process"], cpu_us_per_record=s["cpu_us_per_record"])
        )  # fmt: skip
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = ["| figure | value | unit |", "| --- | ---: | --- |"]
    lines += [f"| {f['figure']} | {f['value']} | {f['unit']} |" for f in result["figures"]]
    m = result["machine"]
    lines += ["", f"{m['cores']} cores, load {m['load_average_at_start'][0]} at start, "
              f"{m['load_average_at_end'][0]} at end; {result['date']}"]  # fmt: skip
    return "\n".join(lines)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000, help="the district served")
    parser.add_argument("--sync-persons", type=int, default=50_000, help="each synced register")
    parser.add_argument("--rest-rate", type=float, default=100.0, help="REST requests/s")
    parser.add_argument("--grpc-rate", type=float, default=100.0, help="gRPC calls/s")
    parser.add_argument("--load-alone", type=float, default=15.0, help="seconds")
    parser.add_argument(
        "--server-warmup", type=float, default=5.0, help="load after start-up, not counted, s"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="load before the sync, s")
    parser.add_argument("--sync-timeout", type=float, default=600.0, help="each sync's bound, s")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per protocol")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, s")
    parser.add_argument("--connections", type=int, default=16, help="HTTP keep-alive pool")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--bad-token-every", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    # The report's runner stops a benchmark with SIGTERM to its process group; the servers,
    # the simulator and a sync run in sessions of their own, so they are stopped on the way
    # out (the ``with`` blocks), which Python's default SIGTERM would skip.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
