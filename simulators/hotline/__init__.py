"""The 12345 citizen hotline over Kafka: work orders out, gridhub's replies in.

    from simulators.kafka_broker import KafkaBroker
    from simulators.hotline import HotlineFeed, OrderGenerator, ReplyInbox, TOPIC

    with KafkaBroker(tmp) as broker:
        broker.create_topic(TOPIC, PARTITIONS)
        orders = list(OrderGenerator(seed=7).orders(1_000))
        with HotlineFeed(broker.bootstrap_servers) as feed:
            feed.publish(orders)
            feed.publish_poison("bad_encoding")

``WorkOrder.person_key`` and ``WorkOrder.incident`` are the truth (which resident called,
which calls report one incident): never hand them to the system under test.
"""

from simulators.hotline.feed import (
    IDEMPOTENCY_HEADER,
    PARTITIONS,
    REPLY_TOPIC,
    TOPIC,
    HotlineFeed,
    ReplyInbox,
)
from simulators.hotline.orders import (
    CATEGORIES,
    POISON_KINDS,
    OrderGenerator,
    WorkOrder,
    deadline_for,
    poison,
)

__all__ = [
    "CATEGORIES",
    "IDEMPOTENCY_HEADER",
    "PARTITIONS",
    "POISON_KINDS",
    "REPLY_TOPIC",
    "TOPIC",
    "HotlineFeed",
    "OrderGenerator",
    "ReplyInbox",
    "WorkOrder",
    "deadline_for",
    "poison",
]
