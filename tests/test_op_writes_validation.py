"""PutItem / UpdateItem / DeleteItem request validation: one case per documented rule.

Each case names the operation, the request, the error class and DynamoDB's message (dynalite's
and ExtendDB's captures against DynamoDB where the API reference gives no wording). Every case
also checks that nothing was sent to any partition.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from raydynamo.api.errors import (
    ClientError,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from raydynamo.operations.writes import delete_item, put_item, update_item
from tests.test_op_writes_support import new_world, run

OPERATIONS = {"PutItem": put_item, "UpdateItem": update_item, "DeleteItem": delete_item}

RCC_ENUM = "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
RV_ENUM = "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
RICM_ENUM = "Member must satisfy enum value set: [SIZE, NONE]"
NOT_NULL = "Member must not be null"
TABLE_RE = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
INVALID = "One or more parameter values were invalid: "
KEY_MISMATCH = "The provided key element does not match the schema"


def constraint(value: str | None, member: str, rule: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{member}' failed to satisfy constraint: {rule}"


def detected(*parts: str) -> str:
    noun = "error" if len(parts) == 1 else "errors"
    return f"{len(parts)} validation {noun} detected: " + "; ".join(parts)


ITEM = {"pk": {"S": "a"}}
KEY = {"pk": {"S": "a"}}
BAD_ENUMS = {
    "TableName": "abc;",
    "ReturnConsumedCapacity": "hi",
    "ReturnItemCollectionMetrics": "hi",
    "ReturnValues": "hi",
}

CASES: list[tuple[str, str, dict[str, Any], type[ClientError], str]] = [
    # --- member constraints, all at once, in each operation's order of members
    (
        "put: no table, no item",
        "PutItem",
        {},
        ValidationException,
        detected(constraint(None, "tableName", NOT_NULL), constraint(None, "item", NOT_NULL)),
    ),
    (
        "put: every enum wrong (DynamoDB's member order)",
        "PutItem",
        dict(BAD_ENUMS),
        ValidationException,
        detected(
            constraint("hi", "returnConsumedCapacity", RCC_ENUM),
            constraint("abc;", "tableName", TABLE_RE),
            constraint(None, "item", NOT_NULL),
            constraint("hi", "returnValues", RV_ENUM),
            constraint("hi", "returnItemCollectionMetrics", RICM_ENUM),
        ),
    ),
    (
        "update: no table, no key",
        "UpdateItem",
        {},
        ValidationException,
        detected(constraint(None, "tableName", NOT_NULL), constraint(None, "key", NOT_NULL)),
    ),
    (
        "update: every enum wrong",
        "UpdateItem",
        dict(BAD_ENUMS),
        ValidationException,
        detected(
            constraint("hi", "returnConsumedCapacity", RCC_ENUM),
            constraint("abc;", "tableName", TABLE_RE),
            constraint("hi", "returnItemCollectionMetrics", RICM_ENUM),
            constraint("hi", "returnValues", RV_ENUM),
            constraint(None, "key", NOT_NULL),
        ),
    ),
    (
        "delete: every enum wrong",
        "DeleteItem",
        dict(BAD_ENUMS),
        ValidationException,
        detected(
            constraint("hi", "returnConsumedCapacity", RCC_ENUM),
            constraint("abc;", "tableName", TABLE_RE),
            constraint("hi", "returnValues", RV_ENUM),
            constraint("hi", "returnItemCollectionMetrics", RICM_ENUM),
            constraint(None, "key", NOT_NULL),
        ),
    ),
    (
        "long table name",
        "DeleteItem",
        {"TableName": "a" * 256, "Key": KEY},
        ValidationException,
        detected(
            constraint("a" * 256, "tableName", "Member must have length less than or equal to 255")
        ),
    ),
    (
        "ReturnValuesOnConditionCheckFailure outside its enum",
        "PutItem",
        {"TableName": "hash", "Item": ITEM, "ReturnValuesOnConditionCheckFailure": "ALL_NEW"},
        ValidationException,
        detected(
            constraint(
                "ALL_NEW",
                "returnValuesOnConditionCheckFailure",
                "Member must satisfy enum value set: [ALL_OLD, NONE]",
            )
        ),
    ),
    # --- ReturnValues allowed per operation
    *[
        (
            f"{op}: ReturnValues {rv} refused",
            op,
            {"TableName": "hash", ("Item" if op == "PutItem" else "Key"): ITEM, "ReturnValues": rv},
            ValidationException,
            "ReturnValues can only be ALL_OLD or NONE",
        )
        for op in ("PutItem", "DeleteItem")
        for rv in ("UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
    ],
    # --- the table, then the key against its schema
    (
        "no such table",
        "PutItem",
        {"TableName": "nope", "Item": ITEM},
        ResourceNotFoundException,
        "Requested resource not found",
    ),
    (
        "no such table, even with an empty item",
        "PutItem",
        {"TableName": "nope", "Item": {}},
        ResourceNotFoundException,
        "Requested resource not found",
    ),
    (
        "put: item without its partition key",
        "PutItem",
        {"TableName": "hash", "Item": {}},
        ValidationException,
        INVALID + "Missing the key pk in the item",
    ),
    (
        "put: item without its sort key",
        "PutItem",
        {"TableName": "range", "Item": ITEM},
        ValidationException,
        INVALID + "Missing the key sk in the item",
    ),
    (
        "put: partition key of the wrong type",
        "PutItem",
        {"TableName": "hash", "Item": {"pk": {"N": "1"}}},
        ValidationException,
        INVALID + "Type mismatch for key pk expected: S actual: N",
    ),
    (
        "put: sort key of the wrong type",
        "PutItem",
        {"TableName": "range", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}},
        ValidationException,
        INVALID + "Type mismatch for key sk expected: N actual: S",
    ),
    (
        "put: empty string key",
        "PutItem",
        {"TableName": "hash", "Item": {"pk": {"S": ""}}},
        ValidationException,
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: pk",
    ),
    (
        "put: partition key over 2048 bytes",
        "PutItem",
        {"TableName": "hash", "Item": {"pk": {"S": "x" * 2049}}},
        ValidationException,
        INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    ),
    (
        "put: item over 400 KB (checked before the table)",
        "PutItem",
        {"TableName": "nope", "Item": {"pk": {"S": "a"}, "b": {"S": "x" * 409_600}}},
        ValidationException,
        "Item size has exceeded the maximum allowed size",
    ),
    (
        "delete: empty key",
        "DeleteItem",
        {"TableName": "hash", "Key": {}},
        ValidationException,
        KEY_MISMATCH,
    ),
    (
        "delete: key with an extra attribute",
        "DeleteItem",
        {"TableName": "hash", "Key": {"pk": {"S": "a"}, "x": {"S": "b"}}},
        ValidationException,
        KEY_MISMATCH,
    ),
    (
        "update: key of the wrong type",
        "UpdateItem",
        {"TableName": "hash", "Key": {"pk": {"N": "1"}}},
        ValidationException,
        KEY_MISMATCH,
    ),
    (
        "update: key without its sort key",
        "UpdateItem",
        {"TableName": "range", "Key": KEY},
        ValidationException,
        KEY_MISMATCH,
    ),
    (
        "update: invalid value in the key (before the table)",
        "UpdateItem",
        {"TableName": "nope", "Key": {"pk": {}}},
        ValidationException,
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
    ),
    (
        "delete: key number not numeric",
        "DeleteItem",
        {"TableName": "hash", "Key": {"pk": {"N": "b"}}},
        ValidationException,
        "The parameter cannot be converted to a numeric value: b",
    ),
    # --- expressions and legacy parameters
    (
        "put: condition mixed with Expected",
        "PutItem",
        {
            "TableName": "hash",
            "Item": ITEM,
            "Expected": {"a": {"Exists": False}},
            "ConditionExpression": "attribute_exists(a)",
        },
        ValidationException,
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
    ),
    (
        "update: expressions mixed with legacy (before the key is looked at)",
        "UpdateItem",
        {
            "TableName": "abc",
            "Key": {"a": {}},
            "Expected": {"a": {}},
            "AttributeUpdates": {},
            "ExpressionAttributeNames": {},
            "ExpressionAttributeValues": {},
            "ConditionExpression": "",
            "UpdateExpression": "",
        },
        ValidationException,
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributeUpdates, Expected} "
        "Expression parameters: {UpdateExpression, ConditionExpression}",
    ),
    (
        "update: names without an expression",
        "UpdateItem",
        {"TableName": "abc", "Key": {"a": {}}, "ExpressionAttributeNames": {"#a": "a"}},
        ValidationException,
        "ExpressionAttributeNames can only be specified when using expressions",
    ),
    (
        "update: values without an expression",
        "UpdateItem",
        {"TableName": "abc", "Key": KEY, "ExpressionAttributeValues": {":a": {"S": "a"}}},
        ValidationException,
        "ExpressionAttributeValues can only be specified when using expressions: "
        "UpdateExpression and ConditionExpression are null",
    ),
    (
        "put: values without an expression",
        "PutItem",
        {"TableName": "hash", "Item": ITEM, "ExpressionAttributeValues": {":a": {"S": "a"}}},
        ValidationException,
        "ExpressionAttributeValues can only be specified when using expressions: "
        "ConditionExpression is null",
    ),
    (
        "put: empty condition",
        "PutItem",
        {"TableName": "hash", "Item": ITEM, "ConditionExpression": ""},
        ValidationException,
        "Invalid ConditionExpression: The expression can not be empty;",
    ),
    (
        "update: empty update expression",
        "UpdateItem",
        {"TableName": "hash", "Key": KEY, "UpdateExpression": ""},
        ValidationException,
        "Invalid UpdateExpression: The expression can not be empty;",
    ),
    (
        "delete: unused value",
        "DeleteItem",
        {
            "TableName": "hash",
            "Key": KEY,
            "ConditionExpression": "a = :a",
            "ExpressionAttributeValues": {":a": {"S": "a"}, ":b": {"S": "b"}},
        },
        ValidationException,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}",
    ),
    (
        "update: reserved word",
        "UpdateItem",
        {"TableName": "hash", "Key": KEY, "UpdateExpression": "REMOVE Absolute"},
        ValidationException,
        "Invalid UpdateExpression: Attribute name is a reserved keyword; "
        "reserved keyword: Absolute",
    ),
    (
        "update: a section used twice",
        "UpdateItem",
        {
            "TableName": "hash",
            "Key": KEY,
            "UpdateExpression": "SET a = :a SET b = :a",
            "ExpressionAttributeValues": {":a": {"S": "a"}},
        },
        ValidationException,
        'Invalid UpdateExpression: The "SET" section can only be used once in an update '
        "expression;",
    ),
    (
        "update: set the partition key",
        "UpdateItem",
        {
            "TableName": "hash",
            "Key": KEY,
            "UpdateExpression": "SET pk = :a",
            "ExpressionAttributeValues": {":a": {"S": "b"}},
        },
        ValidationException,
        INVALID + "Cannot update attribute pk. This attribute is part of the key",
    ),
    (
        "update: add into the sort key",
        "UpdateItem",
        {
            "TableName": "range",
            "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
            "UpdateExpression": "ADD sk :a",
            "ExpressionAttributeValues": {":a": {"N": "1"}},
        },
        ValidationException,
        INVALID + "Cannot update attribute sk. This attribute is part of the key",
    ),
    (
        "update: AttributeUpdates on the key",
        "UpdateItem",
        {"TableName": "hash", "Key": KEY, "AttributeUpdates": {"pk": {"Value": {"S": "z"}}}},
        ValidationException,
        INVALID + "Cannot update attribute pk. This attribute is part of the key",
    ),
    (
        "update: AttributeUpdates PUT without a value",
        "UpdateItem",
        {"TableName": "abc", "Key": {}, "AttributeUpdates": {"a": {"Action": "PUT"}}},
        ValidationException,
        INVALID + "Only DELETE action is allowed when no attribute value is specified",
    ),
    (
        "update: AttributeUpdates ADD of a string",
        "UpdateItem",
        {
            "TableName": "abc",
            "Key": {},
            "AttributeUpdates": {"a": {"Action": "ADD", "Value": {"S": "1"}}},
        },
        ValidationException,
        INVALID + "ADD action is not supported for the type S",
    ),
    (
        "update: AttributeUpdates DELETE with a number",
        "UpdateItem",
        {
            "TableName": "abc",
            "Key": {},
            "AttributeUpdates": {"a": {"Action": "DELETE", "Value": {"N": "1"}}},
        },
        ValidationException,
        INVALID + "DELETE action with value is not supported for the type N",
    ),
    (
        "update: Expected Exists true without a value",
        "UpdateItem",
        {"TableName": "abc", "Key": {}, "Expected": {"a": {"Exists": True}}},
        ValidationException,
        INVALID + "Value must be provided when Exists is true for Attribute: a",
    ),
    (
        "delete: Expected ComparisonOperator without a value",
        "DeleteItem",
        {"TableName": "aaa", "Key": {}, "Expected": {"a": {"ComparisonOperator": "LT"}}},
        ValidationException,
        INVALID
        + "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a",
    ),
    (
        "delete: Expected NULL with a value",
        "DeleteItem",
        {
            "TableName": "aaa",
            "Key": {},
            "Expected": {"a": {"Value": {"S": "a"}, "ComparisonOperator": "NULL"}},
        },
        ValidationException,
        INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator",
    ),
    (
        "put: ConditionalOperator outside its enum",
        "PutItem",
        {
            "TableName": "hash",
            "Item": ITEM,
            "Expected": {"a": {"Exists": False}},
            "ConditionalOperator": "XOR",
        },
        ValidationException,
        "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy "
        "constraint: Member must satisfy enum value set: [AND, OR]",
    ),
    # --- botocore's shape checks
    (
        "table name not a string",
        "PutItem",
        {"TableName": 5, "Item": ITEM},
        SerializationException,
        "Invalid type for parameter TableName, value: 5, type: <class 'int'>, "
        "valid types: <class 'str'>",
    ),
    (
        "an attribute value of the wrong Python type",
        "PutItem",
        {"TableName": "hash", "Item": {"pk": {"S": "a"}, "n": {"N": 5}}},
        SerializationException,
        "Invalid type for parameter Item.n.N, value: 5, type: <class 'int'>, "
        "valid types: <class 'str'>",
    ),
    # --- fidelity: names checked before any lookup, constants a comparison cannot order
    (
        "table name shorter than 3 characters",
        "UpdateItem",
        {"TableName": "ab", "Key": KEY},
        ValidationException,
        detected(
            constraint("ab", "tableName", "Member must have length greater than or equal to 3")
        ),
    ),
    (
        "table name outside the pattern and too short",
        "PutItem",
        {"TableName": "a!", "Item": ITEM},
        ValidationException,
        detected(
            constraint("a!", "tableName", TABLE_RE),
            constraint("a!", "tableName", "Member must have length greater than or equal to 3"),
        ),
    ),
    (
        "ordering a constant BOOL in a condition",
        "PutItem",
        {
            "TableName": "hash",
            "Item": ITEM,
            "ConditionExpression": "n > :v",
            "ExpressionAttributeValues": {":v": {"BOOL": False}},
        },
        ValidationException,
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: >, operand type: BOOL",
    ),
    (
        "legacy Expected: LT on a BOOL",
        "DeleteItem",
        {
            "TableName": "hash",
            "Key": KEY,
            "Expected": {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"BOOL": True}]}},
        },
        ValidationException,
        INVALID + "ComparisonOperator LT is not valid for BOOL AttributeValue type",
    ),
    (
        "an empty attribute name in the item",
        "PutItem",
        {"TableName": "hash", "Item": {**ITEM, "": {"S": "x"}}},
        ValidationException,
        INVALID + "Empty attribute name",
    ),
]


@pytest.mark.parametrize(
    ("operation", "request_", "error", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_invalid_request_is_refused_and_nothing_is_sent(
    operation: str, request_: dict[str, Any], error: type[ClientError], message: str
) -> None:
    catalog, transport = new_world(partitions=2)
    with pytest.raises(ClientError) as caught:
        run(OPERATIONS[operation](request_, catalog, transport))
    assert type(caught.value) is error
    assert caught.value.response["Error"]["Message"] == message
    assert caught.value.response["Error"]["Code"] == error.code
    assert caught.value.operation_name == operation
    assert transport.sent == []


def test_unknown_parameter_is_refused_with_botocores_words() -> None:
    catalog, transport = new_world()
    with pytest.raises(SerializationException) as caught:
        run(put_item({"TableName": "hash", "Item": ITEM, "Foo": 1}, catalog, transport))
    assert re.match(
        r'Unknown parameter in input: "Foo", must be one of: TableName, Item',
        str(caught.value.message),
    )


@pytest.mark.parametrize("rv", ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
def test_update_item_accepts_all_five_return_values(rv: str) -> None:
    catalog, transport = new_world()
    response = run(
        update_item({"TableName": "hash", "Key": KEY, "ReturnValues": rv}, catalog, transport)
    )
    assert response.get("Attributes", {}) == ({"pk": {"S": "a"}} if rv == "ALL_NEW" else {})


@pytest.mark.parametrize("operation", ["PutItem", "DeleteItem"])
@pytest.mark.parametrize("rv", ["NONE", "ALL_OLD"])
def test_put_and_delete_accept_none_and_all_old(operation: str, rv: str) -> None:
    catalog, transport = new_world()
    field = "Item" if operation == "PutItem" else "Key"
    response = run(
        OPERATIONS[operation](
            {"TableName": "hash", field: ITEM, "ReturnValues": rv}, catalog, transport
        )
    )
    assert "Attributes" not in response
