"""In-process fakes of the router contract for the write-operation tests (no tests here).

``FakeCatalog`` serves schemas and even partition maps; ``FakeTransport`` applies every command
with the real ``PartitionStateMachine`` on a ``MemoryEngine``, one slot per call (or several
commands in one slot with ``apply_together``), and answers a replayed request id with the first
result, as the replicated path does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

from raydynamo.api.errors import ResourceNotFoundException, ServiceUnavailable, ThrottlingException
from raydynamo.api.schema import (
    Item,
    KeySchema,
    TableSchema,
    decode_item,
    item_key_hash,
    storage_key,
)
from raydynamo.metadata.partition_map import PartitionMap, PartitionRange, even_ranges
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import prefix_end
from raydynamo.storage.memory import MemoryEngine

HASH_KEY = KeySchema("pk", "S")
RANGE_KEY = KeySchema("pk", "S", "sk", "N")


class FakeCatalog:
    def __init__(self) -> None:
        self.tables: dict[str, tuple[TableSchema, PartitionMap]] = {}

    def add_table(self, name: str, key: KeySchema, partitions: int = 1) -> TableSchema:
        schema = TableSchema(name, f"id-{name}", key)
        ranges = tuple(
            PartitionRange(f"{name}-p{i}", start, end, ("a", "b", "c"))
            for i, (start, end) in enumerate(even_ranges(partitions))
        )
        self.tables[name] = (schema, PartitionMap(schema.table_id, 1, ranges))
        return schema

    def schema(self, table_name: str) -> TableSchema:
        if table_name not in self.tables:
            raise ResourceNotFoundException("Requested resource not found")
        return self.tables[table_name][0]

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        return self.tables[table_name][1].lookup(key_hash)

    def partitions(self, table_name: str) -> list[PartitionRange]:
        return list(self.tables[table_name][1].partitions)


class FakeTransport:
    """Applies commands through the real state machine; counts what it was sent."""

    def __init__(self, catalog: FakeCatalog) -> None:
        self.catalog = catalog
        self.engine = MemoryEngine()
        self.machines: dict[str, PartitionStateMachine] = {}
        self.slots: dict[str, int] = {}
        self.sent: list[tuple[str, str, bytes, bytes]] = []
        self.unavailable: set[str] = set()
        self.throttled: set[str] = set()

    def machine(self, partition_id: str) -> PartitionStateMachine:
        if partition_id not in self.machines:
            self.machines[partition_id] = PartitionStateMachine(PartitionKeys(partition_id))
            self.slots[partition_id] = 0
        return self.machines[partition_id]

    def apply(self, partition_id: str, commands: tuple[bytes, ...]) -> list[dict[str, Any]]:
        """Apply ``commands`` as one chosen slot; return their results in order."""
        machine = self.machine(partition_id)
        self.slots[partition_id] += 1
        batch, results = machine.apply_slot(self.engine, self.slots[partition_id], commands)
        self.engine.write(batch, sync=False)
        return [result for _, result in results]

    def command_id(self, *parts: str | int) -> bytes:
        return uuid.uuid4().bytes  # every operation a fresh id (nothing here retries)

    async def write(
        self, table_name: str, partition: PartitionRange, request_id: bytes, command: bytes
    ) -> dict[str, Any]:
        if partition.partition_id in self.unavailable:
            raise ServiceUnavailable("no leader reachable")
        if partition.partition_id in self.throttled:
            raise ThrottlingException("Rate of requests exceeds the allowed throughput.")
        self.sent.append((table_name, partition.partition_id, request_id, command))
        (result,) = self.apply(partition.partition_id, (command,))
        return result

    async def read(
        self,
        table_name: str,
        partition: PartitionRange,
        read_request: dict[str, Any],
        consistent: bool,
    ) -> dict[str, Any]:
        raise NotImplementedError("the write tests read the engine directly")

    def stored(self, table_name: str, key: Item) -> Item | None:
        """The item stored under ``key`` (a Key map), read straight from the engine."""
        schema = self.catalog.schema(table_name)

        partition = self.catalog.partition_for(table_name, item_key_hash(schema.key, key))
        keys = PartitionKeys(partition.partition_id)
        raw = self.engine.get(keys.data(storage_key(schema.key, key)))
        return decode_item(raw) if raw is not None else None

    def all_items(self, table_name: str) -> list[Item]:
        out: list[Item] = []
        for partition in self.catalog.partitions(table_name):
            keys = PartitionKeys(partition.partition_id)
            end = prefix_end(keys.data_prefix)
            out.extend(decode_item(v) for _, v in self.engine.scan(keys.data_prefix, end))
        return out


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def new_world(partitions: int = 1) -> tuple[FakeCatalog, FakeTransport]:
    catalog = FakeCatalog()
    catalog.add_table("hash", HASH_KEY, partitions)
    catalog.add_table("range", RANGE_KEY, partitions)
    return catalog, FakeTransport(catalog)
