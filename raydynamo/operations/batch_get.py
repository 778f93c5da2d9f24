"""BatchGetItem: up to 100 items from one or more tables, read from their partitions at once.

Role: validate the whole request first (DynamoDB's order: parameter types, constraint errors,
then per table the expression/legacy mixing, AttributesToGet, the ProjectionExpression, the keys'
values and duplicates, the 100-key total; then every table, then every key against its table's
schema), group the keys by partition, send one ``get`` read per partition concurrently, and
answer ``Responses`` (a list per requested table, in request order, without the absent items),
``UnprocessedKeys`` and, when asked, ``ConsumedCapacity`` per table (every item rounded up to 4
KB on its own, halved when eventually consistent).

UnprocessedKeys is ``{}`` normally. Keys land there, with the table's projection and consistency
parameters, when the response would pass DynamoDB's 16 MB limit, or when their partition could
not be read for a retryable reason (throttling, no leader); if no key at all could be read the
error itself is raised, as DynamoDB does.

Invariants: an invalid request sends nothing; one bad table or key fails the whole batch.
Must not import ray or rocksdict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from raydynamo.api.errors import ClientError, ValidationException, from_wire
from raydynamo.api.expressions import check_parameter_mix, compile_request
from raydynamo.api.sizes import item_size
from raydynamo.api.values import canonicalize
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.operations.capacity import (
    CapacityTally,
    consumed_capacity_list,
    read_units,
)
from raydynamo.operations.common import (
    ConstraintErrors,
    Located,
    PartitionTransport,
    TableCatalogView,
    check_request_items_keys,
    check_return_consumed_capacity,
    client_operation,
    locate,
)
from raydynamo.operations.read_common import (
    ReadSelection,
    check_attributes_to_get,
    check_key_paths,
    check_key_values,
    read_key,
    selection_of,
    translate_attributes,
)
from raydynamo.operations.shapes import check_request
from raydynamo.partition.item_reads import GetRead, GetResult

BATCH_GET_KEYS_MAX = 100
RESPONSE_SIZE_MAX_BYTES = 16 * 1024 * 1024  # DynamoDB: "up to 16 MB of data"
# The conformance suite's capture; DynamoDB's answer for an empty map differs between regions.
EMPTY_REQUEST_ITEMS = "The requestItems parameter is required for BatchGetItem"


@dataclass(frozen=True)
class TableGets:
    """One table's part of a validated BatchGetItem."""

    table_name: str
    entry: Mapping[str, Any]  # the request's KeysAndAttributes, echoed in UnprocessedKeys
    keys: list[dict[str, Any]]  # canonical keys, in request order
    located: list[Located]
    selection: ReadSelection
    consistent: bool


@dataclass(frozen=True)
class BatchGetPlan:
    tables: list[TableGets]
    capacity_mode: str | None


# --- validation -----------------------------------------------------------------------------------


def _check_constraints(request: Mapping[str, Any]) -> None:
    errors = ConstraintErrors()
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    request_items = request.get("RequestItems")
    errors.not_null(request_items, "requestItems")
    check_request_items_keys(errors, request_items or {})
    for table_name, entry in (request_items or {}).items():
        keys = entry.get("Keys")
        member = f"requestItems.{table_name}.member.keys"
        errors.not_null(keys, member)
        if keys is not None and not 1 <= len(keys) <= BATCH_GET_KEYS_MAX:
            # The conformance suite's capture: no value shown, DynamoDB's own capitalization.
            bound = (
                "greater than or equal to 1"  # wording unverified for the empty list
                if not keys
                else f"less than or equal to {BATCH_GET_KEYS_MAX}"
            )
            errors.messages.append(
                f"Value at 'RequestItems.{table_name}.member.Keys' failed to satisfy "
                f"constraint: Member must have length {bound}"
            )
        check_attributes_to_get(
            errors,
            entry.get("AttributesToGet"),
            f"requestItems.{table_name}.member.attributesToGet",
        )
    errors.raise_if_any()
    if not request_items:
        raise ValidationException(EMPTY_REQUEST_ITEMS)


def _check_mixing_across_tables(request_items: Mapping[str, Mapping[str, Any]]) -> None:
    """One table with ProjectionExpression and another with AttributesToGet is refused.

    The conformance suite shows DynamoDB refusing it; the message is the one it gives for the
    same mix within one table. # wording unverified
    """
    uses_expression = any(e.get("ProjectionExpression") is not None for e in request_items.values())
    uses_legacy = any(e.get("AttributesToGet") is not None for e in request_items.values())
    if uses_expression and uses_legacy:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            "Non-expression parameters: {AttributesToGet} "
            "Expression parameters: {ProjectionExpression}"
        )


def _key_identity(key: Mapping[str, Any]) -> bytes:
    """Equal for two Key maps naming the same item (numbers compared by value)."""
    return msgpack.packb(sorted((n, canonicalize(v)) for n, v in key.items()), use_bin_type=True)


