"""DynamoDB items to Arrow tables and back: the type mapping of ``raydynamo.data``.

Role: a table is schemaless (an attribute may be a number in one item and absent or a string
in the next); an Arrow block needs one type per column. ``infer_plan`` decides the columns from a
sample of items (and the key schema): one column per attribute name whose sampled values all
have one DynamoDB type, in that type's form below; ``items_to_table`` then builds every block
with exactly that schema, so the blocks of all read tasks agree. Whatever does not fit its column
(an attribute absent from the sample, a value of another type, a number too precise for the
column's decimal) is kept, exactly, in the ``_dynamodb_json`` column: a DynamoDB JSON map of
those attributes (null when there are none). Nothing is ever dropped or rounded.

Forms (the column's field metadata ``raydynamo.type`` names the DynamoDB type, so a dataset
read here and written back, or exported to Parquet and imported, comes back as the same types):

=========  ======================================================================================
S          ``string``
B          ``binary``
BOOL       ``bool``
NULL       ``bool``: true where the attribute is present (it can only be NULL), null where absent
N          ``decimal128(38, s)``, ``s`` the largest scale in the sample (integer digits up to
           38 - s); a value that does not fit goes to ``_dynamodb_json``. When the sample itself
           does not fit 38 digits, ``string`` holding DynamoDB's normalized number text.
SS, BS     ``list<string>``, ``list<binary>``
NS         ``list<decimal128(38, s)>`` as for N (or ``list<string>`` of number texts)
L, M       ``string``: the value in DynamoDB JSON (``[{"S": "a"}, {"N": "1"}]``, ``{"k": ...}``),
           numbers as strings, binaries in base64, as on DynamoDB's wire
=========  ======================================================================================

Writing (``table_to_items``) reads each column by its metadata when it has one, else by its
Arrow type: strings are S, binaries B, booleans BOOL, integers and decimals N (exact), floats N
(Python's shortest ``repr``, which reads back as the same float; NaN and infinities are refused
as DynamoDB refuses them), lists L, structs and maps M (recursively, nulls inside them NULL); a
null cell is an absent attribute. Other types (timestamps, dates, durations, ...) are refused
with a ``ValidationException`` naming the column: cast them first.

Invariants: conversion in both directions is exact for every value DynamoDB can hold; the items
produced for writing are plain wire-form items, validated afterwards exactly as BatchWriteItem
validates them. Imports pyarrow; must not import ray or rocksdict.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from raydynamo.api.errors import ValidationException
from raydynamo.api.numbers import NUMBER_DIGITS_MAX, parse_number, parts_to_decimal
from raydynamo.api.schema import Item, KeySchema

TYPE_METADATA_KEY = b"raydynamo.type"
OTHER_ATTRIBUTES_COLUMN = "_dynamodb_json"
OTHER_ATTRIBUTES_TYPE = "ITEM"  # the metadata of that column: a DynamoDB JSON map per row
DYNAMODB_TYPES = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")
COLUMNS_MAX = 1000  # more sampled attribute names than this stay in _dynamodb_json

UNSUPPORTED_COLUMN = (
    "One or more parameter values were invalid: column {column} has the Arrow type {arrow_type}, "
    "which has no DynamoDB attribute type; cast it to a string, a number or binary first"
)
BAD_OTHER_ATTRIBUTES = (
    "One or more parameter values were invalid: the " + OTHER_ATTRIBUTES_COLUMN + " column must "
    "hold a JSON map of attribute names to DynamoDB JSON attribute values"
)
BAD_DOCUMENT = (
    "One or more parameter values were invalid: column {column} must hold DynamoDB JSON text"
)
DUPLICATE_ATTRIBUTE = (
    "One or more parameter values were invalid: attribute {name} is given both as a column and "
    "in " + OTHER_ATTRIBUTES_COLUMN
)
NOT_A_NUMBER = "The parameter cannot be converted to a numeric value: {text}"


# --- DynamoDB JSON (the wire form: binaries in base64) ------------------------------------------


def to_json_value(value: Mapping[str, Any]) -> Any:
    """An attribute value (internal form: binaries are bytes) in DynamoDB JSON's form."""
    ((tag, payload),) = value.items()
    if tag == "B":
        return {"B": base64.b64encode(payload).decode("ascii")}
    if tag == "BS":
        return {"BS": [base64.b64encode(member).decode("ascii") for member in payload]}
    if tag == "L":
        return {"L": [to_json_value(element) for element in payload]}
    if tag == "M":
        return {"M": {name: to_json_value(element) for name, element in payload.items()}}
    return {tag: payload}


