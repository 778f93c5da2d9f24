"""Validating a PutItem, UpdateItem or DeleteItem request and turning it into an item operation.

Role: everything a single-item write does before anything is sent. The order of checks is
DynamoDB's (dynalite's captures against DynamoDB, ExtendDB's against us-east-1):

1. valid Unicode, parameter names and JSON types at every level (``shapes.check_request``);
2. member constraints, all reported at once (``N validation errors detected: ...``), in the
   order DynamoDB lists the operation's members;
3. expression and non-expression parameters mixed, maps given without an expression;
4. the attribute values of the Item / Key;
5. PutItem/DeleteItem: ReturnValues other than NONE/ALL_OLD; PutItem: the 400 KB item limit;
6. legacy parameters (AttributeUpdates, Expected), then the expressions;
7. the table (``ResourceNotFoundException``), then the key against its schema, then (UpdateItem)
   an update of a key attribute.

The planned op carries the condition and the update bound once here (``api/expressions/wire.py``:
names resolved, values inlined), whichever parameters expressed them (expressions or the legacy
Expected/AttributeUpdates); the partition decodes and evaluates them, never parsing text.
Invariant: a request that passes ``plan_*`` is sent unchanged by any later validation; nothing is
sent for a request that fails. Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    CompiledExpressions,
    LegacyTranslation,
    UpdateExpression,
    compile_request,
    key_update_error,
    translate_attribute_updates,
    translate_expected,
)
from raydynamo.api.expressions.request import OPERATION_EXPRESSIONS, OPERATION_LEGACY
from raydynamo.api.expressions.request import check_parameter_mix as _check_mix
from raydynamo.api.expressions.wire import (
    WireCondition,
    WireUpdate,
    encode_condition,
    encode_update,
)
from raydynamo.api.schema import TableSchema
from raydynamo.api.values import validate_attribute_value, validate_item, validate_item_size
from raydynamo.operations.common import (
    RETURN_ITEM_COLLECTION_METRICS,
    RETURN_VALUES,
    RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
    ConstraintErrors,
    Located,
    TableCatalogView,
    check_return_consumed_capacity,
    check_table_name,
    locate,
    validate_item_for,
    validate_key_for,
)
from raydynamo.operations.shapes import check_request
from raydynamo.partition.item_writes import DeleteItemOp, ItemOp, PutItemOp, UpdateItemOp

RETURN_VALUES_PUT_DELETE = "ReturnValues can only be ALL_OLD or NONE"


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """A validated single-item write, ready to send to its partition."""

    schema: TableSchema
    table_name: str
    located: Located
    op: ItemOp
    return_consumed_capacity: str | None


def check_expression_mix(operation: str, request: Mapping[str, Any]) -> None:
    """Step 3: legacy and expression parameters mixed; maps given without any expression."""
    accepted = OPERATION_EXPRESSIONS[operation]
    _check_mix(request, accepted, OPERATION_LEGACY[operation])
    if not any(request.get(p) is not None for p in accepted):
        maps = ("ExpressionAttributeNames", "ExpressionAttributeValues")
        compile_request(operation, {m: request[m] for m in maps if request.get(m) is not None})


def bound_condition(
    compiled: CompiledExpressions, expected: LegacyTranslation | None
) -> WireCondition | None:
    """The write's condition in its wire form: the ConditionExpression, or else Expected."""
    if compiled.condition is not None:
        return encode_condition(compiled.condition, compiled.names, compiled.values)
    if expected is not None and expected.tree is not None:
        return encode_condition(expected.tree, expected.names, expected.values)  # type: ignore[arg-type]
    return None


def bound_update(
    compiled: CompiledExpressions, attribute_updates: LegacyTranslation | None
) -> WireUpdate | None:
    """The update in its wire form: the UpdateExpression, or else AttributeUpdates."""
    if compiled.update is not None:
        return encode_update(compiled.update, compiled.names, compiled.values)
    if attribute_updates is not None:
        tree = attribute_updates.tree
        assert isinstance(tree, UpdateExpression)
        return encode_update(tree, attribute_updates.names, attribute_updates.values, legacy=True)
    return None


def _check_key_values(key: Mapping[str, Any]) -> None:
    for name, value in key.items():
        validate_attribute_value(value, path=f"Key.{name}")


def _check_put_delete_return_values(request: Mapping[str, Any]) -> None:
    if request.get("ReturnValues") not in (None, "NONE", "ALL_OLD"):
        raise ValidationException(RETURN_VALUES_PUT_DELETE)


def _translate_expected(request: Mapping[str, Any]) -> LegacyTranslation | None:
    if request.get("Expected") is None and request.get("ConditionalOperator") is None:
        return None
    return translate_expected(request.get("Expected"), request.get("ConditionalOperator"))


def _check_condition(operation: str, request: Mapping[str, Any]) -> WireCondition | None:
    """Steps 6 for Put/Delete: Expected (and ConditionalOperator), then the expressions."""
    expected = _translate_expected(request)
    return bound_condition(compile_request(operation, request), expected)


