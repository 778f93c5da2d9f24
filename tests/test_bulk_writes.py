"""The bulk write path, without Ray: planning (``operations.bulk_put``), the writer's retries
and pacing (``data.writer``), and the group client queueing many commands at once.

The writer runs against the real partition state machine (``FakeTransport``), so a command sent
again under its request id is answered from its first result, never applied twice; throttles,
unconfirmed writes and a moved partition are injected.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from raydynamo.actors.group_client import GroupClient, Throttled
from raydynamo.api.errors import ServiceUnavailable, ThrottlingException, ValidationException
from raydynamo.config import DataConfig
from raydynamo.data.writer import BulkWriter, CapacityPacer
from raydynamo.limits import COALESCED_BYTES_MAX
from raydynamo.node.replies import Applied
from raydynamo.operations.bulk_put import plan_commands, validate_puts
from raydynamo.partition.item_writes import decode_item_write
from tests.test_group_client import FakeNode
from tests.test_op_writes_support import new_world

SETTINGS = DataConfig(write_backoff_base_s=0.001, write_attempts_max=4)


class Moved(Exception):
    """The fake's 'the partition map changed' (the router's MapChanged)."""


class FakeTarget:
    """A ``WriteTarget`` over the in-process fakes; ``faults`` are raised, one per send, for the
    partitions they name, before the command reaches the state machine."""

    moved_error = Moved

    def __init__(self, partitions: int = 4) -> None:
        self.catalog_view, self.fake = new_world(partitions)
        self.faults: list[tuple[str, BaseException]] = []
        self.refreshes = 0
        self.sent_ids: list[bytes] = []

    async def catalog(self, table_name: str, *, refresh: bool = False) -> Any:
        self.refreshes += int(refresh)
        return self.catalog_view

    def transport(self, operation_id: str) -> Any:
        return _Transport(self, operation_id)


class _Transport:
    def __init__(self, target: FakeTarget, operation_id: str) -> None:
        self.target = target
        self.operation_id = operation_id

    def command_id(self, *parts: str | int) -> bytes:
        text = "\x00".join([self.operation_id, *map(str, parts)])
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    async def write_many(self, table_name: str, commands: list[Any]) -> list[Any]:
        out: list[Any] = []
        for partition, request_id, command in commands:
            fault = next((f for f in self.target.faults if f[0] == partition.partition_id), None)
            if fault is not None:
                self.target.faults.remove(fault)
                out.append(fault[1])
                continue
            self.target.sent_ids.append(request_id)
            out.append(await self.target.fake.write(table_name, partition, request_id, command))
        return out


def items(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"k{i}"}, "n": {"N": str(i)}} for i in range(start, start + count)]


def test_puts_are_grouped_by_partition_in_commands_of_at_most_100() -> None:
    catalog, fake = new_world(4)
    schema = catalog.schema("hash")
    puts = validate_puts(items(1000), schema, catalog)
    commands = plan_commands(puts, schema, fake, ops_per_command=100)
    assert sum(len(c.puts) for c in commands) == 1000
    assert all(len(c.puts) <= 100 for c in commands)
    for command in commands:
        assert {p.partition.partition_id for p in command.puts} == {command.partition.partition_id}
        decoded = decode_item_write(command.command)
        assert decoded.request_id == command.request_id
        assert [op.storage_key for op in decoded.ops] == [p.storage_key for p in command.puts]
    assert len({c.request_id for c in commands}) == len(commands)


def test_a_bulk_put_validates_like_batch_write_item() -> None:
    catalog, _ = new_world(1)
    schema = catalog.schema("hash")
    with pytest.raises(ValidationException, match="does not match the schema"):
        validate_puts([{"pk": {"N": "1"}}], schema, catalog)
    with pytest.raises(ValidationException, match="empty string value"):
        validate_puts([{"pk": {"S": ""}}], schema, catalog)
    with pytest.raises(ValidationException, match="numeric value"):
        validate_puts([{"pk": {"S": "a"}, "x": {"N": "nan"}}], schema, catalog)
    (put,) = validate_puts([{"pk": {"S": "a"}, "x": {"N": "01.50"}}], schema, catalog)
    assert put.item["x"] == {"N": "1.5"}


def test_everything_is_written_once_and_the_same_key_twice_keeps_the_last() -> None:
    target = FakeTarget()
    writer = BulkWriter(target, SETTINGS)
    rows = [*items(500), {"pk": {"S": "k7"}, "n": {"N": "700"}}]
    asyncio.run(writer.put("hash", rows, "op-1"))
    stored = {item["pk"]["S"]: item for item in target.fake.all_items("hash")}
    assert len(stored) == 500 and stored["k7"]["n"] == {"N": "700"}
    assert writer.tally.items == 501 and writer.tally.units == 501


def test_throttled_and_unconfirmed_commands_are_resent_with_their_ids() -> None:
    target = FakeTarget()
    pid = target.catalog_view.partitions("hash")[0].partition_id
    target.faults = [
        (pid, ThrottlingException("slow down")),
        (pid, ServiceUnavailable("not confirmed")),
    ]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    writer = BulkWriter(target, SETTINGS, sleep=sleep)
    asyncio.run(writer.put("hash", items(400), "op-2"))
    assert len(target.fake.all_items("hash")) == 400
    assert len(sleeps) == 2 and writer.tally.attempts == 2
    assert len(set(target.sent_ids)) == len(target.sent_ids)  # each id reached it once


def test_a_command_applied_but_unconfirmed_is_applied_once() -> None:
    target = FakeTarget(partitions=1)
    writer = BulkWriter(target, SETTINGS)
    rows = [{"pk": {"S": "c"}, "n": {"N": "1"}}]
    asyncio.run(writer.put("hash", rows, "op-3"))
    first = list(target.sent_ids)
    # The same operation again (a write task Ray runs a second time): the same request ids,
    # answered by the partition from its record of the first result.
    rows[0] = {"pk": {"S": "c"}, "n": {"N": "2"}}
    asyncio.run(BulkWriter(target, SETTINGS).put("hash", rows, "op-3"))
    assert target.sent_ids == first * 2
    assert target.fake.stored("hash", {"pk": {"S": "c"}}) == {"pk": {"S": "c"}, "n": {"N": "1"}}


def test_a_moved_partition_is_planned_again_under_new_ids() -> None:
    target = FakeTarget()
    pid = target.catalog_view.partitions("hash")[1].partition_id
    target.faults = [(pid, Moved())]
    writer = BulkWriter(target, SETTINGS)
    asyncio.run(writer.put("hash", items(300), "op-4"))
    assert target.refreshes == 1
    assert len(target.fake.all_items("hash")) == 300
    assert len(set(target.sent_ids)) == len(target.sent_ids)


def test_a_partition_that_stays_throttled_fails_the_write_with_a_throttle() -> None:
    target = FakeTarget(partitions=1)
    pid = target.catalog_view.partitions("hash")[0].partition_id
    target.faults = [(pid, ThrottlingException("slow down"))] * 10
    writer = BulkWriter(target, SETTINGS)
    with pytest.raises(ThrottlingException):
        asyncio.run(writer.put("hash", items(10), "op-5"))


def test_the_pacer_keeps_to_its_rate() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = CapacityPacer(100.0, clock=lambda: now[0], sleep=sleep)

    async def take() -> None:
        for _ in range(10):
            await pacer.acquire(50)

    asyncio.run(take())
    assert now[0] == pytest.approx(4.0)  # 500 units at 100/s after a 100-unit burst
    assert asyncio.run(_unpaced()) == []


async def _unpaced() -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    await CapacityPacer(None, sleep=sleep).acquire(10**6)
    return slept


def test_many_commands_queued_at_once_share_calls_within_the_byte_bound() -> None:
    leader = FakeNode(lambda name, args: [Applied({"ok": 1}, 1)] * len(args[1]))
    client = GroupClient(
        "p", ["a"], "ns", lookup={"a": leader}.__getitem__, queued_bytes_max=64 << 20
    )
    client.leader = "a"
    big = b"x" * (COALESCED_BYTES_MAX // 3)

    async def burst() -> list[Any]:
        small = await client.write_many([(b"s%d" % i, b"c") for i in range(10)])
        large = await client.write_many([(b"b%d" % i, big) for i in range(6)])
        return small + large

    results = asyncio.run(burst())
    assert results == [{"ok": 1}] * 16
    sizes = [len(args[1]) for _, args in leader.calls]
    assert sizes[0] == 10  # all ten in the first call
    assert all(size <= 3 for size in sizes[1:]) and sum(sizes[1:]) == 6


def test_queueing_many_past_the_byte_bound_throttles_the_rest() -> None:
    leader = FakeNode(lambda name, args: [Applied({"ok": 1}, 1)] * len(args[1]))
    client = GroupClient("p", ["a"], "ns", lookup={"a": leader}.__getitem__)
    client.leader = "a"
    chunk = b"x" * (4 << 20)

    async def burst() -> list[Any]:
        return await client.write_many([(b"r%d" % i, chunk) for i in range(8)])

    results = asyncio.run(burst())
    throttled = [r for r in results if isinstance(r, Throttled)]
    assert throttled and len(throttled) < 8
