"""Condition builders for the resource layer: ``Key("pk").eq(1) & Attr("n").gt(2)``.

Role: let a boto3 user write ``KeyConditionExpression``, ``FilterExpression`` and
``ConditionExpression`` as Python objects. ``build_expression`` compiles a condition into
DynamoDB expression text with generated placeholders (``#n0`` for names, ``:v0`` for values),
adding to the request's own ``ExpressionAttributeNames``/``ExpressionAttributeValues`` without
reusing any placeholder already there. Values stay Python values here; the resource layer
serializes them (Decimal for numbers, floats refused).

Builders (boto3's names)::

    Key(name) / Attr(name)  .eq .lt .lte .gt .gte .between(low, high) .begins_with
    Attr(name) only         .ne .is_in([...]) .exists() .not_exists() .contains(v)
                            .attribute_type("S") .size() -> an operand with .eq/.lt/...
    conditions              a & b, a | b, ~a

An attribute name is a document path: ``Attr("a.b[2].c")`` is ``#n0.#n1[2].#n2``; a name used
twice gets one placeholder. Composite conditions are parenthesised as boto3 does, so precedence
never depends on DynamoDB's (``NOT`` > ``AND`` > ``OR``). A ``KeyConditionExpression`` may only
use ``Key`` attributes (``DynamoDBNeedsKeyConditionError``).

Our own design, learned from boto3's ``dynamodb/conditions.py``. Must not import ray.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class DynamoDBOperationNotSupportedError(TypeError):
    """``&``, ``|`` or ``~`` applied to something that is not a condition."""

    def __init__(self, operation: str, value: object) -> None:
        super().__init__(
            f"{operation} cannot be applied to {value!r} of type {type(value).__name__}: build "
            "conditions first with the attribute's methods (for example Attr('x').eq(1))."
        )


class DynamoDBNeedsConditionError(TypeError):
    """An expression parameter got something that is not a condition."""

    def __init__(self, value: object) -> None:
        super().__init__(
            f"Expecting a condition, got {value!r} of type {type(value).__name__}: build one "
            "with the attribute's methods (for example Attr('x').eq(1))."
        )


class DynamoDBNeedsKeyConditionError(TypeError):
    """A KeyConditionExpression used ``Attr`` where only ``Key`` belongs."""


_SEGMENT_RE = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


class _Renderer(Protocol):
    def name(self, attribute: AttributeBase) -> str: ...
    def value(self, value: Any) -> str: ...


class _Comparable:
    """Comparison methods shared by attributes and ``size()`` operands."""

    def eq(self, value: Any) -> Comparison:
        return Comparison("=", self, value)

    def lt(self, value: Any) -> Comparison:
        return Comparison("<", self, value)

    def lte(self, value: Any) -> Comparison:
        return Comparison("<=", self, value)

    def gt(self, value: Any) -> Comparison:
        return Comparison(">", self, value)

    def gte(self, value: Any) -> Comparison:
        return Comparison(">=", self, value)

    def between(self, low_value: Any, high_value: Any) -> Between:
        return Between(self, low_value, high_value)

    def __and__(self, other: object) -> ConditionBase:
        raise DynamoDBOperationNotSupportedError("AND", self)

    def __or__(self, other: object) -> ConditionBase:
        raise DynamoDBOperationNotSupportedError("OR", self)

    def __invert__(self) -> ConditionBase:
        raise DynamoDBOperationNotSupportedError("NOT", self)


@dataclass(frozen=True, eq=True)
class AttributeBase(_Comparable):
    """A document path in an item (``"a.b[1]"``)."""

    name: str

    def begins_with(self, value: Any) -> Function:
        return Function("begins_with", (self, value))

    def segments(self) -> list[tuple[str, str]]:
        """``[(name, index suffix)]``: ``"a.b[1][2]"`` -> ``[("a", ""), ("b", "[1][2]")]``."""
        parts = []
        for segment in self.name.split("."):
            match = _SEGMENT_RE.fullmatch(segment)
            if match is None:
                raise ValueError(f"Invalid attribute path: {self.name!r}")
            parts.append((match.group(1), match.group(2)))
        return parts


@dataclass(frozen=True, eq=True)
class Key(AttributeBase):
    """A key attribute, for ``KeyConditionExpression`` (and usable in any condition)."""


@dataclass(frozen=True, eq=True)
class Attr(AttributeBase):
    """Any attribute of an item."""

    def ne(self, value: Any) -> Comparison:
        return Comparison("<>", self, value)

    def is_in(self, value: Iterable[Any]) -> In:
        return In(self, tuple(value))

    def exists(self) -> Function:
        return Function("attribute_exists", (self,))

    def not_exists(self) -> Function:
        return Function("attribute_not_exists", (self,))

    def contains(self, value: Any) -> Function:
        return Function("contains", (self, value))

    def size(self) -> Size:
        return Size(self)

    def attribute_type(self, value: str) -> Function:
        return Function("attribute_type", (self, value))


@dataclass(frozen=True, eq=True)
class Size(_Comparable):
    """``size(path)``: an operand to compare, not a condition by itself."""

    attribute: AttributeBase

    def ne(self, value: Any) -> Comparison:
        return Comparison("<>", self, value)

    def is_in(self, value: Iterable[Any]) -> In:
        return In(self, tuple(value))


def _operand(operand: Any, out: _Renderer) -> str:
    if isinstance(operand, AttributeBase):
        return out.name(operand)
    if isinstance(operand, Size):
        return f"size({out.name(operand.attribute)})"
    return out.value(operand)


class ConditionBase:
    """A condition: combine with ``&``, ``|``, ``~``; compile with ``build_expression``."""

    def render(self, out: _Renderer) -> str:
        raise NotImplementedError

    def __and__(self, other: object) -> And:
        if not isinstance(other, ConditionBase):
            raise DynamoDBOperationNotSupportedError("AND", other)
        return And(self, other)

    def __or__(self, other: object) -> Or:
        if not isinstance(other, ConditionBase):
            raise DynamoDBOperationNotSupportedError("OR", other)
        return Or(self, other)

    def __invert__(self) -> Not:
        return Not(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.render(_ReprRenderer())}>"


@dataclass(frozen=True, eq=True, repr=False)
class Comparison(ConditionBase):
    operator: str
    left: Any
    right: Any

    def render(self, out: _Renderer) -> str:
        return f"{_operand(self.left, out)} {self.operator} {_operand(self.right, out)}"


@dataclass(frozen=True, eq=True, repr=False)
class Between(ConditionBase):
    operand: Any
    low: Any
    high: Any

    def render(self, out: _Renderer) -> str:
        return (
            f"{_operand(self.operand, out)} BETWEEN {_operand(self.low, out)} "
            f"AND {_operand(self.high, out)}"
        )


@dataclass(frozen=True, eq=True, repr=False)
class In(ConditionBase):
    operand: Any
    candidates: tuple[Any, ...]

    def render(self, out: _Renderer) -> str:
        listed = ", ".join(_operand(c, out) for c in self.candidates)
        return f"{_operand(self.operand, out)} IN ({listed})"


@dataclass(frozen=True, eq=True, repr=False)
class Function(ConditionBase):
    """``begins_with``, ``contains``, ``attribute_exists``, ``attribute_not_exists``,
    ``attribute_type``."""

    function: str
    args: tuple[Any, ...]

    def render(self, out: _Renderer) -> str:
        return f"{self.function}({', '.join(_operand(a, out) for a in self.args)})"


@dataclass(frozen=True, eq=True, repr=False)
class And(ConditionBase):
    left: ConditionBase
    right: ConditionBase

    def render(self, out: _Renderer) -> str:
        return f"({self.left.render(out)} AND {self.right.render(out)})"


@dataclass(frozen=True, eq=True, repr=False)
class Or(ConditionBase):
    left: ConditionBase
    right: ConditionBase

    def render(self, out: _Renderer) -> str:
        return f"({self.left.render(out)} OR {self.right.render(out)})"


@dataclass(frozen=True, eq=True, repr=False)
class Not(ConditionBase):
    inner: ConditionBase

    def render(self, out: _Renderer) -> str:
        return f"(NOT {self.inner.render(out)})"


class _ReprRenderer:
    def name(self, attribute: AttributeBase) -> str:
        return attribute.name

    def value(self, value: Any) -> str:
        return repr(value)


@dataclass
class Placeholders:
    """Generates ``#n<i>``/``:v<i>`` placeholders into shared maps, skipping taken ones.

    One instance serves every expression of a request, so a KeyConditionExpression and a
    FilterExpression never hand out the same placeholder.
    """

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    key_condition: bool = False
    _name_of: dict[str, str] = field(default_factory=dict)
    _name_count: int = 0
    _value_count: int = 0

    def name(self, attribute: AttributeBase) -> str:
        if self.key_condition and not isinstance(attribute, Key):
            raise DynamoDBNeedsKeyConditionError(
                f"Attribute {attribute.name!r} is an {type(attribute).__name__}; a "
                "KeyConditionExpression only takes Key attributes."
            )
        return ".".join(self._name(part) + index for part, index in attribute.segments())

    def _name(self, part: str) -> str:
        if part in self._name_of:
            return self._name_of[part]
        while f"#n{self._name_count}" in self.names:
            self._name_count += 1
        placeholder = f"#n{self._name_count}"
        self._name_count += 1
        self.names[placeholder] = part
        self._name_of[part] = placeholder
        return placeholder

    def value(self, value: Any) -> str:
        while f":v{self._value_count}" in self.values:
            self._value_count += 1
        placeholder = f":v{self._value_count}"
        self._value_count += 1
        self.values[placeholder] = value
        return placeholder


@dataclass(frozen=True)
class BuiltExpression:
    """An expression's text and the complete placeholder maps (Python values, unserialized)."""

    expression: str
    names: dict[str, str]
    values: dict[str, Any]


def build_expression(
    condition: ConditionBase,
    *,
    is_key_condition: bool = False,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> BuiltExpression:
    """Compile ``condition``; ``names``/``values`` are the request's own maps, merged in."""
    placeholders = Placeholders(dict(names or {}), dict(values or {}))
    text = render_condition(condition, placeholders, is_key_condition=is_key_condition)
    return BuiltExpression(text, placeholders.names, placeholders.values)


def render_condition(
    condition: object, placeholders: Placeholders, *, is_key_condition: bool = False
) -> str:
    """``condition``'s text, adding its placeholders to ``placeholders``."""
    if not isinstance(condition, ConditionBase):
        raise DynamoDBNeedsConditionError(condition)
    placeholders.key_condition = is_key_condition
    try:
        return condition.render(placeholders)
    finally:
        placeholders.key_condition = False
