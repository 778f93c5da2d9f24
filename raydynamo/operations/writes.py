"""PutItem, UpdateItem and DeleteItem: validate, send one item-write command, shape the answer.

Role: the router's entry points for single-item writes. Each validates the whole request first
(``write_plan.py``; nothing is sent when anything is invalid), sends one ``ItemWrite`` with a
request id derived from the client operation's (``transport.command_id``: every retry of the
operation sends the same id, and the partition answers a retry with the first result), and
returns DynamoDB's response dict:

- ``Attributes`` as ReturnValues asked (omitted when there is nothing to return);
- ``ConsumedCapacity`` as ReturnConsumedCapacity asked (``capacity.py``: 1 WCU per started KB
  of the larger of the old and new item);
- ``ItemCollectionMetrics`` is never returned (raydynamo has no local secondary indexes, and
  DynamoDB omits it for tables without them).

A false condition raises ``ConditionalCheckFailedException("The conditional request failed")``,
with ``Item`` in its response when ReturnValuesOnConditionCheckFailure is ALL_OLD and the item
existed. Must not import ray or rocksdict.
"""

from __future__ import annotations

from typing import Any

from raydynamo.operations.capacity import consumed_capacity, write_units
from raydynamo.operations.common import (
    PartitionTransport,
    TableCatalogView,
    client_operation,
    raise_for_result,
)
from raydynamo.operations.write_plan import (
    PlannedWrite,
    plan_delete_item,
    plan_put_item,
    plan_update_item,
)
from raydynamo.partition.item_writes import ItemWrite, encode_item_write


async def send_planned(
    plan: PlannedWrite, transport: PartitionTransport, operation: str
) -> dict[str, Any]:
    """Send one planned write; return its op result, or raise the error it carries."""
    write = ItemWrite(transport.command_id("item"), plan.schema.key, (plan.op,))
    result = await transport.write(
        plan.table_name, plan.located.partition, write.request_id, encode_item_write(write)
    )
    raise_for_result(result, operation)
    (op_result,) = result["ops"]
    raise_for_result(op_result, operation)
    return op_result


def write_response(plan: PlannedWrite, op_result: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's response to a single-item write from the partition's op result."""
    response: dict[str, Any] = {}
    attributes = op_result.get("attributes")
    if attributes:
        response["Attributes"] = attributes
    units = write_units(op_result.get("old_size"), op_result.get("new_size"))
    capacity = consumed_capacity(plan.return_consumed_capacity, plan.table_name, units)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


@client_operation("PutItem")
async def put_item(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """Create or replace an item (ReturnValues: NONE or ALL_OLD)."""
    plan = plan_put_item(request, catalog)
    return write_response(plan, await send_planned(plan, transport, "PutItem"))


@client_operation("UpdateItem")
async def update_item(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """Edit an item's attributes, creating the item when absent (any ReturnValues)."""
    plan = plan_update_item(request, catalog)
    return write_response(plan, await send_planned(plan, transport, "UpdateItem"))


@client_operation("DeleteItem")
async def delete_item(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """Delete an item by key (ReturnValues: NONE or ALL_OLD); deleting nothing is no error."""
    plan = plan_delete_item(request, catalog)
    return write_response(plan, await send_planned(plan, transport, "DeleteItem"))
