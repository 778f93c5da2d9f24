"""Bad input that used to escape as a crash (InternalServerError) is DynamoDB's error now.

Lone surrogates (a Python ``str`` with an unpaired U+D800..U+DFFF, which a JSON ``\\ud800``
escape produces) wherever a string can go, and members of the wrong JSON type such as
``RequestItems: {"T": null}``. Each case must raise a ``ClientError`` of the expected code whose
message can leave the process (valid UTF-8), and send nothing to any partition.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raydynamo.api.errors import ClientError, SerializationException, ValidationException
from raydynamo.api.text import refuse_lone_surrogates
from raydynamo.metadata.create_table import validate_create_table
from raydynamo.metadata.tables import (
    validate_delete_table,
    validate_describe_table,
    validate_list_tables,
)
from raydynamo.operations.batch_get import batch_get_item
from raydynamo.operations.batch_write import batch_write_item
from raydynamo.operations.query import query
from raydynamo.operations.reads import get_item
from raydynamo.operations.scan import scan
from raydynamo.operations.writes import delete_item, put_item, update_item
from tests.test_op_writes_support import new_world

BAD = "\ud800"
OPERATIONS = {
    "PutItem": put_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "BatchWriteItem": batch_write_item,
    "GetItem": get_item,
    "BatchGetItem": batch_get_item,
    "Query": query,
    "Scan": scan,
}
ITEM = {"pk": {"S": "a"}}
INVALID = "One or more parameter values were invalid: "
NOT_TEXT = " is not valid UTF-8 text (it holds an unpaired surrogate code point)"

SURROGATES: list[tuple[str, str, dict[str, Any], str]] = [
    ("attribute name", "PutItem", {"TableName": "hash", "Item": {**ITEM, BAD: {"S": "x"}}},
     "the name '\\ud800' in Item"),
    ("map key", "PutItem", {"TableName": "hash", "Item": {**ITEM, "m": {"M": {BAD: {"N": "1"}}}}},
     "the name '\\ud800' in Item.m.M"),
    ("string value", "PutItem", {"TableName": "hash", "Item": {**ITEM, "s": {"S": "a" + BAD}}},
     "Item.s.S"),
    ("string set member", "UpdateItem",
     {"TableName": "hash", "Key": ITEM, "UpdateExpression": "ADD s :s",
      "ExpressionAttributeValues": {":s": {"SS": ["x", BAD]}}},
     "ExpressionAttributeValues.:s.SS[1]"),
    ("key value", "GetItem", {"TableName": "hash", "Key": {"pk": {"S": BAD}}}, "Key.pk.S"),
    ("ExpressionAttributeNames key", "PutItem",
     {"TableName": "hash", "Item": ITEM, "ConditionExpression": "attribute_exists(#a)",
      "ExpressionAttributeNames": {"#a" + BAD: "a"}},
     "the name '#a\\ud800' in ExpressionAttributeNames"),
    ("ExpressionAttributeNames value", "DeleteItem",
     {"TableName": "hash", "Key": ITEM, "ConditionExpression": "attribute_exists(#a)",
      "ExpressionAttributeNames": {"#a": BAD}},
     "ExpressionAttributeNames.#a"),
    ("table name", "Scan", {"TableName": "t" + BAD + "t"}, "TableName"),
    ("expression", "Query",
     {"TableName": "hash", "KeyConditionExpression": "pk = :v" + BAD,
      "ExpressionAttributeValues": {":v": {"S": "a"}}},
     "KeyConditionExpression"),
    ("AttributesToGet member", "GetItem",
     {"TableName": "hash", "Key": ITEM, "AttributesToGet": ["a", BAD]}, "AttributesToGet[1]"),
    ("an enum's value", "PutItem", {"TableName": "hash", "Item": ITEM, "ReturnValues": BAD},
     "ReturnValues"),
    ("legacy condition attribute", "UpdateItem",
     {"TableName": "hash", "Key": ITEM, "Expected": {BAD: {"Exists": False}}},
     "the name '\\ud800' in Expected"),
    ("batch table name", "BatchWriteItem",
     {"RequestItems": {BAD: [{"DeleteRequest": {"Key": ITEM}}]}},
     "the name '\\ud800' in RequestItems"),
    ("batch key", "BatchGetItem", {"RequestItems": {"hash": {"Keys": [{"pk": {"S": BAD}}]}}},
     "RequestItems.hash.Keys[0].pk.S"),
    ("parameter name", "Scan", {"TableName": "hash", BAD: 1}, "'\\ud800'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "request_", "where"),
    [case[1:] for case in SURROGATES],
    ids=[case[0] for case in SURROGATES],
)
def test_a_lone_surrogate_anywhere_is_a_validation_exception(
    operation: str, request_: dict[str, Any], where: str
) -> None:
    catalog, transport = new_world()
    with pytest.raises(ValidationException) as caught:
        asyncio.run(OPERATIONS[operation](request_, catalog, transport))
    message = caught.value.response["Error"]["Message"]
    assert message == f"{INVALID}{where}{NOT_TEXT}"
    message.encode("utf-8")
    assert caught.value.operation_name == operation
    assert transport.sent == []


@pytest.mark.parametrize("operation", ["BatchWriteItem", "BatchGetItem"])
def test_a_null_table_entry_in_request_items_is_a_type_error(operation: str) -> None:
    catalog, transport = new_world()
    with pytest.raises(SerializationException) as caught:
        asyncio.run(OPERATIONS[operation]({"RequestItems": {"T": None}}, catalog, transport))
    valid = "<class 'list'>, <class 'tuple'>" if operation == "BatchWriteItem" else "<class 'dict'>"
    assert caught.value.message == (
        f"Invalid type for parameter RequestItems.T, value: None, type: <class 'NoneType'>, "
        f"valid types: {valid}"
    )


WRONG_TYPES: list[tuple[str, dict[str, Any], str]] = [
    ("UpdateItem", {"TableName": "hash", "Key": ITEM, "AttributeUpdates": {"a": [[]]}},
     "Invalid type for parameter AttributeUpdates.a, value: [[]], type: <class 'list'>, "
     "valid types: <class 'dict'>"),
    ("DeleteItem", {"TableName": "hash", "Key": ITEM, "Expected": {"a": {"Exists": "no"}}},
     "Invalid type for parameter Expected.a.Exists, value: 'no', type: <class 'str'>, "
     "valid types: <class 'bool'>"),
    ("PutItem", {"TableName": "hash", "Item": ITEM,
                 "Expected": {"a": {"ComparisonOperator": {"N": "1"}, "Value": {"S": "p"}}}},
     "Invalid type for parameter Expected.a.ComparisonOperator, value: {'N': '1'}, "
     "type: <class 'dict'>, valid types: <class 'str'>"),
    ("Scan", {"TableName": "hash", "ScanFilter": {"n": None}},
     "Invalid type for parameter ScanFilter.n, value: None, type: <class 'NoneType'>, "
     "valid types: <class 'dict'>"),
    ("BatchGetItem", {"RequestItems": {"hash": {"Keys": [None]}}},
     "Invalid type for parameter RequestItems.hash.Keys[0], value: None, "
     "type: <class 'NoneType'>, valid types: <class 'dict'>"),
    ("GetItem", {"TableName": "hash", "Key": ITEM, "AttributesToGet": ["n", None]},
     "Invalid type for parameter AttributesToGet[1], value: None, type: <class 'NoneType'>, "
     "valid types: <class 'str'>"),
    ("Query", {"TableName": "hash", "Limit": 2**40, "KeyConditionExpression": "pk = :v"},
     "Invalid value for parameter Limit, value: 1099511627776, valid range: -2147483648 to "
     "2147483647"),
    ("BatchWriteItem", {"RequestItems": {"hash": [{"PutRequest": {"Item": ITEM, "X": 1}}]}},
     'Unknown parameter in RequestItems.hash[0].PutRequest: "X", must be one of: Item'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "request_", "message"),
    WRONG_TYPES,
    ids=[f"{c[0]}: {c[2][:50]}" for c in WRONG_TYPES],
)
def test_a_member_of_the_wrong_type_at_any_depth_is_a_serialization_exception(
    operation: str, request_: dict[str, Any], message: str
) -> None:
    catalog, transport = new_world()
    with pytest.raises(SerializationException) as caught:
        asyncio.run(OPERATIONS[operation](request_, catalog, transport))
    assert caught.value.message == message
    assert transport.sent == []


@pytest.mark.parametrize(
    ("validate", "request_"),
    [
        (validate_create_table, {"TableName": "t" + BAD, "KeySchema": []}),
        (validate_create_table, {
            "TableName": "tab",
            "KeySchema": [{"AttributeName": BAD, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": BAD, "AttributeType": "S"}],
        }),
        (validate_describe_table, {"TableName": BAD}),
        (validate_delete_table, {"TableName": "a" + BAD}),
        (validate_list_tables, {"ExclusiveStartTableName": BAD}),
    ],
)  # fmt: skip
def test_table_operations_refuse_lone_surrogates(validate: Any, request_: dict[str, Any]) -> None:
    with pytest.raises(ValidationException) as caught:
        validate(request_)
    assert caught.value.message.endswith(NOT_TEXT)
    caught.value.message.encode("utf-8")


def test_the_check_walks_any_depth_without_recursion() -> None:
    deep: Any = "x" + BAD
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValidationException) as caught:
        refuse_lone_surrogates({"Item": deep})
    assert caught.value.message.startswith(f"{INVALID}Item[0][0][0]")
    assert len(caught.value.message) < 400
    refuse_lone_surrogates({"Item": [[[["fine é 😀"]]]], "B": b"\xed\xa0\x80"})  # bytes are no text


def test_a_surrogate_pair_is_valid_text() -> None:
    refuse_lone_surrogates(
        {"S": "😀", "paired": "\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16")}
    )


def test_every_error_of_these_requests_is_a_client_error() -> None:
    for _, operation, request_, _ in SURROGATES:
        catalog, transport = new_world()
        with pytest.raises(ClientError):
            asyncio.run(OPERATIONS[operation](request_, catalog, transport))
