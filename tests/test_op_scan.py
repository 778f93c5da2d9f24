"""Scan: DynamoDB's rules, one case per documented rule, and end-to-end behaviour.

Messages are DynamoDB's as captured by the nubo-db/dynamodb-conformance suite (against AWS),
moto's AWS-verified tests and dynalite's suite. End to end, scans run on ``FakeTransport``
(``execute_read`` on a MemoryEngine) over tables cut into 1-4 partitions.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.schema import item_key_hash
from raydynamo.operations.scan import scan, segment_range
from tests.test_op_reads_support import N, S, World

INVALID = "One or more parameter values were invalid: "
START_INVALID = "The provided starting key is invalid: "
SCHEMA_MISMATCH = "The provided key element does not match the schema"


def hash_key_in_segment(segment: int, total: int) -> dict[str, Any]:
    """A key of the ``hash`` table whose key hash falls in the given segment."""
    from raydynamo.api.schema import KeySchema

    start, end = segment_range(segment, total)
    for i in range(10_000):
        key = {"pk": S(f"probe{i}")}
        if start <= item_key_hash(KeySchema("pk", "S"), key) < end:
            return key
    raise AssertionError("no key found")


SCAN_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown table",
        {"TableName": "nope"},
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "table checked before the start key",
        {"TableName": "nope", "ExclusiveStartKey": {"b": S("a")}},
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "Segment without TotalSegments",
        {"TableName": "hash", "Segment": 0},
        "ValidationException",
        "The TotalSegments parameter is required but was not present in the request when Segment "
        "parameter is present",
    ),
    (
        "TotalSegments without Segment",
        {"TableName": "hash", "TotalSegments": 4},
        "ValidationException",
        "The Segment parameter is required but was not present in the request when parameter "
        "TotalSegments is present",
    ),
    (
        "Segment not below TotalSegments",
        {"TableName": "hash", "Segment": 5, "TotalSegments": 5},
        "ValidationException",
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
        "Segment: 5 is not less than TotalSegments: 5",
    ),
    (
        "negative Segment",
        {"TableName": "hash", "Segment": -1, "TotalSegments": 4},
        "ValidationException",
        "1 validation error detected: Value '-1' at 'segment' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0",
    ),
    (
        "TotalSegments above a million",
        {"TableName": "hash", "Segment": 0, "TotalSegments": 1_000_001},
        "ValidationException",
        "1 validation error detected: Value '1000001' at 'totalSegments' failed to satisfy "
        "constraint: Member must have value less than or equal to 1000000",
    ),
    (
        "both segment values out of range",
        {"TableName": "hash", "Segment": -1, "TotalSegments": 0},
        "ValidationException",
        "2 validation errors detected: Value '0' at 'totalSegments' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; Value '-1' at 'segment' failed to "
        "satisfy constraint: Member must have value greater than or equal to 0",
    ),
    (
        "Limit 0",
        {"TableName": "hash", "Limit": 0},
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    ),
    (
        "start key not matching the schema",
        {"TableName": "hash", "ExclusiveStartKey": {"bad": S("p")}},
        "ValidationException",
        START_INVALID + SCHEMA_MISMATCH,
    ),
    (
        "empty start key",
        {"TableName": "hash", "ExclusiveStartKey": {}},
        "ValidationException",
        START_INVALID + SCHEMA_MISMATCH,
    ),
    (
        "start key of another type",
        {"TableName": "hash", "ExclusiveStartKey": {"pk": N("1")}},
        "ValidationException",
        START_INVALID + SCHEMA_MISMATCH,
    ),
    (
        "start key with an extra attribute",
        {"TableName": "composite", "ExclusiveStartKey": {"pk": S("a"), "sk": S("b"), "c": S("c")}},
        "ValidationException",
        START_INVALID + SCHEMA_MISMATCH,
    ),
    (
        "invalid start key value",
        {"TableName": "hash", "ExclusiveStartKey": {"pk": {"S": "a", "N": "1"}}, "Segment": 1},
        "ValidationException",
        START_INVALID + "Supplied AttributeValue has more than one datatypes set, must contain "
        "exactly one of the supported datatypes",
    ),
    (
        "start key of another segment",
        {
            "TableName": "hash",
            "Segment": 0,
            "TotalSegments": 2,
            "ExclusiveStartKey": hash_key_in_segment(1, 2),
        },
        "ValidationException",
        START_INVALID + "Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct "
        "Segment. TotalSegments: 2 Segment: 0",
    ),
    (
        "unknown index before a bad start key",
        {"TableName": "hash", "IndexName": "whatever", "ExclusiveStartKey": {}},
        "ValidationException",
        "The table does not have the specified index: whatever",
    ),
    (
        "filter into a key attribute",
        {
            "TableName": "hash",
            "FilterExpression": "attribute_exists(#a.b.c)",
            "ExpressionAttributeNames": {"#a": "pk"},
        },
        "ValidationException",
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not "
        "allowed: Key: pk",
    ),
    (
        "ALL_ATTRIBUTES with projection",
        {"TableName": "hash", "Select": "ALL_ATTRIBUTES", "ProjectionExpression": "pk"},
        "ValidationException",
        "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
    ),
    (
        "ALL_PROJECTED_ATTRIBUTES without index",
        {"TableName": "hash", "Select": "ALL_PROJECTED_ATTRIBUTES"},
        "ValidationException",
        "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
    ),
    (
        "SPECIFIC_ATTRIBUTES without projection",
        {"TableName": "hash", "Select": "SPECIFIC_ATTRIBUTES"},
        "ValidationException",
        "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
        "SPECIFIC_ATTRIBUTES",
    ),
    (
        "COUNT with AttributesToGet",
        {"TableName": "hash", "Select": "COUNT", "AttributesToGet": ["pk"]},
        "ValidationException",
        "Cannot specify the AttributesToGet when choosing to get only the Count",
    ),
    (
        "case-sensitive Select",
        {"TableName": "hash", "Select": "count"},
        "ValidationException",
        "1 validation error detected: Value 'count' at 'select' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, "
        "ALL_PROJECTED_ATTRIBUTES]",
    ),
    (
        "expression and legacy parameters",
        {
            "TableName": "hash",
            "ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{}]}},
            "Segment": 1,
            "Limit": 1,
            "AttributesToGet": ["a", "a"],
            "ExclusiveStartKey": {"a": {}},
            "ConditionalOperator": "OR",
            "Select": "SPECIFIC_ATTRIBUTES",
            "FilterExpression": "",
            "ProjectionExpression": "",
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {},
        },
        "ValidationException",
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} "
        "Expression parameters: {ProjectionExpression, FilterExpression}",
    ),
    (
        "start key values before segments and expression maps",
        {
            "TableName": "hash",
            "Segment": 1,
            "FilterExpression": "",
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {},
            "ExclusiveStartKey": {"a": {}},
        },
        "ValidationException",
        START_INVALID + "Supplied AttributeValue is empty, must contain exactly one of the "
        "supported datatypes",
    ),
    (
        "segments before expression maps",
        {
            "TableName": "hash",
            "Segment": 1,
            "FilterExpression": "",
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {},
        },
        "ValidationException",
        "The TotalSegments parameter is required but was not present in the request when Segment "
        "parameter is present",
    ),
    (
        "empty ExpressionAttributeNames",
        {
            "TableName": "hash",
            "FilterExpression": "",
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {},
        },
        "ValidationException",
        "ExpressionAttributeNames must not be empty",
    ),
    (
        "empty FilterExpression",
        {
            "TableName": "hash",
            "FilterExpression": "",
            "ProjectionExpression": "",
            "ExpressionAttributeValues": {":0": S("b")},
        },
        "ValidationException",
        "Invalid FilterExpression: The expression can not be empty;",
    ),
    (
        "ScanFilter operand count",
        {"TableName": "hash", "ScanFilter": {"a": {"ComparisonOperator": "EQ"}}},
        "ValidationException",
        INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
    ),
    (
        "ScanFilter operand type",
        {
            "TableName": "hash",
            "ScanFilter": {
                "a": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["a"]}]}
            },
        },
        "ValidationException",
        INVALID + "ComparisonOperator LT is not valid for SS AttributeValue type",
    ),
    (
        "duplicate AttributesToGet",
        {"TableName": "hash", "AttributesToGet": ["a", "a"], "ExclusiveStartKey": {"a": {}}},
        "ValidationException",
        INVALID + "Duplicate value in attribute name: a",
    ),
    (
        "ScanFilter operator missing",
        {"TableName": "hash", "ScanFilter": {"a": {}}},
        "ValidationException",
        "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' "
        "failed to satisfy constraint: Member must not be null",
    ),
    (
        "table name shorter than 3 characters, before any lookup",
        {"TableName": "ab"},
        "ValidationException",
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    ),
    (
        "a constant of a type BETWEEN cannot order",
        {
            "TableName": "hash",
            "FilterExpression": "v BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":a": {"NULL": True}, ":b": {"NULL": True}},
        },
        "ValidationException",
        "Invalid FilterExpression: Incorrect operand type for operator or function; "
        "operator or function: BETWEEN, operand type: NULL",
    ),
]


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [case[1:] for case in SCAN_ERRORS],
    ids=[case[0] for case in SCAN_ERRORS],
)
def test_scan_errors(request_: dict, code: str, message: str) -> None:
    world = World(partition_count=2)
    assert world.error(scan, request_) == (code, message)
    assert world.transport.reads == []


# --- behaviour ------------------------------------------------------------------------------------


def loaded(partition_count: int, count: int = 30) -> World:
    world = World(partition_count)
    world.put(
        "hash",
        [
            {"pk": S(f"k{i:03}"), "v": N(str(i)), "cat": S("even" if i % 2 == 0 else "odd")}
            for i in range(count)
        ],
    )
    return world


def pks(items: list[dict[str, Any]]) -> list[str]:
    return [i["pk"]["S"] for i in items]


def scan_all(world: World, request: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    start = None
    while True:
        page = world.call(scan, {**request, **({"ExclusiveStartKey": start} if start else {})})
        items += page.get("Items", [])
        pages += 1
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items, pages


@pytest.mark.parametrize("partition_count", [1, 2, 3, 4])
def test_a_scan_reads_every_item_once(partition_count: int) -> None:
    world = loaded(partition_count)
    got = world.call(scan, {"TableName": "hash", "ConsistentRead": True})
    assert sorted(pks(got["Items"])) == [f"k{i:03}" for i in range(30)]
    assert (got["Count"], got["ScannedCount"]) == (30, 30)
    assert "LastEvaluatedKey" not in got
    assert len(world.transport.reads) == partition_count
    assert {read[3] for read in world.transport.reads} == {True}


@pytest.mark.parametrize("partition_count", [1, 3, 4])
def test_paging_with_limit_crosses_partitions_without_repeats(partition_count: int) -> None:
    world = loaded(partition_count)
    unpaged = pks(world.call(scan, {"TableName": "hash"})["Items"])
    items, pages = scan_all(world, {"TableName": "hash", "Limit": 7})
    assert pks(items) == unpaged
    assert pages == 5  # 7+7+7+7+2; the last page ends the table


def test_an_empty_table() -> None:
    world = World(partition_count=3)
    assert world.call(scan, {"TableName": "hash"}) == {"Items": [], "Count": 0, "ScannedCount": 0}


def test_limit_counts_scanned_items_not_matches() -> None:
    world = loaded(2)
    request = {
        "TableName": "hash",
        "Limit": 1,
        "FilterExpression": "v > :hi",
        "ExpressionAttributeValues": {":hi": N("100")},
    }
    got = world.call(scan, request)
    assert (got["Count"], got["ScannedCount"], got["Items"]) == (0, 1, [])
    assert "LastEvaluatedKey" in got
    everything = world.call(scan, {k: v for k, v in request.items() if k != "Limit"})
    assert (everything["Count"], everything["ScannedCount"]) == (0, 30)


def test_select_count_and_legacy_filter() -> None:
    world = loaded(3)
    got = world.call(scan, {"TableName": "hash", "Select": "COUNT", "Limit": 4})
    assert set(got) == {"Count", "ScannedCount", "LastEvaluatedKey"}
    assert got["Count"] == 4
    legacy = world.call(
        scan,
        {
            "TableName": "hash",
            "ScanFilter": {"cat": {"ComparisonOperator": "EQ", "AttributeValueList": [S("odd")]}},
            "AttributesToGet": ["v"],
        },
    )
    assert sorted(int(i["v"]["N"]) for i in legacy["Items"]) == list(range(1, 30, 2))
    assert all(set(i) == {"v"} for i in legacy["Items"])


def test_projection_returns_only_the_named_attributes() -> None:
    world = loaded(2, count=3)
    got = world.call(scan, {"TableName": "hash", "ProjectionExpression": "v"})
    assert all(set(i) == {"v"} for i in got["Items"])


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7])
def test_parallel_segments_partition_the_table(total: int) -> None:
    world = loaded(3, count=60)
    seen: list[str] = []
    for segment in range(total):
        items, _ = scan_all(
            world, {"TableName": "hash", "Segment": segment, "TotalSegments": total, "Limit": 4}
        )
        start, end = segment_range(segment, total)
        assert all(start <= item_key_hash(world.catalog.schema("hash").key, i) < end for i in items)
        seen += pks(items)
    assert sorted(seen) == [f"k{i:03}" for i in range(60)]


def test_pages_stop_at_one_megabyte_read() -> None:
    world = World(partition_count=2)
    world.put("hash", [{"pk": S(f"s{i}"), "x": S("y" * 60_000)} for i in range(20)])
    first = world.call(scan, {"TableName": "hash"})
    assert "LastEvaluatedKey" in first and first["ScannedCount"] < 20
    items, pages = scan_all(world, {"TableName": "hash"})
    assert sorted(pks(items)) == sorted(f"s{i}" for i in range(20))
    assert pages >= 2


def test_capacity_is_counted_before_the_filter_and_the_projection() -> None:
    world = World(partition_count=2)
    world.put(
        "composite",
        [
            {
                "pk": S("c"),
                "sk": S(f"s{i}"),
                "keep": S("yes" if i == 0 else "no"),
                "f": S("x" * 900),
            }
            for i in range(6)
        ],
    )
    base = {"TableName": "composite", "ReturnConsumedCapacity": "TOTAL"}
    plain = world.call(scan, base)
    assert plain["ConsumedCapacity"] == {"TableName": "composite", "CapacityUnits": 1.0}
    filtered = world.call(
        scan,
        {
            **base,
            "FilterExpression": "keep = :k",
            "ExpressionAttributeValues": {":k": S("yes")},
            "ProjectionExpression": "pk",
        },
    )
    assert filtered["Count"] == 1
    assert filtered["ConsumedCapacity"] == plain["ConsumedCapacity"]
