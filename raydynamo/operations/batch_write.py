"""BatchWriteItem: up to 25 puts and deletes over one or more tables, one command per partition.

Role: validate the whole batch (DynamoDB refuses the whole batch when any request in it is
invalid, and writes nothing), group the requests by the partition that holds each item, send one
``ItemWrite`` per partition concurrently, and answer with ``UnprocessedItems`` (the requests of
partitions that could not be reached with a retryable error; ``{}`` normally) and, when asked,
``ConsumedCapacity`` per table.

Rules (DynamoDB API reference and dynalite's captures): 1..25 requests per table and 25 in total;
each write request holds exactly one of PutRequest / DeleteRequest; items follow PutItem's value
and size rules; a key that does not match the table's schema is "The provided key element does
not match the schema"; two requests on the same item of one table are "Provided list of item keys
contains duplicates"; no conditions, no ReturnValues. Each request is applied on its own (a batch
is not a transaction); requests to one partition apply in one slot.

Must not import ray or rocksdict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ClientError, ValidationException
from raydynamo.api.schema import Item, TableSchema
from raydynamo.api.values import validate_attribute_value
from raydynamo.operations.capacity import (
    CapacityTally,
    consumed_capacity_list,
    write_units,
)
from raydynamo.operations.common import (
    RETURN_CONSUMED_CAPACITY,
    RETURN_ITEM_COLLECTION_METRICS,
    ConstraintErrors,
    Located,
    PartitionTransport,
    TableCatalogView,
    check_request_items_keys,
    check_return_consumed_capacity,
    client_operation,
    locate,
    raise_for_result,
    shown_map,
    valid_table_name,
    validate_key_for,
)
from raydynamo.operations.put_items import check_put_values, plain_item, put_item_for
from raydynamo.operations.shapes import check_request
from raydynamo.partition.item_writes import (
    DeleteItemOp,
    ItemOp,
    ItemWrite,
    PutItemOp,
    encode_item_write,
)

BATCH_WRITE_REQUESTS_MAX = 25
# Errors that mean a partition refused the requests before proposing anything.
NOT_APPLIED_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})

DUPLICATE_KEYS = "Provided list of item keys contains duplicates"
NOT_ONE_REQUEST = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
TOO_MANY_REQUESTS = "Too many items requested for the BatchWriteItem call"  # wording unverified
_PLAIN_ENUMS = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
}
_MAP_VALUES_RULE = (
    "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
    "Member must have length greater than or equal to 1]"
)


@dataclass(frozen=True, slots=True)
class _Planned:
    table_name: str
    located: Located
    op: ItemOp
    original: Mapping[str, Any]  # the write request as given, for UnprocessedItems
    index: int  # its position in the whole request (tables in request order)


def _check_constraints(request: Mapping[str, Any]) -> None:
    errors = ConstraintErrors()
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    errors.enum(
        request.get("ReturnItemCollectionMetrics"),
        "returnItemCollectionMetrics",
        RETURN_ITEM_COLLECTION_METRICS,
    )
    items = request.get("RequestItems")
    errors.not_null(items, "requestItems")
    if items is not None:
        errors.length_min("{}", "requestItems", 1, len(items))
        check_request_items_keys(errors, items)
        if any(not 1 <= len(requests) <= BATCH_WRITE_REQUESTS_MAX for requests in items.values()):
            errors.add(shown_map(items), "requestItems", _MAP_VALUES_RULE)
        for table_name, requests in items.items():
            for index, write_request in enumerate(requests, start=1):
                member = f"requestItems.{table_name}.member.{index}.member"
                delete = write_request.get("DeleteRequest")
                if delete is not None:
                    errors.not_null(delete.get("Key"), f"{member}.deleteRequest.key")
                put = write_request.get("PutRequest")
                if put is not None:
                    errors.not_null(put.get("Item"), f"{member}.putRequest.item")
    errors.raise_if_any()
    if sum(len(requests) for requests in items.values()) > BATCH_WRITE_REQUESTS_MAX:
        raise ValidationException(TOO_MANY_REQUESTS)


def _check_values(items: Mapping[str, list[Any]]) -> list[tuple[Item, int] | None]:
    """One request kind per write request; item and key values (before any table is looked up).
    Returns, per write request in order, the plain put's ``(canonical item, size)`` if any."""
    plain: list[tuple[Item, int] | None] = []
    for requests in items.values():
        for write_request in requests:
            kinds = [k for k in ("PutRequest", "DeleteRequest") if write_request.get(k) is not None]
            if len(kinds) != 1:
                raise ValidationException(NOT_ONE_REQUEST)
            if kinds[0] == "PutRequest":
                plain.append(check_put_values(write_request["PutRequest"]["Item"]))
            else:
                for name, value in write_request["DeleteRequest"]["Key"].items():
                    validate_attribute_value(value, path=f"Key.{name}")
                plain.append(None)
    return plain


