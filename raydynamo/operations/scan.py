"""Scan: every item of a table (or of one parallel-scan segment), a page at a time.

Role: validate a Scan as DynamoDB does, then read the table's partitions in key-hash order, one
``scan`` read at a time, until the page is full (``Limit`` items read, or 1 MB read) or the last
partition is done, and answer ``Items`` (absent for Select COUNT), ``Count``, ``ScannedCount``,
``LastEvaluatedKey`` and ``ConsumedCapacity`` (the sizes of all items read, rounded once).

Paging: within a partition items come in storage-key order; a LastEvaluatedKey is the key of
the last item read, so the next page starts in the partition whose hash range holds that key's
hash, right after the key, then goes on with the following partitions.

Parallel scan: segment ``s`` of ``TotalSegments = n`` is the key-hash range
``[s * 2**64 // n, (s + 1) * 2**64 // n)``; the segments of one ``n`` partition the hash space and
so the table, whatever its partitions. A segment reads only the partitions its range overlaps,
and only the items whose key hash is in its range; its ExclusiveStartKey must hash into it.

Order of checks: parameter types, constraint errors (Limit, TotalSegments,
ReturnConsumedCapacity, AttributesToGet, Select, TableName, IndexName, Segment, ScanFilter,
ConditionalOperator), expression/legacy mixing, AttributesToGet, ScanFilter operands,
ExclusiveStartKey values, Segment/TotalSegments together, the expressions, Select; then the
table, IndexName, ExclusiveStartKey against the schema and the segment, key attributes in paths.

Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import check_parameter_mix, compile_request
from raydynamo.api.schema import Item, TableSchema, item_key_hash, storage_key
from raydynamo.metadata.partition_map import HASH_SPACE, PartitionRange
from raydynamo.operations.common import (
    CONDITIONAL_OPERATORS,
    SELECT_VALUES,
    ConstraintErrors,
    PartitionTransport,
    TableCatalogView,
    check_return_consumed_capacity,
    check_table_name,
    client_operation,
    raise_for_result,
)
from raydynamo.operations.read_common import (
    START_KEY_INVALID,
    ReadFilter,
    ReadSelection,
    check_attributes_to_get,
    check_condition_operators,
    check_index_name,
    check_key_paths,
    check_select,
    check_start_key_values,
    check_value_at_least,
    check_value_at_most,
    expression_filter,
    page_response,
    refuse_index,
    selection_of,
    start_key_for_scan,
    translate_attributes,
    translate_legacy_filter,
)
from raydynamo.operations.shapes import check_request
from raydynamo.partition.item_reads import PAGE_SIZE_MAX_BYTES, PageOptions, PageResult, ScanRead

TOTAL_SEGMENTS_MAX = 1_000_000  # API reference: TotalSegments 1..1000000
SEGMENT_MAX = TOTAL_SEGMENTS_MAX - 1  # API reference: Segment 0..999999


def segment_range(segment: int, total_segments: int) -> tuple[int, int]:
    """The key-hash range ``[start, end)`` of one parallel-scan segment."""
    assert 0 <= segment < total_segments
    return HASH_SPACE * segment // total_segments, HASH_SPACE * (segment + 1) // total_segments


@dataclass(frozen=True)
class ScanPlan:
    """A validated Scan: where to start, which hashes to read, and the read options."""

    table_name: str
    schema: TableSchema
    hash_start: int
    hash_end: int
    start_key: Item | None
    limit: int | None
    read_filter: ReadFilter | None
    selection: ReadSelection
    consistent: bool
    count_only: bool
    capacity_mode: str | None


def _check_request(request: Mapping[str, Any]) -> None:
    """Parameter types and the constraint errors DynamoDB collects into one message."""
    check_request("Scan", request)
    errors = ConstraintErrors()
    check_value_at_least(errors, request.get("Limit"), "limit", 1)
    check_value_at_least(errors, request.get("TotalSegments"), "totalSegments", 1)
    check_value_at_most(errors, request.get("TotalSegments"), "totalSegments", TOTAL_SEGMENTS_MAX)
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    check_attributes_to_get(errors, request.get("AttributesToGet"), "attributesToGet")
    errors.enum(request.get("Select"), "select", SELECT_VALUES)
    check_table_name(errors, request.get("TableName"))
    check_index_name(errors, request.get("IndexName"))
    check_value_at_least(errors, request.get("Segment"), "segment", 0)
    check_value_at_most(errors, request.get("Segment"), "segment", SEGMENT_MAX)
    check_condition_operators(errors, request.get("ScanFilter"), "scanFilter")
    errors.enum(request.get("ConditionalOperator"), "conditionalOperator", CONDITIONAL_OPERATORS)
    errors.raise_if_any()


def _check_segments(segment: int | None, total_segments: int | None) -> None:
    """Segment and TotalSegments come together, Segment below TotalSegments (AWS's wording)."""
    if segment is not None and total_segments is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when "
            "Segment parameter is present"
        )
    if total_segments is not None and segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when "
            "parameter TotalSegments is present"
        )
    if segment is not None and total_segments is not None and segment >= total_segments:
        raise ValidationException(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total_segments}"
        )


