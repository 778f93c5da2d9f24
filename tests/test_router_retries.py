"""Exactly once through the router: every retry of an operation sends the same request ids.

The router runs for real (validation, planning, its retry loop); below it, a stand-in for the
group client applies commands through the real partition state machine, so a request id applied
twice would really count twice. Finding 3 of the storage node issue: after a stale map the old
router re-ran the whole operation with a new request id even when the first attempt had been
proposed, and one ``ADD n :1`` was stored as ``n = 2``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from raydynamo.actors.group_client import PartitionMoved
from raydynamo.actors.router import RoutedTable, Router
from raydynamo.admission.rates import LedgerSpec, TableCapacity
from raydynamo.api.schema import KeySchema, TableSchema, decode_item, storage_key
from raydynamo.config import config_from_dict
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange, even_ranges
from raydynamo.metadata.tables import TableStatus
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.memory import MemoryEngine

KEY = KeySchema("id", "S")


class AppliedButMoved:
    """A partition's group: applies every command it gets, and answers the first ``moves``
    commands with PartitionMoved *after* applying them (a write proposed at one replica, the
    next one refusing the router's map)."""

    def __init__(self, engine: MemoryEngine, partition_id: str, moves: int) -> None:
        self.engine = engine
        self.machine = PartitionStateMachine(PartitionKeys(partition_id))
        self.slot = 0
        self.moves = moves
        self.request_ids: list[bytes] = []

    async def write_one(self, request_id: bytes, command: bytes) -> dict[str, Any]:
        self.request_ids.append(request_id)
        self.slot += 1
        batch, results = self.machine.apply_slot(self.engine, self.slot, (command,))
        self.engine.write(batch, sync=False)
        if self.moves:
            self.moves -= 1
            raise PartitionMoved("p")
        return dict(results[0][1])


def router_over(groups: dict[str, AppliedButMoved], partitions: int = 1) -> Router:
    router = Router(config_from_dict({}))
    ranges = tuple(
        PartitionRange(f"t.p{i}", start, end, ("a", "b", "c"))
        for i, (start, end) in enumerate(even_ranges(partitions))
    )
    schema = TableSchema("counters", "t", KEY)
    capacity = TableCapacity("PAY_PER_REQUEST", 0.0, 0.0, partitions)
    routed = RoutedTable(schema, TableStatus.ACTIVE, PartitionMap("t", 1, ranges), capacity)

    async def generous(spec: LedgerSpec, router_id: str, units: float) -> tuple[float, float]:
        return units, 60.0  # the admission actor: whatever is asked, for a minute

    router.admission.ask = generous

    async def refreshed(names: list[str]) -> None:  # the metadata shards' answer, at once
        router.cache.store("counters", routed, 0.0)

    router.ensure = refreshed  # type: ignore[method-assign]
    router.group = lambda partition, map_version=0: groups[partition.partition_id]  # type: ignore[method-assign,assignment]
    return router


def counter(engine: MemoryEngine, partition_id: str, name: str) -> int:
    raw = engine.get(PartitionKeys(partition_id).data(storage_key(KEY, {"id": {"S": name}})))
    return int(decode_item(raw)["n"]["N"]) if raw is not None else 0


INCREMENT = {
    "TableName": "counters",
    "Key": {"id": {"S": "c"}},
    "UpdateExpression": "ADD n :one",
    "ExpressionAttributeValues": {":one": {"N": "1"}},
    "ReturnValues": "UPDATED_NEW",
}


def test_an_increment_retried_after_a_stale_map_counts_once() -> None:
    engine = MemoryEngine()
    group = AppliedButMoved(engine, "t.p0", moves=2)
    router = router_over({"t.p0": group})
    response = asyncio.run(router.call("UpdateItem", INCREMENT, "op-1"))
    assert len(group.request_ids) == 3 and len(set(group.request_ids)) == 1
    assert counter(engine, "t.p0", "c") == 1
    assert response["Attributes"] == {"n": {"N": "1"}}


def test_the_driver_resending_an_operation_is_applied_once_and_answered_alike() -> None:
    engine = MemoryEngine()
    router = router_over({"t.p0": AppliedButMoved(engine, "t.p0", moves=0)})
    first = asyncio.run(router.call("UpdateItem", INCREMENT, "op-2"))
    again = asyncio.run(router.call("UpdateItem", INCREMENT, "op-2"))
    other = asyncio.run(router.call("UpdateItem", INCREMENT, "op-3"))
    assert first == again == {"Attributes": {"n": {"N": "1"}}}
    assert other == {"Attributes": {"n": {"N": "2"}}}
    assert counter(engine, "t.p0", "c") == 2


def test_a_batch_retried_sends_the_same_ids_per_partition() -> None:
    engine = MemoryEngine()
    groups = {f"t.p{i}": AppliedButMoved(engine, f"t.p{i}", moves=1) for i in range(4)}
    router = router_over(groups, partitions=4)
    puts = [{"PutRequest": {"Item": {"id": {"S": f"k{i}"}}}} for i in range(20)]
    response = asyncio.run(router.call("BatchWriteItem", {"RequestItems": {"counters": puts}}, "b"))
    assert response["UnprocessedItems"] == {}
    for group in groups.values():
        if group.request_ids:
            assert len(set(group.request_ids)) == 1, "a retry sent another request id"
