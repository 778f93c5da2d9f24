"""Applying a validated UpdateExpression to an item.

Role: compute the new item of an UpdateItem, with DynamoDB's semantics (developer guide,
"Update expressions"; behaviours not documented there were observed against DynamoDB by
ScyllaDB's alternator tests):

- every operand is read from the item as it was *before* the update (``SET a = b, b = a`` swaps);
- SET: ``+``/``-`` on numbers only, ``list_append`` on lists only (else "An operand in the update
  expression has an incorrect data type"); reading a missing attribute is "The provided expression
  refers to an attribute that does not exist in the item"; ``if_not_exists(p, v)`` is p's value,
  or v when p is missing; a list index past the end appends (several such SETs append in index
  order);
- REMOVE: list elements shift; indexes refer to the list before the update (removals run after
  the SETs, highest index first); removing a missing leaf is a no-op; on an absent item nothing
  happens at all;
- ADD: number + number, set union of the same set type; a missing attribute is created;
- DELETE: set difference of the same set type; a set that becomes empty is removed; deleting
  from a missing attribute is a no-op;
- a path whose parent is missing or not a map/list: "The document path provided in the update
  expression is invalid for update".

Invariants: never mutates the input item; the new item shares unmodified sub-values with the old
one (copy-on-write along the written paths), so treat both as immutable. Numbers written from
ExpressionAttributeValues are canonicalized. Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions.nodes import (
    AddAction,
    Arithmetic,
    DeleteAction,
    FunctionCall,
    Path,
    RemoveAction,
    ResolvedPath,
    SetAction,
    SetValue,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.expressions.paths import get_path, resolve_path
from raydynamo.api.values import (
    add_numbers,
    canonical_number,
    canonicalize,
    subtract_numbers,
    value_type,
)

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]

INCORRECT_DATA_TYPE = "An operand in the update expression has an incorrect data type"
MISSING_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
INVALID_PATH = "The document path provided in the update expression is invalid for update"
KEY_UPDATE = "One or more parameter values were invalid: Cannot update attribute {}. This attribute is part of the key"  # noqa: E501


@dataclass(frozen=True)
class UpdateResult:
    """The new item, and the paths the update wrote (for UPDATED_OLD / UPDATED_NEW)."""

    item: dict[str, AttributeValue]
    updated_paths: tuple[ResolvedPath, ...]


def key_update_error(
    update: UpdateExpression, names: Mapping[str, str], key_names: tuple[str, ...]
) -> None:
    """Refuse an update that would write a key attribute (or a path inside one)."""
    for action in update.actions:
        top = resolve_path(action.path, names)[0]
        if top in key_names:
            raise ValidationException(KEY_UPDATE.format(top))


def apply_update(
    update: UpdateExpression,
    item: Item | None,
    names: Mapping[str, str],
    values: Mapping[str, AttributeValue],
) -> UpdateResult:
    """The item after ``update``; ``item`` is None when no item exists under the key yet."""
    old: Item = item or {}
    new: dict[str, Any] = dict(old)
    targets = [(action, resolve_path(action.path, names)) for action in update.actions]
    # Operands read the old item, so evaluate every SET value before writing anything.
    set_values = [
        (path, _set_value(action.value, old, names, values))
        for action, path in targets
        if isinstance(action, SetAction)
    ]
    set_values.sort(key=lambda pair: pair[0][-1] if isinstance(pair[0][-1], int) else -1)
    for path, value in set_values:
        _write(new, path, value)
    removals = [path for action, path in targets if isinstance(action, RemoveAction)]
    # Highest index first at every level, so each index still means the original element.
    removals.sort(key=_removal_order, reverse=True)
    for path in removals:
        if item is not None:
            _remove(new, path)
    for action, path in targets:
        if isinstance(action, AddAction):
            _add(new, path, values[action.value.placeholder], legacy=action.legacy)
        elif isinstance(action, DeleteAction):
            _delete(new, path, values[action.value.placeholder], item_exists=item is not None)
    return UpdateResult(new, tuple(path for _, path in targets))


def _removal_order(path: ResolvedPath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, e, "") if isinstance(e, int) else (1, 0, e) for e in path)


# --- SET values ---------------------------------------------------------------------------------


def _operand(operand: object, old: Item, names: Mapping[str, str], values: Any) -> AttributeValue:
    if isinstance(operand, ValueRef):
        return canonicalize(values[operand.placeholder])
    if isinstance(operand, Path):
        value = get_path(old, resolve_path(operand, names))
        if value is None:
            raise ValidationException(MISSING_ATTRIBUTE)
        return value
    assert isinstance(operand, FunctionCall)
    if operand.name == "if_not_exists":
        path, fallback = operand.args
        assert isinstance(path, Path)
        existing = get_path(old, resolve_path(path, names))
        return existing if existing is not None else _operand(fallback, old, names, values)
    assert operand.name == "list_append", operand.name
    first, second = (_operand(arg, old, names, values) for arg in operand.args)
    if value_type(first) != "L" or value_type(second) != "L":
        raise ValidationException(INCORRECT_DATA_TYPE)
    return {"L": [*first["L"], *second["L"]]}


def _set_value(value: SetValue, old: Item, names: Mapping[str, str], values: Any) -> AttributeValue:
    if not isinstance(value, Arithmetic):
        return _operand(value, old, names, values)
    left = _operand(value.left, old, names, values)
    right = _operand(value.right, old, names, values)
    if value_type(left) != "N" or value_type(right) != "N":
        raise ValidationException(INCORRECT_DATA_TYPE)
    if value.operator == "+":
        return {"N": add_numbers(left["N"], right["N"])}
    return {"N": subtract_numbers(left["N"], right["N"])}


# --- copy-on-write navigation -------------------------------------------------------------------


def _child_copy(container: Any, key: str | int) -> dict[str, Any] | None:
    """Replace ``container[key]`` by a shallow copy of the map or list value it holds."""
    value = container[key] if isinstance(key, int) else container.get(key)
    if value is None:
        return None
    copied = {
        tag: (dict(payload) if tag == "M" else list(payload) if tag == "L" else payload)
        for tag, payload in value.items()
    }
    container[key] = copied
    return copied


def _parent(new: dict[str, Any], path: ResolvedPath) -> Any:
    """The mutable map or list that holds ``path[-1]``; raise INVALID_PATH when there is none."""
    container: Any = new
    for position, element in enumerate(path[:-1]):
        if isinstance(container, list) and element >= len(container):  # type: ignore[operator]
            raise ValidationException(INVALID_PATH)
        value = _child_copy(container, element)
        wanted = "L" if isinstance(path[position + 1], int) else "M"
        if value is None or wanted not in value:
            raise ValidationException(INVALID_PATH)
        container = value[wanted]
    return container


def _write(new: dict[str, Any], path: ResolvedPath, value: AttributeValue) -> None:
    container = _parent(new, path)
    leaf = path[-1]
    if isinstance(leaf, int):
        if leaf < len(container):
            container[leaf] = value
        else:
            container.append(value)
    else:
        container[leaf] = value


def _read_for_write(new: dict[str, Any], path: ResolvedPath) -> tuple[Any, AttributeValue | None]:
    container = _parent(new, path)
    leaf = path[-1]
    if isinstance(leaf, int):
        return container, container[leaf] if leaf < len(container) else None
    return container, container.get(leaf)


def _remove(new: dict[str, Any], path: ResolvedPath) -> None:
    container, current = _read_for_write(new, path)
    if current is None:
        return
    if isinstance(container, list):
        del container[path[-1]]  # type: ignore[arg-type]
    else:
        del container[path[-1]]


# --- ADD and DELETE -------------------------------------------------------------------------------

_SET_TYPES = ("SS", "NS", "BS")


def _add(new: dict[str, Any], path: ResolvedPath, operand: AttributeValue, *, legacy: bool) -> None:
    operand = canonicalize(operand)
    container, current = _read_for_write(new, path)
    if current is None:
        result: AttributeValue = operand
    else:
        tag = value_type(current)
        if tag != value_type(operand):
            raise ValidationException(INCORRECT_DATA_TYPE)
        if tag == "N":
            result = {"N": add_numbers(current["N"], operand["N"])}
        elif tag in _SET_TYPES:
            result = {tag: _union(tag, current[tag], operand[tag])}
        elif tag == "L" and legacy:
            result = {"L": [*current["L"], *operand["L"]]}
        else:
            raise ValidationException(INCORRECT_DATA_TYPE)
    _put(container, path[-1], result)


def _delete(
    new: dict[str, Any], path: ResolvedPath, operand: AttributeValue, *, item_exists: bool
) -> None:
    if not item_exists and len(path) > 1:
        return
    container, current = _read_for_write(new, path)
    if current is None:
        return
    tag = value_type(current)
    if tag not in _SET_TYPES or tag != value_type(operand):
        raise ValidationException(INCORRECT_DATA_TYPE)
    gone = {_member_key(tag, member) for member in operand[tag]}
    remaining = [member for member in current[tag] if _member_key(tag, member) not in gone]
    if remaining:
        _put(container, path[-1], {tag: remaining})
    elif isinstance(container, list):
        del container[path[-1]]  # type: ignore[arg-type]
    else:
        del container[path[-1]]


def _member_key(tag: str, member: Any) -> Any:
    if tag == "NS":
        return canonical_number(member)
    if tag == "BS":
        return bytes(member)
    return member


def _union(tag: str, existing: list[Any], added: list[Any]) -> list[Any]:
    seen = {_member_key(tag, member) for member in existing}
    result = list(existing)
    for member in added:
        key = _member_key(tag, member)
        if key not in seen:
            seen.add(key)
            result.append(member)
    return result


def _put(container: Any, leaf: str | int, value: AttributeValue) -> None:
    if isinstance(container, list):
        assert isinstance(leaf, int)
        if leaf < len(container):
            container[leaf] = value
        else:
            container.append(value)
    else:
        container[leaf] = value
