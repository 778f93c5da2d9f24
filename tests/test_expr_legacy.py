"""Legacy conditional parameters translated into expression trees.

The developer guide's "Legacy conditional parameters" pages define Expected, QueryFilter,
ScanFilter, KeyConditions, AttributesToGet, AttributeUpdates and ConditionalOperator; validation
messages are DynamoDB's as recorded by dynalite's test suite.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    KeyCondition,
    KeySchema,
    SortKeyCondition,
    apply_update,
    evaluate_condition,
    project,
    translate_attribute_updates,
    translate_attributes_to_get,
    translate_expected,
    translate_filter,
    translate_key_conditions,
)

ITEM = {
    "name": {"S": "bob"},
    "age": {"N": "30"},
    "tags": {"SS": ["a", "b"]},
    "order": {"L": [{"N": "1"}]},
}
INVALID = "One or more parameter values were invalid: "


def N(text: str) -> dict:
    return {"N": text}


def S(text: str) -> dict:
    return {"S": text}


def expected_holds(expected: dict, operator: str | None = None, item: dict = ITEM) -> bool:
    translation = translate_expected(expected, operator)
    assert translation.tree is not None
    return evaluate_condition(translation.tree, item, translation.names, translation.values)


@pytest.mark.parametrize(
    ("expected", "holds"),
    [
        ({"name": {"Value": S("bob")}}, True),  # Exists defaults to true: an equality test
        ({"name": {"Value": S("al")}}, False),
        ({"name": {"Exists": True, "Value": S("bob")}}, True),
        ({"nope": {"Exists": False}}, True),
        ({"name": {"Exists": False}}, False),
        ({"age": {"ComparisonOperator": "GT", "AttributeValueList": [N("29")]}}, True),
        ({"age": {"ComparisonOperator": "LE", "Value": N("29")}}, False),
        ({"age": {"ComparisonOperator": "NE", "AttributeValueList": [N("30")]}}, False),
        ({"nope": {"ComparisonOperator": "NE", "AttributeValueList": [N("30")]}}, True),
        ({"nope": {"ComparisonOperator": "NULL"}}, True),
        ({"name": {"ComparisonOperator": "NOT_NULL"}}, True),
        ({"tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [S("a")]}}, True),
        ({"tags": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [S("z")]}}, True),
        ({"name": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("b")]}}, True),
        ({"age": {"ComparisonOperator": "IN", "AttributeValueList": [N("1"), N("30")]}}, True),
        (
            {"age": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N("30"), N("40")]}},
            True,
        ),
        # Every condition must hold (ConditionalOperator AND is the default).
        ({"name": {"Value": S("bob")}, "age": {"Value": N("31")}}, False),
    ],
)
def test_expected(expected: dict, holds: bool) -> None:
    assert expected_holds(expected) is holds


def test_conditional_operator_or() -> None:
    expected = {"name": {"Value": S("bob")}, "age": {"Value": N("31")}}
    assert expected_holds(expected, "OR")
    assert not expected_holds(expected, "AND")


def test_legacy_names_are_not_checked_against_reserved_words() -> None:
    assert expected_holds({"order": {"ComparisonOperator": "NOT_NULL"}})


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        (
            {"a": {"Value": S("x"), "AttributeValueList": [S("x")]}},
            INVALID + "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            {"a": {"Exists": True, "ComparisonOperator": "EQ", "Value": S("x")}},
            INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"a": {"ComparisonOperator": "EQ"}},
            INVALID + "Value or AttributeValueList must be used with ComparisonOperator: EQ for "
            "Attribute: a",
        ),
        (
            {"a": {"AttributeValueList": [S("x")]}},
            INVALID + "AttributeValueList can only be used with a ComparisonOperator for "
            "Attribute: a",
        ),
        ({"a": {}}, INVALID + "Value must be provided when Exists is null for Attribute: a"),
        (
            {"a": {"Exists": True}},
            INVALID + "Value must be provided when Exists is true for Attribute: a",
        ),
        (
            {"a": {"Exists": False, "Value": S("x")}},
            INVALID + "Value cannot be used when Exists is false for Attribute: a",
        ),
        (
            {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N("1")]}},
            INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            {"a": {"ComparisonOperator": "IN", "AttributeValueList": [N("1"), S("1")]}},
            INVALID + "AttributeValues inside AttributeValueList must be of same type",
        ),
        (
            {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N("9"), N("1")]}},
            "The BETWEEN condition was provided a range where the lower bound is greater than the "
            "upper bound",
        ),
    ],
)
def test_expected_errors(expected: dict, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        translate_expected(expected)
    assert info.value.message == message


def test_conditional_operator_must_be_and_or_or() -> None:
    with pytest.raises(ValidationException) as info:
        translate_expected({"a": {"Exists": False}}, "XOR")
    assert "Member must satisfy enum value set: [AND, OR]" in info.value.message


def test_empty_expected_is_no_condition() -> None:
    assert translate_expected({}).tree is None


def filter_holds(conditions: dict, operator: str | None = None) -> bool:
    translation = translate_filter(conditions, operator)
    assert translation.tree is not None
    return evaluate_condition(translation.tree, ITEM, translation.names, translation.values)


def test_query_and_scan_filters() -> None:
    assert filter_holds({"age": {"ComparisonOperator": "GE", "AttributeValueList": [N("30")]}})
    assert not filter_holds(
        {
            "age": {"ComparisonOperator": "GE", "AttributeValueList": [N("30")]},
            "name": {"ComparisonOperator": "EQ", "AttributeValueList": [S("al")]},
        }
    )
    assert filter_holds(
        {
            "age": {"ComparisonOperator": "GE", "AttributeValueList": [N("30")]},
            "name": {"ComparisonOperator": "EQ", "AttributeValueList": [S("al")]},
        },
        "OR",
    )


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (
            {"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["x"]}]}},
            INVALID + "ComparisonOperator LT is not valid for SS AttributeValue type",
        ),
        (
            {"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [N("1")]}},
            INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        ),
        (
            {"a": {"ComparisonOperator": "NULL", "AttributeValueList": [N("1")]}},
            INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator",
        ),
        (
            {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"SS": []}]}},
            INVALID + "An string set  may not be empty",
        ),
    ],
)
def test_filter_errors(conditions: dict, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        translate_filter(conditions)
    assert info.value.message == message


SCHEMA = KeySchema("pk", "sk", {"pk": "S", "sk": "N"})


def test_key_conditions() -> None:
    result = translate_key_conditions(
        {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("p")]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N("1"), N("5")]},
        },
        SCHEMA,
    )
    assert result == KeyCondition("pk", S("p"), "sk", SortKeyCondition("BETWEEN", (N("1"), N("5"))))


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (
            {"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [N("1")]}},
            "Query condition missed key schema element: pk",
        ),
        (
            {"pk": {"ComparisonOperator": "GT", "AttributeValueList": [S("p")]}},
            "Query key condition not supported",
        ),
        (
            {
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("p")]},
                "sk": {"ComparisonOperator": "IN", "AttributeValueList": [N("1")]},
            },
            "Attempted conditional constraint is not an indexable operation",
        ),
        (
            {"pk": {"ComparisonOperator": "NOT_NULL"}},
            "Attempted conditional constraint is not an indexable operation",
        ),
    ],
)
def test_key_conditions_errors(conditions: dict, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        translate_key_conditions(conditions, SCHEMA)
    assert info.value.message == message


def test_attributes_to_get() -> None:
    translation = translate_attributes_to_get(["name", "order", "missing"])
    assert translation.tree is not None
    assert project(translation.tree, ITEM, translation.names) == {
        "name": ITEM["name"],
        "order": ITEM["order"],
    }


def test_attributes_to_get_refuses_duplicates() -> None:
    with pytest.raises(ValidationException) as info:
        translate_attributes_to_get(["a", "b", "a"])
    assert info.value.message == INVALID + "Duplicate value in attribute name: a"


def applied(updates: dict[str, Any], item: dict) -> dict:
    translation = translate_attribute_updates(updates)
    assert translation.tree is not None
    result = apply_update(translation.tree, item, translation.names, translation.values)
    return result.item


@pytest.mark.parametrize(
    ("updates", "item", "expected"),
    [
        ({"data": {"Action": "PUT", "Value": S("new")}}, {}, {"data": S("new")}),
        ({"data": {"Value": S("new")}}, {"data": S("old")}, {"data": S("new")}),  # PUT is default
        ({"tags": {"Action": "DELETE", "Value": {"SS": ["b"]}}}, {"tags": {"SS": ["a", "b"]}},
         {"tags": {"SS": ["a"]}}),
        ({"n": {"Action": "ADD", "Value": N("5")}}, {"n": N("10")}, {"n": N("15")}),
        ({"tags": {"Action": "ADD", "Value": {"SS": ["c"]}}}, {"tags": {"SS": ["a"]}},
         {"tags": {"SS": ["a", "c"]}}),
        ({"l": {"Action": "ADD", "Value": {"L": [N("2")]}}}, {"l": {"L": [N("1")]}},
         {"l": {"L": [N("1"), N("2")]}}),  # legacy ADD appends to lists
        ({"extra": {"Action": "DELETE"}}, {"extra": S("x"), "k": S("y")}, {"k": S("y")}),
        ({"order": {"Value": N("1")}}, {}, {"order": N("1")}),  # reserved words are fine here
    ],
)  # fmt: skip
def test_attribute_updates(updates: dict, item: dict, expected: dict) -> None:
    assert applied(updates, item) == expected


def test_attribute_updates_put_without_value_is_refused() -> None:
    with pytest.raises(ValidationException):
        translate_attribute_updates({"a": {"Action": "PUT"}})


# --- operand types of the comparison operators (API reference: Condition) ---------------------

DOCUMENTS = {"L": [N("1"), S("x")]}, {"M": {"k": N("1")}}


@pytest.mark.parametrize("value", [*DOCUMENTS, {"BOOL": True}, {"NULL": True}, {"SS": ["b", "a"]}])
@pytest.mark.parametrize("operator", ["EQ", "NE"])
def test_filter_eq_and_ne_accept_every_type_including_lists_and_maps(
    operator: str, value: dict
) -> None:
    item = {"v": value}
    conditions = {"v": {"ComparisonOperator": operator, "AttributeValueList": [value]}}
    translation = translate_filter(conditions)
    assert translation.tree is not None
    holds = evaluate_condition(translation.tree, item, translation.names, translation.values)
    assert holds is (operator == "EQ")


UNORDERED = [{"BOOL": True}, {"NULL": True}, {"NS": ["1"]}, *DOCUMENTS]
REFUSED_OPERANDS = [
    (operator, value)
    for operator in ("LT", "LE", "GT", "GE", "IN", "BETWEEN", "CONTAINS", "BEGINS_WITH")
    for value in UNORDERED
]


@pytest.mark.parametrize(("operator", "value"), REFUSED_OPERANDS)
def test_expected_refuses_a_comparison_its_operand_type_does_not_support(
    operator: str, value: dict
) -> None:
    """Expected takes the same operand types as QueryFilter/ScanFilter (one Condition shape)."""
    operands = [value, value] if operator == "BETWEEN" else [value]
    tag = next(iter(value))
    with pytest.raises(ValidationException) as info:
        translate_expected({"a": {"ComparisonOperator": operator, "AttributeValueList": operands}})
    assert info.value.message == (
        f"{INVALID}ComparisonOperator {operator} is not valid for {tag} AttributeValue type"
    )


def test_a_mismatched_type_in_the_item_is_a_false_condition_not_an_error() -> None:
    expected = {"name": {"ComparisonOperator": "LT", "AttributeValueList": [N("5")]}}
    assert not expected_holds(expected)  # ITEM's name is an S
