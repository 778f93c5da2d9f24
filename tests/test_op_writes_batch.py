"""BatchWriteItem: validation of the whole batch, one command per partition, capacity, retries.

Messages are DynamoDB's as dynalite captured them (``Map keys/value must satisfy constraint``,
``Provided list of item keys contains duplicates``, ...).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from raydynamo.api.errors import (
    ClientError,
    ResourceNotFoundException,
    SerializationException,
    ServiceUnavailable,
    ValidationException,
)
from raydynamo.operations.batch_write import batch_write_item
from tests.test_op_writes_support import new_world, run

NOT_ONE = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
MAP_KEYS = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 3, "
    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]"
)
MAP_VALUES = (
    "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
    "Member must have length greater than or equal to 1]"
)


def put_request(pk: str, **attributes: Any) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": pk}, **attributes}}}


def delete_request(pk: str) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": {"pk": {"S": pk}}}}


def batch(catalog: Any, transport: Any, request: dict[str, Any]) -> dict[str, Any]:
    return run(batch_write_item(request, catalog, transport))


CASES: list[tuple[str, dict[str, Any], type[ClientError], str]] = [
    (
        "no RequestItems",
        {},
        ValidationException,
        "1 validation error detected: Value null at 'requestItems' failed to satisfy "
        "constraint: Member must not be null",
    ),
    (
        "enums wrong and no RequestItems",
        {"ReturnConsumedCapacity": "hi", "ReturnItemCollectionMetrics": "hi"},
        ValidationException,
        "3 validation errors detected: Value 'hi' at 'returnConsumedCapacity' failed to satisfy "
        "constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value 'hi' at "
        "'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum "
        "value set: [SIZE, NONE]; Value null at 'requestItems' failed to satisfy constraint: "
        "Member must not be null",
    ),
    (
        "empty RequestItems",
        {"RequestItems": {}},
        ValidationException,
        "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1",
    ),
    (
        "neither put nor delete",
        {"RequestItems": {"hash": [{}]}},
        ValidationException,
        NOT_ONE,
    ),
    (
        "both put and delete",
        {"RequestItems": {"hash": [{**put_request("a"), **delete_request("a")}]}},
        ValidationException,
        NOT_ONE,
    ),
    (
        "put without item and delete without key",
        {"RequestItems": {"hash": [{"PutRequest": {}, "DeleteRequest": {}}]}},
        ValidationException,
        "2 validation errors detected: Value null at "
        "'requestItems.hash.member.1.member.deleteRequest.key' failed to satisfy constraint: "
        "Member must not be null; Value null at "
        "'requestItems.hash.member.1.member.putRequest.item' failed to satisfy constraint: "
        "Member must not be null",
    ),
    (
        "put and delete of the same item",
        {"RequestItems": {"hash": [put_request("a"), delete_request("a")]}},
        ValidationException,
        "Provided list of item keys contains duplicates",
    ),
    (
        "two puts of the same item, numbers written differently",
        {
            "RequestItems": {
                "range": [
                    {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}},
                    {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1.0"}}}},
                ]
            }
        },
        ValidationException,
        "Provided list of item keys contains duplicates",
    ),
    (
        "put item without its key",
        {"RequestItems": {"hash": [{"PutRequest": {"Item": {"b": {"S": "a"}}}}]}},
        ValidationException,
        "The provided key element does not match the schema",
    ),
    (
        "put item key of the wrong type",
        {"RequestItems": {"hash": [{"PutRequest": {"Item": {"pk": {"N": "1"}}}}]}},
        ValidationException,
        "The provided key element does not match the schema",
    ),
    (
        "put item without its sort key",
        {"RequestItems": {"range": [put_request("a")]}},
        ValidationException,
        "The provided key element does not match the schema",
    ),
    (
        "delete key with an extra attribute",
        {
            "RequestItems": {
                "hash": [{"DeleteRequest": {"Key": {"pk": {"S": "a"}, "b": {"S": "b"}}}}]
            }
        },
        ValidationException,
        "The provided key element does not match the schema",
    ),
    (
        "hash key over 2048 bytes",
        {"RequestItems": {"hash": [put_request("x" * 2049)]}},
        ValidationException,
        "One or more parameter values were invalid: "
        "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    ),
    (
        "item over 400 KB, before the table is looked up",
        {"RequestItems": {"nope": [put_request("a", b={"S": "x" * 409_600})]}},
        ValidationException,
        "Item size has exceeded the maximum allowed size",
    ),
    (
        "invalid value",
        {"RequestItems": {"hash": [put_request("a", n={"N": "b"})]}},
        ValidationException,
        "The parameter cannot be converted to a numeric value: b",
    ),
    (
        "no such table",
        {"RequestItems": {"nope": [put_request("a")]}},
        ResourceNotFoundException,
        "Requested resource not found",
    ),
    (
        "one table missing among good ones",
        {"RequestItems": {"hash": [put_request("a")], "nope": [put_request("a")]}},
        ResourceNotFoundException,
        "Requested resource not found",
    ),
    (
        "26 requests over two tables",
        {
            "RequestItems": {
                "hash": [put_request(f"a{i}") for i in range(13)],
                "range": [
                    {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": str(i)}}}}
                    for i in range(13)
                ],
            }
        },
        ValidationException,
        "Too many items requested for the BatchWriteItem call",
    ),
    (
        "write request of the wrong Python type",
        {"RequestItems": {"hash": [{"PutRequest": {"Item": {"pk": "a"}}}]}},
        SerializationException,
        "Invalid type for parameter RequestItems.hash[0].PutRequest.Item.pk, value: 'a', "
        "type: <class 'str'>, "
        "valid types: <class 'dict'>",
    ),
]


@pytest.mark.parametrize(
    ("request_", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_batch_is_refused_whole(
    request_: dict[str, Any], error: type[ClientError], message: str
) -> None:
    catalog, transport = new_world(partitions=3)
    with pytest.raises(ClientError) as caught:
        batch(catalog, transport, request_)
    assert type(caught.value) is error
    assert caught.value.response["Error"]["Message"] == message
    assert caught.value.operation_name == "BatchWriteItem"
    assert transport.sent == []


@pytest.mark.parametrize(
    ("request_items", "rules"),
    [
        ({"hash": [put_request(str(i)) for i in range(26)]}, [MAP_VALUES]),
        ({"hash": []}, [MAP_VALUES]),
        ({"a": [put_request("a")]}, [MAP_KEYS]),
        ({"a": []}, [MAP_KEYS, MAP_VALUES]),
    ],
)
def test_map_constraints(request_items: dict[str, Any], rules: list[str]) -> None:
    catalog, transport = new_world()
    with pytest.raises(ValidationException) as caught:
        batch(catalog, transport, {"RequestItems": request_items})
    parts = caught.value.message.split(": ", 1)[1].split("; ")
    assert caught.value.message.startswith(f"{len(rules)} validation error")
    for part, rule in zip(parts, rules, strict=True):
        assert re.fullmatch(
            r"Value '\{.+\}' at 'requestItems' failed to satisfy constraint: " + re.escape(rule),
            part,
        )


@pytest.mark.parametrize("partitions", [1, 2, 3, 4])
def test_one_command_per_partition_touched(partitions: int) -> None:
    catalog, transport = new_world(partitions)
    requests = [put_request(f"k{i}", i={"N": str(i)}) for i in range(25)]
    assert batch(catalog, transport, {"RequestItems": {"hash": requests}}) == {
        "UnprocessedItems": {}
    }
    touched = [partition_id for _, partition_id, _, _ in transport.sent]
    assert sorted(touched) == sorted(set(touched))
    assert len(touched) == partitions
    assert len({request_id for _, _, request_id, _ in transport.sent}) == partitions
    assert len(transport.all_items("hash")) == 25


def test_puts_and_deletes_over_two_tables_with_capacity_per_table() -> None:
    catalog, transport = new_world(partitions=2)
    batch(catalog, transport, {"RequestItems": {"hash": [put_request("old", b={"S": "x"})]}})
    response = batch(
        catalog,
        transport,
        {
            "RequestItems": {
                "hash": [
                    delete_request("old"),
                    put_request("big", b={"S": "x" * 1100}),
                    put_request("small"),
                ],
                "range": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}],
            },
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    assert response == {
        "UnprocessedItems": {},
        "ConsumedCapacity": [
            {"TableName": "hash", "CapacityUnits": 4.0},
            {"TableName": "range", "CapacityUnits": 1.0},
        ],
    }
    assert transport.stored("hash", {"pk": {"S": "old"}}) is None
    assert transport.stored("hash", {"pk": {"S": "small"}}) == {"pk": {"S": "small"}}
    assert transport.stored("range", {"pk": {"S": "a"}, "sk": {"N": "1"}}) is not None


def test_indexes_capacity_shape() -> None:
    catalog, transport = new_world()
    response = batch(
        catalog,
        transport,
        {"RequestItems": {"hash": [put_request("a")]}, "ReturnConsumedCapacity": "INDEXES"},
    )
    assert response["ConsumedCapacity"] == [
        {"TableName": "hash", "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}
    ]


def test_throttled_partition_yields_unprocessed_items() -> None:
    catalog, transport = new_world(partitions=2)
    requests = [put_request(f"k{i}") for i in range(10)]
    down = catalog.partitions("hash")[0].partition_id
    transport.throttled.add(down)
    response = batch(catalog, transport, {"RequestItems": {"hash": requests}})
    unprocessed = response["UnprocessedItems"]["hash"]
    assert 0 < len(unprocessed) < 10
    assert all(request in requests for request in unprocessed)
    assert len(transport.all_items("hash")) == 10 - len(unprocessed)


def test_a_partition_that_may_have_applied_fails_the_call_instead_of_unprocessed() -> None:
    """UnprocessedItems promises the requests were not applied (the client resends them as a new
    request); a partition that could not confirm may have applied them: the whole call fails,
    and its retry carries the same request ids."""
    catalog, transport = new_world(partitions=2)
    requests = [put_request(f"k{i}") for i in range(10)]
    transport.unavailable.add(catalog.partitions("hash")[0].partition_id)
    with pytest.raises(ServiceUnavailable):
        batch(catalog, transport, {"RequestItems": {"hash": requests}})


def test_every_partition_unreachable_raises() -> None:
    catalog, transport = new_world(partitions=2)
    transport.unavailable.update(p.partition_id for p in catalog.partitions("hash"))
    with pytest.raises(ServiceUnavailable):
        batch(catalog, transport, {"RequestItems": {"hash": [put_request("a")]}})
