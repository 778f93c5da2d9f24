"""PutItem / UpdateItem / DeleteItem end to end in-process: semantics, returns and capacity.

Requests go through the real operations, the real command encoding and the real
``PartitionStateMachine`` on a ``MemoryEngine`` (``tests/test_op_writes_support.py``), over 1-4
partitions. Expected answers follow the DynamoDB developer guide and dynalite's captures.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raydynamo.api.errors import ConditionalCheckFailedException, ValidationException
from raydynamo.operations.writes import delete_item, put_item, update_item
from tests.test_op_writes_support import new_world, run

KEY = {"pk": {"S": "k"}}
COND_FAILED = "The conditional request failed"


def put(catalog: Any, transport: Any, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return run(put_item({"TableName": "hash", "Item": item, **extra}, catalog, transport))


def update(catalog: Any, transport: Any, **extra: Any) -> dict[str, Any]:
    return run(update_item({"TableName": "hash", "Key": KEY, **extra}, catalog, transport))


def delete(catalog: Any, transport: Any, **extra: Any) -> dict[str, Any]:
    return run(delete_item({"TableName": "hash", "Key": KEY, **extra}, catalog, transport))


# --- PutItem -------------------------------------------------------------------------------------


def test_put_stores_the_canonical_item_and_returns_nothing() -> None:
    catalog, transport = new_world()
    item = {"pk": {"S": "k"}, "n": {"N": "01.50"}, "b": {"B": bytearray(b"\x00")}}
    assert put(catalog, transport, item) == {}
    assert transport.stored("hash", KEY) == {
        "pk": {"S": "k"},
        "n": {"N": "1.5"},
        "b": {"B": b"\x00"},
    }


def test_put_replaces_the_whole_item_and_all_old_returns_it() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "a": {"S": "1"}, "b": {"S": "2"}})
    response = put(catalog, transport, {**KEY, "c": {"S": "3"}}, ReturnValues="ALL_OLD")
    assert response == {"Attributes": {**KEY, "a": {"S": "1"}, "b": {"S": "2"}}}
    assert transport.stored("hash", KEY) == {**KEY, "c": {"S": "3"}}


def test_put_all_old_of_a_new_item_has_no_attributes() -> None:
    catalog, transport = new_world()
    assert put(catalog, transport, KEY, ReturnValues="ALL_OLD") == {}


PUT_CONDITIONS = [
    # (existing item or None, condition parameters, succeeds)
    (None, {"ConditionExpression": "attribute_not_exists(pk)"}, True),
    ({"a": {"N": "1"}}, {"ConditionExpression": "attribute_not_exists(pk)"}, False),
    (None, {"ConditionExpression": "attribute_exists(pk)"}, False),
    (
        {"a": {"N": "1"}},
        {"ConditionExpression": "a < :v", "ExpressionAttributeValues": {":v": {"N": "2"}}},
        True,
    ),
    (
        {"a": {"N": "1"}},
        {"ConditionExpression": "a > :v", "ExpressionAttributeValues": {":v": {"N": "2"}}},
        False,
    ),
    (
        {"a": {"S": "1"}},
        {"ConditionExpression": "a < :v", "ExpressionAttributeValues": {":v": {"N": "2"}}},
        False,
    ),
    (None, {"Expected": {"pk": {"Exists": False}}}, True),
    ({"a": {"N": "1"}}, {"Expected": {"pk": {"Exists": False}}}, False),
    ({"a": {"N": "1"}}, {"Expected": {"a": {"Value": {"N": "1"}}}}, True),
    ({"a": {"N": "1"}}, {"Expected": {"b": {"Exists": False}}}, True),
    (
        {"a": {"N": "1"}},
        {"Expected": {"a": {"Value": {"N": "2"}}, "b": {"Exists": False}}},
        False,
    ),
    (
        {"a": {"N": "1"}},
        {
            "Expected": {"a": {"Value": {"N": "2"}}, "b": {"Exists": False}},
            "ConditionalOperator": "OR",
        },
        True,
    ),
    (
        {"a": {"N": "1"}},
        {"Expected": {"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "0"}]}}},
        True,
    ),
]


@pytest.mark.parametrize(("existing", "condition", "succeeds"), PUT_CONDITIONS)
def test_put_condition(
    existing: dict[str, Any] | None, condition: dict[str, Any], succeeds: bool
) -> None:
    catalog, transport = new_world()
    if existing is not None:
        put(catalog, transport, {**KEY, **existing})
    new = {**KEY, "z": {"S": "new"}}
    if succeeds:
        put(catalog, transport, new, **condition)
        assert transport.stored("hash", KEY) == new
    else:
        with pytest.raises(ConditionalCheckFailedException) as caught:
            put(catalog, transport, new, **condition)
        assert caught.value.response["Error"]["Message"] == COND_FAILED
        assert "Item" not in caught.value.response
        assert transport.stored("hash", KEY) == ({**KEY, **existing} if existing else None)


def test_failed_condition_returns_the_old_item_with_all_old_on_failure() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "a": {"N": "1"}})
    with pytest.raises(ConditionalCheckFailedException) as caught:
        put(
            catalog,
            transport,
            KEY,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert caught.value.response["Item"] == {**KEY, "a": {"N": "1"}}
    assert "when calling the PutItem operation" in str(caught.value)


def test_failed_condition_on_an_absent_item_returns_no_item() -> None:
    catalog, transport = new_world()
    with pytest.raises(ConditionalCheckFailedException) as caught:
        delete(
            catalog,
            transport,
            ConditionExpression="attribute_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert "Item" not in caught.value.response


# --- UpdateItem ----------------------------------------------------------------------------------


def test_update_without_actions_creates_the_item_from_its_key() -> None:
    catalog, transport = new_world()
    assert update(catalog, transport) == {}
    assert transport.stored("hash", KEY) == KEY


BEFORE = {**KEY, "a": {"S": "a"}, "m": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}, "c": {"N": "5"}}
UPDATE = {
    "UpdateExpression": "SET a = :b, m.x = :one REMOVE c",
    "ExpressionAttributeValues": {":b": {"S": "b"}, ":one": {"N": "10"}},
}
AFTER = {**KEY, "a": {"S": "b"}, "m": {"M": {"x": {"N": "10"}, "y": {"N": "2"}}}}
RETURN_VALUES = [
    ("NONE", None),
    ("ALL_OLD", BEFORE),
    ("ALL_NEW", AFTER),
    ("UPDATED_OLD", {"a": {"S": "a"}, "m": {"M": {"x": {"N": "1"}}}, "c": {"N": "5"}}),
    ("UPDATED_NEW", {"a": {"S": "b"}, "m": {"M": {"x": {"N": "10"}}}}),
]


@pytest.mark.parametrize(("return_values", "attributes"), RETURN_VALUES)
def test_update_return_values(return_values: str, attributes: dict[str, Any] | None) -> None:
    catalog, transport = new_world()
    put(catalog, transport, BEFORE)
    response = update(catalog, transport, ReturnValues=return_values, **UPDATE)
    assert response.get("Attributes") == attributes
    assert transport.stored("hash", KEY) == AFTER


@pytest.mark.parametrize("return_values", ["ALL_OLD", "UPDATED_OLD"])
def test_update_old_values_of_a_new_item_are_empty(return_values: str) -> None:
    catalog, transport = new_world()
    response = update(
        catalog,
        transport,
        ReturnValues=return_values,
        **UPDATE | {"UpdateExpression": "SET a = :b, n = :one"},
    )
    assert "Attributes" not in response


def test_update_legacy_actions_on_an_absent_item_keep_only_what_they_can_create() -> None:
    """dynalite's capture: DELETE of nothing and removing nothing create nothing; ADD creates."""
    catalog, transport = new_world()
    response = update(
        catalog,
        transport,
        AttributeUpdates={
            "b": {"Action": "DELETE"},
            "c": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}},
            "d": {"Action": "ADD", "Value": {"N": "5"}},
            "e": {"Action": "ADD", "Value": {"SS": ["a", "b"]}},
            "f": {"Action": "ADD", "Value": {"L": [{"S": "a"}, {"N": "1"}]}},
        },
        ReturnValues="UPDATED_NEW",
    )
    created = {"d": {"N": "5"}, "e": {"SS": ["a", "b"]}, "f": {"L": [{"S": "a"}, {"N": "1"}]}}
    assert response == {"Attributes": created}
    assert transport.stored("hash", KEY) == {**KEY, **created}


