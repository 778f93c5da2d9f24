"""Applying UpdateExpressions: one case per rule of the developer guide's "Update expressions".

Where the guide is silent, the expected behaviour is what DynamoDB was observed to do in ScyllaDB's
alternator test suite (test_update_expression.py), noted per case.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    AddAction,
    NameRef,
    Path,
    UpdateExpression,
    ValueRef,
    apply_update,
    compile_expressions,
    key_update_error,
    project_paths,
)

INCORRECT_TYPE = "An operand in the update expression has an incorrect data type"
MISSING = "The provided expression refers to an attribute that does not exist in the item"
BAD_PATH = "The document path provided in the update expression is invalid for update"


def N(text: str) -> dict:
    return {"N": text}


def S(text: str) -> dict:
    return {"S": text}


def L(*elements: dict) -> dict:
    return {"L": list(elements)}


def updated(text: str, item: dict | None, **values: Any) -> dict:
    """The item after the UpdateExpression ``text`` (values as ``:name=...`` keywords)."""
    return _apply(text, item, values).item


def _apply(text: str, item: dict | None, values: dict) -> Any:
    value_map = {f":{k}": v for k, v in values.items()} or None
    compiled = compile_expressions({"UpdateExpression": text}, values=value_map)
    assert compiled.update is not None
    return apply_update(compiled.update, item, compiled.names, compiled.values)


def update_error(text: str, item: dict | None, **values: Any) -> str:
    with pytest.raises(ValidationException) as info:
        _apply(text, item, values)
    return info.value.message


# --- SET ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item", "values", "expected"),
    [
        ("SET a = :v", {}, {"v": S("x")}, {"a": S("x")}),
        ("SET a = :v", {"a": N("1")}, {"v": S("x")}, {"a": S("x")}),
        ("SET b = a", {"a": S("x")}, {}, {"a": S("x"), "b": S("x")}),
        # every operand reads the item as it was before the update
        ("SET a = b, b = a", {"a": N("1"), "b": N("2")}, {}, {"a": N("2"), "b": N("1")}),
        ("REMOVE a SET b = a", {"a": S("h")}, {}, {"b": S("h")}),
        ("SET a = a + :n", {"a": N("2")}, {"n": N("3")}, {"a": N("5")}),
        ("SET a = :n + a", {"a": N("2")}, {"n": N("3")}, {"a": N("5")}),
        ("SET a = a - :n", {"a": N("2")}, {"n": N("3.5")}, {"a": N("-1.5")}),
        ("SET a = :x + :y", {}, {"x": N("0.1"), "y": N("0.2")}, {"a": N("0.3")}),
        ("SET c = a + b", {"a": N("1"), "b": N("2")}, {}, {"a": N("1"), "b": N("2"), "c": N("3")}),
        ("SET a = :v", {}, {"v": N("01.50")}, {"a": N("1.5")}),  # numbers are normalized
        (
            "SET l = list_append(l, :x)",
            {"l": L(N("1"))},
            {"x": L(N("2"))},
            {"l": L(N("1"), N("2"))},
        ),
        (
            "SET l = list_append(:x, l)",
            {"l": L(N("1"))},
            {"x": L(N("2"))},
            {"l": L(N("2"), N("1"))},
        ),
        ("SET l = list_append(:x, :x)", {}, {"x": L()}, {"l": L()}),
        ("SET a = if_not_exists(a, :v)", {}, {"v": N("2")}, {"a": N("2")}),
        ("SET a = if_not_exists(a, :v)", {"a": N("1")}, {"v": N("2")}, {"a": N("1")}),
        ("SET b = if_not_exists(a, :v)", {"a": N("1")}, {"v": N("2")}, {"a": N("1"), "b": N("1")}),
        (
            "SET l = list_append(if_not_exists(l, :empty), :x)",
            {},
            {"empty": L(), "x": L(S("z"))},
            {"l": L(S("z"))},
        ),
        ("SET b = if_not_exists(b, :v) + :w", {}, {"v": N("2"), "w": N("3")}, {"b": N("5")}),
        ("SET a = (b + :n)", {"b": N("1")}, {"n": N("1")}, {"a": N("2"), "b": N("1")}),
    ],
)
def test_set(text: str, item: dict, values: dict, expected: dict) -> None:
    assert updated(text, item, **values) == expected


@pytest.mark.parametrize(
    ("text", "item", "values", "message"),
    [
        ("SET a = a + :n", {"a": S("x")}, {"n": N("1")}, INCORRECT_TYPE),
        ("SET a = a + :n", {}, {"n": N("1")}, MISSING),
        ("SET a = b", {}, {}, MISSING),
        ("SET a = b.c", {"b": {"M": {}}}, {}, MISSING),
        ("SET l = list_append(l, :x)", {"l": S("no")}, {"x": L()}, INCORRECT_TYPE),
        ("SET l = list_append(l, :x)", {}, {"x": L()}, MISSING),
        ("SET l = list_append(:x, b)", {"b": {"SS": ["a"]}}, {"x": L()}, INCORRECT_TYPE),
        # a sum needing more than 38 digits overflows (observed by alternator's test_number.py)
        (
            "SET a = a + :n",
            {"a": N("1" + "0" * 37)},
            {"n": N("0.1")},
            "Number overflow. Attempting to store a number with magnitude larger than supported "
            "range",
        ),
    ],
)
def test_set_errors(text: str, item: dict, values: dict, message: str) -> None:
    assert update_error(text, item, **values) == message


@pytest.mark.parametrize(
    ("text", "item", "expected"),
    [
        ("SET a.c = :v", {"a": {"M": {"b": N("3")}}}, {"a": {"M": {"b": N("3"), "c": N("7")}}}),
        ("SET a.b = :v", {"a": {"M": {"b": {"M": {"x": N("1")}}}}}, {"a": {"M": {"b": N("7")}}}),
        ("SET a[1] = :v", {"a": L(S("x"), S("y"), S("z"))}, {"a": L(S("x"), N("7"), S("z"))}),
        # "If the element does not already exist, SET will append the new element at the end"
        ("SET a[7] = :v", {"a": L(S("x"))}, {"a": L(S("x"), N("7"))}),
        ("SET a[0] = :v", {"a": L()}, {"a": L(N("7"))}),
        (
            "SET a.c[1].x.y[1] = :v",
            {"a": {"M": {"c": L(S("hi"), {"M": {"x": {"M": {"y": L(N("3"), N("5"))}}}})}}},
            {"a": {"M": {"c": L(S("hi"), {"M": {"x": {"M": {"y": L(N("3"), N("7"))}}}})}}},
        ),
    ],
)
def test_set_nested(text: str, item: dict, expected: dict) -> None:
    assert updated(text, item, v=N("7")) == expected


def test_set_past_the_end_appends_in_index_order() -> None:
    item = {"a": L(S("one"), S("two"), S("three"))}
    values = {"v1": S("a1"), "v2": S("a2"), "v3": S("a3"), "v4": S("a4")}
    result = updated("SET a[84] = :v1, a[37] = :v2, a[17] = :v3, a[50] = :v4", item, **values)
    assert result["a"] == L(S("one"), S("two"), S("three"), S("a3"), S("a2"), S("a4"), S("a1"))


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("SET a.c = :v", {"a": S("hello")}),  # parent is not a map
        ("SET b.c = :v", {"b": L(S("hi"))}),
        ("SET c.c = :v", {}),  # parent is missing
        ("SET c.c = :v", None),  # the item itself is missing
        ("SET a[0] = :v", {"a": S("hello")}),  # parent is not a list
        ("SET b[0] = :v", {}),
        ("SET a.b.c = :v", {"a": {"M": {}}}),
        ("SET a[5].b = :v", {"a": L({"M": {}})}),
    ],
)
def test_set_into_a_missing_or_wrong_parent_is_an_invalid_path(
    text: str, item: dict | None
) -> None:
    assert update_error(text, item, v=N("7")) == BAD_PATH


# --- REMOVE --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item", "expected"),
    [
        ("REMOVE a", {"a": N("1"), "b": N("2")}, {"b": N("2")}),
        ("REMOVE c", {"a": N("1")}, {"a": N("1")}),  # removing a missing attribute is a no-op
        ("REMOVE a.b", {"a": {"M": {"b": N("1"), "c": N("2")}}}, {"a": {"M": {"c": N("2")}}}),
        ("REMOVE a.y", {"a": {"M": {"x": N("3")}}}, {"a": {"M": {"x": N("3")}}}),
        ("REMOVE a.b", {"a": {"M": {"b": N("1")}}}, {"a": {"M": {}}}),  # an empty map remains
        ("REMOVE a[0]", {"a": L(N("1"))}, {"a": L()}),  # an empty list remains
        ("REMOVE a[1]", {"a": L(N("0"), N("1"), N("2"))}, {"a": L(N("0"), N("2"))}),  # shifts
        ("REMOVE a[17]", {"a": L(N("4"))}, {"a": L(N("4"))}),  # past the end: ignored
        # indexes refer to the list before the update
        ("REMOVE a[1], a[3]", {"a": L(*map(N, "01234"))}, {"a": L(N("0"), N("2"), N("4"))}),
        ("REMOVE a[3], a[1]", {"a": L(*map(N, "01234"))}, {"a": L(N("0"), N("2"), N("4"))}),
        (
            "REMOVE a[1], a[2].x",
            {"a": L(N("0"), N("1"), {"M": {"x": N("1"), "y": N("2")}})},
            {"a": L(N("0"), {"M": {"y": N("2")}})},
        ),
        (
            "REMOVE a.c[1].x.y[1], a.c[1].q",
            {
                "a": {
                    "M": {
                        "b": N("3"),
                        "c": L(S("hi"), {"M": {"x": {"M": {"y": L(*map(N, "357"))}}, "q": N("2")}}),
                    }
                }
            },
            {
                "a": {
                    "M": {
                        "b": N("3"),
                        "c": L(S("hi"), {"M": {"x": {"M": {"y": L(N("3"), N("7"))}}}}),
                    }
                }
            },
        ),
    ],
)
def test_remove(text: str, item: dict, expected: dict) -> None:
    assert updated(text, item) == expected


def test_remove_and_set_on_one_list_use_original_positions() -> None:
    item = {"a": L(*map(N, "234567"))}
    expected = {"a": L(N("2"), N("4"), N("17"), N("6"), N("7"))}
    assert updated("REMOVE a[1] SET a[3] = :v", item, v=N("17")) == expected
    assert updated("SET a[3] = :v REMOVE a[1]", item, v=N("17")) == expected


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("REMOVE a.c", {"a": S("hello")}),
        ("REMOVE b.c", {"b": L(S("hi"))}),
        ("REMOVE c.c", {"a": S("x")}),
        ("REMOVE a[0]", {"a": S("hello")}),
        ("REMOVE b[0]", {"a": S("x")}),
    ],
)
def test_remove_below_a_missing_or_wrong_parent_is_an_invalid_path(text: str, item: dict) -> None:
    assert update_error(text, item) == BAD_PATH


def test_remove_on_an_absent_item_does_nothing() -> None:
    # Observed on DynamoDB (alternator's test_nested_attribute_remove_from_missing_item).
    assert updated("REMOVE x.y, z[0]", None) == {}


# --- ADD and DELETE ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item", "value", "expected"),
    [
        ("ADD a :v", {"a": N("3")}, N("4"), {"a": N("7")}),
        ("ADD a :v", {"a": N("3")}, N("-3"), {"a": N("0")}),
        ("ADD b :v", {"a": S("x")}, N("7"), {"a": S("x"), "b": N("7")}),  # created as if from 0
        ("ADD b :v", None, N("8"), {"b": N("8")}),  # also on an absent item
        (
            "ADD s :v",
            {"s": {"SS": ["dog", "cat"]}},
            {"SS": ["pig", "cat"]},
            {"s": {"SS": ["dog", "cat", "pig"]}},
        ),
        (
            "ADD s :v",
            {"s": {"NS": ["1", "2"]}},
            {"NS": ["1.0", "3"]},
            {"s": {"NS": ["1", "2", "3"]}},
        ),
        ("ADD s :v", {"s": {"BS": [b"a"]}}, {"BS": [b"a", b"b"]}, {"s": {"BS": [b"a", b"b"]}}),
        ("ADD s :v", {}, {"SS": ["dog"]}, {"s": {"SS": ["dog"]}}),
        ("ADD m.n :v", {"m": {"M": {"n": N("1")}}}, N("1"), {"m": {"M": {"n": N("2")}}}),
        ("ADD m.n :v", {"m": {"M": {}}}, N("1"), {"m": {"M": {"n": N("1")}}}),
    ],
)
def test_add(text: str, item: dict | None, value: dict, expected: dict) -> None:
    assert updated(text, item, v=value) == expected


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        ({"a": S("hi")}, N("1"), INCORRECT_TYPE),  # adding a number to a string
        ({"a": {"NS": ["1"]}}, {"SS": ["x"]}, INCORRECT_TYPE),  # sets of different types
        ({"a": {"SS": ["x"]}}, N("1"), INCORRECT_TYPE),
        ({"a": L(N("1"))}, {"NS": ["3"]}, INCORRECT_TYPE),  # ADD never extends lists
    ],
)
def test_add_errors(item: dict, value: dict, message: str) -> None:
    assert update_error("ADD a :v", item, v=value) == message


def test_add_below_a_missing_parent_is_an_invalid_path() -> None:
    assert update_error("ADD m.n :v", {}, v=N("1")) == BAD_PATH


@pytest.mark.parametrize(
    ("item", "value", "expected"),
    [
        ({"a": {"SS": ["dog", "cat", "mouse"]}}, {"SS": ["cat", "mouse"]}, {"a": {"SS": ["dog"]}}),
        ({"a": {"SS": ["dog"]}}, {"SS": ["pig"]}, {"a": {"SS": ["dog"]}}),  # absent member: no-op
        ({"a": {"SS": ["dog"]}, "b": S("hi")}, {"SS": ["dog"]}, {"b": S("hi")}),  # emptied: removed
        ({"b": S("hi")}, {"SS": ["dog"]}, {"b": S("hi")}),  # missing attribute: no-op
        ({"a": {"NS": ["1", "2"]}}, {"NS": ["2.00"]}, {"a": {"NS": ["1"]}}),  # numbers by value
        ({"a": {"BS": [b"\x01", b"\x02"]}}, {"BS": [b"\x01"]}, {"a": {"BS": [b"\x02"]}}),
    ],
)
def test_delete(item: dict, value: dict, expected: dict) -> None:
    assert updated("DELETE a :v", item, v=value) == expected


@pytest.mark.parametrize("item", [{"a": {"NS": ["1"]}}, {"a": S("x")}, {"a": L(S("x"))}])
def test_delete_type_mismatch(item: dict) -> None:
    assert update_error("DELETE a :v", item, v={"SS": ["x"]}) == INCORRECT_TYPE


# --- the whole update -------------------------------------------------------------------------


def test_input_item_is_never_mutated() -> None:
    item = {
        "a": {"M": {"b": L(N("1"), N("2")), "c": {"SS": ["x"]}}},
        "n": N("1"),
        "s": {"NS": ["1", "2"]},
    }
    before = copy.deepcopy(item)
    text = "SET a.b[0] = :v, a.d = :v REMOVE a.b[1] ADD a.c :ss, n :v DELETE s :ns"
    result = updated(text, item, v=N("5"), ss={"SS": ["y"]}, ns={"NS": ["1"]})
    assert item == before
    assert result == {
        "a": {"M": {"b": L(N("5")), "c": {"SS": ["x", "y"]}, "d": N("5")}},
        "n": N("6"),
        "s": {"NS": ["2"]},
    }


def test_updated_paths_give_updated_old_and_updated_new() -> None:
    item = {"a": {"M": {"b": N("1"), "keep": N("0")}}, "c": N("2"), "other": N("3")}
    result = _apply("SET a.b = :v REMOVE c ADD d :v", item, {"v": N("9")})
    assert result.updated_paths == (("a", "b"), ("c",), ("d",))
    assert project_paths(item, result.updated_paths) == {"a": {"M": {"b": N("1")}}, "c": N("2")}
    assert project_paths(result.item, result.updated_paths) == {
        "a": {"M": {"b": N("9")}},
        "d": N("9"),
    }


@pytest.mark.parametrize("text", ["SET pk = :v", "REMOVE sk", "ADD pk :v", "SET #k.x = :v"])
def test_key_attributes_cannot_be_updated(text: str) -> None:
    values = {":v": N("1")} if ":v" in text else None
    names = {"#k": "pk"} if "#k" in text else None
    compiled = compile_expressions({"UpdateExpression": text}, names=names, values=values)
    assert compiled.update is not None
    with pytest.raises(ValidationException) as info:
        key_update_error(compiled.update, compiled.names, ("pk", "sk"))
    attribute = "sk" if "sk" in text else "pk"
    assert info.value.message == (
        f"One or more parameter values were invalid: Cannot update attribute {attribute}. "
        "This attribute is part of the key"
    )


def test_non_key_attributes_pass_the_key_check() -> None:
    compiled = compile_expressions({"UpdateExpression": "SET pkx = :v"}, values={":v": N("1")})
    assert compiled.update is not None
    key_update_error(compiled.update, compiled.names, ("pk",))


def test_legacy_add_appends_to_lists() -> None:
    update = UpdateExpression((AddAction(Path((NameRef("#l"),)), ValueRef(":v"), legacy=True),), ())
    result = apply_update(update, {"l": L(N("1"))}, {"#l": "l"}, {":v": L(N("2"))})
    assert result.item == {"l": L(N("1"), N("2"))}
