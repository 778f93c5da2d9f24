"""Semantic validation of parsed expressions against one request's names and values.

Role: everything DynamoDB rejects after the syntax is right, with DynamoDB's message and in
DynamoDB's order of precedence (the first error class found wins, whatever its position):

- conditions (ConditionExpression, FilterExpression, KeyConditionExpression): redundant
  parentheses, too many IN operands, unknown function, misused function, reserved word,
  undefined placeholder, operand count, identical operands, operand types;
- updates: reserved word, unknown function, misused function, repeated clause, undefined names,
  undefined values, overlapping then conflicting paths, ADD/DELETE operand types, functions;
- projections: reserved word, undefined name, overlapping then conflicting paths.

Validation reads placeholders only; it never sees an item. The request-level checks (unused
placeholders across all expressions, the maps themselves) live in ``request.py``.
Invariant: after these functions return, evaluation never meets an undefined placeholder.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from raydynamo.api.expressions.nodes import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCall,
    In,
    Name,
    NameRef,
    Not,
    Or,
    Path,
    ProjectionExpression,
    ResolvedPath,
    SetAction,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.expressions.parse import IN_OPERANDS_MAX, Parsed, invalid
from raydynamo.api.expressions.paths import path_text, resolve_path
from raydynamo.api.expressions.reserved import is_reserved
from raydynamo.api.values import compare_scalars, value_type

CONDITION_FUNCTIONS: dict[str, int] = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
UPDATE_FUNCTIONS: dict[str, int] = {"if_not_exists": 2, "list_append": 2}
ORDERING_COMPARATORS = ("<", "<=", ">", ">=")
ORDERED_TYPES = ("S", "N", "B")  # the only types with an order (comparison.compare_scalars)
ATTRIBUTE_TYPE_NAMES = ("S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M")
# wording unverified: the order of the valid types as DynamoDB prints them (dynalite's capture)
_VALID_TYPES_TEXT = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
_ANY_TYPE_TEXT = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"  # wording unverified (a path's unknown type)
_UPDATE_TYPE_NAMES = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "NULL": "NULL",
    "BOOL": "BOOLEAN",
    "L": "LIST",
    "M": "MAP",
}

Names = Mapping[str, str]
Values = Mapping[str, Mapping[str, Any]]


# --- helpers shared with evaluation ---------------------------------------------------------


def _operand_type(operand: object, values: Values) -> str | None:
    """The type an operand is known to have before reading any item (None when unknown)."""
    if isinstance(operand, ValueRef):
        return value_type(values[operand.placeholder])
    if isinstance(operand, FunctionCall) and operand.name == "size":
        return "N"
    return None


def _misused(name: str) -> str:
    return f"The function is not allowed to be used this way in an expression; function: {name}"


def _arity(name: str, count: int) -> str:
    return (
        "Incorrect number of operands for operator or function; "
        f"operator or function: {name}, number of operands: {count}"
    )


def _operand_type_error(name: str, type_text: str) -> str:
    return (
        "Incorrect operand type for operator or function; "
        f"operator or function: {name}, operand type: {type_text}"
    )


def _undefined_name(element: object, names: Names) -> str | None:
    if isinstance(element, NameRef) and element.placeholder not in names:
        return (
            "An expression attribute name used in the document path is not defined; "
            f"attribute name: {element.placeholder}"
        )
    return None


def _undefined_value(node: object, values: Values) -> str | None:
    if isinstance(node, ValueRef) and node.placeholder not in values:
        return (
            "An expression attribute value used in expression is not defined; "
            f"attribute value: {node.placeholder}"
        )
    return None


def _undefined_names(nodes: Iterable[object], names: Names) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Path):
            for element in node.elements:
                message = _undefined_name(element, names)
                if message:
                    yield message


def _undefined_values(nodes: Iterable[object], values: Values) -> Iterator[str]:
    for node in nodes:
        message = _undefined_value(node, values)
        if message:
            yield message


def _undefined_placeholders(nodes: Iterable[object], names: Names, values: Values) -> Iterator[str]:
    """Undefined names and values together, in text order (as conditions report them)."""
    for node in nodes:
        if isinstance(node, Path):
            yield from _undefined_names((node,), names)
        else:
            yield from _undefined_values((node,), values)


def _reserved_errors(nodes: Iterable[object]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Path):
            for element in node.elements:
                if isinstance(element, Name) and is_reserved(element.text):
                    yield f"Attribute name is a reserved keyword; reserved keyword: {element.text}"


def _first(errors: Iterator[str]) -> str | None:
    return next(errors, None)


# --- conditions -----------------------------------------------------------------------------


def walk_condition(condition: Condition) -> Iterator[tuple[str, object]]:
    """(role, node) for every node in text order; role is "condition" or "operand"."""
    yield "condition", condition
    if isinstance(condition, (And, Or)):
        for part in condition.conditions:
            yield from walk_condition(part)
    elif isinstance(condition, Not):
        yield from walk_condition(condition.operand)
    elif isinstance(condition, Comparison):
        yield from _walk_operand(condition.left)
        yield from _walk_operand(condition.right)
    elif isinstance(condition, Between):
        for operand in (condition.operand, condition.low, condition.high):
            yield from _walk_operand(operand)
    elif isinstance(condition, In):
        for operand in (condition.operand, *condition.candidates):
            yield from _walk_operand(operand)
    else:
        for arg in condition.args:
            yield from _walk_operand(arg)


def _walk_operand(operand: object) -> Iterator[tuple[str, object]]:
    yield "operand", operand
    if isinstance(operand, FunctionCall):
        for arg in operand.args:
            yield from _walk_operand(arg)
    elif isinstance(operand, Arithmetic):
        yield from _walk_operand(operand.left)
        yield from _walk_operand(operand.right)


def validate_condition(
    parameter: str, parsed: Parsed, names: Names, values: Values, *, key_condition: bool = False
) -> None:
    """Raise DynamoDB's first error for a parsed condition in ``parameter``, if any."""
    message = condition_error(parsed, names, values, key_condition=key_condition)
    if message is not None:
        raise invalid(parameter, message)


