"""``python -m simulators.hotline``: run a hotline broker, or publish orders to one.

python -m simulators.hotline broker --data var/hotline-broker --port 9092
python -m simulators.hotline produce --bootstrap 127.0.0.1:9092 --count 5000 --poison 3
python -m simulators.hotline produce --count 0 --every 2   # one order every 2 s, forever
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

from simulators.hotline.feed import PARTITIONS, REPLY_TOPIC, TOPIC, HotlineFeed
from simulators.hotline.orders import CHINA, POISON_KINDS, OrderGenerator
from simulators.kafka_broker import KafkaBroker


def _broker(args: argparse.Namespace) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with KafkaBroker(Path(args.data), port=args.port) as broker:
        broker.create_topic(TOPIC, args.partitions)
        broker.create_topic(REPLY_TOPIC, args.partitions)
        print(f"hotline broker on {broker.bootstrap_servers} (data in {args.data})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def _produce(args: argparse.Namespace) -> None:
    live = args.count == 0
    generator = OrderGenerator(seed=args.seed, start=datetime.now(CHINA) if live else None)
    with HotlineFeed(args.bootstrap, args.topic) as feed:
        if live:
            for order in generator.orders():
                feed.publish([order])
                feed.flush()
                time.sleep(args.every)
        sent = feed.publish(generator.orders(args.count))
        for i in range(args.poison):
            feed.publish_poison(POISON_KINDS[i % len(POISON_KINDS)])
    print(f"published {sent} orders and {args.poison} poison messages to {args.topic}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.hotline")
    sub = parser.add_subparsers(dest="command", required=True)
    broker = sub.add_parser("broker", help="run Tansu with persistent storage, topics created")
    broker.add_argument("--data", default="var/hotline-broker")
    broker.add_argument("--port", type=int, default=9092)
    broker.add_argument("--partitions", type=int, default=PARTITIONS)
    produce = sub.add_parser("produce", help="publish work orders")
    produce.add_argument("--bootstrap", default="127.0.0.1:9092")
    produce.add_argument("--topic", default=TOPIC)
    produce.add_argument("--count", type=int, default=1000, help="0: one at a time, forever")
    produce.add_argument("--every", type=float, default=2.0, help="seconds between live orders")
    produce.add_argument("--poison", type=int, default=0)
    produce.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    {"broker": _broker, "produce": _produce}[args.command](args)


if __name__ == "__main__":
    main()
