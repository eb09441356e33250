"""``gridhub device-bridge``: run the bridge, register devices, simulate a device estate.

Configuration comes from the ``GRIDHUB_DEVICE_BRIDGE__…`` settings section (e.g.
``GRIDHUB_DEVICE_BRIDGE__HTTP_PORT=9109``) and/or a JSON or YAML file given with
``--config`` (what ``simulate`` writes as ``bridge.json``); the file wins field by field.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from device_bridge import BridgeConfig

app = typer.Typer(
    help="Device gateways (OPC UA, MQTT) to events, tasks and back.", no_args_is_help=True
)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Store URL (default: GRIDHUB_DATABASE_URL).")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="JSON or YAML with BridgeConfig fields.")
]


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def bridge_config(path: Path | None = None, **overrides: Any) -> BridgeConfig:
    """The bridge's configuration: settings section, then the file, then ``overrides``."""
    from pydantic import ValidationError

    from device_bridge import BridgeConfig
    from gridhub.settings import get_settings

    values: dict[str, Any] = dict(getattr(get_settings(), "device_bridge", None) or {})
    if path is not None:
        values.update(_read(path) or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return BridgeConfig.model_validate(values)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # asyncua logs every dropped connection with a traceback from inside its publish loop;
    # the bridge says the same in one line ("gateway gw01 unreachable …, retrying in 2.0s").
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)


@app.command()
def run(
    config: ConfigOption = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help="/healthz and /metrics port (0: any).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
    url: UrlOption = None,
) -> None:
    """Run the bridge until SIGINT or SIGTERM: gateways, MQTT, health and metrics."""
    import asyncio
    import signal

    from canonical_model.store import check
    from device_bridge import Bridge
    from gridhub.wiring import engine, sessions

    _logging(log_level)
    settings = bridge_config(config, http_port=http_port)
    status = check(engine(url))
    if status.current != status.head:
        typer.echo(
            f"the store is at revision {status.current}, not {status.head}: run `gridhub db "
            "upgrade` first",
            err=True,
        )
        raise typer.Exit(1)
    bridge = Bridge(settings, sessions(url))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await bridge.run(stop)

    typer.echo(
        f"device bridge: {len(settings.gateways)} OPC UA gateways"
        + (f", MQTT {settings.mqtt.host}:{settings.mqtt.port}" if settings.mqtt else ""),
        err=True,
    )
    asyncio.run(main())


@app.command()
def register(
    manifest: Annotated[Path, typer.Argument(help="Installation list (JSON array of rows).")],
    url: UrlOption = None,
) -> None:
    """Add or update devices from an installer's list; people are linked by resident ID."""
    from canonical_model.store import transaction
    from device_bridge import register_devices
    from gridhub.wiring import sessions

    rows = _read(manifest)
    if not isinstance(rows, list):
        raise typer.BadParameter("the manifest must be a JSON array of device rows")
    with transaction(sessions(url)) as s:
        report = register_devices(s, rows)
    for line in report.refused[:20]:  # row numbers and reasons only, never the row
        typer.echo(line, err=True)
    typer.echo(json.dumps(report.as_dict()))
    if report.refused:
        raise typer.Exit(1)


@app.command()
def simulate(
    persons: Annotated[int, typer.Option("--persons", "-n", min=1)] = 2_000,
    seed: Annotated[int, typer.Option("--seed", "-s")] = 0,
    gateways: Annotated[int, typer.Option("--gateways", min=1)] = 2,
    mqtt_share: Annotated[
        float, typer.Option("--mqtt-share", min=0.0, max=1.0, help="Buildings on MQTT.")
    ] = 0.0,
    mqtt_host: Annotated[str, typer.Option("--mqtt-host")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option("--mqtt-port")] = 1883,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many devices.")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per second.")] = 1.0,
    change_rate: Annotated[float, typer.Option("--change-rate", help="Extra changes/s.")] = 0.0,
    alarm_rate: Annotated[float, typer.Option("--alarm-rate", help="Alarms per minute.")] = 0.0,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("var/devices"),
) -> None:
    """Serve the district's devices on simulated gateways until Ctrl-C.

    Writes OUT/manifest.json (for `register`) and OUT/bridge.json (for `run --config`).
    """
    import asyncio
    import signal

    from simulators.devices import SimulationOptions
    from simulators.devices import simulate as run_estate

    _logging("INFO")
    options = SimulationOptions(
        persons=persons,
        seed=seed,
        gateways=gateways,
        mqtt_share=mqtt_share,
        limit=limit,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        speed=speed,
        change_rate=change_rate,
        alarm_rate=alarm_rate,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_estate(options, out, stop)

    asyncio.run(main())
