"""The type mapping of ``raydynamo.data``: items to Arrow blocks and back, exactly (no Ray).

Every DynamoDB type comes back as itself through a block built from a sampled plan, whether it
sits in its own column or in ``_dynamodb_json`` (absent from the sample, of another type than the
sample's, a number the column's decimal cannot hold); plain Arrow columns (integers, floats,
decimals, strings, binaries, booleans, lists, structs, maps) become the attribute types the
module docstring promises; columns no attribute can hold are refused with a ValidationException.
"""

from __future__ import annotations

import decimal
import json
from typing import Any

import pyarrow as pa
import pytest

from raydynamo.api.errors import ValidationException
from raydynamo.api.schema import KeySchema
from raydynamo.api.values import canonicalize_item
from raydynamo.data.arrow import (
    OTHER_ATTRIBUTES_COLUMN,
    TYPE_METADATA_KEY,
    infer_plan,
    items_to_table,
    table_to_items,
)
from raydynamo.data.sink import check_schema
from raydynamo.operations.put_items import check_put_values

KEY = KeySchema("pk", "S", "sk", "N")


def every_type_item(i: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"user{i}"},
        "sk": {"N": str(i)},
        "s": {"S": "é日本" * (i % 3)},
        "n": {"N": f"{i}.{i % 100:02d}"},
        "b": {"B": bytes([i % 256, 0, 255])},
        "t": {"BOOL": i % 2 == 0},
        "z": {"NULL": True},
        "ss": {"SS": [f"a{i}", "b"]},
        "ns": {"NS": ["1", f"-{i}.5"]},
        "bs": {"BS": [b"\x00", bytes([i % 256 or 1])]},
        "l": {"L": [{"S": "x"}, {"N": "1E-130"}, {"B": b"\x01"}, {"NULL": True}, {"L": []}]},
        "m": {"M": {"k": {"M": {"deep": {"SS": ["q"]}}}, "e": {"M": {}}, "f": {"BOOL": False}}},
    }
    if i % 5 == 0:
        item["sometimes"] = {"S": "here"}
        del item["z"]
    if i % 7 == 0:
        item["mixed"] = {"N": "7"}
    elif i % 7 == 1:
        item["mixed"] = {"S": "seven"}
    return item


