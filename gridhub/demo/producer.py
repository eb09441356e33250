"""The 12345 hotline's side: publish a backlog of work orders, then one every few seconds.

Run by the demo as a child process (``python -m gridhub.demo.producer``) so that the calls
keep coming while the hub serves. Each published order's number and caller (the truth, for
scoring; never on the wire) is appended to ``--out`` once the broker has acknowledged it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from simulators.hotline.orders import WorkOrder

#: Seconds between the backlog's calls (the generator's default mean gap).
_BACKLOG_GAP_S = 40


def main(argv: Sequence[str] | None = None) -> None:
    from simulators.district import District
    from simulators.hotline.feed import TOPIC, HotlineFeed
    from simulators.hotline.orders import CHINA, OrderGenerator

    parser = argparse.ArgumentParser(prog="python -m gridhub.demo.producer")
    parser.add_argument("--persons", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default=TOPIC)
    parser.add_argument("--count", type=int, default=100, help="backlog published at once")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between live calls")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    start = datetime.now(CHINA) - timedelta(seconds=_BACKLOG_GAP_S * args.count)
    generator = OrderGenerator(District(args.persons, args.seed), seed=args.seed, start=start)
    orders = generator.orders()
    with HotlineFeed(args.bootstrap, args.topic) as feed, args.out.open("a") as out:
        backlog = [next(orders) for _ in range(args.count)]
        feed.publish(backlog)
        feed.flush()
        _record(out, backlog)
        print(f"published a backlog of {len(backlog)} orders", flush=True)
        while not stop.wait(args.every):
            order = next(orders)
            feed.publish([order])
            feed.flush()
            _record(out, [order])


def _record(out: TextIO, orders: Sequence[WorkOrder]) -> None:
    for order in orders:
        out.write(json.dumps({"order_no": order.order_no, "person_key": order.person_key}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
