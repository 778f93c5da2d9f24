"""GetItem and BatchGetItem: DynamoDB's rules, one case per documented rule, and end to end.

Messages are DynamoDB's as captured by the nubo-db/dynamodb-conformance suite (run against AWS)
and dynalite's test suite; cases marked "wording unverified" in the code are noted here too.
End to end: the operations run against ``FakeTransport`` (``execute_read`` on a MemoryEngine)
with tables cut into several partitions.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.errors import ProvisionedThroughputExceededException
from raydynamo.operations.batch_get import batch_get_item
from raydynamo.operations.reads import get_item
from tests.test_op_reads_support import B, N, S, World

INVALID = "One or more parameter values were invalid: "
MIX = (
    "Can not use both expression and non-expression parameters in the same request: "
    "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
)
SCHEMA_MISMATCH = "The provided key element does not match the schema"
NESTED_KEY = (
    "Key attributes must be scalars; list random access '[]' and map lookup '.' are not "
    "allowed: Key: pk"
)


@pytest.fixture
def world() -> World:
    w = World(partition_count=3)
    w.put(
        "hash",
        [
            {"pk": S("a"), "x": N("1"), "m": {"M": {"n": S("deep"), "o": N("42")}}},
            {"pk": S("b"), "l": {"L": [S("zero"), S("one"), S("two")]}},
            {"pk": S("big"), "payload": S("x" * 5000)},
        ],
    )
    w.put("hashN", [{"pk": N("1"), "v": S("one")}])
    w.put("composite", [{"pk": S("a"), "sk": S("1"), "v": S("c")}])
    w.put("binary", [{"pk": B(b"\x00"), "sk": B(b"\xff"), "v": S("bin")}])
    return w


# --- GetItem: validation -------------------------------------------------------------------------

GET_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown table",
        {"TableName": "nope", "Key": {"pk": S("a")}},
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "missing sort key",
        {"TableName": "composite", "Key": {"pk": S("a")}},
        "ValidationException",
        SCHEMA_MISMATCH,
    ),
    (
        "extra key attribute",
        {"TableName": "hash", "Key": {"pk": S("a"), "x": S("b")}},
        "ValidationException",
        SCHEMA_MISMATCH,
    ),
    (
        "wrong key type",
        {"TableName": "hash", "Key": {"pk": N("1")}},
        "ValidationException",
        SCHEMA_MISMATCH,
    ),
    (
        "empty string key",
        {"TableName": "hash", "Key": {"pk": S("")}},
        "ValidationException",
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
        "contain an empty string value. Key: pk",
    ),
    (
        "empty binary key",
        {"TableName": "binary", "Key": {"pk": B(b""), "sk": B(b"1")}},
        "ValidationException",
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
        "contain an empty binary value. Key: pk",
    ),
    (
        "partition key too long",
        {"TableName": "hash", "Key": {"pk": S("x" * 2049)}},
        "ValidationException",
        INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    ),
    (
        "invalid key value",
        {"TableName": "hash", "Key": {"pk": N("abc")}},
        "ValidationException",
        "The parameter cannot be converted to a numeric value: abc",
    ),
    (
        "projection syntax",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ProjectionExpression": "!!! INVALID !!!"},
        "ValidationException",
        'Invalid ProjectionExpression: Syntax error; token: "!", near: "!!"',
    ),
    (
        "projection and AttributesToGet",
        {
            "TableName": "hash",
            "Key": {"pk": S("a")},
            "AttributesToGet": ["x"],
            "ProjectionExpression": "x",
        },
        "ValidationException",
        MIX,
    ),
    (
        "duplicate AttributesToGet",
        {"TableName": "hash", "Key": {"pk": S("a")}, "AttributesToGet": ["x", "x"]},
        "ValidationException",
        INVALID + "Duplicate value in attribute name: x",
    ),
    (
        "empty AttributesToGet",
        {"TableName": "hash", "Key": {"pk": S("a")}, "AttributesToGet": []},
        "ValidationException",
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1",
    ),
    (
        "bad ReturnConsumedCapacity",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ReturnConsumedCapacity": "hi"},
        "ValidationException",
        "1 validation error detected: Value 'hi' at 'returnConsumedCapacity' failed to satisfy "
        "constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
    ),
    (
        "no Key",
        {"TableName": "hash"},
        "ValidationException",
        "1 validation error detected: Value null at 'key' failed to satisfy constraint: "
        "Member must not be null",
    ),
    (
        "unused name",
        {
            "TableName": "hash",
            "Key": {"pk": S("a")},
            "ProjectionExpression": "x",
            "ExpressionAttributeNames": {"#u": "u"},
        },
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}",
    ),
    (
        "names without expression",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ExpressionAttributeNames": {"#u": "u"}},
        "ValidationException",
        "ExpressionAttributeNames can only be specified when using expressions",
    ),
    (
        "overlapping paths",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ProjectionExpression": "m, m.n"},
        "ValidationException",
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [m], path two: [m, n]",
    ),
    (
        "path into a key attribute",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ProjectionExpression": "pk.a"},
        "ValidationException",
        NESTED_KEY,
    ),
    (
        "ConsistentRead not a boolean",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ConsistentRead": "yes"},
        "SerializationException",
        "Invalid type for parameter ConsistentRead, value: 'yes', type: <class 'str'>, "
        "valid types: <class 'bool'>",
    ),
    (
        "unknown parameter",
        {"TableName": "hash", "Key": {"pk": S("a")}, "ExpressionAttributeValues": {":v": S("a")}},
        "SerializationException",
        'Unknown parameter in input: "ExpressionAttributeValues", must be one of: TableName, Key, '
        "AttributesToGet, ConsistentRead, ReturnConsumedCapacity, ProjectionExpression, "
        "ExpressionAttributeNames",
    ),
    (
        "table name with a character outside the pattern, before any lookup",
        {"TableName": "no table", "Key": {"pk": S("a")}},
        "ValidationException",
        "1 validation error detected: Value 'no table' at 'tableName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    ),
    (
        "table name shorter than 3 characters, before any lookup",
        {"TableName": "ab", "Key": {"pk": S("a")}},
        "ValidationException",
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3",
    ),
]


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [case[1:] for case in GET_ERRORS],
    ids=[case[0] for case in GET_ERRORS],
)
def test_get_item_errors(world: World, request_: dict, code: str, message: str) -> None:
    assert world.error(get_item, request_) == (code, message)
    assert world.transport.reads == []


def test_get_item_errors_name_the_operation(world: World) -> None:
    with pytest.raises(Exception) as info:
        world.call(get_item, {"TableName": "nope", "Key": {"pk": S("a")}})
    assert str(info.value).startswith(
        "An error occurred (ResourceNotFoundException) when calling the GetItem operation"
    )


# --- GetItem: behaviour --------------------------------------------------------------------------


def test_get_item_returns_the_whole_item_or_nothing(world: World) -> None:
    got = world.call(get_item, {"TableName": "hash", "Key": {"pk": S("a")}})
    assert got == {"Item": {"pk": S("a"), "x": N("1"), "m": {"M": {"n": S("deep"), "o": N("42")}}}}
    assert world.call(get_item, {"TableName": "hash", "Key": {"pk": S("zz")}}) == {}
    composite = {"TableName": "composite", "Key": {"pk": S("a"), "sk": S("2")}}
    assert world.call(get_item, composite) == {}


def test_numbers_in_keys_match_by_value(world: World) -> None:
    got = world.call(get_item, {"TableName": "hashN", "Key": {"pk": N("1.00")}})
    assert got["Item"]["v"] == S("one")


def test_binary_keys(world: World) -> None:
    request = {"TableName": "binary", "Key": {"pk": B(b"\x00"), "sk": B(b"\xff")}}
    assert world.call(get_item, request)["Item"]["v"] == S("bin")


@pytest.mark.parametrize(
    ("projection", "names", "expected"),
    [
        ("x", None, {"x": N("1")}),
        ("#m.#n", {"#m": "m", "#n": "n"}, {"m": {"M": {"n": S("deep")}}}),
        ("m.n, m.o", None, {"m": {"M": {"n": S("deep"), "o": N("42")}}}),
        ("nothing", None, {}),  # a present item keeps an empty Item (wording unverified)
    ],
)
def test_get_item_projection(world: World, projection: str, names: Any, expected: dict) -> None:
    request: dict[str, Any] = {"TableName": "hash", "Key": {"pk": S("a")}}
    request["ProjectionExpression"] = projection
    if names:
        request["ExpressionAttributeNames"] = names
    assert world.call(get_item, request) == {"Item": expected}


def test_list_indexes_project_compacted_in_index_order(world: World) -> None:
    request = {"TableName": "hash", "Key": {"pk": S("b")}, "ProjectionExpression": "l[2], l[0]"}
    assert world.call(get_item, request) == {"Item": {"l": {"L": [S("zero"), S("two")]}}}


def test_attributes_to_get_does_not_add_the_key(world: World) -> None:
    request = {"TableName": "hash", "Key": {"pk": S("a")}, "AttributesToGet": ["x", "gone"]}
    assert world.call(get_item, request) == {"Item": {"x": N("1")}}


@pytest.mark.parametrize(
    ("key", "consistent", "mode", "units"),
    [
        ("a", True, "TOTAL", 1.0),
        ("a", False, "TOTAL", 0.5),
        ("zz", False, "TOTAL", 0.5),  # an absent item costs the minimum
        ("big", True, "INDEXES", 2.0),  # 5 KB: two 4 KB units
    ],
)
def test_get_item_consumed_capacity(
    world: World, key: str, consistent: bool, mode: str, units: float
) -> None:
    request = {
        "TableName": "hash",
        "Key": {"pk": S(key)},
        "ConsistentRead": consistent,
        "ReturnConsumedCapacity": mode,
    }
    capacity = world.call(get_item, request)["ConsumedCapacity"]
    assert capacity["TableName"] == "hash"
    assert capacity["CapacityUnits"] == units
    assert ("Table" in capacity) == (mode == "INDEXES")
    assert world.transport.reads[-1][3] is consistent


def test_get_item_without_capacity_mode_returns_none(world: World) -> None:
    request = {"TableName": "hash", "Key": {"pk": S("a")}, "ReturnConsumedCapacity": "NONE"}
    assert "ConsumedCapacity" not in world.call(get_item, request)


# --- BatchGetItem: validation --------------------------------------------------------------------


def keys(n: int, prefix: str = "k") -> list[dict[str, Any]]:
    return [{"pk": S(f"{prefix}{i}")} for i in range(n)]


BATCH_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "empty RequestItems",
        {"RequestItems": {}},
        "ValidationException",
        "The requestItems parameter is required for BatchGetItem",
    ),
    (
        "no RequestItems",
        {},
        "ValidationException",
        "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: "
        "Member must not be null",
    ),
    (
        "101 keys in one table",
        {"RequestItems": {"hash": {"Keys": keys(101)}}},
        "ValidationException",
        "1 validation error detected: Value at 'RequestItems.hash.member.Keys' failed to satisfy "
        "constraint: Member must have length less than or equal to 100",
    ),
    (
        "101 keys over two tables",
        {
            "RequestItems": {
                "hash": {"Keys": keys(60)},
                "hashN": {"Keys": [{"pk": N(str(i))} for i in range(41)]},
            }
        },
        "ValidationException",
        "Too many items requested for the BatchGetItem call",
    ),
    (
        "duplicate keys",
        {"RequestItems": {"hash": {"Keys": [{"pk": S("d")}, {"pk": S("d")}]}}},
        "ValidationException",
        "Provided list of item keys contains duplicates",
    ),
    (
        "duplicate numbers written differently",
        {"RequestItems": {"hashN": {"Keys": [{"pk": N("1")}, {"pk": N("1.0")}]}}},
        "ValidationException",
        "Provided list of item keys contains duplicates",
    ),
    (
        "unknown table",
        {"RequestItems": {"nope": {"Keys": keys(1)}}},
        "ResourceNotFoundException",
        "Requested resource not found",
    ),
    (
        "mix in one table",
        {
            "RequestItems": {
                "hash": {"Keys": keys(1), "AttributesToGet": ["x"], "ProjectionExpression": "x"}
            }
        },
        "ValidationException",
        MIX,
    ),
    (
        "mix across tables",
        {
            "RequestItems": {
                "hash": {"Keys": keys(1), "ProjectionExpression": "x"},
                "composite": {"Keys": [{"pk": S("a"), "sk": S("1")}], "AttributesToGet": ["x"]},
            }
        },
        "ValidationException",
        MIX,
    ),
    (
        "duplicate projection paths",
        {"RequestItems": {"hash": {"Keys": keys(1), "ProjectionExpression": "a, a"}}},
        "ValidationException",
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a]",
    ),
    (
        "one bad table fails the batch",
        {
            "RequestItems": {
                "hash": {"Keys": keys(1), "ProjectionExpression": "a, a"},
                "composite": {"Keys": [{"pk": S("a"), "sk": S("1")}], "ProjectionExpression": "a"},
            }
        },
        "ValidationException",
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a]",
    ),
    (
        "empty binary key",
        {"RequestItems": {"binary": {"Keys": [{"pk": B(b""), "sk": B(b"1")}]}}},
        "ValidationException",
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
        "contain an empty binary value. Key: pk",
    ),
    (
        "key not matching the schema",
        {"RequestItems": {"composite": {"Keys": [{"pk": S("a")}]}}},
        "ValidationException",
        SCHEMA_MISMATCH,
    ),
    (
        "path into a key attribute",
        {"RequestItems": {"hash": {"Keys": keys(1), "ProjectionExpression": "pk[0]"}}},
        "ValidationException",
        NESTED_KEY,
    ),
    (
        "bad ReturnConsumedCapacity",
        {"RequestItems": {"hash": {"Keys": keys(1)}}, "ReturnConsumedCapacity": "ALL"},
        "ValidationException",
        "1 validation error detected: Value 'ALL' at 'returnConsumedCapacity' failed to satisfy "
        "constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
    ),
    (
        "unknown KeysAndAttributes member",
        {"RequestItems": {"hash": {"Keys": keys(1), "Limit": 1}}},
        "SerializationException",
        'Unknown parameter in RequestItems.hash: "Limit", must be one of: Keys, AttributesToGet, '
        "ConsistentRead, ProjectionExpression, ExpressionAttributeNames",
    ),
    (
        "a table name shorter than 3 characters, before any lookup",
        {"RequestItems": {"ab": {"Keys": [{"pk": S("a")}]}}},
        "ValidationException",
        "1 validation error detected: Value '{ab={'Keys': [{'pk': {'S': 'a'}}]}}' at "
        "'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 255, Member must have length greater "
        "than or equal to 3, Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]",
    ),
]


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [case[1:] for case in BATCH_ERRORS],
    ids=[case[0] for case in BATCH_ERRORS],
)
def test_batch_get_item_errors(world: World, request_: dict, code: str, message: str) -> None:
    assert world.error(batch_get_item, request_) == (code, message)
    assert world.transport.reads == []


# --- BatchGetItem: behaviour ---------------------------------------------------------------------


def test_batch_get_over_tables_and_partitions(world: World) -> None:
    request = {
        "RequestItems": {
            "hash": {"Keys": [{"pk": S("a")}, {"pk": S("missing")}, {"pk": S("b")}]},
            "composite": {"Keys": [{"pk": S("nope"), "sk": S("x")}], "ConsistentRead": True},
        }
    }
    got = world.call(batch_get_item, request)
    assert [i["pk"] for i in got["Responses"]["hash"]] == [S("a"), S("b")]
    assert got["Responses"]["composite"] == []
    assert got["UnprocessedKeys"] == {}
    assert "ConsumedCapacity" not in got
    reads = world.transport.reads
    partitions = {(table, pid) for table, pid, _, _ in reads}
    assert len(reads) == len(partitions)  # one read per partition touched
    assert {consistent for table, _, _, consistent in reads if table == "composite"} == {True}


def test_batch_get_projection_keeps_empty_entries_of_present_items(world: World) -> None:
    request = {
        "RequestItems": {
            "hash": {"Keys": [{"pk": S("a")}, {"pk": S("b")}], "ProjectionExpression": "x"}
        }
    }
    got = world.call(batch_get_item, request)
    assert got["Responses"]["hash"] == [{"x": N("1")}, {}]


def test_batch_get_consumed_capacity_rounds_every_item(world: World) -> None:
    request = {
        "RequestItems": {
            "hash": {"Keys": [{"pk": S("a")}, {"pk": S("big")}], "ConsistentRead": True},
            "hashN": {"Keys": [{"pk": N("1")}]},
        },
        "ReturnConsumedCapacity": "TOTAL",
    }
    capacity = world.call(batch_get_item, request)["ConsumedCapacity"]
    assert capacity == [
        {"TableName": "hash", "CapacityUnits": 3.0},
        {"TableName": "hashN", "CapacityUnits": 0.5},
    ]


def test_batch_get_returns_the_rest_past_16_mb_as_unprocessed_keys() -> None:
    world = World(partition_count=2)
    world.put("hash", [{"pk": S(f"k{i}"), "body": S("z" * 390_000)} for i in range(50)])
    entry = {"Keys": keys(50), "ProjectionExpression": "pk, body", "ConsistentRead": True}
    first = world.call(batch_get_item, {"RequestItems": {"hash": entry}})
    returned = first["Responses"]["hash"]
    pending = first["UnprocessedKeys"]["hash"]
    assert 0 < len(returned) < 50
    assert sum(len(i["body"]["S"]) for i in returned) <= 16 * 1024 * 1024
    assert pending["ProjectionExpression"] == "pk, body" and pending["ConsistentRead"] is True
    second = world.call(batch_get_item, {"RequestItems": first["UnprocessedKeys"]})
    assert second["UnprocessedKeys"] == {}
    got = sorted(i["pk"]["S"] for i in returned + second["Responses"]["hash"])
    assert got == sorted(f"k{i}" for i in range(50))


def test_a_throttled_partition_leaves_its_keys_unprocessed(world: World) -> None:
    request = {"RequestItems": {"hash": {"Keys": keys(30)}}}
    throttled = ProvisionedThroughputExceededException("throttled")
    world.transport.failures["hash-0"] = throttled
    got = world.call(batch_get_item, request)
    unprocessed = got["UnprocessedKeys"]["hash"]["Keys"]
    assert unprocessed
    ranges = world.catalog.ranges["hash"]
    from raydynamo.storage.keycodec import key_hash

    assert all(ranges[0].covers(key_hash(k["pk"])) for k in unprocessed)
    for partition in ranges:
        world.transport.failures[partition.partition_id] = throttled
    code, _ = world.error(batch_get_item, request)
    assert code == "ProvisionedThroughputExceededException"
