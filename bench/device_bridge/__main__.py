"""``python -m bench.device_bridge``: alarm → assigned task latency, and 5,000 devices under load.

The bridge runs as the real service (``gridhub device-bridge run``) in its own process,
pinned to one core, against simulated OPC UA gateways in this process and the embedded
SQLite store. While ``--rate`` value changes per second flow from the gateways, alarms are
injected at random fall detectors and smoke alarms; each one's latency runs from the moment
the gateway latched it to the moment its task, assigned to a grid worker, is visible in the
store (polled every 5 ms). A second phase at ten times the rate, for half as long, shows
the headroom. The bridge's CPU is sampled each second; readings handled and their lag
(source time → judged) come from its own ``/metrics``. Writes
``bench/results/device_bridge.json`` and prints a Markdown table. The machine is shared:
the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.device_bridge.district import seed_store
from bench.device_bridge.load import Load, scrape, series_sum
from canonical_model.store import make_engine, session_factory, upgrade
from simulators.devices import build_estate, device_population, free_port
from simulators.district import District

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "device_bridge.json"


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


async def _bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    district = District(args.persons, args.seed)
    specs = device_population(district, gateways=args.gateways, limit=args.devices, seed=args.seed)
    people = seed_store(session_factory(engine), district, specs)
    engine.dispose()
    print(f"store: {len(specs)} devices, {people} people", file=sys.stderr)

    estate = build_estate(specs, "127.0.0.1", 1883)
    began = time.perf_counter()
    await estate.start()
    gateways_s = time.perf_counter() - began
    print(f"gateways: {len(estate.gateways)} up in {gateways_s:.0f} s", file=sys.stderr)
    port = free_port()
    config = folder / "bridge.json"
    config.write_text(
        json.dumps(
            {**estate.bridge_config("127.0.0.1", 1883), "http_port": port, "relay_interval_s": None}
        )
    )
    bridge = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridhub.cli.device_bridge import app; app()",
            "run",
            "--config",
            str(config),
            "--url",
            url,
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.DEVNULL,
    )
    proc = psutil.Process(bridge.pid)
    core = (os.cpu_count() or 1) - 1
    proc.cpu_affinity([core])
    try:
        started = time.perf_counter()
        ids = {g.id for g in estate.gateways}
        while True:
            await asyncio.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                if all(health["gateways"].get(g) for g in ids):
                    break
            except OSError:
                pass
            if bridge.poll() is not None or time.perf_counter() - started > 600:
                raise RuntimeError("the bridge did not come up")
        last, stable = -1.0, 0
        while stable < 4:  # the initial values of every monitored item have been judged
            await asyncio.sleep(0.5)
            now = series_sum(scrape(port), "device_bridge_readings_total")
            stable = stable + 1 if now == last else 0
            last = now
        startup_s = time.perf_counter() - started
        times = proc.cpu_times()
        print(f"bridge: subscribed and synced in {startup_s:.0f} s", file=sys.stderr)
        load = Load(estate, proc, port, url, args.seed)
        main = await load.phase(args.rate, args.duration, args.alarms)
        print(f"load at {args.rate:g}/s: done", file=sys.stderr)
        headroom = await load.phase(args.rate * 10, args.duration / 2, args.alarms // 3)
        print(f"load at {args.rate * 10:g}/s: done", file=sys.stderr)
        load.poller.stop.set()
        return {
            "devices": len(specs),
            "gateways": len(estate.gateways),
            "monitored_items": sum(
                len(d.points()) for g in estate.gateways for d in g.devices.values()
            ),
            "gateways_build_s": round(gateways_s, 1),
            "startup_s": round(startup_s, 1),
            "bridge_cpu_s_startup": round(times.user + times.system, 1),
            "rss_mb": round(proc.memory_info().rss / 2**20),
            "main": main,
            "headroom": headroom,
        }
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(30)
        except subprocess.TimeoutExpired:
            bridge.kill()
        await estate.close()


def _figures(r: dict[str, Any], size: str) -> list[dict[str, Any]]:
    def fig(name: str, unit: str, value: Any, target: str, met: bool | None) -> dict[str, Any]:
        return {
            "figure": name,
            "unit": unit,
            "value": value,
            "target": target,
            "met": met,
            "data_size": size,
        }

    m, h = r["main"], r["headroom"]
    p99 = m["alarm_p99_ms"]
    all_tasks = m["alarms_assigned_to_worker"] == m["alarms"]
    return [
        fig(
            "alarm on gateway → task assigned, p99",
            "ms",
            p99,
            "< 500",
            p99 is not None and p99 < 500 and all_tasks,
        ),
        fig("alarm on gateway → task assigned, p50", "ms", m["alarm_p50_ms"], "-", None),
        fig(
            "alarms that became a task assigned to a grid worker",
            "count",
            f"{m['alarms_assigned_to_worker']}/{m['alarms']}",
            "all",
            all_tasks,
        ),
        fig(
            "value changes offered by the gateways",
            "changes/s",
            m["offered_changes_per_s"],
            f"{m['rate']:g}",
            None,
        ),
        fig(
            "readings handled by the bridge",
            "readings/s",
            m["handled_readings_per_s"],
            "≥ offered",
            m["handled_readings_per_s"] >= 0.95 * m["offered_changes_per_s"],
        ),
        fig(
            "bridge CPU (pinned to one core), mean",
            "%",
            m["cpu_percent_mean"],
            "< 100",
            m["cpu_percent_mean"] is not None and m["cpu_percent_mean"] < 100,
        ),
        fig("bridge CPU, p95 of 1 s samples", "%", m["cpu_percent_p95"], "-", None),
        fig("reading lag (source time → judged), mean", "ms", m["lag_mean_ms"], "-", None),
        fig(
            "reading lag, p99 (histogram bucket bound)",
            "ms",
            m["lag_p99_bucket_ms"],
            "< 1000",
            m["lag_p99_bucket_ms"] < 1000,
        ),
        fig(  # the gateway keeps one value per item and publish: repeats may coalesce there
            f"headroom: {h['rate']:g} changes/s, readings handled",
            "readings/s",
            h["handled_readings_per_s"],
            "-",
            None,
        ),
        fig(
            f"headroom: {h['rate']:g} changes/s, bridge CPU mean",
            "%",
            h["cpu_percent_mean"],
            "-",
            None,
        ),
        fig(
            f"headroom: {h['rate']:g} changes/s, alarm → task p99",
            "ms",
            h["alarm_p99_ms"],
            "< 500",
            h["alarm_p99_ms"] is not None and h["alarm_p99_ms"] < 500,
        ),
        fig("bridge start: connect, browse, subscribe, resync", "s", r["startup_s"], "-", None),
        fig("bridge memory (RSS)", "MiB", r["rss_mb"], "-", None),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.device_bridge", description=__doc__)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--persons", type=int, default=8000)
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="value changes per second")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = _machine()
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-devices-") as tmp:
        result = asyncio.run(_bench(args, Path(tmp)))
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    size = (
        f"{result['devices']:,} devices on {result['gateways']} OPC UA gateways "
        f"({result['monitored_items']:,} monitored items), {args.rate:g} changes/s for "
        f"{args.duration:g} s with {args.alarms} alarms, then {args.rate * 10:g}/s for "
        f"{args.duration / 2:g} s; SQLite file"
    )
    figures = _figures(result, size)
    out = {
        "benchmark": "device bridge (OPC UA gateways → events → tasks)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "figures": figures,
        "raw": result,
    }
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("| figure | value | unit | target | met |")
    print("| --- | ---: | --- | --- | --- |")
    for f in figures:
        met = "-" if f["met"] is None else ("yes" if f["met"] else "NO")
        print(f"| {f['figure']} | {f['value']} | {f['unit']} | {f['target']} | {met} |")
    print(
        f"\ndata: {size}; load average {machine['load_average']} → "
        f"{machine['load_average_after']} on {machine['cores']} cores"
    )
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