def _return_options(errors: ConstraintErrors, request: Mapping[str, Any]) -> None:
    errors.enum(
        request.get("ReturnValuesOnConditionCheckFailure"),
        "returnValuesOnConditionCheckFailure",  # wording unverified: its place in the list
        RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
    )


def _planned(
    catalog: TableCatalogView,
    schema: TableSchema,
    request: Mapping[str, Any],
    item_or_key: Mapping[str, Any],
    op_of: Any,
) -> PlannedWrite:
    located = locate(catalog, schema, item_or_key)
    return PlannedWrite(
        schema,
        request["TableName"],
        located,
        op_of(located.storage_key),
        request.get("ReturnConsumedCapacity"),
    )


def plan_put_item(request: object, catalog: TableCatalogView) -> PlannedWrite:
    """Validate a PutItem request; the op replaces the item (condition checked at apply)."""
    request = check_request("PutItem", request)
    errors = ConstraintErrors()
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    check_table_name(errors, request.get("TableName"))
    errors.not_null(request.get("Item"), "item")
    errors.enum(request.get("ReturnValues"), "returnValues", RETURN_VALUES)
    errors.enum(
        request.get("ReturnItemCollectionMetrics"),
        "returnItemCollectionMetrics",
        RETURN_ITEM_COLLECTION_METRICS,
    )
    _return_options(errors, request)
    errors.raise_if_any()
    check_expression_mix("PutItem", request)
    validate_item(request["Item"], check_size=False)
    _check_put_delete_return_values(request)
    validate_item_size(request["Item"])
    condition = _check_condition("PutItem", request)
    schema = catalog.schema(request["TableName"])
    item = validate_item_for(schema, request["Item"])
    return _planned(
        catalog,
        schema,
        request,
        item,
        lambda storage_key: PutItemOp(
            storage_key,
            item,
            condition,
            request.get("ReturnValues") or "NONE",
            request.get("ReturnValuesOnConditionCheckFailure") or "NONE",
        ),
    )


def plan_delete_item(request: object, catalog: TableCatalogView) -> PlannedWrite:
    """Validate a DeleteItem request."""
    request = check_request("DeleteItem", request)
    errors = ConstraintErrors()
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    check_table_name(errors, request.get("TableName"))
    errors.enum(request.get("ReturnValues"), "returnValues", RETURN_VALUES)
    errors.enum(
        request.get("ReturnItemCollectionMetrics"),
        "returnItemCollectionMetrics",
        RETURN_ITEM_COLLECTION_METRICS,
    )
    errors.not_null(request.get("Key"), "key")
    _return_options(errors, request)
    errors.raise_if_any()
    check_expression_mix("DeleteItem", request)
    _check_key_values(request["Key"])
    _check_put_delete_return_values(request)
    condition = _check_condition("DeleteItem", request)
    schema = catalog.schema(request["TableName"])
    key = validate_key_for(schema, request["Key"])
    return _planned(
        catalog,
        schema,
        request,
        key,
        lambda storage_key: DeleteItemOp(
            storage_key,
            condition,
            request.get("ReturnValues") or "NONE",
            request.get("ReturnValuesOnConditionCheckFailure") or "NONE",
        ),
    )


def plan_update_item(request: object, catalog: TableCatalogView) -> PlannedWrite:
    """Validate an UpdateItem request (expressions or AttributeUpdates, any ReturnValues)."""
    request = check_request("UpdateItem", request)
    errors = ConstraintErrors()
    check_return_consumed_capacity(errors, request.get("ReturnConsumedCapacity"))
    check_table_name(errors, request.get("TableName"))
    errors.enum(
        request.get("ReturnItemCollectionMetrics"),
        "returnItemCollectionMetrics",
        RETURN_ITEM_COLLECTION_METRICS,
    )
    errors.enum(request.get("ReturnValues"), "returnValues", RETURN_VALUES)
    errors.not_null(request.get("Key"), "key")
    _return_options(errors, request)
    errors.raise_if_any()
    check_expression_mix("UpdateItem", request)
    _check_key_values(request["Key"])
    legacy_update = None
    if request.get("AttributeUpdates") is not None:
        legacy_update = translate_attribute_updates(request["AttributeUpdates"])
    expected = _translate_expected(request)
    compiled = compile_request("UpdateItem", request)
    schema = catalog.schema(request["TableName"])
    key = validate_key_for(schema, request["Key"])
    if compiled.update is not None:
        key_update_error(compiled.update, compiled.names, schema.key.names)
    if legacy_update is not None and legacy_update.tree is not None:
        key_update_error(legacy_update.tree, legacy_update.names, schema.key.names)  # type: ignore[arg-type]
    update = bound_update(compiled, legacy_update)
    condition = bound_condition(compiled, expected)
    return _planned(
        catalog,
        schema,
        request,
        key,
        lambda storage_key: UpdateItemOp(
            storage_key,
            key,
            update,
            condition,
            request.get("ReturnValues") or "NONE",
            request.get("ReturnValuesOnConditionCheckFailure") or "NONE",
        ),
    )
