"""Typed equality and ordering of attribute values, as DynamoDB's conditions and keys see them.

- Equality is typed: values of different types are never equal; numbers compare by value
  (``"1.0"`` equals ``"1"``); sets compare as sets (member order is irrelevant); L compares
  element by element in order, M key by key.
- Ordering exists only between two scalars of the same key type: S by the bytes of their UTF-8
  encoding (the same order as Python's code-point order of ``str``), N by numeric value, B by
  unsigned bytes. Anything else is "not comparable" (``None``), which conditions treat as false.

Invariants: both functions expect validated values (``values.validate_attribute_value``) and
never raise on them. This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raydynamo.api.numbers import parse_number, to_decimal


def value_type(value: Mapping[str, Any]) -> str:
    """The type tag of a valid attribute value: ``"S"``, ``"N"``, ..., ``"BS"``."""
    (tag,) = value
    return tag


def _number_set(members: list[str]) -> set[Any]:
    return {parse_number(member) for member in members}


def values_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """DynamoDB's ``=``: same type and same value (numbers by value, sets as sets, L/M deep)."""
    tag = value_type(a)
    if tag != value_type(b):
        return False
    left, right = a[tag], b[tag]
    if tag == "N":
        return parse_number(left) == parse_number(right)
    if tag == "NS":
        return _number_set(left) == _number_set(right)
    if tag == "SS":
        return set(left) == set(right)
    if tag == "BS":
        return {bytes(m) for m in left} == {bytes(m) for m in right}
    if tag == "L":
        return len(left) == len(right) and all(map(values_equal, left, right))
    if tag == "M":
        return left.keys() == right.keys() and all(
            values_equal(element, right[name]) for name, element in left.items()
        )
    if tag == "B":
        return bytes(left) == bytes(right)
    return bool(left == right)


def compare_scalars(a: Mapping[str, Any], b: Mapping[str, Any]) -> int | None:
    """-1, 0 or 1 ordering two S, two N or two B values; ``None`` when they are not comparable."""
    tag = value_type(a)
    if tag != value_type(b) or tag not in ("S", "N", "B"):
        return None
    left, right = a[tag], b[tag]
    if tag == "N":
        left, right = to_decimal(left), to_decimal(right)
    elif tag == "B":
        left, right = bytes(left), bytes(right)
    return (left > right) - (left < right)
