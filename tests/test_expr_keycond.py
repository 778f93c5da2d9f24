"""KeyConditionExpression: from text to the partition value and sort key condition of a Query.

Rules from the developer guide ("Key condition expressions for the Query operation"): the
partition key must be tested for equality; the sort key, if tested, with one of = < <= > >=
BETWEEN begins_with; conditions are joined by AND. Messages as DynamoDB returns them (recorded by
the conformance suite nubo-db/dynamodb-conformance and quoted in user reports).
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    KeyCondition,
    KeySchema,
    SortKeyCondition,
    analyze_key_condition,
    compile_request,
)

SCHEMA = KeySchema("pk", "sk", {"pk": "S", "sk": "N"})
HASH_ONLY = KeySchema("pk", None, {"pk": "S"})
PK = {"S": "p"}


def key_condition(text: str, schema: KeySchema = SCHEMA, **values: Any) -> KeyCondition:
    request: dict[str, Any] = {"KeyConditionExpression": text}
    names = {f"#{n}": n for n in ("pk", "sk", "a") if f"#{n}" in text}
    if names:
        request["ExpressionAttributeNames"] = names
    given = {f":{k}": v for k, v in values.items()}
    if ":pk" in text:
        given[":pk"] = PK
    request["ExpressionAttributeValues"] = given
    compiled = compile_request("Query", request)
    assert compiled.key_condition is not None
    return analyze_key_condition(compiled.key_condition, compiled.names, compiled.values, schema)


def key_error(text: str, schema: KeySchema = SCHEMA, **values: Any) -> str:
    with pytest.raises(ValidationException) as info:
        key_condition(text, schema, **values)
    return info.value.message


N5, N9 = {"N": "5"}, {"N": "9"}


@pytest.mark.parametrize(
    ("text", "values", "operator", "operands"),
    [
        ("sk = :x", {"x": N5}, "EQ", (N5,)),
        ("sk < :x", {"x": N5}, "LT", (N5,)),
        ("sk <= :x", {"x": N5}, "LE", (N5,)),
        ("sk > :x", {"x": N5}, "GT", (N5,)),
        ("sk >= :x", {"x": N5}, "GE", (N5,)),
        ("sk BETWEEN :x AND :y", {"x": N5, "y": N9}, "BETWEEN", (N5, N9)),
        # A value on the left is accepted and the comparison turned around (observed on DynamoDB).
        (":x <= sk", {"x": N5}, "GE", (N5,)),
        (":x > sk", {"x": N5}, "LT", (N5,)),
    ],
)
def test_sort_key_conditions(text: str, values: dict, operator: str, operands: tuple) -> None:
    result = key_condition(f"pk = :pk AND {text}", **values)
    assert result == KeyCondition("pk", PK, "sk", SortKeyCondition(operator, operands))


def test_begins_with_on_a_string_sort_key() -> None:
    schema = KeySchema("pk", "sk", {"pk": "S", "sk": "S"})
    result = key_condition("pk = :pk AND begins_with(sk, :p)", schema, p={"S": "ab"})
    assert result.sort_condition == SortKeyCondition("BEGINS_WITH", ({"S": "ab"},))
    assert result.sort_condition.matches({"S": "abc"})
    assert not result.sort_condition.matches({"S": "b"})


def test_partition_key_alone_and_in_either_order() -> None:
    assert key_condition("pk = :pk") == KeyCondition("pk", PK)
    assert key_condition(":pk = #pk") == KeyCondition("pk", PK)
    reversed_order = key_condition("#sk > :x AND #pk = :pk", x=N5)
    assert reversed_order.partition_value == PK
    assert reversed_order.sort_condition == SortKeyCondition("GT", (N5,))


@pytest.mark.parametrize(
    ("operator", "operands", "value", "expected"),
    [
        ("EQ", (N5,), N5, True),
        ("LT", (N5,), {"N": "4.99"}, True),
        ("GE", (N5,), {"N": "4.99"}, False),
        ("BETWEEN", (N5, N9), N9, True),
        ("BETWEEN", (N5, N9), {"N": "10"}, False),
        ("LT", (N5,), None, False),
    ],
)
def test_sort_key_condition_matches(
    operator: str, operands: tuple, value: dict | None, expected: bool
) -> None:
    assert SortKeyCondition(operator, operands).matches(value) is expected


@pytest.mark.parametrize(
    ("text", "values", "schema", "message"),
    [
        ("sk = :x", {"x": N5}, SCHEMA, "Query condition missed key schema element: pk"),
        ("a = :pk", {}, SCHEMA, "Query condition missed key schema element: pk"),
        ("pk = :pk AND a = :x", {"x": N5}, SCHEMA, "Query condition missed key schema element: sk"),
        ("pk = :pk AND a = :x", {"x": N5}, HASH_ONLY, "Query key condition not supported"),
        ("pk > :pk", {}, SCHEMA, "Query key condition not supported"),
        ("begins_with(pk, :pk)", {}, SCHEMA, "Query key condition not supported"),
        (
            "pk = :pk OR sk = :x",
            {"x": N5},
            SCHEMA,
            "Invalid operator used in KeyConditionExpression: OR",
        ),
        ("NOT pk = :pk", {}, SCHEMA, "Invalid operator used in KeyConditionExpression: NOT"),
        ("pk IN (:pk)", {}, SCHEMA, "Invalid operator used in KeyConditionExpression: IN"),
        ("pk <> :pk", {}, SCHEMA, "Invalid operator used in KeyConditionExpression: <>"),
        (
            "pk = :pk AND attribute_exists(sk)",
            {},
            SCHEMA,
            "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "pk = :pk AND contains(sk, :x)",
            {"x": N5},
            SCHEMA,
            "Invalid operator used in KeyConditionExpression: contains",
        ),
        (
            "pk = :pk AND size(sk) > :x",
            {"x": N5},
            SCHEMA,
            "KeyConditionExpressions cannot contain nested operations",
        ),
        (
            "pk = :pk AND #sk.foo = :x",
            {"x": N5},
            SCHEMA,
            "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        (
            "pk = :pk AND sk > :x AND sk < :y",
            {"x": N5, "y": N9},
            SCHEMA,
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "pk = :pk AND sk = a",
            {},
            SCHEMA,
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
            "condition",
        ),
        (
            "pk = :pk AND :x = :y",
            {"x": N5, "y": N5},
            SCHEMA,
            "Invalid condition in KeyConditionExpression: No key attribute specified",
        ),
        (
            "pk = :pk AND :x BETWEEN sk AND :y",
            {"x": N5, "y": N9},
            SCHEMA,
            "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
            "attribute as its first operand",
        ),
        (
            "pk = :pk AND sk = :x",
            {"x": {"S": "5"}},
            SCHEMA,
            "One or more parameter values were invalid: Condition parameter type does not match "
            "schema type",
        ),
    ],
)
def test_key_condition_errors(text: str, values: dict, schema: KeySchema, message: str) -> None:
    assert key_error(text, schema, **values) == message


def test_empty_key_values_are_refused() -> None:
    with pytest.raises(ValidationException) as info:
        compiled = compile_request(
            "Query",
            {"KeyConditionExpression": "pk = :e", "ExpressionAttributeValues": {":e": {"S": ""}}},
        )
        assert compiled.key_condition is not None
        analyze_key_condition(compiled.key_condition, compiled.names, compiled.values, SCHEMA)
    assert info.value.message == (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: pk"
    )


def test_begins_with_on_a_number_is_refused_when_parsed() -> None:
    # Recorded from DynamoDB for a numeric sort key value.
    message = key_error("pk = :pk AND begins_with(sk, :x)", x=N5)
    assert message == (
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: begins_with, operand type: N"
    )


def test_empty_key_condition_expression() -> None:
    with pytest.raises(ValidationException) as info:
        compile_request(
            "Query", {"KeyConditionExpression": "", "ExpressionAttributeValues": {":v": PK}}
        )
    assert info.value.message == "Invalid KeyConditionExpression: The expression can not be empty;"
