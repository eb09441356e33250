"""``gridhub demo`` from start to Ctrl-C: district → sources → Airflow → serve → loop.

The demo process itself only orchestrates and reads the store; everything that reads
``GRIDHUB_`` settings runs in a child with the demo's environment (``DemoConfig.env``). On
Ctrl-C or SIGTERM — or when a child dies — every child is stopped, newest first.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from gridhub.demo import serving
from gridhub.demo.config import DemoConfig
from gridhub.demo.pipeline import DAGS, SYNC_DAGS
from gridhub.demo.processes import (
    ChildFailed,
    Supervisor,
    check_ports,
    raise_on_sigterm,
    tail,
    watchdog_argv,
)
from gridhub.demo.seed import seed_store
from gridhub.demo.sources import Sources, generate_district, source_settings, start_sources
from gridhub.demo.summary import render, source_counts
from gridhub.settings import REPO_ROOT

__all__ = ["run"]


def _fresh(config: DemoConfig) -> None:
    """A new district each run: the store, the sources' data and the run's files go."""
    p = config.paths
    p.root.mkdir(parents=True, exist_ok=True)
    for path in (p.store, p.events, p.sources_ready, p.summary, p.state, p.truth):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in (p.broker, p.logs, p.root / "trickle.jsonl"):
        if folder.is_dir():
            shutil.rmtree(folder)
        else:
            folder.unlink(missing_ok=True)


class _Phases:
    """Seconds per start-up phase, for the summary (where the time to "serving" goes)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._phase, self._since = "district", time.monotonic()

    def next(self, phase: str) -> dict[str, float]:
        now = time.monotonic()
        self.timings[self._phase] = round(now - self._since, 1)
        self._phase, self._since = phase, now
        return self.timings


class _Pipeline:
    """Follows the pipeline child's event lines and the store's counts, for the bars."""

    def __init__(self, config: DemoConfig, progress: Progress, offered: dict[str, int]) -> None:
        self.config = config
        self.progress = progress
        self.offered = offered
        self.bars: dict[str, TaskID] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self._seen = 0

    def _bar(self, step: str) -> TaskID:
        if step not in self.bars:
            source = SYNC_DAGS.get(step)
            total = self.offered.get(source) if source else 1
            self.bars[step] = self.progress.add_task(f"Airflow: {step}", total=total)
        return self.bars[step]

    def _counts(self) -> dict[str, int]:
        return source_counts(self.config.database_url)

    def poll(self) -> bool:
        """Update the bars; True once every step succeeded (ChildFailed if one failed)."""
        if not self.config.paths.events.exists():
            return False
        lines = self.config.paths.events.read_text(encoding="utf-8").splitlines()
        for line in lines[self._seen :]:
            event = json.loads(line)
            step = event["step"]
            if step == "airflow_db":
                continue
            bar = self._bar(step)
            if event["state"] == "running":
                continue
            self.results[step] = event
            if event["state"] != "success":
                raise ChildFailed(f"{step} failed: {event.get('error') or event.get('tasks')}")
            total = self.progress.tasks[self.bars[step]].total or 1
            self.progress.update(bar, completed=total, total=total)
        self._seen = len(lines)
        running = [s for s in self.bars if s not in self.results and s in SYNC_DAGS]
        if running:
            counts = self._counts()
            for step in running:
                self.progress.update(self.bars[step], completed=counts.get(SYNC_DAGS[step], 0))
        return all(step in self.results for step in DAGS)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run(config: DemoConfig, console: Console) -> int:
    started = time.monotonic()
    wanted = {k: v for k, v in config.ports.items() if config.serve or k not in serving.SERVED}
    check_ports(wanted)
    _fresh(config)
    undo = raise_on_sigterm()
    sup = Supervisor(config.paths.logs)
    sources = Sources()
    try:
        env = config.env(source_settings(config))
        sup.spawn("watchdog", watchdog_argv(), env=env, cwd=REPO_ROOT)  # stopped last
        with _progress(console) as progress:
            child = sup.spawn(
                "pipeline",
                [sys.executable, "-m", "gridhub.demo.pipeline",
                 "--events", str(config.paths.events), "--ready", str(config.paths.sources_ready)],
                env=env,
                cwd=REPO_ROOT,
                critical=False,  # it exits when done; its events say how it went
                grace=3.0,  # a DAG task in flight keeps SIGTERM to itself: killed after 3 s
            )  # fmt: skip
            clock = _Phases()
            step = progress.add_task(f"district of {config.persons:,} persons", total=None)
            district = generate_district(config)
            progress.update(step, total=1, completed=1)
            clock.next("seed")
            step = progress.add_task("store: map, roster, rules", total=None)
            seeded = seed_store(config.database_url, district)
            progress.update(step, total=1, completed=1)
            step = progress.add_task("sources", total=9)

            def starting(what: str) -> None:
                clock.next(what)
                progress.update(step, description=f"sources: {what}", advance=1)

            sources = start_sources(config, district, sup, starting)
            sources.timings = clock.next("pipeline")
            progress.update(step, description="sources: all serving", completed=9)
            del district
            config.paths.sources_ready.write_text(
                json.dumps({"devices": str(sources.devices), "seeded": seeded})
            )
            pipeline = _Pipeline(config, progress, sources.offered)
            while not pipeline.poll():
                sup.check()
                if not child.alive() and not pipeline.poll():
                    raise ChildFailed(
                        f"the Airflow pipeline exited early; see {child.log}:\n" + tail(child.log)
                    )
                time.sleep(0.5)
        if not config.serve:
            summary = serving.final_summary(config, env, sources, pipeline.results, started)
            console.print(render(summary))
            return 0 if summary["audit"]["ok"] else 1
        return serving.serve(config, env, sup, console, sources, pipeline.results, started)
    except KeyboardInterrupt:
        console.print("\nstopping every child …")
        return 130
    except ChildFailed as exc:
        console.print(f"[red]demo stopped: {exc}[/red]")
        return 1
    except (TimeoutError, RuntimeError, OSError) as exc:  # a source that would not start
        console.print(f"[red]demo stopped: {type(exc).__name__}: {exc}[/red]")
        return 1
    finally:
        leftovers = sup.stop_all()
        undo()
        if leftovers:
            console.print(f"killed after the grace period: {', '.join(leftovers)}")
        console.print(f"logs in {config.paths.logs}")