def from_json_value(value: Any) -> Any:
    """The inverse of ``to_json_value``; anything malformed is left for validation to refuse
    (strict base64 only: a bad binary is refused here, as the wire endpoint refuses it)."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((tag, payload),) = value.items()
    try:
        if tag == "B" and isinstance(payload, str):
            return {"B": base64.b64decode(payload, validate=True)}
        if tag == "BS" and isinstance(payload, list):
            return {"BS": [base64.b64decode(m, validate=True) for m in payload]}
    except (ValueError, TypeError):
        raise ValidationException(BAD_OTHER_ATTRIBUTES) from None
    if tag == "L" and isinstance(payload, list):
        return {"L": [from_json_value(element) for element in payload]}
    if tag == "M" and isinstance(payload, dict):
        return {"M": {name: from_json_value(element) for name, element in payload.items()}}
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- columns ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One attribute's column: its DynamoDB type, and for numbers the decimal scale (None for
    the text form)."""

    name: str
    dynamo_type: str
    scale: int | None = None

    def arrow_type(self) -> pa.DataType:
        number = pa.string() if self.scale is None else pa.decimal128(NUMBER_DIGITS_MAX, self.scale)
        return {
            "S": pa.string(),
            "B": pa.binary(),
            "BOOL": pa.bool_(),
            "NULL": pa.bool_(),
            "N": number,
            "SS": pa.list_(pa.string()),
            "BS": pa.list_(pa.binary()),
            "NS": pa.list_(number),
            "L": pa.string(),
            "M": pa.string(),
        }[self.dynamo_type]

    def field(self) -> pa.Field:
        return pa.field(
            self.name, self.arrow_type(), metadata={TYPE_METADATA_KEY: self.dynamo_type}
        )

    def cell(self, value: Mapping[str, Any]) -> tuple[bool, Any]:
        """(fits, the Arrow cell) for one attribute value."""
        ((tag, payload),) = value.items()
        if tag != self.dynamo_type:
            return False, None
        if tag in ("S", "B", "BOOL"):
            return True, payload
        if tag == "NULL":
            return True, True
        if tag == "N":
            return self._number(payload)
        if tag == "NS":
            cells = [self._number(member) for member in payload]
            return all(fits for fits, _ in cells), [cell for _, cell in cells]
        if tag in ("SS", "BS"):
            return True, list(payload)
        return True, _dumps(to_json_value(value)[tag])  # L, M: the list or the map

    def _number(self, text: str) -> tuple[bool, Any]:
        if self.scale is None:
            return True, text
        parts = parse_number(text)
        if parts.is_zero:
            return True, Decimal(0)
        scale = max(0, len(parts.digits) - 1 - parts.adjusted)
        integer_digits = max(0, parts.adjusted + 1)
        if scale > self.scale or integer_digits > NUMBER_DIGITS_MAX - self.scale:
            return False, None
        return True, parts_to_decimal(parts)


def _number_scale(texts: Iterable[str]) -> int | None:
    """The decimal scale a column of these numbers needs, or None when they do not fit 38
    digits together (the text form)."""
    scale = integer_digits = 0
    for text in texts:
        parts = parse_number(text)
        if parts.is_zero:
            continue
        scale = max(scale, len(parts.digits) - 1 - parts.adjusted)
        integer_digits = max(integer_digits, parts.adjusted + 1)
    if scale + integer_digits > NUMBER_DIGITS_MAX:
        return None
    return scale


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """The columns of every block of one read, in order, then ``_dynamodb_json``."""

    columns: tuple[Column, ...]

    def schema(self) -> pa.Schema:
        other = pa.field(
            OTHER_ATTRIBUTES_COLUMN,
            pa.string(),
            metadata={TYPE_METADATA_KEY: OTHER_ATTRIBUTES_TYPE},
        )
        return pa.schema([column.field() for column in self.columns] + [other])


