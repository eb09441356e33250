"""``gridhub demo``: the whole hub on a synthetic district, every part real (``gridhub.demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridhub.settings import REPO_ROOT


def _ports(values: list[str] | None) -> dict[str, int]:
    from gridhub.demo.config import DEFAULT_PORTS

    ports = dict(DEFAULT_PORTS)
    for value in values or []:
        name, _, number = value.partition("=")
        if name not in ports or not number.isdigit() or not 0 < int(number) < 65536:
            known = ", ".join(sorted(ports))
            raise typer.BadParameter(f"{value!r}: use NAME=PORT, NAME one of {known}")
        ports[name] = int(number)
    return ports


def command(
    persons: Annotated[
        int, typer.Option("--persons", "-n", min=50, help="Residents of the synthetic district.")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Same seed, same district.")] = 7,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve and loop after the first run.")
    ] = True,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=1, help="Seconds to serve, then stop (default: Ctrl-C)."),
    ] = None,
    var_dir: Annotated[
        Path, typer.Option("--var-dir", help="State goes to VAR_DIR/demo.")
    ] = REPO_ROOT / "var",
    port: Annotated[
        list[str] | None,
        typer.Option("--port", help="NAME=PORT (api, grpc, hukou, health, kafka, bridge)."),
    ] = None,
    every: Annotated[
        float, typer.Option("--every", min=1, help="Seconds between rounds of the loop.")
    ] = 10.0,
    mqtt_port: Annotated[int, typer.Option("--mqtt-port", help="Mosquitto on loopback.")] = 1883,
) -> None:
    """Generate a district, start its source systems, sync them through Airflow, resolve,
    raise tasks, then serve REST, gRPC and the device bridge while calls and alarms arrive."""
    from rich.console import Console

    from gridhub.demo.config import DemoConfig
    from gridhub.demo.processes import PortInUse
    from gridhub.demo.runner import run

    config = DemoConfig(
        persons=persons,
        seed=seed,
        var_dir=var_dir.resolve(),
        serve=serve,
        duration=duration,
        trickle_every=every,
        mqtt_port=mqtt_port,
        ports=_ports(port),
    )
    try:
        code = run(config, Console())
    except PortInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
