"""Query: DynamoDB's rules, one case per documented rule, and end-to-end behaviour.

Messages are DynamoDB's as captured by the nubo-db/dynamodb-conformance suite (against AWS),
moto's AWS-verified tests and dynalite's suite. End to end, queries run on ``FakeTransport``
(``execute_read`` on a MemoryEngine) over tables cut into three partitions.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.operations.query import query
from tests.test_op_reads_support import B, N, S, World

INVALID = "One or more parameter values were invalid: "
ENVELOPE = "1 validation error detected: "


def kce(text: str, table: str = "composite", **extra: Any) -> dict[str, Any]:
    values = extra.pop("values", {":pk": S("p")})
    request = {"TableName": table, "KeyConditionExpression": text}
    if values:
        request["ExpressionAttributeValues"] = values
    request.update(extra)
    return request


def legacy(conditions: dict[str, Any], table: str = "composite", **extra: Any) -> dict[str, Any]:
    return {"TableName": table, "KeyConditions": conditions, **extra}


def eq(value: dict[str, Any]) -> dict[str, Any]:
    return {"ComparisonOperator": "EQ", "AttributeValueList": [value]}


QUERY_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown table",
        kce("pk = :pk", "nope"),
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "no partition key",
        kce("sk = :v", values={":v": S("x")}),
        "ValidationException",
        "Query condition missed key schema element: pk",
    ),
    (
        "not a key attribute",
        kce("attr1 = :v", values={":v": S("x")}),
        "ValidationException",
        "Query condition missed key schema element: pk",
    ),
    (
        "unused name",
        kce("pk = :pk", ExpressionAttributeNames={"#unused": "x"}),
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
    ),
    (
        "bad Select",
        kce("pk = :pk", Select="INVALID_VALUE"),
        "ValidationException",
        ENVELOPE + "Value 'INVALID_VALUE' at 'select' failed to satisfy constraint: Member must "
        "satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, "
        "ALL_PROJECTED_ATTRIBUTES]",
    ),
    (
        "Limit 0",
        kce("pk = :pk", Limit=0),
        "ValidationException",
        ENVELOPE + "Value at 'Limit' failed to satisfy constraint: Member must have value greater "
        "than or equal to 1",
    ),
    (
        "empty key condition",
        kce("", values={":v": S("x")}),
        "ValidationException",
        "Invalid KeyConditionExpression: The expression can not be empty;",
    ),
    (
        "undefined name in filter",
        kce("pk = :pk", FilterExpression="#missing = :fv", values={":pk": S("p"), ":fv": S("x")}),
        "ValidationException",
        "Invalid FilterExpression: An expression attribute name used in the document path is not "
        "defined; attribute name: #missing",
    ),
    (
        "OR in key condition",
        kce("pk = :pk OR sk = :pk"),
        "ValidationException",
        "Invalid operator used in KeyConditionExpression: OR",
    ),
    (
        "nested key attribute",
        kce("pk = :pk AND sk.foo = :pk"),
        "ValidationException",
        "KeyConditionExpressions cannot have conditions on nested attributes",
    ),
    (
        "type not the schema's",
        kce("pk = :pk", values={":pk": N("1")}),
        "ValidationException",
        INVALID + "Condition parameter type does not match schema type",
    ),
    (
        "range condition on the partition key",
        kce("pk > :pk", "hash"),
        "ValidationException",
        "Query key condition not supported",
    ),
    (
        "malformed ExclusiveStartKey",
        kce("pk = :pk", ExclusiveStartKey={"bad": S("p")}),
        "ValidationException",
        "The provided starting key is invalid",
    ),
    (
        "ExclusiveStartKey without sort key",
        kce("pk = :pk", ExclusiveStartKey={"pk": S("p")}),
        "ValidationException",
        "The provided starting key is invalid",
    ),
    (
        "ExclusiveStartKey of another type",
        kce("pk = :pk", ExclusiveStartKey={"pk": S("p"), "sk": N("1")}),
        "ValidationException",
        "The provided key element does not match the schema",
    ),
    (
        "invalid ExclusiveStartKey value",
        kce("pk = :pk", ExclusiveStartKey={"pk": {}}),
        "ValidationException",
        "The provided starting key is invalid: Supplied AttributeValue is empty, must contain "
        "exactly one of the supported datatypes",
    ),
    (
        "ExclusiveStartKey in another collection",
        kce("pk = :pk", ExclusiveStartKey={"pk": S("q"), "sk": S("a")}),
        "ValidationException",
        "The provided starting key is outside query boundaries based on provided conditions",
    ),
    (
        "ExclusiveStartKey outside the sort condition",
        kce(
            "pk = :pk AND sk > :a",
            values={":pk": S("p"), ":a": S("m")},
            ExclusiveStartKey={"pk": S("p"), "sk": S("a")},
        ),
        "ValidationException",
        "The provided starting key does not match the range key predicate",
    ),
    (
        "ExclusiveStartKey in another collection with a sort condition",
        kce(
            "pk = :pk AND sk > :a",
            values={":pk": S("p"), ":a": S("m")},
            ExclusiveStartKey={"pk": S("q"), "sk": S("z")},
        ),
        "ValidationException",
        "The query can return at most one row and cannot be restarted",  # dynalite's capture
    ),
    (
        "SPECIFIC_ATTRIBUTES without projection",
        kce("pk = :pk", Select="SPECIFIC_ATTRIBUTES"),
        "ValidationException",
        ENVELOPE + "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
        "SPECIFIC_ATTRIBUTES",
    ),
    (
        "ALL_ATTRIBUTES with projection",
        kce("pk = :pk", Select="ALL_ATTRIBUTES", ProjectionExpression="sk"),
        "ValidationException",
        ENVELOPE + "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
    ),
    (
        "COUNT with projection",
        kce("pk = :pk", Select="COUNT", ProjectionExpression="sk"),
        "ValidationException",
        ENVELOPE + "Cannot specify the ProjectionExpression when choosing to get only the Count",
    ),
    (
        "COUNT with AttributesToGet",
        legacy({"pk": eq(S("p"))}, Select="COUNT", AttributesToGet=["sk"]),
        "ValidationException",
        ENVELOPE + "Cannot specify the AttributesToGet when choosing to get only the Count",
    ),
    (
        "ALL_PROJECTED_ATTRIBUTES without index",
        kce("pk = :pk", Select="ALL_PROJECTED_ATTRIBUTES"),
        "ValidationException",
        ENVELOPE + "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
    ),
    (
        "ALL_PROJECTED_ATTRIBUTES with projection",
        kce("pk = :pk", Select="ALL_PROJECTED_ATTRIBUTES", ProjectionExpression="sk"),
        "ValidationException",
        ENVELOPE + "Cannot specify the ProjectionExpression when choosing to get "
        "ALL_PROJECTED_ATTRIBUTES",
    ),
    (
        "unknown index",
        kce("pk = :pk", IndexName="gsi1"),
        "ValidationException",
        "The table does not have the specified index: gsi1",
    ),
    (
        "no key condition",
        {"TableName": "composite"},
        "ValidationException",
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the "
        "request.",
    ),
    (
        "empty KeyConditions",
        legacy({}),
        "ValidationException",
        "Conditions can be of length 1 or 2 only",
    ),
    (
        "KeyConditions operand count",
        legacy({"pk": {"ComparisonOperator": "EQ"}}),
        "ValidationException",
        INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator",
    ),
    (
        "KeyConditions NULL",
        legacy({"pk": {"ComparisonOperator": "NULL"}}, "hash"),
        "ValidationException",
        "Attempted conditional constraint is not an indexable operation",
    ),
    (
        "KeyConditions range on partition key",
        legacy({"pk": {"ComparisonOperator": "LE", "AttributeValueList": [S("a")]}}, "hash"),
        "ValidationException",
        "Query key condition not supported",
    ),
    (
        "extra condition on a hash table",
        legacy({"pk": eq(S("a")), "x": eq(S("b"))}, "hash"),
        "ValidationException",
        "Query key condition not supported",
    ),
    (
        "KeyConditions missing operator",
        legacy({"pk": {"AttributeValueList": [S("a")]}}),
        "ValidationException",
        ENVELOPE + "Value null at 'keyConditions.pk.member.comparisonOperator' failed to satisfy "
        "constraint: Member must not be null",
    ),
    (
        "both key condition styles",
        {**kce("pk = :pk"), "KeyConditions": {"pk": eq(S("p"))}},
        "ValidationException",
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {KeyConditions} "
        "Expression parameters: {KeyConditionExpression}",
    ),
    (
        "QueryFilter on the partition key",
        legacy({"pk": eq(S("p"))}, QueryFilter={"pk": eq(S("p"))}),
        "ValidationException",
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: pk",
    ),
    (
        "QueryFilter on the sort key",
        legacy({"pk": eq(S("p"))}, QueryFilter={"sk": eq(S("p"))}),
        "ValidationException",
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk",
    ),
    (
        "FilterExpression on the sort key",
        kce("pk = :pk", FilterExpression="sk = :pk"),
        "ValidationException",
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk",
    ),
    (
        "projection into a key attribute",
        kce("pk = :pk", ProjectionExpression="sk[1]"),
        "ValidationException",
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not "
        "allowed: Key: sk",
    ),
    (
        "bad ConditionalOperator",
        legacy({"pk": eq(S("p"))}, QueryFilter={"x": eq(S("p"))}, ConditionalOperator="XOR"),
        "ValidationException",
        ENVELOPE + "Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must "
        "satisfy enum value set: [AND, OR]",
    ),
    (
        "Limit not an integer",
        kce("pk = :pk", Limit="5"),
        "SerializationException",
        "Invalid type for parameter Limit, value: '5', type: <class 'str'>, valid types: "
        "<class 'int'>",
    ),
    (
        "table name shorter than 3 characters, before any lookup",
        kce("pk = :pk", "ab"),
        "ValidationException",
        ENVELOPE + "Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    ),
    (
        "a constant of a type < cannot order",
        kce("pk = :pk", FilterExpression="v < :b", values={":pk": S("p"), ":b": {"BOOL": True}}),
        "ValidationException",
        "Invalid FilterExpression: Incorrect operand type for operator or function; "
        "operator or function: <, operand type: BOOL",
    ),
    (
        "legacy QueryFilter: GT on a map",
        legacy(
            {"pk": eq(S("p"))},
            QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"M": {}}]}},
        ),
        "ValidationException",
        INVALID + "ComparisonOperator GT is not valid for M AttributeValue type",
    ),
]


@pytest.fixture
def world() -> World:
    w = World(partition_count=3)
    w.put(
        "composite",
        [
            {"pk": S("p"), "sk": S(s), "v": N(str(i)), "cat": S("even" if i % 2 == 0 else "odd")}
            for i, s in enumerate(["a", "b", "c", "d", "e"])
        ]
        + [{"pk": S("q"), "sk": S("a")}],
    )
    return w


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [case[1:] for case in QUERY_ERRORS],
    ids=[case[0] for case in QUERY_ERRORS],
)
def test_query_errors(world: World, request_: dict, code: str, message: str) -> None:
    assert world.error(query, request_) == (code, message)
    assert world.transport.reads == []


# --- behaviour ------------------------------------------------------------------------------------


def sort_keys(response: dict[str, Any], name: str = "sk") -> list[Any]:
    return [next(iter(i[name].values())) for i in response["Items"]]


def test_query_returns_the_collection_in_order(world: World) -> None:
    got = world.call(query, kce("pk = :pk", ConsistentRead=True))
    assert sort_keys(got) == ["a", "b", "c", "d", "e"]
    assert (got["Count"], got["ScannedCount"]) == (5, 5)
    assert "LastEvaluatedKey" not in got
    assert world.transport.reads[-1][3] is True
    backwards = world.call(query, kce("pk = :pk", ScanIndexForward=False))
    assert sort_keys(backwards) == ["e", "d", "c", "b", "a"]
    assert world.call(query, kce("pk = :pk", values={":pk": S("none")})) == {
        "Items": [],
        "Count": 0,
        "ScannedCount": 0,
    }


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("begins_with(sk, :x)", {":x": S("b")}, ["b"]),
        ("sk BETWEEN :x AND :y", {":x": S("b"), ":y": S("d")}, ["b", "c", "d"]),
        ("sk < :x", {":x": S("c")}, ["a", "b"]),
        ("sk >= :x", {":x": S("d")}, ["d", "e"]),
        (":x <= sk", {":x": S("d")}, ["d", "e"]),  # a value on the left is turned around
        ("sk = :x", {":x": S("c")}, ["c"]),
    ],
)
def test_sort_key_conditions(world: World, condition: str, values: dict, expected: list) -> None:
    request = kce(f"pk = :pk AND {condition}", values={":pk": S("p"), **values})
    assert sort_keys(world.call(query, request)) == expected


def test_legacy_key_conditions_and_query_filter(world: World) -> None:
    request = legacy(
        {"pk": eq(S("p")), "sk": {"ComparisonOperator": "GT", "AttributeValueList": [S("a")]}},
        QueryFilter={"cat": {"ComparisonOperator": "EQ", "AttributeValueList": [S("even")]}},
        AttributesToGet=["sk"],
    )
    got = world.call(query, request)
    assert got["Items"] == [{"sk": S("c")}, {"sk": S("e")}]
    assert (got["Count"], got["ScannedCount"]) == (2, 4)


def test_filter_counts_and_limit_before_the_filter(world: World) -> None:
    request = kce(
        "pk = :pk",
        FilterExpression="#c = :even",
        ExpressionAttributeNames={"#c": "cat"},
        values={":pk": S("p"), ":even": S("even")},
    )
    got = world.call(query, request)
    assert (got["Count"], got["ScannedCount"]) == (3, 5)
    limited = world.call(query, {**request, "Limit": 2})
    assert sort_keys(limited) == ["a"]
    assert (limited["Count"], limited["ScannedCount"]) == (1, 2)
    assert limited["LastEvaluatedKey"] == {"pk": S("p"), "sk": S("b")}


def test_exclusive_start_key_is_exclusive(world: World) -> None:
    first = world.call(query, kce("pk = :pk", Limit=2))
    assert first["LastEvaluatedKey"] == {"pk": S("p"), "sk": S("b")}
    rest = world.call(query, kce("pk = :pk", ExclusiveStartKey=first["LastEvaluatedKey"]))
    assert sort_keys(rest) == ["c", "d", "e"]
    backwards = kce(
        "pk = :pk", ScanIndexForward=False, ExclusiveStartKey={"pk": S("p"), "sk": S("c")}
    )
    assert sort_keys(world.call(query, backwards)) == ["b", "a"]


def test_a_limit_equal_to_the_collection_still_returns_a_last_key(world: World) -> None:
    got = world.call(query, kce("pk = :pk", Limit=5))
    assert got["LastEvaluatedKey"] == {"pk": S("p"), "sk": S("e")}
    after = world.call(query, kce("pk = :pk", ExclusiveStartKey=got["LastEvaluatedKey"]))
    assert (after["Items"], "LastEvaluatedKey" in after) == ([], False)


def test_select_count_returns_no_items(world: World) -> None:
    got = world.call(query, kce("pk = :pk", Select="COUNT", Limit=3))
    assert got == {
        "Count": 3,
        "ScannedCount": 3,
        "LastEvaluatedKey": {"pk": S("p"), "sk": S("c")},
    }


def test_projection_and_specific_attributes(world: World) -> None:
    got = world.call(
        query, kce("pk = :pk", ProjectionExpression="v", Select="SPECIFIC_ATTRIBUTES", Limit=1)
    )
    assert got["Items"] == [{"v": N("0")}]


def test_orders_numbers_by_value_and_strings_and_binaries_by_bytes() -> None:
    world = World(partition_count=2)
    numbers = ["-99.1", "-10", "-1.01", "-0.09", "0", "0.01", "1", "1.1", "9", "10.1", "99.1"]
    world.put("numbers", [{"pk": S("n"), "sk": N(n)} for n in reversed(numbers)])
    got = world.call(query, kce("pk = :pk", "numbers", values={":pk": S("n")}))
    assert sort_keys(got) == numbers
    strings = ["1", "10", "2", "A", "B", "a", "aa", "ab", "b", "\u00e9"]
    world.put("composite", [{"pk": S("s"), "sk": S(s)} for s in reversed(strings)])
    got = world.call(query, kce("pk = :pk", values={":pk": S("s")}))
    assert sort_keys(got) == strings
    blobs = [b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\xff\x00"]
    world.put("binary", [{"pk": B(b"k"), "sk": B(b)} for b in reversed(blobs)])
    got = world.call(query, kce("pk = :pk", "binary", values={":pk": B(b"k")}))
    assert sort_keys(got) == blobs


def test_pages_stop_at_one_megabyte_read() -> None:
    world = World(partition_count=2)
    world.put(
        "composite", [{"pk": S("big"), "sk": S(f"{i:03}"), "x": S("x" * 60_000)} for i in range(20)]
    )
    request = kce("pk = :pk", values={":pk": S("big")})
    first = world.call(query, request)
    assert 0 < first["Count"] < 20 and "LastEvaluatedKey" in first
    assert 17 <= first["ScannedCount"] <= 18  # the item that reaches 1 MB is the last one read
    seen = sort_keys(first)
    start = first["LastEvaluatedKey"]
    while start:
        page = world.call(query, {**request, "ExclusiveStartKey": start})
        seen += sort_keys(page)
        start = page.get("LastEvaluatedKey")
    assert seen == [f"{i:03}" for i in range(20)]
    assert len(world.call(query, {**request, "Limit": 5})["Items"]) == 5


def test_capacity_is_counted_before_the_filter_and_the_projection() -> None:
    world = World()
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
    base = kce("pk = :pk", values={":pk": S("c")}, ReturnConsumedCapacity="TOTAL")
    plain = world.call(query, base)["ConsumedCapacity"]
    assert plain == {"TableName": "composite", "CapacityUnits": 1.0}  # ~5.5 KB: 2 units, halved
    filtered = world.call(
        query,
        {
            **base,
            "FilterExpression": "keep = :k",
            "ExpressionAttributeValues": {":pk": S("c"), ":k": S("yes")},
        },
    )
    assert filtered["Count"] == 1 and filtered["ConsumedCapacity"] == plain
    projected = world.call(query, {**base, "ProjectionExpression": "sk"})
    assert projected["ConsumedCapacity"] == plain
    consistent = world.call(
        query, {**base, "ConsistentRead": True, "ReturnConsumedCapacity": "INDEXES"}
    )
    assert consistent["ConsumedCapacity"] == {
        "TableName": "composite",
        "CapacityUnits": 2.0,
        "Table": {"CapacityUnits": 2.0},
    }


def test_query_on_a_hash_only_table() -> None:
    world = World(partition_count=4)
    world.put("hash", [{"pk": S(f"k{i}"), "v": N(str(i))} for i in range(10)])
    got = world.call(query, kce("pk = :pk", "hash", values={":pk": S("k3")}))
    assert got["Items"] == [{"pk": S("k3"), "v": N("3")}]
