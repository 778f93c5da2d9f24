"""Parsing expressions: syntax errors, grammar, limits, reserved words and the parse cache.

Sources of the expected messages: the DynamoDB developer guide's expression pages, the real
DynamoDB messages recorded by the public conformance suite nubo-db/dynamodb-conformance and by
ScyllaDB's alternator tests, and user reports quoting DynamoDB verbatim.
"""

from __future__ import annotations

from typing import Any

import pytest

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    And,
    Between,
    Comparison,
    FunctionCall,
    In,
    Index,
    Name,
    NameRef,
    Not,
    Or,
    Path,
    ValueRef,
    compile_request,
    parse_cache_clear,
    parse_expression,
)
from raydynamo.api.expressions import parse as parse_module
from raydynamo.api.expressions.reserved import RESERVED_WORDS, RESERVED_WORDS_COUNT

S = {"S": "x"}
N1 = {"N": "1"}


def error_of(operation: str, **request: Any) -> str:
    """The message of the ValidationException ``compile_request`` raises."""
    with pytest.raises(ValidationException) as info:
        compile_request(operation, request)
    return info.value.message


def path(*elements: str | int) -> Path:
    out = []
    for e in elements:
        if isinstance(e, int):
            out.append(Index(e))
        elif e.startswith("#"):
            out.append(NameRef(e))
        else:
            out.append(Name(e))
    return Path(tuple(out))


# --- syntax errors: DynamoDB quotes the token and the text from the token before to the one after


