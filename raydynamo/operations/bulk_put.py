"""Bulk puts: many items into one table, one command per partition per chunk of items.

Role: the write path of ``raydynamo.data.write_table`` (no DynamoDB operation has it: a
BatchWriteItem holds 25 requests; a bulk put holds any number). Every item is validated exactly
as a BatchWriteItem put (``put_items``: values, then the key against the table's schema, then the
canonical form), located, grouped by partition in the order given, and cut into ``ItemWrite``
commands of at most ``ops_per_command`` puts. Each command's request id is derived from the
caller's operation (``transport.command_id(partition_id, chunk index)``), so sending the same
planned command again is applied at most once. Unlike BatchWriteItem, one item may appear more
than once: its puts apply in the given order (the last one wins).

``send_commands`` sends planned commands all at once (the router queues the commands bound for
one partition together, so they share as few calls as its bounds allow) and says, per command,
what happened: applied (with its write units), throttled (nothing was proposed: send it again
later), moved (the partition map changed: plan its items again), or unknown (it may have been
applied: send the same command again, never a new one). A failed op inside an applied command
is a bug (a put has no condition): it is raised.

Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ClientError
from raydynamo.api.schema import Item, TableSchema
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.operations.batch_write import NOT_APPLIED_CODES
from raydynamo.operations.capacity import write_units
from raydynamo.operations.common import (
    PartitionTransport,
    TableCatalogView,
    locate,
    raise_for_result,
)
from raydynamo.operations.put_items import check_put_values, put_item_for
from raydynamo.partition.item_writes import (
    ITEM_WRITE_OPS_MAX,
    ItemWrite,
    PutItemOp,
    encode_item_write,
)

OPS_PER_COMMAND_MAX = ITEM_WRITE_OPS_MAX
INDETERMINATE_CODES = frozenset({"ServiceUnavailable", "InternalServerError"})


@dataclass(frozen=True, slots=True)
class PlannedPut:
    """One validated item: canonical, with its size and where it lives."""

    item: Item
    size_bytes: int
    partition: PartitionRange
    storage_key: bytes


@dataclass(frozen=True, slots=True)
class BulkCommand:
    """One partition command of a bulk put, ready to send (and to send again, unchanged)."""

    partition: PartitionRange
    request_id: bytes
    command: bytes
    puts: tuple[PlannedPut, ...]

    @property
    def planned_units(self) -> int:
        """Write units the command's puts need at least (1 per started KB of each new item)."""
        return sum(int(write_units(None, put.size_bytes)) for put in self.puts)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one sent command; exactly one of the flags is set, or ``units``."""

    command: BulkCommand
    units: float = 0.0
    throttled: bool = False
    moved: bool = False
    unknown: ClientError | None = None


def validate_puts(
    items: Sequence[Any], schema: TableSchema, catalog: TableCatalogView
) -> list[PlannedPut]:
    """Validate and locate every item (raises the first item's DynamoDB error)."""
    planned: list[PlannedPut] = []
    for item in items:
        canonical, size = put_item_for(schema, item, check_put_values(item))
        located = locate(catalog, schema, canonical)
        planned.append(PlannedPut(canonical, size, located.partition, located.storage_key))
    return planned


def relocate(
    puts: Sequence[PlannedPut], schema: TableSchema, catalog: TableCatalogView
) -> list[PlannedPut]:
    """The same validated puts located again (after the partition map changed)."""
    return [
        PlannedPut(p.item, p.size_bytes, locate(catalog, schema, p.item).partition, p.storage_key)
        for p in puts
    ]


def plan_commands(
    puts: Sequence[PlannedPut],
    schema: TableSchema,
    transport: PartitionTransport,
    *,
    ops_per_command: int = OPS_PER_COMMAND_MAX,
    first_chunk: int = 0,
) -> list[BulkCommand]:
    """Group puts by partition (in order) and cut them into commands; chunk numbers start at
    ``first_chunk`` and name each command's request id with its partition."""
    assert 1 <= ops_per_command <= OPS_PER_COMMAND_MAX, ops_per_command
    by_partition: dict[str, list[PlannedPut]] = {}
    for put in puts:
        by_partition.setdefault(put.partition.partition_id, []).append(put)
    commands: list[BulkCommand] = []
    chunk = first_chunk
    for partition_id, group in by_partition.items():
        for start in range(0, len(group), ops_per_command):
            part = tuple(group[start : start + ops_per_command])
            request_id = transport.command_id(partition_id, chunk)
            ops = tuple(PutItemOp(p.storage_key, p.item, size_bytes=p.size_bytes) for p in part)
            command = encode_item_write(ItemWrite(request_id, schema.key, ops))
            commands.append(BulkCommand(part[0].partition, request_id, command, part))
            chunk += 1
    return commands


WriteMany = Callable[[list[tuple[PartitionRange, bytes, bytes]]], Awaitable[list[Any]]]


async def send_commands(
    commands: Sequence[BulkCommand], write_many: WriteMany, moved_error: type[BaseException]
) -> list[Outcome]:
    """Send every command at once through ``write_many`` (``(partition, request id, command)``
    in, a result or an exception per command out); one ``Outcome`` each. ``moved_error`` is
    the exception that says a partition refused the map it was sent with."""
    results = await write_many([(c.partition, c.request_id, c.command) for c in commands])
    outcomes: list[Outcome] = []
    for command, result in zip(commands, results, strict=True):
        if isinstance(result, moved_error):
            outcomes.append(Outcome(command, moved=True))
        elif isinstance(result, ClientError) and result.code in NOT_APPLIED_CODES:
            outcomes.append(Outcome(command, throttled=True))
        elif isinstance(result, ClientError) and result.code in INDETERMINATE_CODES:
            outcomes.append(Outcome(command, unknown=result))
        elif isinstance(result, BaseException):
            raise result
        else:
            outcomes.append(Outcome(command, units=_applied_units(result)))
    return outcomes


def _applied_units(result: dict[str, Any]) -> float:
    raise_for_result(result, "BatchWriteItem")
    units = 0.0
    for op_result in result["ops"]:
        raise_for_result(op_result, "BatchWriteItem")
        units += write_units(op_result.get("old_size"), op_result.get("new_size"))
    return units
