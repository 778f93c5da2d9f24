"""The one wire form of bound expressions: conditions and updates as replicas receive them.

Role: a request's write condition (ConditionExpression, or legacy Expected), its update
(UpdateExpression, or legacy AttributeUpdates) and its read filter (FilterExpression, or legacy
QueryFilter/ScanFilter) are *bound* once at the router: placeholders resolved (attribute names as
text, list indexes as ints), values inlined. The result is a small tree of lists that msgpack
carries as is; a replica decodes it into the trees of ``nodes.py`` with literal names and
generated value placeholders (``:w0``, ``:w1``, ...), and evaluates them with the same code the
router validated them with (``condition.bind_condition``, ``update.apply_update``). Replicas never
parse expression text and never see the request's placeholder maps.

A bound expression is its *shape* (the tree with names resolved, each constant replaced by its
slot number), packed as msgpack bytes, next to its *slots* (the constants, in order). Requests
with the same expression share a shape, so a replica decodes each shape once
(``SHAPE_CACHE_ENTRIES_MAX``, like the parse cache the router keeps on expression text) and only
fills the slots per write::

    condition = [shape, [AttributeValue, ...]]
    update    = [legacy, shape, [AttributeValue, ...]]   legacy: 1 when from AttributeUpdates

    condition shape = ["and", [c, ...]] | ["or", [c, ...]] | ["not", c]
                    | ["cmp", "<" | "<=" | ..., operand, operand] | ["between", o, low, high]
                    | ["in", operand, [operand, ...]] | ["fn", name, [operand, ...]]
    operand         = ["path", [name, index | name, ...]] | ["value", slot]
                    | ["fn", name, [operand, ...]]              (size; if_not_exists, list_append)
                    | ["arith", "+" | "-", operand, operand]    (the right-hand side of SET only)
    update shape    = [action, ...]
    action          = ["set", path, operand] | ["remove", path]
                    | ["add", path, slot, legacy] | ["delete", path, slot]

The tags are part of the stored command format (``partition/item_writes.py`` versions it): add
tags, never change what one means.

Invariants: ``encode_*`` takes trees that ``validate.py`` accepted for the same names and values;
``decode_*`` raises only ``ValueError`` for any malformed input (a router bug, never user input)
and only returns trees that evaluation handles without raising on validated values. Pure: must
not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgpack

from raydynamo.api.expressions.condition import Predicate, bind_condition
from raydynamo.api.expressions.nodes import (
    COMPARATORS,
    AddAction,
    And,
    Arithmetic,
    Between,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCall,
    In,
    Index,
    Name,
    Not,
    Operand,
    Or,
    Path,
    RemoveAction,
    SetAction,
    SetValue,
    UpdateAction,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.expressions.paths import resolve_path

AttributeValue = Mapping[str, Any]
WireCondition = list[Any]
WireUpdate = list[Any]

# Boolean functions and their operand counts; ``size`` is the only function an operand may be.
_CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
_OPERAND_FUNCTIONS = {"size": 1}
_SET_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
SHAPE_CACHE_ENTRIES_MAX = 4096


# --- encoding (the router) ----------------------------------------------------------------------


def encode_condition(
    condition: Condition, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> WireCondition:
    """A validated condition tree, names resolved and values inlined (as slots)."""
    slots: list[AttributeValue] = []
    shape = _Encoder(names, values, slots).condition(condition)
    return [msgpack.packb(shape, use_bin_type=True), slots]


def encode_update(
    update: UpdateExpression,
    names: Mapping[str, str],
    values: Mapping[str, AttributeValue],
    *,
    legacy: bool = False,
) -> WireUpdate:
    """A validated update, names resolved and values inlined; ``legacy`` for AttributeUpdates."""
    slots: list[AttributeValue] = []
    encoder = _Encoder(names, values, slots)
    shape = [encoder.action(action) for action in update.actions]
    return [int(legacy), msgpack.packb(shape, use_bin_type=True), slots]


class _Encoder:
    def __init__(
        self,
        names: Mapping[str, str],
        values: Mapping[str, AttributeValue],
        slots: list[AttributeValue],
    ) -> None:
        self.names = names
        self.values = values
        self.slots = slots

    def slot(self, ref: ValueRef) -> int:
        self.slots.append(dict(self.values[ref.placeholder]))
        return len(self.slots) - 1

    def condition(self, condition: Condition) -> list[Any]:
        if isinstance(condition, And | Or):
            tag = "and" if isinstance(condition, And) else "or"
            return [tag, [self.condition(c) for c in condition.conditions]]
        if isinstance(condition, Not):
            return ["not", self.condition(condition.operand)]
        if isinstance(condition, Comparison):
            return [
                "cmp",
                condition.operator,
                self.operand(condition.left),
                self.operand(condition.right),
            ]
        if isinstance(condition, Between):
            parts = (condition.operand, condition.low, condition.high)
            return ["between", *[self.operand(p) for p in parts]]
        if isinstance(condition, In):
            candidates = [self.operand(c) for c in condition.candidates]
            return ["in", self.operand(condition.operand), candidates]
        assert isinstance(condition, FunctionCall), condition
        return ["fn", condition.name, [self.operand(a) for a in condition.args]]

    def operand(self, operand: Operand | Arithmetic) -> list[Any]:
        if isinstance(operand, Path):
            return ["path", list(resolve_path(operand, self.names))]
        if isinstance(operand, ValueRef):
            return ["value", self.slot(operand)]
        if isinstance(operand, Arithmetic):
            return [
                "arith",
                operand.operator,
                self.operand(operand.left),
                self.operand(operand.right),
            ]
        return ["fn", operand.name, [self.operand(a) for a in operand.args]]

    def action(self, action: UpdateAction) -> list[Any]:
        path = list(resolve_path(action.path, self.names))
        if isinstance(action, SetAction):
            return ["set", path, self.operand(action.value)]
        if isinstance(action, RemoveAction):
            return ["remove", path]
        if isinstance(action, AddAction):
            return ["add", path, self.slot(action.value), int(action.legacy)]
        return ["delete", path, self.slot(action.value)]


# --- decoding (the replica) ---------------------------------------------------------------------


def decode_condition(wire: object) -> tuple[Condition, dict[str, AttributeValue]]:
    """Invert ``encode_condition``: a tree with literal names, and the values it refers to."""
    try:
        shape, slots = wire  # type: ignore[misc]
        tree, slot_count = _condition_shape(_shape_bytes(shape))
        return tree, _slot_values(slots, slot_count)
    except ValueError:
        raise
    except (LookupError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed condition: {type(exc).__name__}") from None


def condition_predicate(wire: object) -> Predicate:
    """A predicate over items for an encoded condition (``ValueError`` when it is malformed)."""
    condition, values = decode_condition(wire)
    return bind_condition(condition, {}, values)


@dataclass(frozen=True, slots=True)
class DecodedUpdate:
    """An encoded update as ``update.apply_update`` takes it (``names`` are always empty)."""

    tree: UpdateExpression
    values: dict[str, AttributeValue]
    legacy: bool  # it came from AttributeUpdates (errors are worded differently)

    @property
    def only_deletes(self) -> bool:
        """True when every action removes something (REMOVE, or DELETE from a set)."""
        actions = self.tree.actions
        return bool(actions) and all(isinstance(a, RemoveAction | DeleteAction) for a in actions)


def decode_update(wire: object) -> DecodedUpdate:
    """Invert ``encode_update`` (``ValueError`` when the input is malformed)."""
    try:
        legacy, shape, slots = wire  # type: ignore[misc]
        tree, slot_count = _update_shape(_shape_bytes(shape))
        values = _slot_values(slots, slot_count)
    except ValueError:
        raise
    except (LookupError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed update: {type(exc).__name__}") from None
    if type(legacy) is not int or legacy not in (0, 1):
        raise ValueError(f"malformed update: legacy flag {legacy!r}")
    return DecodedUpdate(tree, values, bool(legacy))


def _shape_bytes(shape: object) -> bytes:
    if type(shape) is not bytes:
        raise ValueError(f"a shape is msgpack bytes, not {type(shape).__name__}")
    return shape


def _slot_values(slots: Any, slot_count: int) -> dict[str, AttributeValue]:
    if type(slots) is not list or len(slots) != slot_count:
        raise ValueError(f"the shape has {slot_count} slots, the wire {len(slots)}")
    values: dict[str, AttributeValue] = {}
    for index, value in enumerate(slots):
        if type(value) is not dict or len(value) != 1:
            raise ValueError(f"not an attribute value: {value!r:.80}")
        values[_PLACEHOLDERS[index] if index < len(_PLACEHOLDERS) else f":w{index}"] = value
    return values


_PLACEHOLDERS = tuple(f":w{index}" for index in range(64))


class _ShapeDecoder:
    """Decodes one shape; counts its slots (each must appear once, numbered from 0)."""

    def __init__(self) -> None:
        self.slots_seen: list[int] = []

    def value(self, slot: Any) -> ValueRef:
        if type(slot) is not int or slot != len(self.slots_seen):
            raise ValueError(f"slot {slot!r} out of order")
        self.slots_seen.append(slot)
        return ValueRef(_PLACEHOLDERS[slot] if slot < len(_PLACEHOLDERS) else f":w{slot}")


def _unpack_shape(shape: bytes) -> Any:
    try:
        return msgpack.unpackb(shape, raw=False)
    except Exception as exc:  # msgpack raises several types for corrupt bytes
        raise ValueError(f"undecodable shape: {type(exc).__name__}") from None


@lru_cache(maxsize=SHAPE_CACHE_ENTRIES_MAX)
def _condition_shape(shape: bytes) -> tuple[Condition, int]:
    decoder = _ShapeDecoder()
    try:
        tree = _condition(_unpack_shape(shape), decoder)
    except ValueError:
        raise
    except (LookupError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed condition: {type(exc).__name__}") from None
    return tree, len(decoder.slots_seen)


@lru_cache(maxsize=SHAPE_CACHE_ENTRIES_MAX)
def _update_shape(shape: bytes) -> tuple[UpdateExpression, int]:
    decoder = _ShapeDecoder()
    try:
        actions = tuple([_action(raw, decoder) for raw in _unpack_shape(shape)])
    except ValueError:
        raise
    except (LookupError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed update: {type(exc).__name__}") from None
    return UpdateExpression(actions, ()), len(decoder.slots_seen)


# Decoding unpacks the lists directly (a wrong length or type raises, and the entry points turn
# that into ValueError): it runs on every replica for every write, so it avoids helper calls.


def _condition(wire: Any, values: _ShapeDecoder) -> Condition:
    tag = wire[0]
    if tag == "cmp":
        _, operator, left, right = wire
        if operator not in COMPARATORS:
            raise ValueError(f"unknown comparator {operator!r}")
        return Comparison(operator, _operand(left, values), _operand(right, values))
    if tag == "and" or tag == "or":
        _, raw_parts = wire
        parts = tuple([_condition(c, values) for c in raw_parts])
        if len(parts) < 2:
            raise ValueError(f"{tag} needs two or more conditions")
        return And(parts) if tag == "and" else Or(parts)
    if tag == "fn":
        return _call(wire, values, _CONDITION_FUNCTIONS)
    if tag == "not":
        _, operand = wire
        return Not(_condition(operand, values))
    if tag == "between":
        _, operand, low, high = wire
        return Between(_operand(operand, values), _operand(low, values), _operand(high, values))
    if tag == "in":
        _, operand, raw_candidates = wire
        candidates = tuple([_operand(c, values) for c in raw_candidates])
        if not candidates:
            raise ValueError("IN needs at least one candidate")
        return In(_operand(operand, values), candidates)
    raise ValueError(f"unknown condition tag {tag!r}")


def _call(wire: Any, values: _ShapeDecoder, functions: Mapping[str, int]) -> FunctionCall:
    _, name, raw_args = wire
    args = tuple([_operand(a, values) for a in raw_args])
    if functions.get(name) != len(args):
        raise ValueError(f"function {name!r} with {len(args)} operands")
    return FunctionCall(name, args)


def _path(elements: Any) -> Path:
    out: list[Name | Index] = []
    for element in elements:
        kind = type(element)
        if kind is str:
            out.append(Name(element))
        elif kind is int and element >= 0 and out:
            out.append(Index(element))
        else:
            raise ValueError(f"a path is a name, then names and indexes: {elements!r:.80}")
    if not out:
        raise ValueError("an empty path")
    return Path(tuple(out))


def _operand(wire: Any, values: _ShapeDecoder) -> Operand:
    tag, argument, *rest = wire
    if tag == "path" and not rest:
        return _path(argument)
    if tag == "value" and not rest:
        return values.value(argument)
    if tag == "fn":
        return _call(wire, values, _OPERAND_FUNCTIONS)
    raise ValueError(f"unknown operand tag {tag!r}")


def _set_operand(wire: Any, values: _ShapeDecoder) -> Operand:
    if wire[0] != "fn":
        return _operand(wire, values)
    _, name, raw_args = wire
    args = tuple([_set_operand(a, values) for a in raw_args])
    if _SET_FUNCTIONS.get(name) != len(args):
        raise ValueError(f"function {name!r} with {len(args)} operands")
    if name == "if_not_exists" and not isinstance(args[0], Path):
        raise ValueError("if_not_exists reads a document path")
    return FunctionCall(name, args)


def _set_value(wire: Any, values: _ShapeDecoder) -> SetValue:
    if wire[0] != "arith":
        return _set_operand(wire, values)
    _, operator, left, right = wire
    if operator not in ("+", "-"):
        raise ValueError(f"unknown arithmetic operator {operator!r}")
    return Arithmetic(operator, _set_operand(left, values), _set_operand(right, values))


def _action(wire: Any, values: _ShapeDecoder) -> UpdateAction:
    tag = wire[0]
    if tag == "set":
        _, path, value = wire
        return SetAction(_path(path), _set_value(value, values))
    if tag == "remove":
        _, path = wire
        return RemoveAction(_path(path))
    if tag == "add":
        _, path, value, legacy = wire
        return AddAction(_path(path), values.value(value), legacy=bool(legacy))
    if tag == "delete":
        _, path, value = wire
        return DeleteAction(_path(path), values.value(value))
    raise ValueError(f"unknown update action {tag!r}")


__all__ = [
    "DecodedUpdate",
    "WireCondition",
    "WireUpdate",
    "condition_predicate",
    "decode_condition",
    "decode_update",
    "encode_condition",
    "encode_update",
]
