"""The table of operations both clients are generated from, and botocore's parameter checks.

Role: one ``Operation`` per DynamoDB operation the driver exposes, naming its required and
optional top-level parameters. ``Client`` and ``AsyncClient`` are not written method by method:
``install_operations`` turns each row into a method (``put_item``, ``query``, ...) through a
factory each client supplies, so the two surfaces cannot drift apart.

``prepare_request`` does what botocore does before sending: refuses positional arguments
(``TypeError: put_item() only accepts keyword arguments.``), then reports every missing required
parameter, unknown parameter and top-level type mismatch at once as ``ParamValidationError``.
Values inside the parameters (attribute values, expressions) are the server's to validate.

An operation missing from this table is not a method: ``client.restore_table_from_backup``
raises ``AttributeError`` rather than silently doing nothing.

This module must not import ray.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from raydynamo.driver.exceptions import ParamValidationError

_STR: tuple[type, ...] = (str,)
_INT: tuple[type, ...] = (int,)
_BOOL: tuple[type, ...] = (bool,)
_MAP: tuple[type, ...] = (Mapping,)
_LIST: tuple[type, ...] = (list, tuple)

# The top-level type of every parameter any operation below accepts (botocore's shapes).
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "TableName": _STR,
    "Item": _MAP,
    "Key": _MAP,
    "ConditionExpression": _STR,
    "UpdateExpression": _STR,
    "KeyConditionExpression": _STR,
    "FilterExpression": _STR,
    "ProjectionExpression": _STR,
    "ExpressionAttributeNames": _MAP,
    "ExpressionAttributeValues": _MAP,
    "ReturnValues": _STR,
    "ReturnConsumedCapacity": _STR,
    "ReturnItemCollectionMetrics": _STR,
    "ReturnValuesOnConditionCheckFailure": _STR,
    "Expected": _MAP,
    "ConditionalOperator": _STR,
    "AttributesToGet": _LIST,
    "AttributeUpdates": _MAP,
    "ConsistentRead": _BOOL,
    "IndexName": _STR,
    "Select": _STR,
    "Limit": _INT,
    "KeyConditions": _MAP,
    "QueryFilter": _MAP,
    "ScanFilter": _MAP,
    "ScanIndexForward": _BOOL,
    "ExclusiveStartKey": _MAP,
    "TotalSegments": _INT,
    "Segment": _INT,
    "RequestItems": _MAP,
    "TransactItems": _LIST,
    "ClientRequestToken": _STR,
    "AttributeDefinitions": _LIST,
    "KeySchema": _LIST,
    "LocalSecondaryIndexes": _LIST,
    "GlobalSecondaryIndexes": _LIST,
    "GlobalSecondaryIndexUpdates": _LIST,
    "BillingMode": _STR,
    "ProvisionedThroughput": _MAP,
    "OnDemandThroughput": _MAP,
    "WarmThroughput": _MAP,
    "StreamSpecification": _MAP,
    "SSESpecification": _MAP,
    "ReplicaUpdates": _LIST,
    "Tags": _LIST,
    "TableClass": _STR,
    "DeletionProtectionEnabled": _BOOL,
    "ResourcePolicy": _STR,
    "ExclusiveStartTableName": _STR,
}

_ITEM_WRITE = (
    "Expected ReturnValues ReturnConsumedCapacity ReturnItemCollectionMetrics ConditionalOperator"
    " ConditionExpression ExpressionAttributeNames ExpressionAttributeValues"
    " ReturnValuesOnConditionCheckFailure"
)


@dataclass(frozen=True)
class Operation:
    """One DynamoDB operation: its name, the method name, and its top-level parameters."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def method(self) -> str:
        """boto3's method name: ``PutItem`` -> ``put_item``."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.required + self.optional


def _op(name: str, required: str = "", optional: str = "") -> Operation:
    return Operation(name, tuple(required.split()), tuple(optional.split()))


OPERATIONS: tuple[Operation, ...] = (
    _op(
        "CreateTable",
        "AttributeDefinitions TableName KeySchema",
        "LocalSecondaryIndexes GlobalSecondaryIndexes BillingMode ProvisionedThroughput"
        " StreamSpecification SSESpecification Tags TableClass DeletionProtectionEnabled"
        " ResourcePolicy OnDemandThroughput WarmThroughput",
    ),
    _op(
        "UpdateTable",
        "TableName",
        "AttributeDefinitions BillingMode ProvisionedThroughput GlobalSecondaryIndexUpdates"
        " StreamSpecification SSESpecification ReplicaUpdates TableClass"
        " DeletionProtectionEnabled OnDemandThroughput WarmThroughput",
    ),
    _op("DeleteTable", "TableName"),
    _op("DescribeTable", "TableName"),
    _op("DescribePartitions", "TableName"),  # raydynamo's own: partitions, leaders, load
    _op("ListTables", "", "ExclusiveStartTableName Limit"),
    _op("DescribeLimits"),
    _op("PutItem", "TableName Item", _ITEM_WRITE),
    _op(
        "GetItem",
        "TableName Key",
        "AttributesToGet ConsistentRead ReturnConsumedCapacity ProjectionExpression"
        " ExpressionAttributeNames",
    ),
    _op("DeleteItem", "TableName Key", _ITEM_WRITE),
    _op("UpdateItem", "TableName Key", "AttributeUpdates UpdateExpression " + _ITEM_WRITE),
    _op(
        "Query",
        "TableName",
        "IndexName Select AttributesToGet Limit ConsistentRead KeyConditions QueryFilter"
        " ConditionalOperator ScanIndexForward ExclusiveStartKey ReturnConsumedCapacity"
        " ProjectionExpression FilterExpression KeyConditionExpression"
        " ExpressionAttributeNames ExpressionAttributeValues",
    ),
    _op(
        "Scan",
        "TableName",
        "IndexName AttributesToGet Limit Select ScanFilter ConditionalOperator"
        " ExclusiveStartKey ReturnConsumedCapacity TotalSegments Segment ProjectionExpression"
        " FilterExpression ExpressionAttributeNames ExpressionAttributeValues ConsistentRead",
    ),
    _op("BatchGetItem", "RequestItems", "ReturnConsumedCapacity"),
    _op("BatchWriteItem", "RequestItems", "ReturnConsumedCapacity ReturnItemCollectionMetrics"),
    _op("TransactGetItems", "TransactItems", "ReturnConsumedCapacity"),
    _op(
        "TransactWriteItems",
        "TransactItems",
        "ReturnConsumedCapacity ReturnItemCollectionMetrics ClientRequestToken",
    ),
)

OPERATIONS_BY_METHOD: dict[str, Operation] = {op.method: op for op in OPERATIONS}


def _type_text(types: tuple[type, ...]) -> str:
    shown = {Mapping: dict}
    return ", ".join(str(shown.get(t, t)) for t in types)


def prepare_request(
    operation: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The request for ``operation`` from a method's arguments, checked as botocore checks it."""
    if args:
        raise TypeError(f"{operation.method}() only accepts keyword arguments.")
    problems = [
        f'Missing required parameter in input: "{name}"'
        for name in operation.required
        if name not in kwargs
    ]
    for name, value in kwargs.items():
        if name not in operation.parameters:
            accepted = ", ".join(operation.parameters)
            problems.append(f'Unknown parameter in input: "{name}", must be one of: {accepted}')
            continue
        valid = PARAMETER_TYPES[name]
        if not isinstance(value, valid):
            problems.append(
                f"Invalid type for parameter {name}, value: {value!r}, type: {type(value)}, "
                f"valid types: {_type_text(valid)}"
            )
    if problems:
        raise ParamValidationError("\n".join(problems))
    return kwargs


def install_operations(cls: type, factory: Callable[[Operation], Callable[..., Any]]) -> type:
    """Add one method per row of ``OPERATIONS`` to ``cls``, each built by ``factory``."""
    for operation in OPERATIONS:
        method = factory(operation)
        method.__name__ = operation.method
        method.__qualname__ = f"{cls.__qualname__}.{operation.method}"
        method.__doc__ = (
            f"DynamoDB's {operation.name}, with boto3's keyword arguments "
            f"(required: {', '.join(operation.required) or 'none'})."
        )
        setattr(cls, operation.method, method)
    return cls