def test_update_expression_on_an_absent_item_matches_the_legacy_form() -> None:
    catalog, transport = new_world()
    response = update(
        catalog,
        transport,
        UpdateExpression="REMOVE b DELETE c :c ADD d :d, e :e SET f = :f",
        ExpressionAttributeValues={
            ":c": {"SS": ["a", "b"]},
            ":d": {"N": "5"},
            ":e": {"SS": ["a", "b"]},
            ":f": {"L": [{"S": "a"}, {"N": "1"}]},
        },
        ReturnValues="UPDATED_NEW",
    )
    assert response["Attributes"] == {
        "d": {"N": "5"},
        "e": {"SS": ["a", "b"]},
        "f": {"L": [{"S": "a"}, {"N": "1"}]},
    }


ONLY_DELETES = [
    pytest.param({"UpdateExpression": "REMOVE a, b"}, id="REMOVE"),
    pytest.param(
        {
            "UpdateExpression": "REMOVE a DELETE s :s",
            "ExpressionAttributeValues": {":s": {"SS": ["x"]}},
        },
        id="REMOVE and DELETE",
    ),
    pytest.param({"AttributeUpdates": {"a": {"Action": "DELETE"}}}, id="legacy DELETE"),
    pytest.param(
        {"AttributeUpdates": {"s": {"Action": "DELETE", "Value": {"SS": ["x"]}}}},
        id="legacy DELETE from a set",
    ),
]


