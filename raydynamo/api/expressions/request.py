"""All the expressions of one request, checked together as DynamoDB checks them.

Role: the entry point an operation calls before touching any item. ``compile_request`` takes a
request (boto3's parameter names) and returns the parsed, validated trees plus the names and
values they use, or raises DynamoDB's ``ValidationException``. The order is DynamoDB's:

1. legacy and expression parameters mixed in one request;
2. ExpressionAttributeNames / ExpressionAttributeValues given without an expression using them;
3. the maps themselves: not empty, keys well formed, values valid attribute values;
4. each expression (Update, Condition, KeyCondition, Filter, Projection): parse, then validate;
5. placeholders defined but used by none of the request's expressions.

Invariant: the returned trees only reference placeholders present in the returned maps.
Must not import ray or rocksdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raydynamo.api.errors import SerializationException, ValidationException
from raydynamo.api.expressions.nodes import Condition, ProjectionExpression, UpdateExpression
from raydynamo.api.expressions.parse import Parsed, parse_expression
from raydynamo.api.expressions.validate import (
    referenced_placeholders,
    validate_condition,
    validate_projection,
    validate_update,
)
from raydynamo.api.values import validate_attribute_value

# The order DynamoDB parses a request's expressions in (the first failing one is reported).
EXPRESSION_PARAMETERS: tuple[str, ...] = (
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)

# Expression parameters each operation accepts, in the order DynamoDB names them in messages.
OPERATION_EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "PutItem": ("ConditionExpression",),
    "DeleteItem": ("ConditionExpression",),
    "UpdateItem": ("UpdateExpression", "ConditionExpression"),
    "ConditionCheck": ("ConditionExpression",),
    "GetItem": ("ProjectionExpression",),
    "BatchGetItem": ("ProjectionExpression",),
    "Get": ("ProjectionExpression",),
    "Query": ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"),
    "Scan": ("FilterExpression", "ProjectionExpression"),
}

# Legacy (non-expression) parameters each operation accepts.
OPERATION_LEGACY: dict[str, tuple[str, ...]] = {
    "PutItem": ("Expected", "ConditionalOperator"),
    "DeleteItem": ("Expected", "ConditionalOperator"),
    "UpdateItem": ("AttributeUpdates", "Expected", "ConditionalOperator"),
    "ConditionCheck": (),
    "GetItem": ("AttributesToGet",),
    "BatchGetItem": ("AttributesToGet",),
    "Get": (),
    "Query": ("AttributesToGet", "KeyConditions", "QueryFilter", "ConditionalOperator"),
    "Scan": ("AttributesToGet", "ScanFilter", "ConditionalOperator"),
}

PLACEHOLDER_KEY_BYTES_MAX = 255  # DynamoDB: a placeholder is at most 255 bytes, prefix included
_NAME_KEY_RE = re.compile(r"#[0-9A-Za-z_]+")
_VALUE_KEY_RE = re.compile(r":[0-9A-Za-z_]+")


@dataclass(frozen=True)
class CompiledExpressions:
    """A request's validated expression trees (None where absent) and its placeholder maps."""

    condition: Condition | None = None
    update: UpdateExpression | None = None
    key_condition: Condition | None = None
    filter: Condition | None = None
    projection: ProjectionExpression | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def compile_request(operation: str, request: Mapping[str, Any]) -> CompiledExpressions:
    """Check and parse every expression parameter of ``request`` for ``operation``.

    ``operation`` is a key of ``OPERATION_EXPRESSIONS`` (``"PutItem"``, ``"Query"``, ...;
    ``"ConditionCheck"`` and ``"Get"`` for the members of TransactWriteItems/TransactGetItems).
    """
    accepted = OPERATION_EXPRESSIONS[operation]
    check_parameter_mix(request, accepted, OPERATION_LEGACY[operation])
    present = [p for p in accepted if request.get(p) is not None]
    names = request.get("ExpressionAttributeNames")
    values = request.get("ExpressionAttributeValues")
    if names is not None and not present:
        raise ValidationException(
            "ExpressionAttributeNames can only be specified when using expressions"
        )
    value_expressions = [p for p in accepted if p != "ProjectionExpression"]
    if (
        values is not None
        and value_expressions
        and not any(p in present for p in value_expressions)
    ):
        verb = "are" if len(value_expressions) > 1 else "is"
        raise ValidationException(
            "ExpressionAttributeValues can only be specified when using expressions: "
            f"{' and '.join(value_expressions)} {verb} null"
        )
    return compile_expressions({p: request[p] for p in present}, names=names, values=values)