def condition_error(
    parsed: Parsed, names: Names, values: Values, *, key_condition: bool = False
) -> str | None:
    tree = parsed.tree
    assert not isinstance(tree, (UpdateExpression, ProjectionExpression))
    nodes = list(walk_condition(tree))
    if parsed.redundant_parens and not key_condition:
        return "The expression has redundant parentheses;"
    if parsed.in_operands_max > IN_OPERANDS_MAX:
        return (
            "The IN operator is provided with too many operands; "
            f"number of operands: {parsed.in_operands_max}"
        )
    functions = [(role, n) for role, n in nodes if isinstance(n, FunctionCall)]
    for _, call in functions:
        if call.name not in CONDITION_FUNCTIONS:
            return f"Invalid function name; function: {call.name}"
    for role, call in functions:
        if (role == "operand") == (call.name != "size"):
            return _misused(call.name)
    return (
        _first(_reserved_errors(n for _, n in nodes))
        or _first(_undefined_placeholders((n for _, n in nodes), names, values))
        or _first(_arity_errors(call for _, call in functions))
        or _first(_distinct_errors((n for _, n in nodes), names))
        or _first(_condition_type_errors((n for _, n in nodes), values))
    )


def _arity_errors(calls: Iterator[FunctionCall]) -> Iterator[str]:
    for call in calls:
        if len(call.args) != CONDITION_FUNCTIONS[call.name]:
            yield _arity(call.name, len(call.args))


def _distinct_errors(nodes: Iterator[object], names: Names) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Comparison):
            operator, operands = node.operator, (node.left, node.right)
        elif isinstance(node, FunctionCall) and len(node.args) == 2:
            operator, operands = node.name, node.args
        else:
            continue
        first, second = operands
        if isinstance(first, Path) and isinstance(second, Path):
            resolved = resolve_path(first, names)
            if resolved == resolve_path(second, names):
                yield (
                    "The first operand must be distinct from the remaining operands for this "
                    f"operator or function; operator: {operator}, first operand: "
                    f"{path_text(resolved)}"
                )


def _condition_type_errors(nodes: Iterator[object], values: Values) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Comparison) and node.operator in ORDERING_COMPARATORS:
            message = _ordered_operand_error(node.operator, (node.left, node.right), values)
            if message:
                yield message
        elif isinstance(node, Between):
            message = _ordered_operand_error(
                "BETWEEN", (node.operand, node.low, node.high), values
            ) or _between_error(node, values)
            if message:
                yield message
        elif isinstance(node, FunctionCall):
            message = _function_type_error(node, values)
            if message:
                yield message


