"""What the read operations (GetItem, BatchGetItem, Query, Scan) share, and only they.

Role: request checks that are the same for several reads, with DynamoDB's wording:

- the constraint errors of IndexName, Limit, AttributesToGet and legacy conditions;
- Select against ProjectionExpression / AttributesToGet / IndexName;
- a ``Key`` (GetItem, BatchGetItem) or an ``ExclusiveStartKey`` (Query, Scan) checked against the
  table's key schema;
- document paths that reach into a key attribute (``Key attributes must be scalars ...``), and
  key attributes in a Query's filter;
- the selection (projection paths) and the filter of a request, compiled once.

Read-only helpers: nothing here performs I/O. Everything raises a ``ClientError`` subclass for bad
input, never another exception. Must not import ray or rocksdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    CompiledExpressions,
    Condition,
    LegacyTranslation,
    Path,
    ResolvedPath,
    projection_paths,
    resolve_path,
    translate_attributes_to_get,
    translate_filter,
)
from raydynamo.api.expressions.validate import walk_condition
from raydynamo.api.expressions.wire import encode_condition
from raydynamo.api.schema import Item, TableSchema
from raydynamo.api.values import validate_attribute_value, value_type
from raydynamo.operations.capacity import consumed_capacity, read_units
from raydynamo.operations.common import ConstraintErrors, validate_key_for
from raydynamo.partition.item_reads import PageResult

# --- limits and messages ------------------------------------------------------------------------

COMPARISON_OPERATORS = (
    "IN", "NULL", "BETWEEN", "LT", "NOT_CONTAINS", "EQ", "GT", "NOT_NULL", "NE", "LE",
    "BEGINS_WITH", "GE", "CONTAINS",
)  # fmt: skip
ATTRIBUTES_TO_GET_MAX = 255
INDEX_NAME_CHARS_MIN = 3
INDEX_NAME_CHARS_MAX = 255
_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+")

START_KEY_INVALID = "The provided starting key is invalid"
KEY_SCHEMA_MISMATCH = "The provided key element does not match the schema"
KEY_PATH_NOT_SCALAR = (
    "Key attributes must be scalars; list random access '[]' and map lookup '.' are not "
    "allowed: Key: "
)  # dynalite's capture of DynamoDB; wording unverified against AWS itself


# --- constraint errors ---------------------------------------------------------------------------


def check_index_name(errors: ConstraintErrors, index_name: object) -> None:
    if index_name is None:
        return
    assert isinstance(index_name, str), "shapes.check_request runs first"
    if not _NAME_RE.fullmatch(index_name):
        errors.add(
            index_name,
            "indexName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        )
    errors.length_min(index_name, "indexName", INDEX_NAME_CHARS_MIN, len(index_name))
    errors.length_max(index_name, "indexName", INDEX_NAME_CHARS_MAX, len(index_name))


def check_attributes_to_get(errors: ConstraintErrors, value: object, member: str) -> None:
    if value is None:
        return
    shown = "[" + ", ".join(str(v) for v in value) + "]"  # type: ignore[attr-defined]
    size = len(value)  # type: ignore[arg-type]
    errors.length_min(shown, member, 1, size)
    errors.length_max(shown, member, ATTRIBUTES_TO_GET_MAX, size)


def check_value_at_least(errors: ConstraintErrors, value: object, member: str, low: int) -> None:
    if isinstance(value, int) and value < low:
        errors.add(value, member, f"Member must have value greater than or equal to {low}")


def check_value_at_most(errors: ConstraintErrors, value: object, member: str, high: int) -> None:
    if isinstance(value, int) and value > high:
        errors.add(value, member, f"Member must have value less than or equal to {high}")


def check_condition_operators(errors: ConstraintErrors, conditions: object, member: str) -> None:
    """``comparisonOperator`` of every legacy condition: present and one of DynamoDB's."""
    for attribute, condition in (conditions or {}).items():  # type: ignore[attr-defined]
        where = f"{member}.{attribute}.member.comparisonOperator"
        operator = condition.get("ComparisonOperator")
        errors.not_null(operator, where)
        errors.enum(operator, where, COMPARISON_OPERATORS)


# --- Select ---------------------------------------------------------------------------------------

