"""Run the 户籍 simulator as a process: ``python -m simulators.hukou --persons 100000``.

Prints one JSON line (``{"service_url": …, "wsdl_url": …}``) once it listens, then serves
until terminated. The password and admin token come from the environment
(``HUKOU_SIM_PASSWORD``, ``HUKOU_SIM_ADMIN_TOKEN``), never from the command line where any
local user could read them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from simulators.hukou.control import DEFAULT_PASSWORD, DEFAULT_USERNAME, build_server


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.hukou", description=__doc__)
    parser.add_argument("--persons", default="1000", help="a count, or @file.json (wire form)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--accept", default="text,digest", help="password types accepted")
    parser.add_argument("--max-page-size", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--path", default="/hukou")
    args = parser.parse_args(argv)

    persons: int | list[dict[str, Any]]
    if args.persons.startswith("@"):
        persons = json.loads(Path(args.persons[1:]).read_text(encoding="utf-8"))
    else:
        persons = int(args.persons)
    admin_token = os.environ.get("HUKOU_SIM_ADMIN_TOKEN") or secrets.token_urlsafe(16)
    server = build_server(
        persons,
        seed=args.seed,
        username=args.username,
        password=os.environ.get("HUKOU_SIM_PASSWORD", DEFAULT_PASSWORD),
        accept=[a.strip() for a in args.accept.split(",") if a.strip()],
        max_page_size=args.max_page_size,
        host=args.host,
        port=args.port,
        path=args.path,
        admin_token=admin_token,
    )

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(
        json.dumps({"service_url": server.address, "wsdl_url": server.address + "?wsdl"}),
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