def round_trip(items: list[dict[str, Any]], sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = items_to_table(items, infer_plan(sample, KEY))
    return table_to_items(table)


def canonical(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As DynamoDB stores them (numbers normalized): what a round trip must preserve."""
    return [canonicalize_item(item) for item in items]


def test_every_type_comes_back_exactly() -> None:
    items = [every_type_item(i) for i in range(300)]
    assert canonical(round_trip(items, items)) == canonical(items)


def test_what_the_sample_did_not_see_travels_in_the_json_column() -> None:
    items = [every_type_item(i) for i in range(60)]
    sample = [{"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "1"}, "s": {"N": "5"}}]
    table = items_to_table(items, infer_plan(sample, KEY))
    assert table.schema.names == ["pk", "sk", "n", "s", OTHER_ATTRIBUTES_COLUMN]
    assert table.column("s").null_count == len(items)  # every s is an S, the sample's an N
    assert table.column("n").null_count == len(items) - 1  # only 0.00 fits decimal128(38, 0)
    assert canonical(table_to_items(table)) == canonical(items)


def test_the_columns_follow_the_forms() -> None:
    items = [every_type_item(i) for i in range(10)]
    schema = items_to_table(items, infer_plan(items, KEY)).schema
    types = {field.name: field.type for field in schema}
    declared = {field.name: (field.metadata or {}).get(TYPE_METADATA_KEY) for field in schema}
    assert types["pk"] == pa.string() and types["sk"] == pa.decimal128(38, 0)
    assert types["n"] == pa.decimal128(38, 2) and types["b"] == pa.binary()
    assert types["t"] == pa.bool_() and types["z"] == pa.bool_() and declared["z"] == b"NULL"
    assert types["ss"] == pa.list_(pa.string()) and types["bs"] == pa.list_(pa.binary())
    assert types["ns"] == pa.list_(pa.decimal128(38, 1))
    assert types["l"] == pa.string() and declared["l"] == b"L"
    assert "mixed" not in types  # two types in the sample: only in _dynamodb_json
    first = items_to_table(items[:1], infer_plan(items, KEY)).to_pylist()[0]
    assert json.loads(first["m"]) == {
        "k": {"M": {"deep": {"SS": ["q"]}}},
        "e": {"M": {}},
        "f": {"BOOL": False},
    }
    assert first["n"] == decimal.Decimal("0.00")


def test_numbers_beyond_decimal128_keep_their_text() -> None:
    items = [
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"N": "1E+125"}},
        {"pk": {"S": "b"}, "sk": {"N": "2"}, "x": {"N": "1E-130"}},
        {"pk": {"S": "c"}, "sk": {"N": "3"}, "x": {"N": "1234567890123456789012345678901234567.8"}},
    ]
    table = items_to_table(items, infer_plan(items, KEY))
    assert table.schema.field("x").type == pa.string()
    assert table.column("x").to_pylist()[0] == "1E+125"
    assert canonical(table_to_items(table)) == canonical(items)


def test_an_empty_sample_still_has_the_key_columns() -> None:
    plan = infer_plan([], KEY)
    assert [c.name for c in plan.columns] == ["pk", "sk"]
    assert plan.schema().names == ["pk", "sk", OTHER_ATTRIBUTES_COLUMN]


def test_plain_arrow_columns_become_attributes() -> None:
    table = pa.table(
        {
            "pk": ["a", "b"],
            "i": pa.array([1, None], pa.int64()),
            "f": [0.1, 2.5e20],
            "d": pa.array([decimal.Decimal("1.50"), decimal.Decimal("-3")], pa.decimal128(5, 2)),
            "bin": [b"\x00", b""],
            "flag": [True, False],
            "tags": [["x", None], []],
            "point": [{"x": 1, "y": "q"}, {"x": None, "y": "r"}],
            "attrs": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
            "cat": pa.array(["u", "v"]).dictionary_encode(),
            "nothing": pa.array([None, None], pa.null()),
        }
    )
    first, second = table_to_items(table)
    assert first == {
        "pk": {"S": "a"},
        "i": {"N": "1"},
        "f": {"N": "0.1"},
        "d": {"N": "1.50"},
        "bin": {"B": b"\x00"},
        "flag": {"BOOL": True},
        "tags": {"L": [{"S": "x"}, {"NULL": True}]},
        "point": {"M": {"x": {"N": "1"}, "y": {"S": "q"}}},
        "attrs": {"M": {"k": {"N": "1"}}},
        "cat": {"S": "u"},
    }
    assert "i" not in second and second["f"] == {"N": "2.5e+20"}
    assert second["point"] == {"M": {"x": {"NULL": True}, "y": {"S": "r"}}}
    assert canonicalize_item(second)["f"] == {"N": "250000000000000000000"}


def test_a_float_nan_is_refused_as_dynamodb_refuses_it() -> None:
    (item,) = table_to_items(pa.table({"pk": ["a"], "f": [float("nan")]}))
    with pytest.raises(ValidationException, match="cannot be converted to a numeric value"):
        check_put_values(item)


def test_columns_no_attribute_can_hold_are_refused() -> None:
    table = pa.table({"pk": ["a"], "when": pa.array([1], pa.timestamp("s"))})
    with pytest.raises(ValidationException, match="column when has the Arrow type timestamp"):
        check_schema(table.schema, ("pk",))
    nested = pa.table({"pk": ["a"], "l": pa.array([[1]], pa.list_(pa.date32()))})
    with pytest.raises(ValidationException, match="column l"):
        check_schema(nested.schema, ("pk",))


def test_a_dataset_without_the_key_column_is_refused() -> None:
    with pytest.raises(ValidationException, match="Missing the key sk in the item"):
        check_schema(pa.schema([("pk", pa.string())]), ("pk", "sk"))


def test_a_malformed_json_column_is_refused() -> None:
    for text in ["not json", "[1]", '{"a": {"B": "***"}}']:
        table = pa.table({"pk": ["a"], OTHER_ATTRIBUTES_COLUMN: [text]})
        with pytest.raises(ValidationException, match=OTHER_ATTRIBUTES_COLUMN):
            table_to_items(table)


def test_an_attribute_given_twice_is_refused() -> None:
    table = pa.table({"pk": ["a"], OTHER_ATTRIBUTES_COLUMN: ['{"pk": {"S": "b"}}']})
    with pytest.raises(ValidationException, match="attribute pk is given both"):
        table_to_items(table)
