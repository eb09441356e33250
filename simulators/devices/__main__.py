"""``python -m simulators.devices``: gateways for the district's devices, until Ctrl-C.

Writes ``manifest.json`` and ``bridge.json`` to ``--out`` once the gateways listen (see
``simulators.devices.simulation``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from simulators.devices.simulation import SimulationOptions, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--mqtt-share", type=float, default=0.0)
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--change-rate", type=float, default=0.0)
    parser.add_argument("--alarm-rate", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=Path("var/devices"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    options = SimulationOptions(
        persons=args.persons,
        seed=args.seed,
        gateways=args.gateways,
        mqtt_share=args.mqtt_share,
        limit=args.limit,
        mqtt_port=args.mqtt_port,
        speed=args.speed,
        change_rate=args.change_rate,
        alarm_rate=args.alarm_rate,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await simulate(options, args.out, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