@pytest.mark.parametrize("parameters", ONLY_DELETES)
@pytest.mark.parametrize("return_values", ["NONE", "ALL_NEW", "UPDATED_NEW"])
def test_an_update_that_only_deletes_does_not_create_an_absent_item(
    parameters: dict[str, Any], return_values: str
) -> None:
    """API reference (AttributeValueUpdate, no item found): "DELETE - Nothing happens; there is
    no attribute to delete"; ScyllaDB's tests saw DynamoDB do the same for REMOVE."""
    catalog, transport = new_world()
    response = update(catalog, transport, ReturnValues=return_values, **parameters)
    assert "Attributes" not in response
    assert transport.stored("hash", KEY) is None
    with_capacity = update(catalog, transport, ReturnConsumedCapacity="TOTAL", **parameters)
    assert with_capacity["ConsumedCapacity"] == {"TableName": "hash", "CapacityUnits": 1.0}
    assert transport.stored("hash", KEY) is None


def test_an_update_that_only_deletes_still_edits_an_existing_item() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "a": {"S": "x"}})
    assert update(catalog, transport, UpdateExpression="REMOVE a") == {}
    assert transport.stored("hash", KEY) == KEY


def test_an_empty_legacy_update_creates_the_item() -> None:
    catalog, transport = new_world()
    assert update(catalog, transport, AttributeUpdates={}) == {}
    assert transport.stored("hash", KEY) == KEY


def test_update_deleting_every_member_of_a_set_removes_it() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "b": {"NS": ["1", "2"]}, "c": {"S": "a"}})
    response = update(
        catalog,
        transport,
        AttributeUpdates={"b": {"Action": "DELETE", "Value": {"NS": ["2", "1"]}}},
        ReturnValues="UPDATED_NEW",
    )
    assert "Attributes" not in response
    assert transport.stored("hash", KEY) == {**KEY, "c": {"S": "a"}}


def test_update_counter_arithmetic() -> None:
    catalog, transport = new_world()
    expression = {
        "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
        "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
        "ReturnValues": "UPDATED_NEW",
    }
    assert update(catalog, transport, **expression) == {"Attributes": {"n": {"N": "1"}}}
    assert update(catalog, transport, **expression) == {"Attributes": {"n": {"N": "2"}}}


