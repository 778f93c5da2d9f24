"""Reading document paths in items, and projecting items onto a set of paths.

Role: the one place that walks ``a.b[2].c`` through an item's maps and lists. Used by condition
evaluation (reads), update evaluation (reads), ProjectionExpression / AttributesToGet and the
UPDATED_OLD / UPDATED_NEW return values (projections).

Projection keeps structure: ``a.b`` yields ``{"a": {"M": {"b": ...}}}``; several indexes of one
list yield the selected elements compacted, in index order (``l[2], l[0]`` -> ``[l0, l2]``);
paths that select nothing are left out, and an attribute whose selections all came up empty is
omitted rather than returned as an empty map or list.

Invariants: never mutates its inputs; a result shares the selected leaf values with the input
item (treat both as immutable). Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from raydynamo.api.expressions.nodes import Name, NameRef, Path, ProjectionExpression, ResolvedPath

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


def resolve_path(path: Path, names: Mapping[str, str]) -> ResolvedPath:
    """The path with placeholders replaced (names must be validated already)."""
    out: list[str | int] = []
    for element in path.elements:
        if isinstance(element, Name):
            out.append(element.text)
        elif isinstance(element, NameRef):
            out.append(names[element.placeholder])
        else:
            out.append(element.value)
    return tuple(out)


def path_text(path: ResolvedPath) -> str:
    """DynamoDB's rendering of a path in messages: ``[a, b, [2]]``."""
    return "[" + ", ".join(f"[{p}]" if isinstance(p, int) else p for p in path) + "]"


def get_path(item: Item, path: ResolvedPath) -> AttributeValue | None:
    """The value at ``path`` in ``item``, or None when any step is missing or of the wrong type."""
    current: AttributeValue | None = item.get(path[0])  # type: ignore[arg-type]
    for element in path[1:]:
        if current is None:
            return None
        if isinstance(element, int):
            elements = current.get("L")
            if elements is None or element >= len(elements):
                return None
            current = elements[element]
        else:
            members = current.get("M")
            if members is None:
                return None
            current = members.get(element)
    return current


# A selection trie: None marks "take the whole value here"; otherwise children by key or index.
_Trie = dict[str | int, Any]


def _add_to_trie(trie: _Trie, path: ResolvedPath) -> None:
    node = trie
    for element in path[:-1]:
        child = node.get(element, {})
        if child is None:  # a shorter path already takes the whole value
            return
        node = node.setdefault(element, child)
    node[path[-1]] = None


def _extract(value: AttributeValue, selection: _Trie | None) -> AttributeValue | None:
    if selection is None:
        return value
    indexes = sorted(k for k in selection if isinstance(k, int))
    if indexes:
        elements = value.get("L")
        if elements is None:
            return None
        picked = [
            extracted
            for index in indexes
            if index < len(elements)
            and (extracted := _extract(elements[index], selection[index])) is not None
        ]
        return {"L": picked} if picked else None
    members = value.get("M")
    if members is None:
        return None
    kept = {
        key: extracted
        for key, sub in selection.items()
        if key in members and (extracted := _extract(members[key], sub)) is not None
    }
    return {"M": kept} if kept else None


def project_paths(item: Item, paths: Iterable[ResolvedPath]) -> dict[str, AttributeValue]:
    """The parts of ``item`` selected by ``paths`` (resolved document paths)."""
    trie: _Trie = {}
    for path in paths:
        _add_to_trie(trie, path)
    result: dict[str, AttributeValue] = {}
    for name, selection in trie.items():
        assert isinstance(name, str), "a document path starts with an attribute name"
        value = item.get(name)
        if value is None:
            continue
        extracted = _extract(value, selection)
        if extracted is not None:
            result[name] = extracted
    return result


def projection_paths(
    projection: ProjectionExpression, names: Mapping[str, str]
) -> tuple[ResolvedPath, ...]:
    """The resolved paths of a validated ProjectionExpression."""
    return tuple(resolve_path(path, names) for path in projection.paths)


def project(
    projection: ProjectionExpression, item: Item, names: Mapping[str, str]
) -> dict[str, AttributeValue]:
    """``item`` reduced to what a validated ProjectionExpression selects."""
    return project_paths(item, projection_paths(projection, names))
