"""Retry-based waits for things that happen asynchronously (events, restarts): no timed assertions.

To assert that something did *not* happen, first wait for a real condition that proves it would have by now:
``consumer_caught_up`` (the consumer has passed every record already on the topic, the one under test
included), a marker event published after the one under test and handled, a row.  Never a sleep: a sleep
passes when the event is merely late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from .topics import partitions_of

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.2) -> T:
    """The first truthy value of ``check()``; fails the test when none comes within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


async def consumer_caught_up(bootstrap: str, group: str, topic: str, timeout: float = 60.0) -> None:
    """Wait until the consumer group ``group`` has committed, on every partition of ``topic``, at least the
    end offset the partition has now: every record on the topic before this call (the one under test
    included) has been handled, or passed over, by that consumer, which commits after each record.
    What has not happened then will not happen because of those records."""
    partitions = await partitions_of(bootstrap, topic)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    behind: dict[int, int] = {}
    try:
        async def caught_up() -> bool:
            try:
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            except KafkaError as exc:
                if exc.retriable:  # the group's coordinator is not known yet (a new group, a broker's start)
                    return False
                raise
            behind.clear()
            for tp in partitions:
                position = max(committed[tp].offset if tp in committed else 0, 0)  # -1: nothing committed yet
                if position < ends[tp]:
                    behind[tp.partition] = ends[tp] - position
            return not behind

        try:
            await eventually(caught_up, timeout)
        except AssertionError:
            raise AssertionError(f"consumer group {group} still behind on {topic} after {timeout}s: "
                                 f"records left per partition {behind}") from None
    finally:
        await admin.close()