APPLY_TIME_ERRORS = [
    # (existing attributes, update parameters, message): refused by the partition, nothing written
    (
        {"s": {"S": "x"}},
        {"UpdateExpression": "SET s = s + :n", "ExpressionAttributeValues": {":n": {"N": "1"}}},
        "An operand in the update expression has an incorrect data type",
    ),
    (
        {"s": {"S": "x"}},
        {"UpdateExpression": "ADD s :n", "ExpressionAttributeValues": {":n": {"N": "1"}}},
        "An operand in the update expression has an incorrect data type",
    ),
    (
        {"s": {"SS": ["x"]}},
        {"AttributeUpdates": {"s": {"Action": "ADD", "Value": {"NS": ["1"]}}}},
        "Type mismatch for attribute to update",
    ),
    (
        {"s": {"N": "1"}},
        {"AttributeUpdates": {"s": {"Action": "DELETE", "Value": {"NS": ["1"]}}}},
        "Type mismatch for attribute to update",
    ),
    (
        {},
        {"UpdateExpression": "SET c = b"},
        "The provided expression refers to an attribute that does not exist in the item",
    ),
    (
        {},
        {"UpdateExpression": "SET b.a = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}},
        "The document path provided in the update expression is invalid for update",
    ),
    (
        {"big": {"S": "x" * 400_000}},
        {
            "UpdateExpression": "SET more = :s",
            "ExpressionAttributeValues": {":s": {"S": "y" * 10_000}},
        },
        "Item size to update has exceeded the maximum allowed size",
    ),
]


@pytest.mark.parametrize(("existing", "parameters", "message"), APPLY_TIME_ERRORS)
def test_update_errors_only_the_item_reveals(
    existing: dict[str, Any], parameters: dict[str, Any], message: str
) -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, **existing})
    with pytest.raises(ValidationException) as caught:
        update(catalog, transport, **parameters)
    assert caught.value.response["Error"]["Message"] == message
    assert transport.stored("hash", KEY) == {**KEY, **existing}


def test_update_condition_failure_leaves_the_item() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "v": {"N": "1"}})
    with pytest.raises(ConditionalCheckFailedException):
        update(
            catalog,
            transport,
            UpdateExpression="SET v = :two",
            ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
        )
    assert transport.stored("hash", KEY) == {**KEY, "v": {"N": "1"}}


# --- DeleteItem ----------------------------------------------------------------------------------


def test_delete_of_an_absent_item_succeeds_with_nothing() -> None:
    catalog, transport = new_world()
    assert delete(catalog, transport, ReturnValues="ALL_OLD") == {}


def test_delete_returns_the_old_item_and_removes_it() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "b": {"S": "b"}})
    assert delete(catalog, transport, ReturnValues="ALL_OLD") == {
        "Attributes": {**KEY, "b": {"S": "b"}}
    }
    assert transport.stored("hash", KEY) is None


def test_delete_with_a_failed_legacy_condition_keeps_the_item() -> None:
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "b": {"S": "b"}})
    with pytest.raises(ConditionalCheckFailedException):
        delete(catalog, transport, Expected={"b": {"Exists": False}})
    assert transport.stored("hash", KEY) is not None


# --- ReturnConsumedCapacity ----------------------------------------------------------------------


def _item_of_size(size_bytes: int) -> dict[str, Any]:
    # "pk" + "k" = 3 bytes, "v" = 1 byte: the string fills the rest
    return {**KEY, "v": {"S": "x" * (size_bytes - 4)}}


@pytest.mark.parametrize(
    ("size_bytes", "units"), [(5, 1.0), (1024, 1.0), (1025, 2.0), (2049, 3.0), (409_600, 400.0)]
)
def test_put_write_units_per_started_kilobyte(size_bytes: int, units: float) -> None:
    catalog, transport = new_world()
    response = put(catalog, transport, _item_of_size(size_bytes), ReturnConsumedCapacity="TOTAL")
    assert response == {"ConsumedCapacity": {"TableName": "hash", "CapacityUnits": units}}


