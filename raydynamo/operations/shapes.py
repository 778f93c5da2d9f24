"""The JSON shape of every item operation's request, checked at every level before anything else.

Role: DynamoDB's service model types every member of a request (a string, an integer, a
boolean, a list of something, a map from strings to something, a structure with named
members). A member of the wrong JSON type is refused before any rule is checked: the service
answers ``SerializationException``, and boto3 users see botocore's parameter validation words,
which we use::

    Invalid type for parameter Expected.a.AttributeValueList, value: 5, type: <class 'int'>,
    valid types: <class 'list'>, <class 'tuple'>
    Unknown parameter in RequestItems.t[0]: "X", must be one of: PutRequest, DeleteRequest

``check_request(operation, request)`` is the first step of every operation's planning: it
refuses strings that are not valid Unicode anywhere in the request (``api.text``), then walks
the request against ``SHAPES[operation]``. At each structure, unknown members first, then the
members in the service model's order, depth first. ``None`` stands for an absent member of a
structure (JSON ``null``: the rule checks that follow say what is required); inside a list or as
a map value it is a value of the wrong type. Integers outside Java's 32-bit range cannot be
read by the service either. An attribute value is checked only for being a map here; its
contents are the business of ``api.values`` (which words them the same way).

After ``check_request`` returns, every later check may index the request along its shape
without a type test. Invariant: raises nothing but ``ClientError`` subclasses, for any input.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raydynamo.api.errors import SerializationException
from raydynamo.api.text import refuse_lone_surrogates

_SHOWN_VALUE_CHARS_MAX = 200
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Shape:
    """One node of a request's shape: ``kind`` is string, integer, boolean, attribute_value,
    list (``member``), map (string keys, ``member`` values) or structure (``members``)."""

    kind: str
    member: Shape | None = None
    members: dict[str, Shape] = field(default_factory=dict)


STRING = Shape("string")
INTEGER = Shape("integer")
BOOLEAN = Shape("boolean")
ATTRIBUTE_VALUE = Shape("attribute_value")


def list_of(member: Shape) -> Shape:
    return Shape("list", member=member)


def map_of(member: Shape) -> Shape:
    return Shape("map", member=member)


def structure(**members: Shape) -> Shape:
    return Shape("structure", members=members)


ATTRIBUTE_MAP = map_of(ATTRIBUTE_VALUE)  # Item, Key, ExclusiveStartKey
NAMES = map_of(STRING)  # ExpressionAttributeNames
VALUES = map_of(ATTRIBUTE_VALUE)  # ExpressionAttributeValues
ATTRIBUTE_NAMES = list_of(STRING)  # AttributesToGet
CONDITIONS = map_of(  # KeyConditions, QueryFilter, ScanFilter
    structure(AttributeValueList=list_of(ATTRIBUTE_VALUE), ComparisonOperator=STRING)
)
EXPECTED = map_of(
    structure(
        Value=ATTRIBUTE_VALUE,
        Exists=BOOLEAN,
        ComparisonOperator=STRING,
        AttributeValueList=list_of(ATTRIBUTE_VALUE),
    )
)
ATTRIBUTE_UPDATES = map_of(structure(Value=ATTRIBUTE_VALUE, Action=STRING))
_RETURNS = {
    "ReturnValues": STRING,
    "ReturnConsumedCapacity": STRING,
    "ReturnItemCollectionMetrics": STRING,
}
_EXPRESSIONS = {
    "ConditionExpression": STRING,
    "ExpressionAttributeNames": NAMES,
    "ExpressionAttributeValues": VALUES,
    "ReturnValuesOnConditionCheckFailure": STRING,
}

# Members in the order of botocore's service model (its "must be one of" lists follow it).
SHAPES: dict[str, Shape] = {
    "PutItem": structure(
        TableName=STRING,
        Item=ATTRIBUTE_MAP,
        Expected=EXPECTED,
        **_RETURNS,
        ConditionalOperator=STRING,
        **_EXPRESSIONS,
    ),
    "DeleteItem": structure(
        TableName=STRING,
        Key=ATTRIBUTE_MAP,
        Expected=EXPECTED,
        ConditionalOperator=STRING,
        **_RETURNS,
        **_EXPRESSIONS,
    ),
    "UpdateItem": structure(
        TableName=STRING,
        Key=ATTRIBUTE_MAP,
        AttributeUpdates=ATTRIBUTE_UPDATES,
        Expected=EXPECTED,
        ConditionalOperator=STRING,
        **_RETURNS,
        UpdateExpression=STRING,
        **_EXPRESSIONS,
    ),
    "GetItem": structure(
        TableName=STRING,
        Key=ATTRIBUTE_MAP,
        AttributesToGet=ATTRIBUTE_NAMES,
        ConsistentRead=BOOLEAN,
        ReturnConsumedCapacity=STRING,
        ProjectionExpression=STRING,
        ExpressionAttributeNames=NAMES,
    ),
    "Query": structure(
        TableName=STRING,
        IndexName=STRING,
        Select=STRING,
        AttributesToGet=ATTRIBUTE_NAMES,
        Limit=INTEGER,
        ConsistentRead=BOOLEAN,
        KeyConditions=CONDITIONS,
        QueryFilter=CONDITIONS,
        ConditionalOperator=STRING,
        ScanIndexForward=BOOLEAN,
        ExclusiveStartKey=ATTRIBUTE_MAP,
        ReturnConsumedCapacity=STRING,
        ProjectionExpression=STRING,
        FilterExpression=STRING,
        KeyConditionExpression=STRING,
        ExpressionAttributeNames=NAMES,
        ExpressionAttributeValues=VALUES,
    ),
    "Scan": structure(
        TableName=STRING,
        IndexName=STRING,
        AttributesToGet=ATTRIBUTE_NAMES,
        Limit=INTEGER,
        Select=STRING,
        ScanFilter=CONDITIONS,
        ConditionalOperator=STRING,
        ExclusiveStartKey=ATTRIBUTE_MAP,
        ReturnConsumedCapacity=STRING,
        TotalSegments=INTEGER,
        Segment=INTEGER,
        ProjectionExpression=STRING,
        FilterExpression=STRING,
        ExpressionAttributeNames=NAMES,
        ExpressionAttributeValues=VALUES,
        ConsistentRead=BOOLEAN,
    ),
    "BatchGetItem": structure(
        RequestItems=map_of(
            structure(
                Keys=list_of(ATTRIBUTE_MAP),
                AttributesToGet=ATTRIBUTE_NAMES,
                ConsistentRead=BOOLEAN,
                ProjectionExpression=STRING,
                ExpressionAttributeNames=NAMES,
            )
        ),
        ReturnConsumedCapacity=STRING,
    ),
    "BatchWriteItem": structure(
        RequestItems=map_of(
            list_of(
                structure(
                    PutRequest=structure(Item=ATTRIBUTE_MAP),
                    DeleteRequest=structure(Key=ATTRIBUTE_MAP),
                )
            )
        ),
        ReturnConsumedCapacity=STRING,
        ReturnItemCollectionMetrics=STRING,
    ),
}

_VALID_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "attribute_value": (dict,),
    "list": (list, tuple),
    "map": (dict,),
    "structure": (dict,),
}
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "attribute_value": (dict,),
    "list": (list, tuple),
    "map": (dict,),
    "structure": (dict,),
}
_ACCEPTED_TYPES: dict[str, tuple[type, ...]] = {
    **_VALID_TYPES,
    "attribute_value": (Mapping,),
    "map": (Mapping,),
    "structure": (Mapping,),
}


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_VALUE_CHARS_MAX else shown[:_SHOWN_VALUE_CHARS_MAX] + "..."


def wrong_type(value: object, where: str, valid: tuple[type, ...]) -> SerializationException:
    """botocore's words for a member of the wrong type."""
    names = ", ".join(str(t) for t in valid)
    return SerializationException(
        f"Invalid type for parameter {where}, value: {_shown(value)}, type: {type(value)}, "
        f"valid types: {names}"
    )


