"""Property: any mutation of a valid request gets a response or a ``ClientError``, never a crash.

For each data operation, valid requests that use most of its parameters (the expression form
and the legacy form) are mutated a few times at random places: a member replaced by a value of
any JSON type (lone surrogates included, in values and in map keys), a member removed, a key
added or renamed. The operation must answer with a response dict or raise a ``ClientError``
whose message can leave the process (encodable as UTF-8, JSON and msgpack), never another
exception: DynamoDB answers bad input with its own errors, never an InternalServerError.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import ClientError, InternalServerError
from raydynamo.operations.batch_get import batch_get_item
from raydynamo.operations.batch_write import batch_write_item
from raydynamo.operations.query import query
from raydynamo.operations.reads import get_item
from raydynamo.operations.scan import scan
from raydynamo.operations.writes import delete_item, put_item, update_item
from tests.test_op_reads_support import World
from tests.test_op_writes_support import new_world

Operation = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, dict[str, Any]]]

ITEM = {
    "pk": {"S": "a"},
    "n": {"N": "7"},
    "m": {"M": {"x": {"L": [{"S": "y"}, {"NULL": True}]}, "b": {"B": b"\x01"}}},
    "ss": {"SS": ["p", "q"]},
}
EXPRESSIONS = {
    "ExpressionAttributeNames": {"#n": "n", "#m": "m"},
    "ExpressionAttributeValues": {":v": {"N": "5"}, ":s": {"SS": ["z"]}},
}
WRITES: dict[str, tuple[Operation, list[dict[str, Any]]]] = {
    "PutItem": (
        put_item,
        [
            {
                "TableName": "hash",
                "Item": ITEM,
                "ConditionExpression": "attribute_not_exists(pk) OR (#n < :v AND size(#m) < :v)",
                "ReturnValues": "ALL_OLD",
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **EXPRESSIONS,
                "ExpressionAttributeValues": {":v": {"N": "50"}},
            },
            {
                "TableName": "hash",
                "Item": ITEM,
                "Expected": {
                    "n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "9"}]},
                    "m": {"Exists": False},
                },
                "ConditionalOperator": "OR",
            },
        ],
    ),
    "UpdateItem": (
        update_item,
        [
            {
                "TableName": "range",
                "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                "UpdateExpression": "SET #n = if_not_exists(#n, :v) + :v, #m.x[0] = :v "
                "REMOVE q ADD ss :s DELETE tt :s",
                "ConditionExpression": "attribute_not_exists(#n) OR NOT #n BETWEEN :v AND :v",
                "ReturnValues": "UPDATED_NEW",
                **EXPRESSIONS,
            },
            {
                "TableName": "hash",
                "Key": {"pk": {"S": "a"}},
                "AttributeUpdates": {
                    "n": {"Action": "ADD", "Value": {"N": "1"}},
                    "ss": {"Action": "DELETE", "Value": {"SS": ["p"]}},
                    "q": {"Action": "PUT", "Value": {"L": [{"BOOL": True}]}},
                },
                "Expected": {"n": {"Value": {"N": "7"}}},
                "ReturnValues": "ALL_NEW",
            },
        ],
    ),
    "DeleteItem": (
        delete_item,
        [
            {
                "TableName": "hash",
                "Key": {"pk": {"S": "a"}},
                "ConditionExpression": "contains(ss, :p) AND #m.x[1] <> :v",
                "ExpressionAttributeNames": {"#m": "m"},
                "ExpressionAttributeValues": {":p": {"S": "p"}, ":v": {"N": "5"}},
                "ReturnValues": "ALL_OLD",
            },
            {
                "TableName": "hash",
                "Key": {"pk": {"S": "a"}},
                "Expected": {"ss": {"ComparisonOperator": "CONTAINS", "Value": {"S": "p"}}},
            },
        ],
    ),
    "BatchWriteItem": (
        batch_write_item,
        [
            {
                "RequestItems": {
                    "hash": [
                        {"PutRequest": {"Item": ITEM}},
                        {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}},
                    ],
                    "range": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "2"}}}}],
                },
                "ReturnConsumedCapacity": "INDEXES",
                "ReturnItemCollectionMetrics": "SIZE",
            }
        ],
    ),
}
READS: dict[str, tuple[Operation, list[dict[str, Any]]]] = {
    "GetItem": (
        get_item,
        [
            {
                "TableName": "hash",
                "Key": {"pk": {"S": "a"}},
                "ProjectionExpression": "#n, #m.x[0], ss",
                "ExpressionAttributeNames": {"#n": "n", "#m": "m"},
                "ConsistentRead": True,
                "ReturnConsumedCapacity": "TOTAL",
            },
            {"TableName": "numbers", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
             "AttributesToGet": ["n", "m"]},
        ],
    ),
    "Query": (
        query,
        [
            {
                "TableName": "numbers",
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "FilterExpression": "#n > :lo OR attribute_type(#m, :t)",
                "ProjectionExpression": "pk, sk, #n",
                "ExpressionAttributeNames": {"#n": "n", "#m": "m"},
                "ExpressionAttributeValues": {
                    ":pk": {"S": "a"}, ":lo": {"N": "0"}, ":hi": {"N": "9"}, ":t": {"S": "M"},
                },
                "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                "Limit": 5,
                "ScanIndexForward": False,
                "ConsistentRead": True,
                "ReturnConsumedCapacity": "TOTAL",
            },
            {
                "TableName": "numbers",
                "KeyConditions": {
                    "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                    "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "1"}]},
                },
                "QueryFilter": {
                    "n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "7"}]}
                },
                "ConditionalOperator": "AND",
                "AttributesToGet": ["pk", "n"],
                "Select": "SPECIFIC_ATTRIBUTES",
            },
        ],
    ),
    "Scan": (
        scan,
        [
            {
                "TableName": "hash",
                "FilterExpression": "begins_with(s, :p) AND NOT #n IN (:v, :w)",
                "ProjectionExpression": "#n",
                "ExpressionAttributeNames": {"#n": "n"},
                "ExpressionAttributeValues": {":p": {"S": "x"}, ":v": {"N": "1"}, ":w": {"N": "2"}},
                "Segment": 1,
                "TotalSegments": 3,
                "Limit": 10,
                "Select": "SPECIFIC_ATTRIBUTES",
            },
            {
                "TableName": "hash",
                "ScanFilter": {"n": {"ComparisonOperator": "NOT_NULL"}},
                "ExclusiveStartKey": {"pk": {"S": "a"}},
                "Select": "COUNT",
            },
        ],
    ),
    "BatchGetItem": (
        batch_get_item,
        [
            {
                "RequestItems": {
                    "hash": {
                        "Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}],
                        "ProjectionExpression": "#n, ss",
                        "ExpressionAttributeNames": {"#n": "n"},
                        "ConsistentRead": True,
                    },
                    "numbers": {
                        "Keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}],
                        "ConsistentRead": False,
                    },
                },
                "ReturnConsumedCapacity": "TOTAL",
            },
            {"RequestItems": {"hash": {"Keys": [{"pk": {"S": "a"}}], "AttributesToGet": ["n"]}}},
        ],
    ),
}  # fmt: skip

# --- mutations -----------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(["a", "#", ":", "\ud800", "\udfff", "é", " ", "."]), max_size=4
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 30)
    | st.sampled_from([2**64, -(2**70), 1.5, float("nan")])
    | _TEXT
    | st.sampled_from(
        ["S", "N", "ALL_OLD", "EQ", "BETWEEN", "a = :v", "#n", ":v", "hash", "\ud800"]
    )
    | st.binary(max_size=3)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            _TEXT | st.sampled_from(["S", "N", "M", "L", "Keys", "Item"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _parent(request: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        request = request[step]
    return request


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    request = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(request) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(request, path)
        leaf = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add", "rename"]))
        if action == "replace":
            parent[leaf] = draw(_JSON)
        elif action == "remove":
            del parent[leaf]
        elif isinstance(parent, dict) and action == "add":
            parent[draw(_TEXT)] = draw(_JSON)
        elif isinstance(parent, dict):
            parent[draw(_TEXT | st.sampled_from(["hash", "\ud800", "#n", ":v"]))] = parent.pop(leaf)
        else:
            parent.append(draw(_JSON))
    return request


def _check_outcome(outcome: Callable[[], dict[str, Any]]) -> None:
    try:
        response = outcome()
    except ClientError as err:
        assert not isinstance(err, InternalServerError), err.message
        message = err.response["Error"]["Message"]
        message.encode("utf-8")  # a message must be able to leave the process
        json.dumps(message)
        msgpack.packb(err.to_wire(), use_bin_type=True)
        return
    assert isinstance(response, dict)


def _run(operation: Operation, request: dict[str, Any], catalog: Any, transport: Any) -> Any:
    return lambda: asyncio.run(operation(request, catalog, transport))


SHAPE_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _write_world() -> tuple[Any, Any]:
    catalog, transport = new_world()
    asyncio.run(put_item({"TableName": "hash", "Item": ITEM}, catalog, transport))
    ranged = {**ITEM, "sk": {"N": "1"}}
    asyncio.run(put_item({"TableName": "range", "Item": ranged}, catalog, transport))
    return catalog, transport


@pytest.mark.parametrize("operation_name", sorted(WRITES))
def test_any_mutated_write_gets_a_response_or_a_client_error(operation_name: str) -> None:
    operation, bases = WRITES[operation_name]
    for base in bases:  # the unmutated requests are valid
        catalog, transport = _write_world()
        asyncio.run(operation(copy.deepcopy(base), catalog, transport))

    @SHAPE_SETTINGS
    @given(request=mutated(bases))
    def check(request: dict[str, Any]) -> None:
        catalog, transport = _write_world()
        _check_outcome(_run(operation, request, catalog, transport))

    check()


@pytest.mark.parametrize("operation_name", sorted(READS))
def test_any_mutated_read_gets_a_response_or_a_client_error(operation_name: str) -> None:
    operation, bases = READS[operation_name]
    world = World(partition_count=2)
    world.put("hash", [ITEM, {"pk": {"S": "b"}, "s": {"S": "xy"}}])
    world.put("numbers", [{**ITEM, "sk": {"N": str(i)}} for i in range(3)])
    for base in bases:
        world.call(operation, copy.deepcopy(base))

    @SHAPE_SETTINGS
    @given(request=mutated(bases))
    def check(request: dict[str, Any]) -> None:
        _check_outcome(_run(operation, request, world.catalog, world.transport))

    check()
