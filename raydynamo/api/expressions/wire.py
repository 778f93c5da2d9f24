"""The one wire form of bound expressions: conditions and updates as replicas receive them.

Role: a request's write condition (ConditionExpression, or legacy Expected), its update
(UpdateExpression, or legacy AttributeUpdates) and its read filter (FilterExpression, or legacy
QueryFilter/ScanFilter) are *bound* once at the router: placeholders resolved (attribute names as
text, list indexes as ints), values inlined. The result is a small tree of lists that msgpack
carries as is; a replica decodes it into the trees of ``nodes.py`` with literal names and
generated value placeholders (``:w0``, ``:w1``, ...), and evaluates them with the same code the
router validated them with (``condition.bind_condition``, ``update.apply_update``). Replicas never
parse expression text and never see the request's placeholder maps.

Encoding::

    condition = ["and", [condition, ...]] | ["or", [condition, ...]] | ["not", condition]
              | ["cmp", "<" | "<=" | ..., operand, operand] | ["between", operand, low, high]
              | ["in", operand, [operand, ...]] | ["fn", name, [operand, ...]]
    operand   = ["path", [name, index | name, ...]] | ["value", AttributeValue]
              | ["fn", name, [operand, ...]]              (size; if_not_exists, list_append)
              | ["arith", "+" | "-", operand, operand]    (the right-hand side of SET only)
    update    = [legacy, [action, ...]]    legacy: 1 when it came from AttributeUpdates
    action    = ["set", path, operand] | ["remove", path]
              | ["add", path, AttributeValue, legacy] | ["delete", path, AttributeValue]

The tags are part of the stored command format (``partition/item_writes.py`` versions it): add
tags, never change what one means.

Invariants: ``encode_*`` takes trees that ``validate.py`` accepted for the same names and values;
``decode_*`` raises only ``ValueError`` for any malformed input (a router bug, never user input)
and only returns trees that evaluation handles without raising on validated values. Pure: must
not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# --- encoding (the router) ----------------------------------------------------------------------


def encode_condition(
    condition: Condition, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> WireCondition:
    """A validated condition tree, names resolved and values inlined."""
    if isinstance(condition, And | Or):
        tag = "and" if isinstance(condition, And) else "or"
        return [tag, [encode_condition(c, names, values) for c in condition.conditions]]
    if isinstance(condition, Not):
        return ["not", encode_condition(condition.operand, names, values)]
    if isinstance(condition, Comparison):
        left = _encode_operand(condition.left, names, values)
        return ["cmp", condition.operator, left, _encode_operand(condition.right, names, values)]
    if isinstance(condition, Between):
        parts = (condition.operand, condition.low, condition.high)
        return ["between", *[_encode_operand(p, names, values) for p in parts]]
    if isinstance(condition, In):
        candidates = [_encode_operand(c, names, values) for c in condition.candidates]
        return ["in", _encode_operand(condition.operand, names, values), candidates]
    assert isinstance(condition, FunctionCall), condition
    return ["fn", condition.name, [_encode_operand(a, names, values) for a in condition.args]]


def _encode_operand(
    operand: Operand | Arithmetic, names: Mapping[str, str], values: Mapping[str, AttributeValue]
) -> list[Any]:
    if isinstance(operand, Path):
        return ["path", list(resolve_path(operand, names))]
    if isinstance(operand, ValueRef):
        return ["value", dict(values[operand.placeholder])]
    if isinstance(operand, Arithmetic):
        left = _encode_operand(operand.left, names, values)
        return ["arith", operand.operator, left, _encode_operand(operand.right, names, values)]
    return ["fn", operand.name, [_encode_operand(a, names, values) for a in operand.args]]


def encode_update(
    update: UpdateExpression,
    names: Mapping[str, str],
    values: Mapping[str, AttributeValue],
    *,
    legacy: bool = False,
) -> WireUpdate:
    """A validated update, names resolved and values inlined; ``legacy`` for AttributeUpdates."""
    actions: list[list[Any]] = []
    for action in update.actions:
        path = list(resolve_path(action.path, names))
        if isinstance(action, SetAction):
            actions.append(["set", path, _encode_operand(action.value, names, values)])
        elif isinstance(action, RemoveAction):
            actions.append(["remove", path])
        elif isinstance(action, AddAction):
            value = dict(values[action.value.placeholder])
            actions.append(["add", path, value, int(action.legacy)])
        else:
            actions.append(["delete", path, dict(values[action.value.placeholder])])
    return [int(legacy), actions]


# --- decoding (the replica) ---------------------------------------------------------------------


def decode_condition(wire: object) -> tuple[Condition, dict[str, AttributeValue]]:
    """Invert ``encode_condition``: a tree with literal names, and the values it refers to."""
    values: dict[str, AttributeValue] = {}
    try:
        return _condition(wire, values), values
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
    values: dict[str, AttributeValue] = {}
    try:
        legacy, raw_actions = _sequence(wire, 2)
        actions = tuple(_action(raw, values) for raw in _sequence(raw_actions))
    except (LookupError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"malformed update: {type(exc).__name__}") from None
    if legacy not in (0, 1):
        raise ValueError(f"malformed update: legacy flag {legacy!r}")
    return DecodedUpdate(UpdateExpression(actions, ()), values, bool(legacy))


def _sequence(wire: object, length: int | None = None) -> Sequence[Any]:
    if not isinstance(wire, list | tuple) or (length is not None and len(wire) != length):
        raise ValueError(f"expected a list of {length or 'any'} elements, got {wire!r:.80}")
    return wire


def _condition(wire: object, values: dict[str, AttributeValue]) -> Condition:
    tag = _sequence(wire)[0]
    assert isinstance(wire, list | tuple)
    if tag in ("and", "or"):
        _sequence(wire, 2)
        parts = tuple(_condition(c, values) for c in _sequence(wire[1]))
        if len(parts) < 2:
            raise ValueError(f"{tag} needs two or more conditions")
        return And(parts) if tag == "and" else Or(parts)
    if tag == "not":
        return Not(_condition(_sequence(wire, 2)[1], values))
    if tag == "cmp":
        _, operator, left, right = _sequence(wire, 4)
        if operator not in COMPARATORS:
            raise ValueError(f"unknown comparator {operator!r}")
        return Comparison(operator, _operand(left, values), _operand(right, values))
    if tag == "between":
        _, operand, low, high = _sequence(wire, 4)
        return Between(_operand(operand, values), _operand(low, values), _operand(high, values))
    if tag == "in":
        _, operand, candidates = _sequence(wire, 3)
        decoded = tuple(_operand(c, values) for c in _sequence(candidates))
        if not decoded:
            raise ValueError("IN needs at least one candidate")
        return In(_operand(operand, values), decoded)
    if tag == "fn":
        return _call(wire, values, _CONDITION_FUNCTIONS)  # type: ignore[return-value]
    raise ValueError(f"unknown condition tag {tag!r}")


def _call(
    wire: Sequence[Any], values: dict[str, AttributeValue], functions: Mapping[str, int]
) -> FunctionCall:
    _, name, raw_args = _sequence(wire, 3)
    args = tuple(_operand(a, values) for a in _sequence(raw_args))
    if functions.get(name) != len(args):
        raise ValueError(f"function {name!r} with {len(args)} operands")
    return FunctionCall(name, args)


def _path(wire: object) -> Path:
    elements = _sequence(wire)
    if not elements or not isinstance(elements[0], str):
        raise ValueError(f"a path starts with an attribute name: {elements!r:.80}")
    out: list[Name | Index] = []
    for element in elements:
        if isinstance(element, str):
            out.append(Name(element))
        elif isinstance(element, int) and not isinstance(element, bool) and element >= 0:
            out.append(Index(element))
        else:
            raise ValueError(f"a path element is a name or an index: {element!r:.80}")
    return Path(tuple(out))


def _value(wire: object, values: dict[str, AttributeValue]) -> ValueRef:
    if not isinstance(wire, Mapping) or len(wire) != 1:
        raise ValueError(f"not an attribute value: {wire!r:.80}")
    placeholder = f":w{len(values)}"
    values[placeholder] = wire
    return ValueRef(placeholder)


def _operand(
    wire: object, values: dict[str, AttributeValue], functions: Mapping[str, int] | None = None
) -> Operand:
    tag = _sequence(wire)[0]
    assert isinstance(wire, list | tuple)
    if tag == "path":
        return _path(_sequence(wire, 2)[1])
    if tag == "value":
        return _value(_sequence(wire, 2)[1], values)
    if tag == "fn":
        return _call(wire, values, functions or _OPERAND_FUNCTIONS)
    raise ValueError(f"unknown operand tag {tag!r}")


def _set_value(wire: object, values: dict[str, AttributeValue]) -> SetValue:
    tag = _sequence(wire)[0]
    assert isinstance(wire, list | tuple)
    if tag == "arith":
        _, operator, left, right = _sequence(wire, 4)
        if operator not in ("+", "-"):
            raise ValueError(f"unknown arithmetic operator {operator!r}")
        return Arithmetic(operator, _set_operand(left, values), _set_operand(right, values))
    return _set_operand(wire, values)


def _set_operand(wire: object, values: dict[str, AttributeValue]) -> Operand:
    tag = _sequence(wire)[0]
    assert isinstance(wire, list | tuple)
    if tag == "fn":
        _, name, raw_args = _sequence(wire, 3)
        args = tuple(_set_operand(a, values) for a in _sequence(raw_args))
        if _SET_FUNCTIONS.get(name) != len(args):
            raise ValueError(f"function {name!r} with {len(args)} operands")
        if name == "if_not_exists" and not isinstance(args[0], Path):
            raise ValueError("if_not_exists reads a document path")
        return FunctionCall(name, args)
    if tag in ("path", "value"):
        return _operand(wire, values)
    raise ValueError(f"unknown SET operand tag {tag!r}")


def _action(wire: object, values: dict[str, AttributeValue]) -> UpdateAction:
    tag = _sequence(wire)[0]
    assert isinstance(wire, list | tuple)
    if tag == "set":
        _, path, value = _sequence(wire, 3)
        return SetAction(_path(path), _set_value(value, values))
    if tag == "remove":
        return RemoveAction(_path(_sequence(wire, 2)[1]))
    if tag == "add":
        _, path, value, legacy = _sequence(wire, 4)
        return AddAction(_path(path), _value(value, values), legacy=bool(legacy))
    if tag == "delete":
        _, path, value = _sequence(wire, 3)
        return DeleteAction(_path(path), _value(value, values))
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