def _check_table_entry(table_name: str, entry: Mapping[str, Any]) -> ReadSelection:
    """One table's expression checks, key values and duplicates (before any table is looked up)."""
    check_parameter_mix(entry, ("ProjectionExpression",), ("AttributesToGet",))
    attributes = translate_attributes(entry.get("AttributesToGet"))
    compiled = compile_request("BatchGetItem", entry)
    seen: set[bytes] = set()
    for key in entry["Keys"]:
        check_key_values(key, f"RequestItems.{table_name}.Keys")
        identity = _key_identity(key)
        if identity in seen:
            raise ValidationException("Provided list of item keys contains duplicates")
        seen.add(identity)
    return selection_of(compiled, attributes)


def plan_batch_get(request: Mapping[str, Any], catalog: TableCatalogView) -> BatchGetPlan:
    """Every check of a BatchGetItem request, in DynamoDB's order; raises the first failure."""
    check_request("BatchGetItem", request)
    _check_constraints(request)
    request_items: Mapping[str, Mapping[str, Any]] = request["RequestItems"]
    selections: dict[str, ReadSelection] = {}
    total = 0
    for table_name, entry in request_items.items():
        selections[table_name] = _check_table_entry(table_name, entry)
        total += len(entry["Keys"])
        if total > BATCH_GET_KEYS_MAX:
            raise ValidationException("Too many items requested for the BatchGetItem call")
    _check_mixing_across_tables(request_items)
    schemas = {name: catalog.schema(name) for name in request_items}
    tables = []
    for table_name, entry in request_items.items():
        schema = schemas[table_name]
        keys = [read_key(schema, key) for key in entry["Keys"]]
        selection = selections[table_name]
        if selection.paths is not None:
            check_key_paths(schema, selection.paths)
        tables.append(
            TableGets(
                table_name=table_name,
                entry=entry,
                keys=keys,
                located=[locate(catalog, schema, key) for key in keys],
                selection=selection,
                consistent=bool(entry.get("ConsistentRead")),
            )
        )
    return BatchGetPlan(tables, request.get("ReturnConsumedCapacity"))


# --- execution ------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What came back for one table: per key, (item or None, full size) or an error."""

    found: dict[int, tuple[dict[str, Any] | None, int]] = field(default_factory=dict)
    failed: dict[int, ClientError] = field(default_factory=dict)


async def _read_group(
    transport: PartitionTransport,
    table: TableGets,
    partition: PartitionRange,
    indexes: list[int],
    outcome: _Outcome,
) -> None:
    request = GetRead(
        tuple(table.located[i].storage_key for i in indexes), table.selection.paths
    ).to_wire()
    try:
        result = await transport.read(table.table_name, partition, request, table.consistent)
        if "error" in result:
            raise from_wire(result["error"])
    except ClientError as err:
        if not err.retryable:
            raise
        for index in indexes:
            outcome.failed[index] = err
        return
    got = GetResult.from_wire(result)
    for index, item, size in zip(indexes, got.items, got.sizes, strict=True):
        outcome.found[index] = (item, size)


async def _read_all(plan: BatchGetPlan, transport: PartitionTransport) -> list[_Outcome]:
    outcomes = [_Outcome() for _ in plan.tables]
    tasks = []
    for table, outcome in zip(plan.tables, outcomes, strict=True):
        groups: dict[str, tuple[PartitionRange, list[int]]] = {}
        for index, located in enumerate(table.located):
            pid = located.partition.partition_id
            groups.setdefault(pid, (located.partition, []))[1].append(index)
        for partition, indexes in groups.values():
            tasks.append(_read_group(transport, table, partition, indexes, outcome))
    await asyncio.gather(*tasks)
    return outcomes


def _unprocessed_entry(table: TableGets) -> dict[str, Any]:
    entry = {k: v for k, v in table.entry.items() if k != "Keys"}
    entry["Keys"] = []
    return entry


def _assemble(plan: BatchGetPlan, outcomes: list[_Outcome]) -> dict[str, Any]:
    responses: dict[str, list[dict[str, Any]]] = {}
    unprocessed: dict[str, dict[str, Any]] = {}
    tally = CapacityTally()
    response_bytes = 0
    for table, outcome in zip(plan.tables, outcomes, strict=True):
        responses[table.table_name] = []
        tally.touch(table.table_name)
        for index in range(len(table.keys)):
            got = outcome.found.get(index)
            size = item_size(got[0]) if got is not None and got[0] is not None else 0
            if got is None or response_bytes + size > RESPONSE_SIZE_MAX_BYTES:
                pending = unprocessed.setdefault(table.table_name, _unprocessed_entry(table))
                pending["Keys"].append(table.entry["Keys"][index])  # as the caller wrote it
                continue
            response_bytes += size
            tally.charge(table.table_name, read_units(got[1], consistent=table.consistent))
            if got[0] is not None:
                responses[table.table_name].append(got[0])
    response: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    capacity = consumed_capacity_list(plan.capacity_mode, tally)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response


@client_operation("BatchGetItem")
async def batch_get_item(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """DynamoDB's BatchGetItem."""
    plan = plan_batch_get(request, catalog)
    outcomes = await _read_all(plan, transport)
    if all(not outcome.found for outcome in outcomes):
        failures = [err for outcome in outcomes for err in outcome.failed.values()]
        if failures:
            raise failures[0]
    return _assemble(plan, outcomes)