def _check(value: object, shape: Shape, where: str) -> None:
    kind = shape.kind
    if type(value) not in _EXACT_TYPES[kind]:  # the common case is exact; else the full test
        accepted = _ACCEPTED_TYPES[kind]
        wrong_bool = isinstance(value, bool) and bool not in accepted
        if wrong_bool or not isinstance(value, accepted):
            raise wrong_type(value, where, _VALID_TYPES[kind])
    if kind == "attribute_value" or kind == "string" or kind == "boolean":
        return
    if kind == "integer":
        if not INT32_MIN <= value <= INT32_MAX:  # type: ignore[operator]
            # wording unverified: the service cannot read the number into its 32-bit field
            raise SerializationException(
                f"Invalid value for parameter {where}, value: {_shown(value)}, "
                f"valid range: {INT32_MIN} to {INT32_MAX}"
            )
        return
    member_shape = shape.member
    if kind == "list":
        assert member_shape is not None
        leaf = _LEAF_TYPES.get(member_shape.kind)
        for index, member in enumerate(value):  # type: ignore[arg-type]
            if type(member) is not leaf:  # the path is only spelled out when it may be needed
                _check(member, member_shape, f"{where}[{index}]")
    elif kind == "map":
        assert member_shape is not None
        leaf = _LEAF_TYPES.get(member_shape.kind)
        for key, member in value.items():  # type: ignore[union-attr]
            if type(key) is not str:
                raise wrong_type(key, f"{where} key", (str,))
            if type(member) is not leaf:
                _check(member, member_shape, f"{where}.{key}")
    else:
        check_structure(value, shape, where)  # type: ignore[arg-type]


# Members whose exact type alone settles their check (their contents are checked elsewhere).
_LEAF_TYPES: dict[str, type] = {"string": str, "boolean": bool, "attribute_value": dict}


def check_structure(value: Mapping[Any, Any], shape: Shape, where: str) -> None:
    """Unknown members first, then each present member in the model's order."""
    for name in value:
        if name not in shape.members:
            raise SerializationException(
                f'Unknown parameter in {where}: "{name}", must be one of: '
                f"{', '.join(shape.members)}"
            )
    for name, member_shape in shape.members.items():
        member = value.get(name)
        if member is not None:
            _check(member, member_shape, f"{where}.{name}" if where != "input" else name)


def check_request(operation: str, request: object) -> Mapping[str, Any]:
    """The first step of ``operation``: valid Unicode everywhere, then the JSON shape."""
    refuse_lone_surrogates(request)
    if not isinstance(request, Mapping):
        raise wrong_type(request, "input", (dict,))
    check_structure(request, SHAPES[operation], "input")
    return request
