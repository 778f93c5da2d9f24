"""Condition builders: the text they produce, that DynamoDB's grammar accepts it, and what it means.

Every built expression is run through ``raydynamo.api.expressions.compile_request`` (so it is a
valid DynamoDB expression with every placeholder defined and used) and evaluated against items.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from raydynamo.api.expressions import analyze_key_condition, compile_request, evaluate_condition
from raydynamo.api.expressions.key_condition import KeySchema
from raydynamo.api.python_types import serialize, serialize_item
from raydynamo.driver.conditions import (
    Attr,
    ConditionBase,
    DynamoDBNeedsConditionError,
    DynamoDBNeedsKeyConditionError,
    DynamoDBOperationNotSupportedError,
    Key,
    build_expression,
)

TEXTS: list[tuple[ConditionBase, str, dict[str, str], dict[str, Any]]] = [
    (Attr("a").eq(1), "#n0 = :v0", {"#n0": "a"}, {":v0": 1}),
    (Attr("a").ne("x"), "#n0 <> :v0", {"#n0": "a"}, {":v0": "x"}),
    (Key("a").lt(1), "#n0 < :v0", {"#n0": "a"}, {":v0": 1}),
    (Key("a").lte(1), "#n0 <= :v0", {"#n0": "a"}, {":v0": 1}),
    (Key("a").gt(1), "#n0 > :v0", {"#n0": "a"}, {":v0": 1}),
    (Key("a").gte(1), "#n0 >= :v0", {"#n0": "a"}, {":v0": 1}),
    (Key("a").between(1, 2), "#n0 BETWEEN :v0 AND :v1", {"#n0": "a"}, {":v0": 1, ":v1": 2}),
    (Key("a").begins_with("p"), "begins_with(#n0, :v0)", {"#n0": "a"}, {":v0": "p"}),
    (Attr("a").is_in([1, 2]), "#n0 IN (:v0, :v1)", {"#n0": "a"}, {":v0": 1, ":v1": 2}),
    (Attr("a").exists(), "attribute_exists(#n0)", {"#n0": "a"}, {}),
    (Attr("a").not_exists(), "attribute_not_exists(#n0)", {"#n0": "a"}, {}),
    (Attr("a").contains("x"), "contains(#n0, :v0)", {"#n0": "a"}, {":v0": "x"}),
    (Attr("a").size().gt(2), "size(#n0) > :v0", {"#n0": "a"}, {":v0": 2}),
    (Attr("a").attribute_type("S"), "attribute_type(#n0, :v0)", {"#n0": "a"}, {":v0": "S"}),
    (Attr("a").eq(Attr("b")), "#n0 = #n1", {"#n0": "a", "#n1": "b"}, {}),
    (
        Attr("a.b[2].c").eq(1),
        "#n0.#n1[2].#n2 = :v0",
        {"#n0": "a", "#n1": "b", "#n2": "c"},
        {":v0": 1},
    ),
    (
        Attr("a").eq(1) & Attr("b").eq(2),
        "(#n0 = :v0 AND #n1 = :v1)",
        {"#n0": "a", "#n1": "b"},
        {":v0": 1, ":v1": 2},
    ),
    (
        Attr("a").eq(1) | ~Attr("a").exists(),
        "(#n0 = :v0 OR (NOT attribute_exists(#n0)))",
        {"#n0": "a"},
        {":v0": 1},
    ),
]


@pytest.mark.parametrize(("condition", "text", "names", "values"), TEXTS)
def test_the_text_and_placeholders_of_each_builder(
    condition: ConditionBase, text: str, names: dict[str, str], values: dict[str, Any]
) -> None:
    built = build_expression(condition)
    assert (built.expression, built.names, built.values) == (text, names, values)


def _compiled_condition(condition: ConditionBase) -> Any:
    built = build_expression(condition)
    request: dict[str, Any] = {"TableName": "t", "ConditionExpression": built.expression}
    if built.names:
        request["ExpressionAttributeNames"] = built.names
    if built.values:
        request["ExpressionAttributeValues"] = {k: serialize(v) for k, v in built.values.items()}
    return compile_request("PutItem", request)


@pytest.mark.parametrize(("condition", "text", "names", "values"), TEXTS)
def test_every_builder_compiles_as_a_dynamodb_expression(
    condition: ConditionBase, text: str, names: dict[str, str], values: dict[str, Any]
) -> None:
    assert _compiled_condition(condition).condition is not None


ITEM = {
    "a": 5,
    "s": "prefix-rest",
    "tags": {"red", "blue"},
    "doc": {"list": [1, {"deep": "x"}]},
    "blob": b"\x01\x02",
    "n": None,
}
TRUTHS: list[tuple[ConditionBase, bool]] = [
    (Attr("a").eq(5), True),
    (Attr("a").eq(Decimal("5.0")), True),
    (Attr("a").ne(5), False),
    (Attr("a").between(1, 5), True),
    (Attr("a").between(6, 9), False),
    (Attr("a").is_in([1, 5]), True),
    (Attr("s").begins_with("prefix"), True),
    (Attr("s").begins_with("rest"), False),
    (Attr("tags").contains("red"), True),
    (Attr("tags").size().eq(2), True),
    (Attr("doc.list[1].deep").eq("x"), True),
    (Attr("doc.list[0]").gte(1), True),
    (Attr("blob").eq(b"\x01\x02"), True),
    (Attr("n").attribute_type("NULL"), True),
    (Attr("missing").not_exists(), True),
    (Attr("missing").exists(), False),
    (Attr("a").gt(1) & Attr("s").begins_with("x"), False),
    (Attr("a").gt(1) | Attr("s").begins_with("x"), True),
    (~(Attr("a").gt(1) | Attr("s").begins_with("x")), False),
    (~Attr("a").lt(1) & ~Attr("missing").exists(), True),
]


@pytest.mark.parametrize(("condition", "expected"), TRUTHS, ids=repr)
def test_built_conditions_mean_what_they_say(condition: ConditionBase, expected: bool) -> None:
    compiled = _compiled_condition(condition)
    assert compiled.condition is not None
    item = serialize_item(ITEM)
    assert evaluate_condition(compiled.condition, item, compiled.names, compiled.values) is expected


def test_key_conditions_compile_and_analyze_as_queries() -> None:
    built = build_expression(Key("pk").eq("p") & Key("sk").between(1, 9), is_key_condition=True)
    request = {
        "TableName": "t",
        "KeyConditionExpression": built.expression,
        "ExpressionAttributeNames": built.names,
        "ExpressionAttributeValues": {k: serialize(v) for k, v in built.values.items()},
    }
    compiled = compile_request("Query", request)
    assert compiled.key_condition is not None
    key = analyze_key_condition(
        compiled.key_condition, compiled.names, compiled.values, KeySchema("pk", "sk")
    )
    assert key.partition_value == {"S": "p"}
    assert key.sort_condition is not None
    assert key.sort_condition.operator == "BETWEEN"


def test_key_conditions_take_only_key_attributes() -> None:
    with pytest.raises(DynamoDBNeedsKeyConditionError, match="only takes Key"):
        build_expression(Key("pk").eq(1) & Attr("x").eq(2), is_key_condition=True)
    assert build_expression(Key("pk").eq(1) & Attr("x").eq(2)).expression  # fine in a filter


def test_a_name_used_twice_gets_one_placeholder() -> None:
    built = build_expression(Attr("a").gt(1) & Attr("a").lt(9) & Attr("a.a").exists())
    assert built.expression == "((#n0 > :v0 AND #n0 < :v1) AND attribute_exists(#n0.#n0))"
    assert built.names == {"#n0": "a"}


def test_placeholders_given_by_the_user_are_kept_and_never_reused() -> None:
    built = build_expression(
        Attr("a").eq(1) & Attr("b").eq(2),
        names={"#n0": "other", "#n2": "x"},
        values={":v0": "mine"},
    )
    assert built.expression == "(#n1 = :v1 AND #n3 = :v2)"
    assert built.names == {"#n0": "other", "#n2": "x", "#n1": "a", "#n3": "b"}
    assert built.values == {":v0": "mine", ":v1": 1, ":v2": 2}


def test_misuse_raises_type_errors() -> None:
    with pytest.raises(DynamoDBOperationNotSupportedError):
        Attr("a") & Attr("b").eq(1)  # type: ignore[operator]
    with pytest.raises(DynamoDBOperationNotSupportedError):
        Attr("a").eq(1) | "a = b"  # type: ignore[operator]
    with pytest.raises(DynamoDBOperationNotSupportedError):
        ~Attr("a")
    with pytest.raises(DynamoDBNeedsConditionError):
        build_expression(Attr("a"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid attribute path"):
        build_expression(Attr("a..b").eq(1))
    assert issubclass(DynamoDBNeedsConditionError, TypeError)


def test_conditions_compare_and_print_structurally() -> None:
    assert Attr("a").eq(1) == Attr("a").eq(1)
    assert Attr("a").eq(1) != Attr("a").eq(2)
    assert Key("a") != Attr("a")
    assert repr(Attr("a").eq(1) & ~Attr("b").exists()) == (
        "<And: (a = 1 AND (NOT attribute_exists(b)))>"
    )
