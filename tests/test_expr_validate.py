"""Validating a request's expressions: placeholders, parameter mixing, condition/update rules.

One case per documented rule, asserting the ValidationException message. Sources of the expected
messages: the DynamoDB developer guide, the conformance suite nubo-db/dynamodb-conformance,
ScyllaDB's alternator tests and dynalite's captures of DynamoDB's answers.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.errors import SerializationException, ValidationException
from raydynamo.api.expressions import (
    And,
    compile_expressions,
    compile_request,
    parse_expression,
)

S = {"S": "x"}
N1 = {"N": "1"}


def error_of(operation: str, **request: Any) -> str:
    """The message of the ValidationException ``compile_request`` raises."""
    with pytest.raises(ValidationException) as info:
        compile_request(operation, request)
    return info.value.message


# --- placeholders ------------------------------------------------------------------------------


UNDEFINED_NAME = (
    "An expression attribute name used in the document path is not defined; attribute name: "
)
UNDEFINED_VALUE = (
    "An expression attribute value used in expression is not defined; attribute value: "
)


@pytest.mark.parametrize(
    ("operation", "request_fields", "message"),
    [
        (
            "UpdateItem",
            {"UpdateExpression": "SET attr1 = :v"},
            f"Invalid UpdateExpression: {UNDEFINED_VALUE}:v",
        ),
        (
            "Query",
            {
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "#missing = :fv",
                "ExpressionAttributeValues": {":pk": S, ":fv": S},
            },
            f"Invalid FilterExpression: {UNDEFINED_NAME}#missing",
        ),
        (
            "UpdateItem",
            {"UpdateExpression": "SET #a = :v", "ExpressionAttributeNames": {"#b": "a"}},
            f"Invalid UpdateExpression: {UNDEFINED_NAME}#a",
        ),
        (
            # Conditions report names and values in text order.
            "PutItem",
            {"ConditionExpression": ":v = #a", "ExpressionAttributeNames": {"#b": "b"}},
            f"Invalid ConditionExpression: {UNDEFINED_VALUE}:v",
        ),
        (
            # Updates report every undefined name before any undefined value.
            "UpdateItem",
            {"UpdateExpression": "SET a = :v, #b = :w", "ExpressionAttributeValues": {":w": S}},
            f"Invalid UpdateExpression: {UNDEFINED_NAME}#b",
        ),
        (
            "GetItem",
            {"ProjectionExpression": "a, #b"},
            f"Invalid ProjectionExpression: {UNDEFINED_NAME}#b",
        ),
    ],
)
def test_undefined_placeholders(operation: str, request_fields: dict, message: str) -> None:
    assert error_of(operation, **request_fields) == message


@pytest.mark.parametrize(
    ("operation", "request_fields", "message"),
    [
        (
            "UpdateItem",
            {
                "UpdateExpression": "SET attr1 = :v",
                "ExpressionAttributeValues": {":v": S},
                "ExpressionAttributeNames": {"#unused": "someattr"},
            },
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        ),
        (
            "UpdateItem",
            {
                "UpdateExpression": "SET attr1 = :v",
                "ExpressionAttributeValues": {":v": S, ":unused": S, ":other": S},
            },
            "Value provided in ExpressionAttributeValues unused in expressions: "
            "keys: {:unused, :other}",
        ),
        (
            # Unused names are reported before unused values.
            "Scan",
            {
                "FilterExpression": "a = :v",
                "ExpressionAttributeNames": {"#n": "n"},
                "ExpressionAttributeValues": {":v": S, ":w": S},
            },
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}",
        ),
    ],
)
def test_unused_placeholders(operation: str, request_fields: dict, message: str) -> None:
    assert error_of(operation, **request_fields) == message


def test_a_placeholder_used_by_any_expression_of_the_request_counts_as_used() -> None:
    compiled = compile_request(
        "Query",
        {
            "KeyConditionExpression": "#pk = :pk",
            "FilterExpression": "#f > :min",
            "ProjectionExpression": "#p, #f",
            "ExpressionAttributeNames": {"#pk": "pk", "#f": "f", "#p": "p"},
            "ExpressionAttributeValues": {":pk": S, ":min": N1},
        },
    )
    assert compiled.key_condition is not None
    assert compiled.filter is not None
    assert compiled.projection is not None


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"ExpressionAttributeNames": {}}, "ExpressionAttributeNames must not be empty"),
        ({"ExpressionAttributeValues": {}}, "ExpressionAttributeValues must not be empty"),
        (
            {"ExpressionAttributeNames": {"s": "status"}},
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "s"',
        ),
        (
            {"ExpressionAttributeNames": {"#a-b": "x"}},
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"',
        ),
        (
            {"ExpressionAttributeValues": {"v": S}},
            'ExpressionAttributeValues contains invalid key: Syntax error; key: "v"',
        ),
        (
            {"ExpressionAttributeValues": {":v": {"SS": []}}},
            "ExpressionAttributeValues contains invalid value: One or more parameter values were "
            "invalid: An string set  may not be empty for key :v",
        ),
        (
            {"ExpressionAttributeNames": {"#n": ""}},
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key #n",
        ),
        (
            # every key is checked before any value
            {"ExpressionAttributeNames": {"#n": "", "x": "a"}},
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "x"',
        ),
        (
            {"ExpressionAttributeNames": {"#" + "a" * 255: "a"}},
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains "
            "a key that is too long; size of key: 256",
        ),
        (
            {"ExpressionAttributeValues": {":" + "a" * 255: S}},
            "ExpressionAttributeValues contains invalid key: The expression attribute map "
            "contains a key that is too long;",
        ),
        (
            {"ExpressionAttributeValues": {":v": {}}},
            "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, "
            "must contain exactly one of the supported datatypes for key :v",
        ),
    ],
)
def test_placeholder_maps_are_checked(request_fields: dict, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        compile_expressions({"ConditionExpression": "a = b"}, **_maps(request_fields))
    assert info.value.message == message


def _maps(fields: dict) -> dict:
    return {
        "names": fields.get("ExpressionAttributeNames"),
        "values": fields.get("ExpressionAttributeValues"),
    }


def test_badly_shaped_value_is_a_serialization_error() -> None:
    with pytest.raises(SerializationException):
        compile_expressions({"ConditionExpression": "a = :v"}, values={":v": {"N": 5}})


@pytest.mark.parametrize(
    ("operation", "request_fields", "message"),
    [
        (
            "UpdateItem",
            {"ExpressionAttributeNames": {"#s": "status"}},
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            "PutItem",
            {"ExpressionAttributeValues": {":v": S}},
            "ExpressionAttributeValues can only be specified when using expressions: "
            "ConditionExpression is null",
        ),
        (
            "UpdateItem",
            {"ExpressionAttributeValues": {":v": S}},
            "ExpressionAttributeValues can only be specified when using expressions: "
            "UpdateExpression and ConditionExpression are null",
        ),
        (
            "Scan",
            {"ProjectionExpression": "a", "ExpressionAttributeValues": {":v": S}},
            "ExpressionAttributeValues can only be specified when using expressions: "
            "FilterExpression is null",
        ),
    ],
)
def test_placeholders_without_expressions(
    operation: str, request_fields: dict, message: str
) -> None:
    assert error_of(operation, **request_fields) == message


@pytest.mark.parametrize(
    ("operation", "request_fields", "message"),
    [
        (
            "PutItem",
            {
                "Expected": {"pk": {"Exists": False}},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
            "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        ),
        (
            "UpdateItem",
            {
                "UpdateExpression": "SET attr1 = :v",
                "ExpressionAttributeValues": {":v": S},
                "AttributeUpdates": {"attr1": {"Value": S, "Action": "PUT"}},
            },
            "Non-expression parameters: {AttributeUpdates} Expression parameters: "
            "{UpdateExpression}",
        ),
        (
            "Query",
            {
                "KeyConditionExpression": "pk = :v",
                "ExpressionAttributeValues": {":v": S},
                "QueryFilter": {"a": {"ComparisonOperator": "NOT_NULL"}},
            },
            "Non-expression parameters: {QueryFilter} Expression parameters: "
            "{KeyConditionExpression}",
        ),
        (
            "GetItem",
            {"ProjectionExpression": "a", "AttributesToGet": ["a"]},
            "Non-expression parameters: {AttributesToGet} Expression parameters: "
            "{ProjectionExpression}",
        ),
    ],
)
def test_legacy_and_expression_parameters_do_not_mix(
    operation: str, request_fields: dict, message: str
) -> None:
    assert error_of(operation, **request_fields) == (
        f"Can not use both expression and non-expression parameters in the same request: {message}"
    )


def test_key_conditions_may_accompany_a_filter_expression() -> None:
    compiled = compile_request(
        "Query",
        {
            "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S]}},
            "FilterExpression": "a = :v",
            "ExpressionAttributeValues": {":v": S},
        },
    )
    assert compiled.filter is not None


# --- condition semantics checked before any item is read ---------------------------------------


def condition_error(text: str, **values: dict) -> str:
    return error_of(
        "PutItem",
        ConditionExpression=text,
        **({"ExpressionAttributeValues": values} if values else {}),
    )


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("((attribute_not_exists(pk)))", {}, "The expression has redundant parentheses;"),
        ("((a)) = :v", {":v": S}, "The expression has redundant parentheses;"),
        ("foo(a)", {}, "Invalid function name; function: foo"),
        (
            "size(a)",
            {},
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "attribute_exists(a) = :v",
            {":v": S},
            "The function is not allowed to be used this way in an expression; "
            "function: attribute_exists",
        ),
        (
            "begins_with(a, contains(b, :v))",
            {":v": S},
            "The function is not allowed to be used this way in an expression; function: contains",
        ),
        (
            "attribute_exists(a, b)",
            {},
            "Incorrect number of operands for operator or function; operator or function: "
            "attribute_exists, number of operands: 2",
        ),
        (
            "begins_with(a)",
            {},
            "Incorrect number of operands for operator or function; operator or function: "
            "begins_with, number of operands: 1",
        ),
        (
            "a = a",
            {},
            "The first operand must be distinct from the remaining operands for this operator or "
            "function; operator: =, first operand: [a]",
        ),
        (
            "attribute_exists(:v)",
            {":v": S},
            "Operator or function requires a document path; operator or function: attribute_exists",
        ),
        (
            "begins_with(a, :n)",
            {":n": N1},
            "Incorrect operand type for operator or function; operator or function: begins_with, "
            "operand type: N",
        ),
        (
            "size(:b) > :n",
            {":b": {"BOOL": True}, ":n": N1},
            "Incorrect operand type for operator or function; operator or function: size, "
            "operand type: BOOL",
        ),
        (
            "attribute_type(a, :n)",
            {":n": N1},
            "Incorrect operand type for operator or function; operator or function: "
            "attribute_type, operand type: N",
        ),
        (
            "attribute_type(a, :t)",
            {":t": {"S": "STRING"}},
            "Invalid attribute type name found; type: STRING, valid types: "
            "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
        ),
        (
            "a BETWEEN :lo AND :hi",
            {":lo": {"N": "10"}, ":hi": {"N": "9"}},
            "The BETWEEN operator requires upper bound to be greater than or equal to lower "
            "bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: "
            "AttributeValue: {N:9}",
        ),
        (
            "a BETWEEN :lo AND :hi",
            {":lo": {"N": "1"}, ":hi": {"S": "9"}},
            "The BETWEEN operator requires same data type for lower and upper bounds; lower "
            "bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:9}",
        ),
        # A constant the comparison cannot order is refused; the item's types are only false.
        (
            "a <= :v",
            {":v": {"BOOL": True}},
            "Incorrect operand type for operator or function; operator or function: <=, "
            "operand type: BOOL",
        ),
        (
            ":v > a",
            {":v": {"M": {}}},
            "Incorrect operand type for operator or function; operator or function: >, "
            "operand type: M",
        ),
        (
            "size(a) < :v",
            {":v": {"NULL": True}},
            "Incorrect operand type for operator or function; operator or function: <, "
            "operand type: NULL",
        ),
        (
            "a >= :v",
            {":v": {"SS": ["x"]}},
            "Incorrect operand type for operator or function; operator or function: >=, "
            "operand type: SS",
        ),
        (
            "a BETWEEN :lo AND :hi",
            {":lo": {"L": []}, ":hi": {"L": []}},
            "Incorrect operand type for operator or function; operator or function: BETWEEN, "
            "operand type: L",
        ),
    ],
)
def test_condition_rules(text: str, values: dict, message: str) -> None:
    assert condition_error(text, **values) == f"Invalid ConditionExpression: {message}"


def test_in_accepts_100_operands_and_refuses_101() -> None:
    values = {f":v{i}": {"N": str(i)} for i in range(101)}
    hundred = ", ".join(f":v{i}" for i in range(100))
    compile_expressions({"FilterExpression": f"a IN ({hundred}) OR a = :v100"}, values=values)
    every = ", ".join(values)
    with pytest.raises(ValidationException) as info:
        compile_expressions({"FilterExpression": f"a IN ({every})"}, values=values)
    assert info.value.message == (
        "Invalid FilterExpression: The IN operator is provided with too many operands; "
        "number of operands: 101"
    )


def test_accepted_parenthesised_forms() -> None:
    # All three were accepted by DynamoDB (conformance suite).
    for text in (
        "(attribute_not_exists(pk)) AND (attribute_not_exists(#s))",
        "(attribute_not_exists(pk) AND attribute_not_exists(#s))",
        "(attribute_not_exists(pk) AND (attribute_not_exists(#s)))",
    ):
        compile_request(
            "PutItem", {"ConditionExpression": text, "ExpressionAttributeNames": {"#s": "status"}}
        )


def test_key_condition_accepts_doubled_parentheses() -> None:
    # Recorded from DynamoDB: KeyConditionExpression does not refuse "((...))".
    compiled = compile_request(
        "Query",
        {
            "KeyConditionExpression": "((#pk = :pk)) AND ((#sk = :sk))",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": S, ":sk": S},
        },
    )
    assert isinstance(compiled.key_condition, And)


def test_document_path_nesting_limit() -> None:
    deep = "a" + ".b" * 31  # 32 levels
    parse_expression("ProjectionExpression", deep)
    with pytest.raises(ValidationException, match="nesting levels: 33"):
        parse_expression("ProjectionExpression", deep + ".c")


# --- update rules checked before any item is read ----------------------------------------------


def update_error(text: str, names: dict | None = None, **values: dict) -> str:
    request: dict[str, Any] = {"UpdateExpression": text}
    if values:
        request["ExpressionAttributeValues"] = values
    if names:
        request["ExpressionAttributeNames"] = names
    return error_of("UpdateItem", **request)


OVERLAP = "Two document paths overlap with each other; must remove or rewrite one of these paths; "
CONFLICT = (
    "Two document paths conflict with each other; must remove or rewrite one of these paths; "
)


@pytest.mark.parametrize(
    ("text", "names", "values", "message"),
    [
        ("SET a = :v, a.b = :v", None, {":v": N1}, OVERLAP + "path one: [a], path two: [a, b]"),
        ("SET a = :v REMOVE a", None, {":v": N1}, OVERLAP + "path one: [a], path two: [a]"),
        (
            "SET #a1 = :v, #a2 = :v",
            {"#a1": "f", "#a2": "f"},
            {":v": N1},
            OVERLAP + "path one: [f], path two: [f]",
        ),
        (
            "SET a[1][1] = :v, a[1] = :v",
            None,
            {":v": N1},
            OVERLAP + "path one: [a, [1], [1]], path two: [a, [1]]",
        ),
        (
            "SET a.b = :v, a[1] = :v",
            None,
            {":v": N1},
            CONFLICT + "path one: [a, b], path two: [a, [1]]",
        ),
        (
            "SET a.b.c = :v, a.b[2] = :v",
            None,
            {":v": N1},
            CONFLICT + "path one: [a, b, c], path two: [a, b, [2]]",
        ),
        (
            "SET a = :v SET b = :v",
            None,
            {":v": N1},
            'The "SET" section can only be used once in an update expression;',
        ),
        (
            "SET a = :v REMOVE c SET b = :v",
            None,
            {":v": N1},
            'The "SET" section can only be used once in an update expression;',
        ),
        (
            "ADD a :v ADD b :v",
            None,
            {":v": N1},
            'The "ADD" section can only be used once in an update expression;',
        ),
        ("SET a = f(b, c, d)", None, {}, "Invalid function name; function: f"),
        ("SET a = size(b)", None, {}, "Invalid function name; function: size"),
        (
            "SET a = list_append(:l)",
            None,
            {":l": {"L": []}},
            "Incorrect number of operands for operator or function; operator or function: "
            "list_append, number of operands: 1",
        ),
        (
            "SET a = list_append(:l, :s)",
            None,
            {":l": {"L": []}, ":s": S},
            "Incorrect operand type for operator or function; operator or function: list_append, "
            "operand type: S",
        ),
        (
            "SET a = list_append(list_append(:l, :l), :l)",
            None,
            {":l": {"L": []}},
            "The function is not allowed to be used this way in an expression; "
            "function: list_append",
        ),
        (
            "SET b = if_not_exists(:x, :y)",
            None,
            {":x": N1, ":y": N1},
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        (
            "SET a = :s + :n",
            None,
            {":s": S, ":n": N1},
            "Incorrect operand type for operator or function; operator or function: +, "
            "operand type: S",
        ),
        (
            "SET a = b - :l",
            None,
            {":l": {"L": []}},
            "Incorrect operand type for operator or function; operator or function: -, "
            "operand type: L",
        ),
        (
            "ADD a :v",
            None,
            {":v": S},
            "Incorrect operand type for operator or function; operator: ADD, operand type: STRING",
        ),
        (
            "ADD a :v",
            None,
            {":v": {"L": [N1]}},
            "Incorrect operand type for operator or function; operator: ADD, operand type: LIST",
        ),
        (
            "DELETE a :v",
            None,
            {":v": N1},
            "Incorrect operand type for operator or function; operator: DELETE, "
            "operand type: NUMBER",
        ),
    ],
)
def test_update_rules(text: str, names: dict | None, values: dict, message: str) -> None:
    assert update_error(text, names, **values) == f"Invalid UpdateExpression: {message}"


def test_update_accepts_non_overlapping_nested_actions() -> None:
    compiled = compile_request(
        "UpdateItem",
        {
            "UpdateExpression": "SET a.b = :v, a.c.d = :v, b.x = :v REMOVE a.x, b.y ADD n :v",
            "ExpressionAttributeValues": {":v": N1},
        },
    )
    assert compiled.update is not None
    assert len(compiled.update.actions) == 6


def test_update_reserved_word_comes_before_unknown_function() -> None:
    assert update_error("SET status = f(a)") == (
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"
    )


def test_projection_paths_may_not_overlap() -> None:
    assert (
        error_of(
            "GetItem",
            ProjectionExpression="#a, #a.#b",
            ExpressionAttributeNames={"#a": "a", "#b": "b"},
        )
        == f"Invalid ProjectionExpression: {OVERLAP}path one: [a], path two: [a, b]"
    )
    assert (
        error_of("GetItem", ProjectionExpression="#a, #a", ExpressionAttributeNames={"#a": "a"})
        == f"Invalid ProjectionExpression: {OVERLAP}path one: [a], path two: [a]"
    )


def test_dot_inside_a_name_placeholder_is_a_literal_dot() -> None:
    compiled = compile_request(
        "UpdateItem",
        {
            "UpdateExpression": "SET #a = :v",
            "ExpressionAttributeNames": {"#a": "a.b"},
            "ExpressionAttributeValues": {":v": N1},
        },
    )
    assert compiled.update is not None
    assert compiled.names == {"#a": "a.b"}