def infer_plan(sample: Sequence[Mapping[str, Any]], key: KeySchema) -> ColumnPlan:
    """Columns for the attributes of ``sample`` that have one DynamoDB type there; the key
    attributes always come first (typed by the key schema), the others in name order."""
    types: dict[str, set[str]] = {}
    numbers: dict[str, list[str]] = {}
    for item in sample:
        for name, value in item.items():
            ((tag, payload),) = value.items()
            types.setdefault(name, set()).add(tag)
            if tag == "N":
                numbers.setdefault(name, []).append(payload)
            elif tag == "NS":
                numbers.setdefault(name, []).extend(payload)
    key_types = {key.partition_key: key.partition_type}
    if key.sort_key is not None:
        key_types[key.sort_key] = key.sort_type
    for name, key_type in key_types.items():
        types.setdefault(name, {str(key_type)})
    others = sorted(name for name in types if name not in key_types)
    columns: list[Column] = []
    for name in [*key_types, *others]:
        if len(columns) >= COLUMNS_MAX or name == OTHER_ATTRIBUTES_COLUMN:
            continue
        if len(types[name]) != 1:
            continue  # mixed types: every value stays in _dynamodb_json
        (dynamo_type,) = types[name]
        scale = _number_scale(numbers.get(name, ())) if dynamo_type in ("N", "NS") else None
        columns.append(Column(name, dynamo_type, scale))
    return ColumnPlan(tuple(columns))


