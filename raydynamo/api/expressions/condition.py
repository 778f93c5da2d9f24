"""Evaluating ConditionExpression / FilterExpression trees against an item.

Role: DynamoDB's semantics of a validated condition. ``bind_condition`` resolves placeholders
once per request and returns a predicate that a scan or query can call for every item;
``evaluate_condition`` is the one-shot form.

Semantics (DynamoDB developer guide, "Condition and filter expressions, operators, and
functions"), all without raising:

- a missing attribute makes ``=``, ``<``, ``<=``, ``>``, ``>=``, BETWEEN, IN and the functions
  false, and ``<>`` true; ``attribute_not_exists`` is true;
- values of different types are never equal and never ordered (false, not an error); ordering
  exists only between two S (UTF-8 bytes), two N (value) or two B (bytes);
- ``size``: S -> UTF-16 code units (what DynamoDB counts, verified by ExtendDB against AWS),
  B -> bytes, sets/L -> elements, M -> entries; N, BOOL and NULL have no size (false);
- ``contains(a, b)``: substring of S or B, member of SS/NS/BS, element of L;
- ``begins_with(a, b)``: prefix, for two S or two B;
- ``attribute_type(a, :t)``: the type tag of ``a`` equals ``:t``.

Invariants: evaluation never mutates the item; it expects a tree that ``validate.py`` accepted
for the same names and values. Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from raydynamo.api.expressions.nodes import (
    And,
    Between,
    Comparison,
    Condition,
    FunctionCall,
    In,
    Not,
    Operand,
    Or,
    Path,
)
from raydynamo.api.expressions.paths import get_path, resolve_path
from raydynamo.api.values import compare_scalars, value_type, values_equal

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]
Getter = Callable[[Item], AttributeValue | None]
Predicate = Callable[[Item], bool]


def evaluate_condition(
    condition: Condition,
    item: Item | None,
    names: Mapping[str, str],
    values: Mapping[str, AttributeValue],
) -> bool:
    """True when ``item`` (None or {} for an absent item) satisfies ``condition``."""
    return bind_condition(condition, names, values)(item or {})


def bind_condition(
    condition: Condition, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> Predicate:
    """A predicate over items with the request's placeholders already substituted."""
    if isinstance(condition, And):
        parts = [bind_condition(c, names, values) for c in condition.conditions]
        return lambda item: all(part(item) for part in parts)
    if isinstance(condition, Or):
        parts = [bind_condition(c, names, values) for c in condition.conditions]
        return lambda item: any(part(item) for part in parts)
    if isinstance(condition, Not):
        inner = bind_condition(condition.operand, names, values)
        return lambda item: not inner(item)
    if isinstance(condition, Comparison):
        return _bind_comparison(condition, names, values)
    if isinstance(condition, Between):
        return _bind_between(condition, names, values)
    if isinstance(condition, In):
        operand = bind_operand(condition.operand, names, values)
        candidates = [bind_operand(c, names, values) for c in condition.candidates]
        return lambda item: _in(operand(item), [c(item) for c in candidates])
    return _bind_function(condition, names, values)