def _ordered_operand_error(
    operator: str, operands: tuple[object, ...], values: Values
) -> str | None:
    """A constant operand of a type ``<``/``BETWEEN`` cannot order (the item's values are never
    an error, only false): Starburst's DynamoDB connector quotes the service's answer for BOOL
    ("operator or function: <=, operand type: BOOL"); # wording unverified for the other types.
    """
    for operand in operands:
        operand_type = _operand_type(operand, values)
        if operand_type is not None and operand_type not in ORDERED_TYPES:
            return _operand_type_error(operator, operand_type)
    return None


def _function_type_error(call: FunctionCall, values: Values) -> str | None:
    name, args = call.name, call.args
    if name in ("attribute_exists", "attribute_not_exists") and not isinstance(args[0], Path):
        return f"Operator or function requires a document path; operator or function: {name}"
    if name == "begins_with":
        for arg in args:
            arg_type = _operand_type(arg, values)
            if arg_type not in (None, "S", "B"):
                return _operand_type_error(name, arg_type)
    if name == "attribute_type":
        arg_type = _operand_type(args[1], values)
        if arg_type != "S":
            return _operand_type_error(name, arg_type or _ANY_TYPE_TEXT)
        assert isinstance(args[1], ValueRef)
        type_name = values[args[1].placeholder]["S"]
        if type_name not in ATTRIBUTE_TYPE_NAMES:
            return (
                f"Invalid attribute type name found; type: {type_name}, "
                f"valid types: {_VALID_TYPES_TEXT}"
            )
    if name == "size":
        arg_type = _operand_type(args[0], values)
        if arg_type in ("N", "BOOL", "NULL"):
            return _operand_type_error(name, arg_type)
    return None


def _attribute_value_text(value: Mapping[str, Any]) -> str:
    # {N:10} and {S:abc} as DynamoDB prints them; wording unverified for B and non-scalar values.
    ((tag, payload),) = value.items()
    return f"AttributeValue: {{{tag}:{payload}}}"


def _between_error(node: Between, values: Values) -> str | None:
    if not (isinstance(node.low, ValueRef) and isinstance(node.high, ValueRef)):
        return None
    low, high = values[node.low.placeholder], values[node.high.placeholder]
    bounds = (
        f"lower bound operand: {_attribute_value_text(low)}, "
        f"upper bound operand: {_attribute_value_text(high)}"
    )
    if value_type(low) != value_type(high):
        return f"The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"
    order = compare_scalars(low, high)
    if order is not None and order > 0:
        return (
            "The BETWEEN operator requires upper bound to be greater than or equal to lower "
            f"bound; {bounds}"
        )
    return None


# --- updates --------------------------------------------------------------------------------


def walk_update(update: UpdateExpression) -> Iterator[tuple[str, object]]:
    """(role, node) in text order; role is "action", "target" (an action's path) or "operand"."""
    for action in update.actions:
        yield "action", action
        yield "target", action.path
        if isinstance(action, SetAction):
            yield from _walk_operand(action.value)
        elif isinstance(action, (AddAction, DeleteAction)):
            yield "operand", action.value


def validate_update(parameter: str, parsed: Parsed, names: Names, values: Values) -> None:
    """Raise DynamoDB's first error for a parsed UpdateExpression, if any."""
    message = update_error(parsed, names, values)
    if message is not None:
        raise invalid(parameter, message)


def update_error(parsed: Parsed, names: Names, values: Values) -> str | None:
    tree = parsed.tree
    assert isinstance(tree, UpdateExpression)
    nodes = [node for _, node in walk_update(tree)]
    calls = [n for n in nodes if isinstance(n, FunctionCall)]
    return (
        _first(_reserved_errors(nodes))
        or _first(
            f"Invalid function name; function: {c.name}"
            for c in calls
            if c.name not in UPDATE_FUNCTIONS
        )
        or _first(_nested_list_append(calls))
        or _first(_section_errors(tree))
        or _first(_undefined_names(nodes, names))
        or _first(_undefined_values(nodes, values))
        or overlap_error([resolve_path(a.path, names) for a in tree.actions])
        or _first(_add_delete_errors(tree, values))
        or _first(_update_function_errors(nodes, values))
    )


def _nested_list_append(calls: list[FunctionCall]) -> Iterator[str]:
    # ScyllaDB's tests observed DynamoDB refusing list_append as an argument of a function.
    for call in calls:
        for arg in call.args:
            if isinstance(arg, FunctionCall) and arg.name == "list_append":
                yield _misused(arg.name)