def _plan_table(
    table_name: str,
    requests: list[Any],
    catalog: TableCatalogView,
    schema: TableSchema,
    first_index: int,
    plain: list[tuple[Item, int] | None],
) -> list[_Planned]:
    planned: list[_Planned] = []
    for index, write_request in enumerate(requests, start=first_index):
        put = write_request.get("PutRequest")
        if put is not None:
            item, size = put_item_for(schema, put["Item"], plain[index])
            located = locate(catalog, schema, item)
            op: ItemOp = PutItemOp(located.storage_key, item, size_bytes=size)
        else:
            key = validate_key_for(schema, write_request["DeleteRequest"]["Key"])
            located = locate(catalog, schema, key)
            op = DeleteItemOp(located.storage_key)
        planned.append(_Planned(table_name, located, op, write_request, index))
    storage_keys = {p.located.storage_key for p in planned}
    if len(storage_keys) != len(planned):
        raise ValidationException(DUPLICATE_KEYS)
    return planned


PlainPut = tuple[str, Any, tuple[Item, int]]  # table name, write request, plain item


def _plain_request(request: object) -> list[PlainPut] | None:
    """The puts of a request that every shape, constraint and value check of BatchWriteItem
    passes without a doubt (plain types only: ``put_items.plain_item``); None for anything
    else, which then takes the full checks in DynamoDB's order."""
    if type(request) is not dict:
        return None
    for member, value in request.items():
        if member == "RequestItems":
            continue
        allowed = _PLAIN_ENUMS.get(member)
        if allowed is None or (value is not None and value not in allowed):
            return None
    items = request.get("RequestItems")
    if type(items) is not dict or not items:
        return None
    puts: list[PlainPut] = []
    for table_name, requests in items.items():
        if type(table_name) is not str or not table_name.isascii():
            return None
        if not valid_table_name(table_name) or type(requests) is not list:
            return None
        if not 1 <= len(requests) <= BATCH_WRITE_REQUESTS_MAX:
            return None
        for write_request in requests:
            if type(write_request) is not dict or len(write_request) != 1:
                return None
            put = write_request.get("PutRequest")
            if type(put) is not dict or len(put) != 1:
                return None
            plain = plain_item(put.get("Item"))
            if plain is None:
                return None
            puts.append((table_name, write_request, plain))
    if len(puts) > BATCH_WRITE_REQUESTS_MAX:
        return None
    return puts


def _plan_plain(
    puts: list[PlainPut], catalog: TableCatalogView
) -> tuple[dict[str, TableSchema], list[_Planned]]:
    """Plan plain puts (tables in request order) with the full path's key checks and order."""
    schemas: dict[str, TableSchema] = {}
    for table_name, _, _ in puts:
        if table_name not in schemas:
            schemas[table_name] = catalog.schema(table_name)
    planned: list[_Planned] = []
    table_keys: set[bytes] = set()
    for index, (table_name, write_request, plain) in enumerate(puts):
        if index and table_name != puts[index - 1][0]:
            table_keys = set()  # duplicates are refused within a table, table by table
        schema = schemas[table_name]
        item, size = put_item_for(schema, write_request["PutRequest"]["Item"], plain)
        located = locate(catalog, schema, item)
        op = PutItemOp(located.storage_key, item, size_bytes=size)
        planned.append(_Planned(table_name, located, op, write_request, index))
        table_keys.add(located.storage_key)
        last_of_table = index + 1 == len(puts) or puts[index + 1][0] != table_name
        if last_of_table and len(table_keys) != sum(p.table_name == table_name for p in planned):
            raise ValidationException(DUPLICATE_KEYS)
    return schemas, planned