def check_parameter_mix(
    request: Mapping[str, Any], expressions: tuple[str, ...], legacy: tuple[str, ...]
) -> None:
    """Refuse legacy parameters next to expression parameters, in DynamoDB's words."""
    used_expressions = [p for p in expressions if request.get(p) is not None]
    if not used_expressions:
        return
    used_legacy = [p for p in legacy if request.get(p) is not None]
    if "KeyConditions" in used_legacy and request.get("KeyConditionExpression") is None:
        # DynamoDB lets KeyConditions stand in for a KeyConditionExpression next to expressions.
        used_legacy.remove("KeyConditions")
    if used_legacy:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(used_legacy)}}} "
            f"Expression parameters: {{{', '.join(used_expressions)}}}"
        )


def compile_expressions(
    expressions: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, Any]] | None = None,
) -> CompiledExpressions:
    """Validate the maps, parse and validate each expression, then refuse unused placeholders.

    ``expressions`` maps parameter names (``"FilterExpression"``, ...) to their text.
    """
    for parameter in expressions:
        if parameter not in EXPRESSION_PARAMETERS:
            raise ValueError(f"not an expression parameter: {parameter!r}")
    _check_names_map(names)
    _check_values_map(values)
    names_map: Mapping[str, str] = names or {}
    values_map: Mapping[str, Mapping[str, Any]] = values or {}
    trees: dict[str, Any] = {}
    used_names: set[str] = set()
    used_values: set[str] = set()
    for parameter in EXPRESSION_PARAMETERS:
        if parameter not in expressions:
            continue
        parsed = parse_expression(parameter, expressions[parameter])
        _validate(parameter, parsed, names_map, values_map)
        trees[parameter] = parsed.tree
        tree_names, tree_values = referenced_placeholders(parsed.tree)
        used_names |= tree_names
        used_values |= tree_values
    _check_unused("ExpressionAttributeNames", names_map, used_names)
    _check_unused("ExpressionAttributeValues", values_map, used_values)
    return CompiledExpressions(
        condition=trees.get("ConditionExpression"),
        update=trees.get("UpdateExpression"),
        key_condition=trees.get("KeyConditionExpression"),
        filter=trees.get("FilterExpression"),
        projection=trees.get("ProjectionExpression"),
        names=dict(names_map),
        values=dict(values_map),
    )


def _validate(
    parameter: str, parsed: Parsed, names: Mapping[str, str], values: Mapping[str, Any]
) -> None:
    if parameter == "UpdateExpression":
        validate_update(parameter, parsed, names, values)
    elif parameter == "ProjectionExpression":
        validate_projection(parameter, parsed, names)
    else:
        is_key = parameter == "KeyConditionExpression"
        validate_condition(parameter, parsed, names, values, key_condition=is_key)


def _check_keys(parameter: str, keys: Iterable[object], pattern: re.Pattern[str]) -> None:
    """Every key first (length, then syntax), before any value is looked at, as DynamoDB does."""
    for key in keys:
        if not isinstance(key, str):
            raise SerializationException(
                f"Invalid type for parameter {parameter} key, value: {key!r}, type: {type(key)}, "
                "valid types: <class 'str'>"
            )
        size_bytes = len(key.encode("utf-8", "surrogatepass"))
        if size_bytes > PLACEHOLDER_KEY_BYTES_MAX:
            # ExtendDB's capture: only the names variant reports the size.
            size = f" size of key: {size_bytes}" if parameter == "ExpressionAttributeNames" else ""
            raise ValidationException(
                f"{parameter} contains invalid key: The expression attribute map contains a key "
                f"that is too long;{size}"
            )
        if not pattern.fullmatch(key):
            raise ValidationException(
                f'{parameter} contains invalid key: Syntax error; key: "{key}"'
            )


def _check_names_map(names: Mapping[str, str] | None) -> None:
    if names is None:
        return
    if not names:
        raise ValidationException("ExpressionAttributeNames must not be empty")
    _check_keys("ExpressionAttributeNames", names, _NAME_KEY_RE)
    for key, name in names.items():
        if not isinstance(name, str):
            raise SerializationException(
                f"Invalid type for parameter ExpressionAttributeNames.{key}, value: {name!r}, "
                f"type: {type(name)}, valid types: <class 'str'>"
            )
        if name == "":
            raise ValidationException(
                "ExpressionAttributeNames contains invalid value: "
                f"Empty attribute name for key {key}"
            )


def _check_values_map(values: Mapping[str, Mapping[str, Any]] | None) -> None:
    if values is None:
        return
    if not values:
        raise ValidationException("ExpressionAttributeValues must not be empty")
    _check_keys("ExpressionAttributeValues", values, _VALUE_KEY_RE)
    for key, value in values.items():
        try:
            validate_attribute_value(value, path=f"ExpressionAttributeValues.{key}")
        except ValidationException as exc:
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {exc.message} for key {key}"
            ) from None


def _check_unused(parameter: str, given: Mapping[str, Any], used: set[str]) -> None:
    unused = [key for key in given if key not in used]
    if unused:
        raise ValidationException(
            f"Value provided in {parameter} unused in expressions: keys: {{{', '.join(unused)}}}"
        )
