"""The node simulation's client side: counters incremented by UpdateItem ADD, read back strongly.

Every simulated partition is the only partition of a table of its own (``counters-<pid>``), with
a few counter items. An increment is a real ``UpdateItem`` planned by the router's code
(``operations.write_plan``) and encoded as the partition command the router would send, with a
request id of its own that every retry keeps. Reads are the partition's real ``get`` reads. What
each command did is read back from the replies and from the applied history, so the checker can
count increments exactly. Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ResourceNotFoundException
from raydynamo.api.schema import KeySchema, TableSchema, storage_key
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.operations.write_plan import plan_update_item
from raydynamo.partition.item_reads import GetRead, GetResult
from raydynamo.partition.item_writes import ItemWrite, command_header, encode_item_write

KEY = KeySchema("id", "S")
COUNTER_ATTRIBUTE = "n"


def table_of(partition_id: str) -> str:
    return f"counters-{partition_id}"


class _OnePartitionCatalog:
    """``operations.common.TableCatalogView`` of a table whose one partition is ``partition_id``."""

    def __init__(self, partition_id: str) -> None:
        self.partition_id = partition_id
        self.table_name = table_of(partition_id)

    def schema(self, table_name: str) -> TableSchema:
        if table_name != self.table_name:
            raise ResourceNotFoundException("Requested resource not found")
        return TableSchema(table_name, self.partition_id, KEY)

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        return PartitionRange(self.partition_id, 0, 2**64, ("",))

    def partitions(self, table_name: str) -> list[PartitionRange]:
        return [self.partition_for(table_name, 0)]


def increment_command(partition_id: str, counter: str, request_id: bytes) -> bytes:
    """The command of ``UpdateItem ADD n :one`` on item ``counter``, returning the new value."""
    request = {
        "TableName": table_of(partition_id),
        "Key": {"id": {"S": counter}},
        "UpdateExpression": f"ADD {COUNTER_ATTRIBUTE} :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
        "ReturnValues": "UPDATED_NEW",
    }
    plan = plan_update_item(request, _OnePartitionCatalog(partition_id))
    return encode_item_write(ItemWrite(request_id, KEY, (plan.op,)))


def request_id_of(command: bytes) -> bytes:
    return command_header(command)[1]


def new_value_of(result: Mapping[str, Any]) -> int:
    """The counter's value after the increment, from an applied command's result."""
    (op,) = result["ops"]
    return int(op["attributes"][COUNTER_ATTRIBUTE]["N"])


def read_request(counter: str) -> dict[str, Any]:
    return GetRead((storage_key(KEY, {"id": {"S": counter}}),)).to_wire()


def value_read(answer: Mapping[str, Any]) -> int:
    """The counter's value in a ``get`` answer (0 when the item does not exist)."""
    (item,) = GetResult.from_wire(answer).items
    if item is None:
        return 0
    return int(item[COUNTER_ATTRIBUTE]["N"])


@dataclass(slots=True)
class Increment:
    """One client request: which counter, its id and command, and what became of it."""

    partition_id: str
    counter: str
    request_id: bytes
    command: bytes
    issued_at: float
    attempts: int = 0
    acked_value: int | None = None
    abandoned: bool = False