@pytest.mark.parametrize(
    ("parameter", "text", "message"),
    [
        # Recorded from DynamoDB (conformance suite, issues quoting DynamoDB verbatim):
        ("UpdateExpression", "INVALID SYNTAX HERE", 'token: "INVALID", near: "INVALID SYNTAX"'),
        ("UpdateExpression", "ADD hits : incr", 'token: ":", near: "hits : incr"'),
        ("UpdateExpression", "SET path = VALUE 1", 'token: "1", near: "VALUE 1"'),
        ("UpdateExpression", "SET _123 = :v", 'token: "_", near: "SET _123"'),
        ("ConditionExpression", "foo", 'token: "<EOF>", near: "foo"'),
        ("KeyConditionExpression", "[object Object]", 'token: "[", near: "[object"'),
        # Grammar rules of the developer guide:
        ("UpdateExpression", "SET a = :a + :b + :c", 'token: "+", near: ":b + :c"'),
        ("UpdateExpression", "SET a[:i] = :v", 'token: ":i", near: "[:i]"'),
        ("UpdateExpression", "SET a[#i] = :v", 'token: "#i", near: "[#i]"'),
        ("UpdateExpression", "SET :a = :b", 'token: ":a", near: "SET :a ="'),
        ("UpdateExpression", "SET c = f(c, :a+:b)", 'token: "+", near: ":a+:b"'),
        ("UpdateExpression", "HELLO b = :v", 'token: "HELLO", near: "HELLO b"'),
        ("ConditionExpression", "a = :v AND", 'token: "<EOF>", near: "AND"'),
        ("ConditionExpression", "a != :v", 'token: "!", near: "a !="'),
        ("ConditionExpression", "a IN ()", 'token: ")", near: "()"'),
        ("ConditionExpression", "a = 1", 'token: "1", near: "= 1"'),
        ("ConditionExpression", "(a) AND b = :v", 'token: ")", near: "a) AND"'),
        ("ProjectionExpression", "a,, b", 'token: ",", near: ",, b"'),
        ("ProjectionExpression", "a.", 'token: "<EOF>", near: "."'),
        ("ConditionExpression", "   ", 'token: "<EOF>", near: ""'),
    ],
)
def test_syntax_errors_quote_token_and_neighbours(parameter: str, text: str, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        parse_expression(parameter, text)
    assert info.value.message == f"Invalid {parameter}: Syntax error; {message}"


@pytest.mark.parametrize(
    "parameter",
    [
        "ConditionExpression",
        "FilterExpression",
        "KeyConditionExpression",
        "UpdateExpression",
        "ProjectionExpression",
    ],
)
def test_empty_expression_is_refused(parameter: str) -> None:
    with pytest.raises(ValidationException) as info:
        parse_expression(parameter, "")
    assert info.value.message == f"Invalid {parameter}: The expression can not be empty;"


def test_expression_longer_than_4_kb_is_refused_and_4_kb_is_accepted() -> None:
    ok = "a" + "a" * 4095  # 4096 bytes: the limit itself is allowed
    parse_expression("ProjectionExpression", ok)
    too_long = "a" * 4097
    with pytest.raises(ValidationException) as info:
        parse_expression("ProjectionExpression", too_long)
    assert info.value.message == (
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )


def test_expression_size_counts_utf8_bytes() -> None:
    text = "é" * 2049  # 4098 bytes, 2049 characters
    with pytest.raises(ValidationException, match="expression size: 4098"):
        parse_expression("ProjectionExpression", text)


# --- grammar: precedence, case, structure ------------------------------------------------------


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    tree = parse_expression("ConditionExpression", "NOT a = :x AND b = :y OR c = :z").tree
    assert tree == Or(
        (
            And(
                (
                    Not(Comparison("=", path("a"), ValueRef(":x"))),
                    Comparison("=", path("b"), ValueRef(":y")),
                )
            ),
            Comparison("=", path("c"), ValueRef(":z")),
        )
    )


def test_parentheses_override_precedence() -> None:
    tree = parse_expression("ConditionExpression", "a = :x AND (b = :y OR c = :z)").tree
    assert isinstance(tree, And)
    assert isinstance(tree.conditions[1], Or)


def test_chains_of_one_connective_are_one_flat_node() -> None:
    text = " OR ".join(f"a = :v{i}" for i in range(300))
    tree = parse_expression("FilterExpression", text).tree
    assert isinstance(tree, Or)
    assert len(tree.conditions) == 300
    nested = parse_expression("FilterExpression", "(a = :x AND b = :y) AND c = :z").tree
    assert isinstance(nested, And)
    assert len(nested.conditions) == 3


@pytest.mark.parametrize(
    ("parameter", "text"),
    [
        ("FilterExpression", "NOT " * 101 + "a = :v"),
        ("KeyConditionExpression", "(" * 101 + "a = :v" + ")" * 101),
        ("UpdateExpression", "SET a = " + "if_not_exists(b, " * 101 + ":v" + ")" * 101),
    ],
)
def test_nesting_is_bounded(parameter: str, text: str) -> None:
    with pytest.raises(ValidationException) as info:
        parse_expression(parameter, text)
    assert info.value.message == (
        f"Invalid {parameter}: The expression has too many nested levels; nesting levels: 101"
    )


def test_nesting_up_to_the_bound_is_accepted() -> None:
    parse_expression("FilterExpression", "NOT " * 98 + "a = :v")


def test_keywords_are_case_insensitive() -> None:
    lower = parse_expression("ConditionExpression", "a between :x and :y or not b in (:z)").tree
    upper = parse_expression("ConditionExpression", "a BETWEEN :x AND :y OR NOT b IN (:z)").tree
    assert (
        lower
        == upper
        == Or(
            (
                Between(path("a"), ValueRef(":x"), ValueRef(":y")),
                Not(In(path("b"), (ValueRef(":z"),))),
            )
        )
    )
    update = parse_expression("UpdateExpression", "set a = :x remove b").tree
    assert update.clauses == ("SET", "REMOVE")


def test_between_and_binds_to_between_not_to_logical_and() -> None:
    tree = parse_expression("ConditionExpression", "a BETWEEN :x AND :y AND b = :z").tree
    assert tree == And(
        (
            Between(path("a"), ValueRef(":x"), ValueRef(":y")),
            Comparison("=", path("b"), ValueRef(":z")),
        )
    )


def test_document_paths_keep_map_keys_and_list_indexes() -> None:
    tree = parse_expression("ConditionExpression", "attribute_exists(a.#b[2][10].c)").tree
    assert tree == FunctionCall("attribute_exists", (path("a", "#b", 2, 10, "c"),))


def test_parenthesised_operand_is_an_operand() -> None:
    tree = parse_expression("ConditionExpression", "(a) = (:v)").tree
    assert tree == Comparison("=", path("a"), ValueRef(":v"))


def test_size_is_an_operand() -> None:
    tree = parse_expression("ConditionExpression", "size(a) > :n").tree
    assert tree == Comparison(">", FunctionCall("size", (path("a"),)), ValueRef(":n"))


def test_parse_is_cached_on_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    parse_cache_clear()
    calls = []
    original = parse_module.parse_tokens

    def counting(kind: str, tokens: list) -> object:
        calls.append(kind)
        return original(kind, tokens)

    monkeypatch.setattr(parse_module, "parse_tokens", counting)
    first = parse_expression("FilterExpression", "a = :v")
    second = parse_expression("ConditionExpression", "a = :v")
    assert first is second
    assert calls == ["condition"]


# --- reserved words ----------------------------------------------------------------------------


def test_reserved_word_list_is_the_published_one() -> None:
    assert len(RESERVED_WORDS) == RESERVED_WORDS_COUNT == 573
    for word in ("ABORT", "NAME", "STATUS", "SIZE", "ZONE", "FLATTERN", "INNTER"):
        assert word in RESERVED_WORDS


@pytest.mark.parametrize(
    ("operation", "request_fields", "parameter", "word"),
    [
        ("PutItem", {"ConditionExpression": "Name = :v"}, "ConditionExpression", "Name"),
        ("UpdateItem", {"UpdateExpression": "SET status = :v"}, "UpdateExpression", "status"),
        ("UpdateItem", {"UpdateExpression": "SET a.data = :v"}, "UpdateExpression", "data"),
        ("Scan", {"FilterExpression": "size(total) > :v"}, "FilterExpression", "total"),
        ("GetItem", {"ProjectionExpression": "a, year"}, "ProjectionExpression", "year"),
    ],
)
def test_reserved_word_as_bare_name_is_refused(
    operation: str, request_fields: dict, parameter: str, word: str
) -> None:
    if operation != "GetItem":
        request_fields = {**request_fields, "ExpressionAttributeValues": {":v": N1}}
    message = error_of(operation, **request_fields)
    assert message == (
        f"Invalid {parameter}: Attribute name is a reserved keyword; reserved keyword: {word}"
    )


def test_reserved_word_through_placeholder_is_accepted() -> None:
    compiled = compile_request(
        "PutItem",
        {
            "ConditionExpression": "#n = :v",
            "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":v": S},
        },
    )
    assert compiled.condition == Comparison("=", path("#n"), ValueRef(":v"))


def test_function_names_are_not_reserved_words_but_are_case_sensitive() -> None:
    compile_request(
        "Scan", {"FilterExpression": "size(a) > :v", "ExpressionAttributeValues": {":v": N1}}
    )
    message = error_of(
        "Scan", FilterExpression="SIZE(a) > :v", ExpressionAttributeValues={":v": N1}
    )
    assert message == "Invalid FilterExpression: Invalid function name; function: SIZE"
