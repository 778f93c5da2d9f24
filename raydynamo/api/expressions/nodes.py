"""The typed syntax tree of DynamoDB expressions (frozen dataclasses, one class per kind).

Role: what the parser produces and what validation, evaluation, projection and key-condition
analysis consume. A tree is independent of any request: placeholders (``#n``, ``:v``) stay
unresolved, so one parsed tree is cached per expression text and shared by all requests; the
request's ExpressionAttributeNames/Values are applied when the tree is validated or evaluated.

Invariants: nodes are immutable and hashable; ``Path.elements`` is never empty and starts with a
name (``Name`` or ``NameRef``), never an ``Index``; a ``FunctionCall`` keeps its name exactly as
written (function names are case-sensitive) so that validation can report unknown functions;
``And``/``Or`` hold at least two conditions and never a direct child of their own kind, so a long
chain of ANDs is one flat node and trees stay shallow (the parser also bounds nesting depth).

Must not import ray or rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

# --- document paths -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Name:
    """A bare attribute name written in the expression (``price``)."""

    text: str


@dataclass(frozen=True, slots=True)
class NameRef:
    """An ExpressionAttributeNames placeholder (``#p``)."""

    placeholder: str


@dataclass(frozen=True, slots=True)
class Index:
    """A list index (``[3]``)."""

    value: int


PathElement: TypeAlias = Name | NameRef | Index


@dataclass(frozen=True, slots=True)
class Path:
    """A document path: ``a.b[2].#c``."""

    elements: tuple[PathElement, ...]


# A path after placeholder substitution: attribute names as str, list indexes as int.
ResolvedPath: TypeAlias = tuple[str | int, ...]

# --- operands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueRef:
    """An ExpressionAttributeValues placeholder (``:v``)."""

    placeholder: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """``name(arg, ...)``: a condition function, ``size``, or an update function."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` (only on the right-hand side of SET)."""

    operator: str  # "+" or "-"
    left: Operand
    right: Operand


Operand: TypeAlias = Path | ValueRef | FunctionCall

# --- conditions ---------------------------------------------------------------------------------

COMPARATORS: tuple[str, ...] = ("=", "<>", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left <op> right`` with op one of ``COMPARATORS``."""

    operator: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    """``operand BETWEEN low AND high`` (both bounds inclusive)."""

    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    """``operand IN (c1, c2, ...)``."""

    operand: Operand
    candidates: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    """All of two or more conditions (``a AND b AND c`` is one node, not a chain)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of two or more conditions (``a OR b OR c`` is one node, not a chain)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


# A boolean function (attribute_exists, begins_with, ...) appears as a FunctionCall.
Condition: TypeAlias = Comparison | Between | In | And | Or | Not | FunctionCall

# --- update expressions -------------------------------------------------------------------------

SetValue: TypeAlias = Operand | Arithmetic


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: SetValue


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    """``ADD path :v``; ``legacy`` marks AttributeUpdates' ADD, which also appends to lists."""

    path: Path
    value: ValueRef
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: ValueRef


UpdateAction: TypeAlias = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
class UpdateExpression:
    """All actions of one UpdateExpression, in the order written, with clause keywords seen."""

    actions: tuple[UpdateAction, ...]
    clauses: tuple[str, ...]  # upper-cased clause keywords in order of appearance


@dataclass(frozen=True, slots=True)
class ProjectionExpression:
    paths: tuple[Path, ...]


Expression: TypeAlias = Condition | UpdateExpression | ProjectionExpression