def _check_expressions(request: Mapping[str, Any]) -> tuple[ReadFilter | None, ReadSelection]:
    """Everything that needs no table: mixing, legacy parameters, segments, expressions."""
    check_parameter_mix(
        request,
        ("ProjectionExpression", "FilterExpression"),  # the order DynamoDB names them in
        ("AttributesToGet", "ScanFilter", "ConditionalOperator"),
    )
    attributes = translate_attributes(request.get("AttributesToGet"))
    legacy_filter = translate_legacy_filter(
        request.get("ScanFilter"), request.get("ConditionalOperator"), "ScanFilter"
    )
    check_start_key_values(request.get("ExclusiveStartKey"))
    _check_segments(request.get("Segment"), request.get("TotalSegments"))
    compiled = compile_request("Scan", request)
    return legacy_filter or expression_filter(compiled), selection_of(compiled, attributes)


def plan_scan(request: Mapping[str, Any], catalog: TableCatalogView) -> ScanPlan:
    """Every check of a Scan request, in DynamoDB's order; raises the first failure."""
    _check_request(request)
    read_filter, selection = _check_expressions(request)
    count_only = check_select(request, envelope=False)
    schema = catalog.schema(request["TableName"])
    refuse_index(request.get("IndexName"))
    segment, total_segments = request.get("Segment"), request.get("TotalSegments")
    hash_start, hash_end = 0, HASH_SPACE
    if segment is not None and total_segments is not None:
        hash_start, hash_end = segment_range(segment, total_segments)
    raw_start = request.get("ExclusiveStartKey")
    start_key = start_key_for_scan(schema, raw_start) if raw_start is not None else None
    if start_key is not None and not hash_start <= item_key_hash(schema.key, start_key) < hash_end:
        # dynalite's capture of DynamoDB; wording unverified against AWS itself
        raise ValidationException(
            f"{START_KEY_INVALID}: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with "
            f"correct Segment. TotalSegments: {total_segments} Segment: {segment}"
        )
    if selection.paths is not None:
        check_key_paths(schema, selection.paths)
    if read_filter is not None:
        check_key_paths(schema, read_filter.paths())
    return ScanPlan(
        table_name=schema.table_name,
        schema=schema,
        hash_start=hash_start,
        hash_end=hash_end,
        start_key=start_key,
        limit=request.get("Limit"),
        read_filter=read_filter,
        selection=selection,
        consistent=bool(request.get("ConsistentRead")),
        count_only=count_only,
        capacity_mode=request.get("ReturnConsumedCapacity"),
    )


def _partitions_to_read(plan: ScanPlan, catalog: TableCatalogView) -> list[PartitionRange]:
    """The partitions a page may visit, in hash order, from the start key's partition on."""
    start_hash = plan.hash_start
    if plan.start_key is not None:
        start_hash = item_key_hash(plan.schema.key, plan.start_key)
    return [
        p
        for p in catalog.partitions(plan.table_name)
        if p.hash_end > start_hash and p.hash_start < plan.hash_end
    ]


async def _read_page(
    plan: ScanPlan, catalog: TableCatalogView, transport: PartitionTransport
) -> PageResult:
    """Read partitions one after the other until the page is full or the segment is done."""
    items: list[Item] = []
    count = scanned = read_bytes = 0
    last_key: Item | None = None
    exclusive = storage_key(plan.schema.key, plan.start_key) if plan.start_key else None
    for partition in _partitions_to_read(plan, catalog):
        # A partition that leaves budget over has read its whole range (no last_key).
        assert plan.limit is None or scanned < plan.limit
        assert read_bytes < PAGE_SIZE_MAX_BYTES
        options = PageOptions(
            exclusive_start=exclusive,
            limit=plan.limit - scanned if plan.limit is not None else None,
            size_max_bytes=PAGE_SIZE_MAX_BYTES - read_bytes,
            filter=plan.read_filter.to_wire() if plan.read_filter is not None else None,
            projection=plan.selection.paths,
            count_only=plan.count_only,
        )
        hash_start = max(partition.hash_start, plan.hash_start)
        hash_end = min(partition.hash_end, plan.hash_end)
        read = ScanRead(plan.schema.key, hash_start, hash_end, options)
        result = await transport.read(plan.table_name, partition, read.to_wire(), plan.consistent)
        raise_for_result(result)
        page = PageResult.from_wire(result)
        items.extend(page.items)
        count += page.count
        scanned += page.scanned_count
        read_bytes += page.read_bytes
        exclusive = None
        if page.last_key is not None:
            last_key = page.last_key
            break
    return PageResult(tuple(items), count, scanned, read_bytes, last_key)


@client_operation("Scan")
async def scan(
    request: dict[str, Any], catalog: TableCatalogView, transport: PartitionTransport
) -> dict[str, Any]:
    """DynamoDB's Scan."""
    plan = plan_scan(request, catalog)
    page = await _read_page(plan, catalog, transport)
    return page_response(
        page,
        count_only=plan.count_only,
        table_name=plan.table_name,
        consistent=plan.consistent,
        mode=plan.capacity_mode,
    )