def test_capacity_counts_the_larger_of_the_old_and_new_item() -> None:
    catalog, transport = new_world()
    put(catalog, transport, _item_of_size(2049))
    small = put(catalog, transport, KEY, ReturnConsumedCapacity="TOTAL")
    assert small["ConsumedCapacity"]["CapacityUnits"] == 3.0
    grown = update(
        catalog,
        transport,
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "x" * 1100}},
        ReturnConsumedCapacity="TOTAL",
    )
    assert grown["ConsumedCapacity"]["CapacityUnits"] == 2.0
    gone = delete(catalog, transport, ReturnConsumedCapacity="TOTAL")
    assert gone["ConsumedCapacity"]["CapacityUnits"] == 2.0
    again = delete(catalog, transport, ReturnConsumedCapacity="TOTAL")
    assert again["ConsumedCapacity"]["CapacityUnits"] == 1.0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (None, None),
        ("NONE", None),
        ("TOTAL", {"TableName": "hash", "CapacityUnits": 1.0}),
        ("INDEXES", {"TableName": "hash", "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}),
    ],
)
def test_consumed_capacity_shapes(mode: str | None, expected: dict[str, Any] | None) -> None:
    catalog, transport = new_world()
    extra = {} if mode is None else {"ReturnConsumedCapacity": mode}
    for response in (
        put(catalog, transport, KEY, **extra),
        update(catalog, transport, **extra),
        delete(catalog, transport, **extra),
    ):
        assert response.get("ConsumedCapacity") == expected


# --- routing, retries, concurrency ---------------------------------------------------------------


@pytest.mark.parametrize("partitions", [1, 2, 3, 4])
def test_items_land_in_the_partition_of_their_key_hash(partitions: int) -> None:
    catalog, transport = new_world(partitions)
    for i in range(40):
        put(catalog, transport, {"pk": {"S": f"k{i}"}, "i": {"N": str(i)}})
    used = {partition_id for _, partition_id, _, _ in transport.sent}
    assert len(used) == partitions
    assert len(transport.all_items("hash")) == 40
    for i in range(40):
        assert transport.stored("hash", {"pk": {"S": f"k{i}"}}) is not None


def test_a_retried_command_is_answered_not_reapplied() -> None:
    catalog, transport = new_world()
    update(
        catalog,
        transport,
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    _, partition_id, _, command = transport.sent[-1]
    (first,) = transport.apply(partition_id, (command,))
    (again,) = transport.apply(partition_id, (command,))
    assert first == again
    assert transport.stored("hash", KEY) == {**KEY, "n": {"N": "1"}}


def test_concurrent_conditional_increments_never_lose_or_double_one() -> None:
    """Optimistic concurrency: read, then write with a condition on the value read."""
    catalog, transport = new_world(partitions=2)
    put(catalog, transport, {**KEY, "n": {"N": "0"}})
    successes = 0

    async def client(rounds: int) -> None:
        nonlocal successes
        for _ in range(rounds):
            current = transport.stored("hash", KEY)
            assert current is not None
            value = current["n"]["N"]
            await asyncio.sleep(0)
            try:
                await update_item(
                    {
                        "TableName": "hash",
                        "Key": KEY,
                        "UpdateExpression": "SET n = n + :one",
                        "ConditionExpression": "n = :seen",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":seen": {"N": value}},
                    },
                    catalog,
                    transport,
                )
                successes += 1
            except ConditionalCheckFailedException:
                pass

    async def main() -> None:
        await asyncio.gather(*(client(20) for _ in range(8)))

    run(main())
    assert transport.stored("hash", KEY) == {**KEY, "n": {"N": str(successes)}}
    assert successes > 0


@pytest.mark.parametrize("stored", [{"BOOL": True}, {"NULL": True}, {"M": {}}, {"SS": ["x"]}])
def test_an_item_value_a_comparison_cannot_order_is_a_false_condition(stored: dict) -> None:
    """The constant's type is checked up front; the item's type only makes the condition false."""
    catalog, transport = new_world()
    put(catalog, transport, {**KEY, "n": stored})
    for condition in ("n > :v", "n BETWEEN :v AND :w"):
        with pytest.raises(ConditionalCheckFailedException):
            put(
                catalog,
                transport,
                KEY,
                ConditionExpression=condition,
                ExpressionAttributeValues={":v": {"N": "1"}, ":w": {"N": "2"}}
                if "BETWEEN" in condition
                else {":v": {"N": "1"}},
            )
    assert transport.stored("hash", KEY) == {**KEY, "n": stored}