def plan_batch_write(
    request: object, catalog: TableCatalogView
) -> tuple[dict[str, TableSchema], list[_Planned], str | None]:
    """Validate a whole BatchWriteItem request; return its schemas and planned ops.

    A request of plain puts (the common case) is checked in one pass; any other takes every
    check in DynamoDB's order. Both accept and refuse the same requests with the same errors.
    """
    puts = _plain_request(request)
    if puts is not None:
        assert isinstance(request, dict)
        schemas, planned = _plan_plain(puts, catalog)
        return schemas, planned, request.get("ReturnConsumedCapacity")
    checked = check_request("BatchWriteItem", request)
    _check_constraints(checked)
    items = checked["RequestItems"]
    plain = _check_values(items)
    schemas = {table_name: catalog.schema(table_name) for table_name in items}
    planned: list[_Planned] = []
    for table_name, requests in items.items():
        planned.extend(
            _plan_table(table_name, requests, catalog, schemas[table_name], len(planned), plain)
        )
    return schemas, planned, checked.get("ReturnConsumedCapacity")


async def _send_group(
    group: list[_Planned], schema: TableSchema, transport: PartitionTransport
) -> dict[str, Any]:
    first = group[0]
    # The same requests to the same partition get the same id on every retry of the operation.
    request_id = transport.command_id(
        first.located.partition.partition_id, *(p.index for p in group)
    )
    write = ItemWrite(request_id, schema.key, tuple(p.op for p in group))
    return await transport.write(
        first.table_name, first.located.partition, write.request_id, encode_item_write(write)
    )


@client_operation("BatchWriteItem")
async def batch_write_item(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """Write up to 25 items (puts and deletes) over one or more tables."""
    schemas, planned, capacity_mode = plan_batch_write(request, catalog)
    groups: dict[tuple[str, str], list[_Planned]] = {}
    for p in planned:
        groups.setdefault((p.table_name, p.located.partition.partition_id), []).append(p)
    outcomes = await asyncio.gather(
        *(_send_group(group, schemas[table], transport) for (table, _), group in groups.items()),
        return_exceptions=True,
    )
    tally = CapacityTally()
    for table_name in schemas:
        tally.touch(table_name)
    unprocessed: dict[str, list[Any]] = {}
    failures: list[BaseException] = []
    indeterminate: BaseException | None = None
    for group, outcome in zip(groups.values(), outcomes, strict=True):
        if isinstance(outcome, ClientError) and outcome.code in NOT_APPLIED_CODES:
            failures.append(outcome)  # refused before anything was proposed: unprocessed
            for p in group:
                unprocessed.setdefault(p.table_name, []).append(p.original)
            continue
        if isinstance(outcome, BaseException):
            # Maybe applied: never report it unprocessed (the client would resend it as a new
            # request); fail the whole call, whose retry carries the same request ids.
            indeterminate = indeterminate or outcome
            continue
        raise_for_result(outcome, "BatchWriteItem")
        for p, op_result in zip(group, outcome["ops"], strict=True):
            raise_for_result(op_result, "BatchWriteItem")
            units = write_units(op_result.get("old_size"), op_result.get("new_size"))
            tally.charge(p.table_name, units)
    if indeterminate is not None:
        raise indeterminate
    if failures and len(failures) == len(groups):
        raise failures[0]
    response: dict[str, Any] = {"UnprocessedItems": unprocessed}
    capacity = consumed_capacity_list(capacity_mode, tally)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response