_SELECT_TEXT = {
    "ALL_ATTRIBUTES": "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES": "ALL_PROJECTED_ATTRIBUTES",
    "COUNT": "only the Count",
}


def check_select(request: Mapping[str, Any], *, envelope: bool) -> bool:
    """Select against the projection parameters and IndexName; True when Select is COUNT.

    DynamoDB words these the same for Query and Scan, but Query wraps them in the
    ``1 validation error detected: `` envelope and Scan does not (moto's AWS-verified tests).
    """
    select = request.get("Select")
    prefix = "1 validation error detected: " if envelope else ""
    if request.get("ProjectionExpression") is not None:
        selection = "ProjectionExpression"
    elif request.get("AttributesToGet") is not None:
        selection = "AttributesToGet"
    else:
        selection = None
    if select == "SPECIFIC_ATTRIBUTES" and selection is None:
        raise ValidationException(
            f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to "
            "get SPECIFIC_ATTRIBUTES"
        )
    if select in _SELECT_TEXT and selection is not None:
        raise ValidationException(
            f"{prefix}Cannot specify the {selection} when choosing to get {_SELECT_TEXT[select]}"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES" and request.get("IndexName") is None:
        raise ValidationException(
            f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    return select == "COUNT"


def refuse_index(index_name: str | None) -> None:
    """Secondary indexes do not exist yet: every IndexName is an unknown index."""
    if index_name is not None:
        raise ValidationException(f"The table does not have the specified index: {index_name}")


# --- keys -----------------------------------------------------------------------------------------


def check_key_values(key: Mapping[str, Any], parameter: str) -> None:
    """Every attribute value of a Key map is a valid value (before the table is known)."""
    for name, value in key.items():
        validate_attribute_value(value, path=f"{parameter}.{name}")


# TODO(move to common): DeleteItem and UpdateItem answer a Key of the wrong type with the same
# "does not match the schema" message (dynalite's validateKeyPiece); validate_key_for does not.
def read_key(schema: TableSchema, key: Mapping[str, Any]) -> Item:
    """A GetItem/BatchGetItem ``Key`` against the schema; returns it in canonical form.

    Other attribute names, or a value of another type than the schema's, are "The provided key
    element does not match the schema" (dynalite's capture); empty or oversized key values keep
    the messages of ``values.validate_key_attribute``.
    """
    expected = {name: _key_type(schema, name) for name in schema.key.names}
    if set(key) != set(expected):
        raise ValidationException(KEY_SCHEMA_MISMATCH)
    for name, wanted in expected.items():
        if value_type(key[name]) != wanted:
            raise ValidationException(KEY_SCHEMA_MISMATCH)
    return validate_key_for(schema, key)


def _key_type(schema: TableSchema, name: str) -> str:
    key = schema.key
    kind = key.partition_type if name == key.partition_key else key.sort_type
    assert kind is not None
    return kind


def check_start_key_values(start_key: Mapping[str, Any] | None) -> None:
    """ExclusiveStartKey's values, before the table is known: "The provided starting key is
    invalid: <the value's error>" (dynalite's capture)."""
    for name, value in (start_key or {}).items():
        try:
            validate_attribute_value(value, path=f"ExclusiveStartKey.{name}")
        except ValidationException as exc:
            raise ValidationException(f"{START_KEY_INVALID}: {exc.message}") from None


def start_key_for_scan(schema: TableSchema, start_key: Mapping[str, Any]) -> Item:
    """A Scan's ExclusiveStartKey against the schema (every failure names the starting key).

    dynalite's capture ("The provided starting key is invalid: The provided key element does not
    match the schema"); the conformance suite checks only the prefix. # wording unverified
    """
    try:
        return read_key(schema, start_key)
    except ValidationException as exc:
        raise ValidationException(f"{START_KEY_INVALID}: {exc.message}") from None


def start_key_for_query(schema: TableSchema, start_key: Mapping[str, Any]) -> Item:
    """A Query's ExclusiveStartKey against the schema.

    Query words it differently from Scan (the conformance suite's capture): other attribute
    names are the bare "The provided starting key is invalid"; a value of the wrong type is
    "The provided key element does not match the schema" (dynalite; wording unverified);
    empty or oversized values are "The provided starting key is invalid: <message>".
    """
    if set(start_key) != set(schema.key.names):
        raise ValidationException(START_KEY_INVALID)
    for name in schema.key.names:
        if value_type(start_key[name]) != _key_type(schema, name):
            raise ValidationException(KEY_SCHEMA_MISMATCH)
    try:
        return validate_key_for(schema, start_key)
    except ValidationException as exc:
        raise ValidationException(f"{START_KEY_INVALID}: {exc.message}") from None


# --- selection and filter -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadSelection:
    """What a read returns of each item: projection paths, or None for the whole item."""

    paths: tuple[ResolvedPath, ...] | None


def selection_of(
    compiled: CompiledExpressions, attributes_to_get: LegacyTranslation | None
) -> ReadSelection:
    if compiled.projection is not None:
        return ReadSelection(projection_paths(compiled.projection, compiled.names))
    if attributes_to_get is not None:
        tree = attributes_to_get.tree
        assert tree is not None
        return ReadSelection(projection_paths(tree, attributes_to_get.names))  # type: ignore[arg-type]
    return ReadSelection(None)


def translate_attributes(value: object) -> LegacyTranslation | None:
    """AttributesToGet (duplicates refused with DynamoDB's message), or None when absent."""
    if value is None:
        return None
    return translate_attributes_to_get(list(value))  # type: ignore[call-overload]


@dataclass(frozen=True)
class ReadFilter:
    """A request's filter (FilterExpression or QueryFilter/ScanFilter), with its maps."""

    condition: Condition
    names: Mapping[str, str]
    values: Mapping[str, Mapping[str, Any]]
    parameter: str  # "FilterExpression", "QueryFilter" or "ScanFilter"

    def to_wire(self) -> list[Any]:
        return encode_condition(self.condition, self.names, self.values)

    def paths(self) -> list[ResolvedPath]:
        return [
            resolve_path(node, self.names)
            for _, node in walk_condition(self.condition)
            if isinstance(node, Path)
        ]


def translate_legacy_filter(
    conditions: Mapping[str, Any] | None, operator: str | None, parameter: str
) -> ReadFilter | None:
    """QueryFilter / ScanFilter translated (its operand errors raised), or None when absent."""
    if conditions is None:
        return None
    translation = translate_filter(conditions, operator)
    if translation.tree is None:
        return None
    assert not isinstance(translation.tree, (tuple, list))
    return ReadFilter(translation.tree, translation.names, translation.values, parameter)  # type: ignore[arg-type]


def expression_filter(compiled: CompiledExpressions) -> ReadFilter | None:
    if compiled.filter is None:
        return None
    return ReadFilter(compiled.filter, compiled.names, compiled.values, "FilterExpression")


def check_key_paths(schema: TableSchema, paths: Sequence[ResolvedPath]) -> None:
    """Refuse a document path that reaches into a key attribute (``pk.a``, ``pk[0]``)."""
    nested_heads = {path[0] for path in paths if len(path) > 1}
    for name in schema.key.names:
        if name in nested_heads:
            raise ValidationException(f"{KEY_PATH_NOT_SCALAR}{name}")


def check_filter_not_on_key(schema: TableSchema, read_filter: ReadFilter | None) -> None:
    """A Query's filter may not test the table's key attributes (partition key reported first)."""
    if read_filter is None:
        return
    heads = {path[0] for path in read_filter.paths()}
    label = "QueryFilter" if read_filter.parameter == "QueryFilter" else "Filter Expression"
    for name in schema.key.names:
        if name in heads:
            raise ValidationException(
                f"{label} can only contain non-primary key attributes: Primary key attribute: "
                f"{name}"
            )


# --- responses ------------------------------------------------------------------------------------


def page_response(
    page: PageResult, *, count_only: bool, table_name: str, consistent: bool, mode: str | None
) -> dict[str, Any]:
    """DynamoDB's Query/Scan response for a (merged) page."""
    response: dict[str, Any] = {}
    if not count_only:
        response["Items"] = list(page.items)
    response["Count"] = page.count
    response["ScannedCount"] = page.scanned_count
    if page.last_key is not None:
        response["LastEvaluatedKey"] = page.last_key
    units = read_units(page.read_bytes, consistent=consistent)
    capacity = consumed_capacity(mode, table_name, units)
    if capacity is not None:
        response["ConsumedCapacity"] = capacity
    return response