def bind_operand(
    operand: Operand, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> Getter:
    """A function reading the operand's value from an item (None when it has none)."""
    if isinstance(operand, Path):
        path = resolve_path(operand, names)
        return lambda item: get_path(item, path)
    if isinstance(operand, FunctionCall):
        assert operand.name == "size", operand.name
        inner = bind_operand(operand.args[0], names, values)
        return lambda item: size_of(inner(item))
    constant = values[operand.placeholder]
    return lambda item: constant


def size_of(value: AttributeValue | None) -> AttributeValue | None:
    """DynamoDB's ``size()`` as a number value, or None for types without a size."""
    if value is None:
        return None
    tag = value_type(value)
    payload = value[tag]
    if tag == "S":
        count = len(payload.encode("utf-16-le", "surrogatepass")) // 2
    elif tag in ("B", "SS", "NS", "BS", "L", "M"):
        count = len(payload)
    else:
        return None
    return {"N": str(count)}


def _ordered(operator: str, order: int) -> bool:
    if operator == "<":
        return order < 0
    if operator == "<=":
        return order <= 0
    if operator == ">":
        return order > 0
    return order >= 0


def compare(operator: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """``left <operator> right`` with DynamoDB's treatment of missing and mismatched values."""
    if operator in ("=", "<>"):
        equal = left is not None and right is not None and values_equal(left, right)
        return equal if operator == "=" else not equal
    if left is None or right is None:
        return False
    order = compare_scalars(left, right)
    return order is not None and _ordered(operator, order)


def _bind_comparison(
    condition: Comparison, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> Predicate:
    left = bind_operand(condition.left, names, values)
    right = bind_operand(condition.right, names, values)
    operator = condition.operator
    return lambda item: compare(operator, left(item), right(item))


def between(
    value: AttributeValue | None, low: AttributeValue | None, high: AttributeValue | None
) -> bool:
    """``value BETWEEN low AND high``, inclusive, false across types or when anything is missing."""
    if value is None or low is None or high is None:
        return False
    above = compare_scalars(value, low)
    below = compare_scalars(value, high)
    return above is not None and below is not None and above >= 0 and below <= 0


def _bind_between(
    condition: Between, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> Predicate:
    operand = bind_operand(condition.operand, names, values)
    low = bind_operand(condition.low, names, values)
    high = bind_operand(condition.high, names, values)
    return lambda item: between(operand(item), low(item), high(item))


def _in(value: AttributeValue | None, candidates: list[AttributeValue | None]) -> bool:
    if value is None:
        return False
    return any(c is not None and values_equal(value, c) for c in candidates)


def begins_with(value: AttributeValue | None, prefix: AttributeValue | None) -> bool:
    """True when two S (or two B) values start with the prefix."""
    if value is None or prefix is None:
        return False
    tag = value_type(value)
    if tag != value_type(prefix) or tag not in ("S", "B"):
        return False
    if tag == "S":
        return bool(value["S"].startswith(prefix["S"]))
    return bytes(value["B"]).startswith(bytes(prefix["B"]))


def contains(container: AttributeValue | None, operand: AttributeValue | None) -> bool:
    """DynamoDB's ``contains``: substring (S, B), set member (SS, NS, BS) or list element (L)."""
    if container is None or operand is None:
        return False
    tag, operand_tag = value_type(container), value_type(operand)
    payload, wanted = container[tag], operand[operand_tag]
    if tag == "S" and operand_tag == "S":
        return wanted in payload
    if tag == "B" and operand_tag == "B":
        return bytes(wanted) in bytes(payload)
    if tag == "L":
        return any(values_equal(element, operand) for element in payload)
    member_tag = {"SS": "S", "NS": "N", "BS": "B"}.get(tag)
    if member_tag is None or member_tag != operand_tag:
        return False
    return any(values_equal({member_tag: member}, operand) for member in payload)


def _bind_function(
    call: FunctionCall, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> Predicate:
    args = [bind_operand(arg, names, values) for arg in call.args]
    name = call.name
    if name == "attribute_exists":
        return lambda item: args[0](item) is not None
    if name == "attribute_not_exists":
        return lambda item: args[0](item) is None
    if name == "attribute_type":
        return lambda item: _has_type(args[0](item), args[1](item))
    if name == "begins_with":
        return lambda item: begins_with(args[0](item), args[1](item))
    if name == "contains":
        return lambda item: contains(args[0](item), args[1](item))
    raise AssertionError(f"not a condition function: {name}")


def _has_type(value: AttributeValue | None, type_name: AttributeValue | None) -> bool:
    if value is None or type_name is None:
        return False
    return value_type(value) == type_name.get("S")