def items_to_table(items: Sequence[Mapping[str, Any]], plan: ColumnPlan) -> pa.Table:
    """One block: ``items`` laid out in ``plan``'s columns, the rest in ``_dynamodb_json``."""
    names = {column.name for column in plan.columns}
    cells: list[list[Any]] = [[] for _ in plan.columns]
    others: list[str | None] = []
    for item in items:
        rest: dict[str, Any] = {}
        for index, column in enumerate(plan.columns):
            value = item.get(column.name)
            if value is None:
                cells[index].append(None)
                continue
            fits, cell = column.cell(value)
            cells[index].append(cell if fits else None)
            if not fits:
                rest[column.name] = to_json_value(value)
        for name, value in item.items():
            if name not in names:
                rest[name] = to_json_value(value)
        others.append(_dumps(rest) if rest else None)
    arrays = [
        pa.array(column_cells, type=column.arrow_type())
        for column, column_cells in zip(plan.columns, cells, strict=True)
    ]
    arrays.append(pa.array(others, type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=plan.schema())


# --- Arrow to items -----------------------------------------------------------------------------


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValidationException(NOT_A_NUMBER.format(text=value))
    if isinstance(value, float):
        return repr(value)  # 'nan' and 'inf' are refused by validation, with DynamoDB's words
    return str(value)  # int, Decimal


def _plain_value(value: Any, arrow_type: pa.DataType, column: str) -> dict[str, Any]:
    """A non-null Python value of an Arrow cell as an attribute value, by its Arrow type."""
    if pa.types.is_dictionary(arrow_type):
        return _plain_value(value, arrow_type.value_type, column)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return {"S": value}
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return {"B": value}
    if pa.types.is_fixed_size_binary(arrow_type):
        return {"B": value}
    if pa.types.is_boolean(arrow_type):
        return {"BOOL": value}
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return {"N": _number_text(value)}
    if pa.types.is_decimal(arrow_type):
        return {"N": _number_text(value)}
    if pa.types.is_null(arrow_type):
        return {"NULL": True}
    if _is_list(arrow_type):
        element_type = arrow_type.value_type
        return {"L": [_nested(element, element_type, column) for element in value]}
    if pa.types.is_struct(arrow_type):
        fields = {
            arrow_type.field(i).name: arrow_type.field(i).type for i in range(arrow_type.num_fields)
        }
        return {"M": {name: _nested(value[name], fields[name], column) for name in fields}}
    if pa.types.is_map(arrow_type):
        item_type = arrow_type.item_type
        return {"M": {str(k): _nested(v, item_type, column) for k, v in value}}
    raise ValidationException(UNSUPPORTED_COLUMN.format(column=column, arrow_type=arrow_type))


def _is_list(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


def _nested(value: Any, arrow_type: pa.DataType, column: str) -> dict[str, Any]:
    """A value inside a list, struct or map: a null there is DynamoDB's NULL."""
    return {"NULL": True} if value is None else _plain_value(value, arrow_type, column)


def check_writable(schema: pa.Schema) -> None:
    """Refuse, before any row is converted, a column no attribute type can hold."""
    for field in schema:
        if _declared_type(field) is None:
            _check_arrow_type(field.type, field.name)


def _check_arrow_type(arrow_type: pa.DataType, column: str) -> None:
    if pa.types.is_dictionary(arrow_type) or _is_list(arrow_type):
        _check_arrow_type(arrow_type.value_type, column)
    elif pa.types.is_struct(arrow_type):
        for i in range(arrow_type.num_fields):
            _check_arrow_type(arrow_type.field(i).type, column)
    elif pa.types.is_map(arrow_type):
        _check_arrow_type(arrow_type.item_type, column)
    elif not (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_fixed_size_binary(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    ):
        raise ValidationException(UNSUPPORTED_COLUMN.format(column=column, arrow_type=arrow_type))


def _declared_type(field: pa.Field) -> str | None:
    """The DynamoDB type a column's metadata declares (None: go by the Arrow type)."""
    declared = (field.metadata or {}).get(TYPE_METADATA_KEY)
    if declared is None:
        return None
    text = declared.decode("utf-8", "replace")
    return text if text in (*DYNAMODB_TYPES, OTHER_ATTRIBUTES_TYPE) else None


def _declared_value(value: Any, declared: str, column: str) -> Any:
    """A non-null cell of a column whose metadata declares its DynamoDB type."""
    if declared == "NULL":
        return {"NULL": True}
    if declared in ("L", "M"):
        try:
            return from_json_value({declared: json.loads(value)})
        except (TypeError, ValueError):
            raise ValidationException(BAD_DOCUMENT.format(column=column)) from None
    if declared == "N":
        return {"N": _number_text(value)}
    if declared == "NS":
        return {"NS": [_number_text(member) for member in value]}
    if declared in ("SS", "BS"):
        return {declared: list(value)}
    return {declared: value}  # S, B, BOOL


def _column_values(array: pa.ChunkedArray, field: pa.Field) -> list[Any]:
    """Every cell of one column as an attribute value (None where null)."""
    declared = _declared_type(field)
    values = array.to_pylist()
    if declared is None:
        return [None if v is None else _plain_value(v, field.type, field.name) for v in values]
    return [None if v is None else _declared_value(v, declared, field.name) for v in values]


def _other_attributes(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        raise ValidationException(BAD_OTHER_ATTRIBUTES) from None
    if not isinstance(parsed, dict):
        raise ValidationException(BAD_OTHER_ATTRIBUTES)
    return {name: from_json_value(value) for name, value in parsed.items()}


def table_to_items(table: pa.Table) -> list[Item]:
    """The items of one block, column by column (see the module docstring for the rules)."""
    columns: list[tuple[str, list[Any]]] = []
    other: list[Any] | None = None
    for field, array in zip(table.schema, table.columns, strict=True):
        if field.name == OTHER_ATTRIBUTES_COLUMN and _declared_type(field) in (
            None,
            OTHER_ATTRIBUTES_TYPE,
        ):
            other = array.to_pylist()
            continue
        columns.append((field.name, _column_values(array, field)))
    items: list[Item] = []
    for row in range(table.num_rows):
        item: Item = {}
        for name, values in columns:
            value = values[row]
            if value is not None:
                item[name] = value
        if other is not None and other[row] is not None:
            for name, value in _other_attributes(other[row]).items():
                if name in item:
                    raise ValidationException(DUPLICATE_ATTRIBUTE.format(name=name))
                item[name] = value
        items.append(item)
    return items
