"""The one wire form of bound conditions and updates: round trips, one form for writes and reads,
replicas that never parse text, and decoding that refuses anything malformed with ValueError."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import raydynamo.api.expressions.parse as parse_module
from raydynamo.api.expressions import (
    UpdateExpression,
    apply_update,
    bind_condition,
    compile_expressions,
    translate_attribute_updates,
    translate_expected,
)
from raydynamo.api.expressions.wire import (
    condition_predicate,
    decode_condition,
    decode_update,
    encode_condition,
    encode_update,
)
from raydynamo.api.schema import KeySchema, storage_key
from raydynamo.operations.read_common import ReadFilter
from raydynamo.operations.write_plan import plan_update_item
from raydynamo.partition.item_writes import (
    KIND_ITEM_WRITE,
    ItemWrite,
    apply_item_write,
    encode_item_write,
)
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.memory import MemoryEngine
from tests.test_op_writes_support import new_world


def travel(wire: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(wire, use_bin_type=True), raw=False)


ITEMS: list[dict[str, Any]] = [
    {},
    {"a": {"N": "3"}, "s": {"S": "hello"}, "l": {"L": [{"N": "1"}, {"S": "x"}]}},
    {"a": {"S": "3"}, "m": {"M": {"k.j": {"N": "5"}}}, "ss": {"SS": ["x", "y"]}},
    {"a": {"N": "10"}, "b": {"BOOL": True}, "n": {"NULL": True}},
]
CONDITIONS = [
    ("a < :v OR a = :s", {":v": {"N": "5"}, ":s": {"S": "3"}}, None),
    ("#m.#k >= :v AND NOT attribute_exists(b)", {":v": {"N": "5"}}, {"#m": "m", "#k": "k.j"}),
    ("a BETWEEN :lo AND :hi", {":lo": {"N": "2"}, ":hi": {"N": "9"}}, None),
    (
        "a IN (:v, :s) AND size(l) = :two",
        {":v": {"N": "10"}, ":s": {"S": "3"}, ":two": {"N": "2"}},
        None,
    ),
    ("contains(ss, :x) OR begins_with(s, :h)", {":x": {"S": "x"}, ":h": {"S": "he"}}, None),
    ("attribute_type(n, :t) OR l[1] <> :x", {":t": {"S": "NULL"}, ":x": {"S": "x"}}, None),
]


@pytest.mark.parametrize(("text", "values", "names"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_a_bound_condition_decides_as_the_expression_does(
    text: str, values: dict[str, Any], names: dict[str, str] | None
) -> None:
    compiled = compile_expressions({"ConditionExpression": text}, names=names, values=values)
    assert compiled.condition is not None
    wire = travel(encode_condition(compiled.condition, compiled.names, compiled.values))
    original = bind_condition(compiled.condition, compiled.names, compiled.values)
    assert [condition_predicate(wire)(item) for item in ITEMS] == [original(i) for i in ITEMS]


def test_write_conditions_and_read_filters_share_one_encoding() -> None:
    text, values, names = CONDITIONS[1]
    compiled = compile_expressions({"FilterExpression": text}, names=names, values=values)
    assert compiled.filter is not None
    read_filter = ReadFilter(compiled.filter, compiled.names, compiled.values, "FilterExpression")
    as_condition = compile_expressions({"ConditionExpression": text}, names=names, values=values)
    assert as_condition.condition is not None
    write_wire = encode_condition(as_condition.condition, as_condition.names, as_condition.values)
    assert read_filter.to_wire() == write_wire


UPDATES = [
    ("SET a = a + :one, l[5] = :x REMOVE s", {":one": {"N": "1"}, ":x": {"S": "new"}}),
    (
        "SET z = if_not_exists(z, :x), l = list_append(:lst, l)",
        {":x": {"S": "z"}, ":lst": {"L": []}},
    ),
    ("ADD ss :more DELETE tt :less", {":more": {"SS": ["q"]}, ":less": {"SS": ["x"]}}),
]


@pytest.mark.parametrize(("text", "values"), UPDATES, ids=[u[0] for u in UPDATES])
def test_a_bound_update_writes_what_the_expression_writes(
    text: str, values: dict[str, Any]
) -> None:
    compiled = compile_expressions({"UpdateExpression": text}, values=values)
    assert compiled.update is not None
    decoded = decode_update(travel(encode_update(compiled.update, compiled.names, compiled.values)))
    item = {**ITEMS[1], "ss": {"SS": ["x", "y"]}, "tt": {"SS": ["x", "y"]}, "z": {"N": "0"}}
    expected = apply_update(compiled.update, item, compiled.names, compiled.values)
    got = apply_update(decoded.tree, item, {}, decoded.values)
    assert (got.item, got.updated_paths) == (expected.item, expected.updated_paths)
    assert decoded.legacy is False


def test_legacy_parameters_bind_to_the_same_form() -> None:
    updates = translate_attribute_updates(
        {"a": {"Action": "ADD", "Value": {"N": "2"}}, "s": {"Action": "DELETE"}}
    )
    wire = travel(encode_update(updates.tree, updates.names, updates.values, legacy=True))  # type: ignore[arg-type]
    decoded = decode_update(wire)
    assert decoded.legacy is True
    assert apply_update(decoded.tree, ITEMS[1], {}, decoded.values).item["a"] == {"N": "5"}
    expected = translate_expected(
        {"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "4"}]}}
    )
    predicate = condition_predicate(
        travel(encode_condition(expected.tree, expected.names, expected.values))
    )  # type: ignore[arg-type]
    assert [predicate(item) for item in ITEMS] == [False, False, False, True]


def test_only_deletes_is_true_for_removals_and_set_deletions_only() -> None:
    def only_deletes(text: str, values: dict[str, Any] | None = None) -> bool:
        compiled = compile_expressions({"UpdateExpression": text}, values=values)
        assert compiled.update is not None
        return decode_update(encode_update(compiled.update, {}, compiled.values)).only_deletes

    assert only_deletes("REMOVE a, b")
    assert only_deletes("REMOVE a DELETE s :s", {":s": {"SS": ["x"]}})
    assert not only_deletes("REMOVE a SET b = :v", {":v": {"N": "1"}})
    assert not only_deletes("ADD n :v", {":v": {"N": "1"}})
    no_action = encode_update(UpdateExpression((), ()), {}, {}, legacy=True)  # AttributeUpdates {}
    assert not decode_update(no_action).only_deletes


def test_replicas_apply_writes_without_parsing_any_expression_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog, _ = new_world()
    plan = plan_update_item(
        {
            "TableName": "hash",
            "Key": {"pk": {"S": "k"}},
            "UpdateExpression": "SET #a = :v ADD n :one",
            "ConditionExpression": "attribute_not_exists(#a) OR #a < :v",
            "ExpressionAttributeNames": {"#a": "a"},
            "ExpressionAttributeValues": {":v": {"N": "9"}, ":one": {"N": "1"}},
        },
        catalog,
    )
    command = encode_item_write(ItemWrite(b"rid", plan.schema.key, (plan.op,)))
    assert b"#a" not in command and b":v" not in command  # bound: no placeholder travels

    def no_parsing(*args: Any) -> None:
        raise AssertionError("a replica parsed expression text")

    monkeypatch.setattr(parse_module, "_parse_cached", no_parsing)
    result = apply_item_write(MemoryEngine(), PartitionKeys("p"), command, 1, WriteBatch())
    assert result["ops"][0] == {"old_size": None, "new_size": 9}


def test_a_command_of_an_unknown_format_is_an_error_result() -> None:
    schema = KeySchema("pk", "S")
    key = {"pk": {"S": "a"}}
    old_format = msgpack.packb(  # format 1: no format element, expressions as text
        [
            KIND_ITEM_WRITE,
            b"r",
            schema.to_wire(),
            False,
            [[1, storage_key(schema, key), {"item": key}]],
        ],
        use_bin_type=True,
    )
    result = apply_item_write(MemoryEngine(), PartitionKeys("p"), old_format, 1, WriteBatch())
    assert result["error"]["code"] == "InternalServerError"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 40)
    | st.sampled_from(["and", "or", "not", "cmp", "between", "in", "fn", "path", "value", "<",
                       "size", "contains", "set", "remove", "add", "delete", "arith", "+", "a"])
    | st.dictionaries(st.sampled_from(["S", "N", "X"]), st.text(max_size=2), max_size=2),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(wire=_json, shape=_json, slots=_json, legacy=st.sampled_from([0, 1, 2, "1"]))
def test_decoding_anything_gives_a_tree_or_a_value_error(
    wire: Any, shape: Any, slots: Any, legacy: Any
) -> None:
    packed = msgpack.packb(shape, use_bin_type=True)
    for decode, candidate in (
        (decode_condition, wire),
        (decode_update, wire),
        (decode_condition, [packed, slots]),
        (decode_update, [legacy, packed, slots]),
        (decode_condition, [packed, [{"N": "1"}] * 3]),
    ):
        with contextlib.suppress(ValueError):
            decode(candidate)


def test_requests_with_one_expression_share_one_decoded_shape() -> None:
    def bound(value: str) -> Any:
        compiled = compile_expressions(
            {"ConditionExpression": "a < :v"}, values={":v": {"N": value}}
        )
        assert compiled.condition is not None
        return travel(encode_condition(compiled.condition, {}, compiled.values))

    first, second = bound("1"), bound("2")
    assert first[0] == second[0] and first[1] != second[1]  # one shape, other constants
    tree_one, values_one = decode_condition(first)
    tree_two, values_two = decode_condition(second)
    assert tree_one is tree_two
    assert (values_one, values_two) == ({":w0": {"N": "1"}}, {":w0": {"N": "2"}})