def _section_errors(tree: UpdateExpression) -> Iterator[str]:
    seen: set[str] = set()
    for clause in tree.clauses:
        if clause in seen:
            yield f'The "{clause}" section can only be used once in an update expression;'
        seen.add(clause)


def overlap_error(paths: list[ResolvedPath]) -> str | None:
    """DynamoDB's overlap (one path a prefix of another) or conflict (map key vs index) error."""
    conflict: str | None = None
    for later_index, later in enumerate(paths):
        for earlier in paths[:later_index]:
            shared = min(len(earlier), len(later))
            kinds_differ = next(
                (
                    i
                    for i in range(shared)
                    if isinstance(earlier[i], int) != isinstance(later[i], int)
                ),
                None,
            )
            first_difference = next((i for i in range(shared) if earlier[i] != later[i]), shared)
            pair = f"path one: {path_text(earlier)}, path two: {path_text(later)}"
            if first_difference == shared:
                return (
                    "Two document paths overlap with each other; must remove or rewrite one of "
                    f"these paths; {pair}"
                )
            if conflict is None and kinds_differ is not None and kinds_differ <= first_difference:
                conflict = (
                    "Two document paths conflict with each other; must remove or rewrite one of"
                    f" these paths; {pair}"
                )
    return conflict


def _add_delete_errors(tree: UpdateExpression, values: Values) -> Iterator[str]:
    for action in tree.actions:
        if isinstance(action, (AddAction, DeleteAction)):
            operator = "ADD" if isinstance(action, AddAction) else "DELETE"
            tag = value_type(values[action.value.placeholder])
            allowed_number = operator == "ADD" and tag == "N"
            allowed_list = operator == "ADD" and tag == "L" and action.legacy
            if tag in _UPDATE_TYPE_NAMES and not (allowed_number or allowed_list):
                yield (
                    "Incorrect operand type for operator or function; "
                    f"operator: {operator}, operand type: {_UPDATE_TYPE_NAMES[tag]}"
                )


def _update_function_errors(nodes: list[object], values: Values) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, FunctionCall):
            expected = UPDATE_FUNCTIONS[node.name]
            if len(node.args) != expected:
                yield _arity(node.name, len(node.args))
            elif node.name == "if_not_exists" and not isinstance(node.args[0], Path):
                yield (
                    "Operator or function requires a document path; "
                    f"operator or function: {node.name}"
                )
            elif node.name == "list_append":
                yield from _typed_operands(node.name, node.args, "L", values)
        elif isinstance(node, Arithmetic):
            yield from _typed_operands(node.operator, (node.left, node.right), "N", values)


def _typed_operands(
    name: str, args: tuple[object, ...], wanted: str, values: Values
) -> Iterator[str]:
    for arg in args:
        if isinstance(arg, ValueRef):
            tag = value_type(values[arg.placeholder])
            if tag != wanted:
                yield _operand_type_error(name, tag)
                return


# --- projections ----------------------------------------------------------------------------


def validate_projection(parameter: str, parsed: Parsed, names: Names) -> None:
    """Raise DynamoDB's first error for a parsed ProjectionExpression, if any."""
    tree = parsed.tree
    assert isinstance(tree, ProjectionExpression)
    message = (
        _first(_reserved_errors(tree.paths))
        or _first(_undefined_names(tree.paths, names))
        or overlap_error([resolve_path(path, names) for path in tree.paths])
    )
    if message is not None:
        raise invalid(parameter, message)


def referenced_placeholders(tree: object) -> tuple[set[str], set[str]]:
    """The (#names, :values) placeholders a parsed tree uses."""
    if isinstance(tree, UpdateExpression):
        nodes: list[object] = [n for _, n in walk_update(tree)]
    elif isinstance(tree, ProjectionExpression):
        nodes = list(tree.paths)
    else:
        nodes = [n for _, n in walk_condition(tree)]  # type: ignore[arg-type]
    used_names = {
        e.placeholder
        for n in nodes
        if isinstance(n, Path)
        for e in n.elements
        if isinstance(e, NameRef)
    }
    used_values = {n.placeholder for n in nodes if isinstance(n, ValueRef)}
    return used_names, used_values


__all__ = [
    "ATTRIBUTE_TYPE_NAMES",
    "CONDITION_FUNCTIONS",
    "UPDATE_FUNCTIONS",
    "condition_error",
    "overlap_error",
    "path_text",
    "referenced_placeholders",
    "resolve_path",
    "update_error",
    "validate_condition",
    "validate_projection",
    "validate_update",
    "walk_condition",
    "walk_update",
]
