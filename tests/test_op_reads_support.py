"""In-process harness for the read operations: a fake catalog and a fake transport.

``FakeCatalog`` serves a few table schemas, each cut into 1-4 even key-hash partitions;
``FakeTransport`` runs ``execute_read`` on one ``MemoryEngine`` holding every partition's data
under its own prefix (as a storage node does), passing requests and answers through msgpack so
they are proven to travel. Items are inserted directly, the way the write path stores them.
This module holds no tests.
"""

from __future__ import annotations

import asyncio
import bisect
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import msgpack
import pytest

from raydynamo.api.errors import ClientError, ResourceNotFoundException
from raydynamo.api.schema import KeySchema, TableSchema, encode_item, item_key_hash, storage_key
from raydynamo.api.values import canonicalize_item
from raydynamo.metadata.partition_map import PartitionRange, even_ranges
from raydynamo.partition.item_reads import execute_read
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.memory import MemoryEngine

SCHEMAS = {
    "hash": KeySchema("pk", "S"),
    "hashN": KeySchema("pk", "N"),
    "composite": KeySchema("pk", "S", "sk", "S"),
    "numbers": KeySchema("pk", "S", "sk", "N"),
    "binary": KeySchema("pk", "B", "sk", "B"),
}


def roundtrip(value: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


class FakeCatalog:
    def __init__(self, partition_count: int = 1, schemas: Mapping[str, KeySchema] = SCHEMAS):
        self.schemas = {name: TableSchema(name, f"id-{name}", key) for name, key in schemas.items()}
        self.ranges = {
            name: [
                PartitionRange(f"{name}-{i}", start, end, ("a", "b", "c"))
                for i, (start, end) in enumerate(even_ranges(partition_count))
            ]
            for name in schemas
        }

    def schema(self, table_name: str) -> TableSchema:
        if table_name not in self.schemas:
            raise ResourceNotFoundException("Requested resource not found")
        return self.schemas[table_name]

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        ranges = self.ranges[table_name]
        index = bisect.bisect_right([p.hash_start for p in ranges], key_hash) - 1
        return ranges[index]

    def partitions(self, table_name: str) -> list[PartitionRange]:
        return list(self.ranges[table_name])


class FakeTransport:
    """Runs reads on an in-memory engine; can be told to fail some partitions."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine
        self.reads: list[tuple[str, str, dict[str, Any], bool]] = []
        self.failures: dict[str, ClientError] = {}

    async def write(self, *args: Any) -> dict[str, Any]:
        raise AssertionError("reads never write")

    def command_id(self, *parts: str | int) -> bytes:
        return uuid.uuid4().bytes  # every operation a fresh id (nothing here retries)

    async def read(
        self,
        table_name: str,
        partition: PartitionRange,
        read_request: dict[str, Any],
        consistent: bool,
    ) -> dict[str, Any]:
        wire = roundtrip(read_request)
        self.reads.append((table_name, partition.partition_id, wire, consistent))
        failure = self.failures.get(partition.partition_id)
        if failure is not None:
            return {"error": failure.to_wire()}
        return roundtrip(execute_read(self.engine, PartitionKeys(partition.partition_id), wire))


class World:
    """A catalog, an engine and a transport, with helpers to load items and call operations."""

    def __init__(self, partition_count: int = 1) -> None:
        self.catalog = FakeCatalog(partition_count)
        self.engine = MemoryEngine()
        self.transport = FakeTransport(self.engine)

    def put(self, table_name: str, items: Iterable[Mapping[str, Any]]) -> None:
        schema = self.catalog.schema(table_name)
        batch = WriteBatch()
        for item in items:
            item = canonicalize_item(item)
            partition = self.catalog.partition_for(table_name, item_key_hash(schema.key, item))
            data_key = PartitionKeys(partition.partition_id).data(storage_key(schema.key, item))
            batch.put(data_key, encode_item(item))
        self.engine.write(batch, sync=False)

    def call(self, operation: Callable[..., Coroutine[Any, Any, dict]], request: dict) -> dict:
        return asyncio.run(operation(request, self.catalog, self.transport))

    def error(
        self, operation: Callable[..., Coroutine[Any, Any, dict]], request: dict
    ) -> tuple[str, str]:
        """(code, message) of the error ``operation`` raises for ``request``."""
        with pytest.raises(ClientError) as info:
            self.call(operation, request)
        return info.value.response["Error"]["Code"], info.value.message


def S(text: str) -> dict[str, str]:
    return {"S": text}


def N(text: str) -> dict[str, str]:
    return {"N": text}


def B(data: bytes) -> dict[str, bytes]:
    return {"B": data}
