"""Plain Python values <-> the low-level request and response shapes, for ``Table`` methods.

Role: what boto3's resource layer does around each call (its ``dynamodb/transform.py``), done
by our own code:

- requests: condition objects in ``KeyConditionExpression``/``FilterExpression``/
  ``ConditionExpression`` become expression text with generated placeholders merged into the
  request's ``ExpressionAttributeNames``/``ExpressionAttributeValues``; every Python value
  (``Item``, ``Key``, ``ExclusiveStartKey``, ``ExpressionAttributeValues``, and the legacy
  ``Expected``, ``AttributeUpdates``, ``KeyConditions``, ``QueryFilter``, ``ScanFilter``) becomes
  an attribute value;
- responses: ``Item``, ``Items``, ``Attributes``, ``LastEvaluatedKey`` and
  ``ItemCollectionMetrics.ItemCollectionKey`` become Python values (numbers as ``Decimal``,
  binaries as ``bytes``, sets as ``set``).

Serialization errors are ``TypeError`` as in boto3 (``float`` -> "Float types are not
supported. Use Decimal types instead."), raised before anything is sent. The conversion itself
is ``raydynamo.api.python_types``.

Pure functions; the input request is not mutated. Must not import ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raydynamo.api import python_types
from raydynamo.api.errors import ValidationException
from raydynamo.driver.conditions import ConditionBase, Placeholders, render_condition

# Expression parameters that accept condition objects, in the order placeholders are handed out.
CONDITION_PARAMETERS = ("KeyConditionExpression", "FilterExpression", "ConditionExpression")
_ITEM_PARAMETERS = ("Item", "Key", "ExclusiveStartKey")
_VALUE_LIST_PARAMETERS = ("KeyConditions", "QueryFilter", "ScanFilter")
_ITEM_RESULTS = ("Item", "Attributes", "LastEvaluatedKey")


def serialize(value: Any) -> dict[str, Any]:
    """The attribute value of a Python value; ``TypeError`` for what has none (floats...)."""
    try:
        return python_types.serialize(value)
    except ValidationException as err:
        raise TypeError(err.message) from None


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``serialize`` over every attribute of an item."""
    try:
        return python_types.serialize_item(item)
    except ValidationException as err:
        raise TypeError(err.message) from None


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return python_types.deserialize_item(item)


def _serialize_specs(specs: Mapping[str, Any], *, list_key: str | None) -> dict[str, Any]:
    """Legacy ``{name: {"Value": v, "AttributeValueList": [...], ...}}`` maps, serialized."""
    result: dict[str, Any] = {}
    for name, spec in specs.items():
        if not isinstance(spec, Mapping):
            result[name] = spec  # the server refuses it in its own words
            continue
        converted = dict(spec)
        if "Value" in converted:
            converted["Value"] = serialize(converted["Value"])
        if list_key is not None and isinstance(converted.get(list_key), list | tuple):
            converted[list_key] = [serialize(v) for v in converted[list_key]]
        result[name] = converted
    return result


def _build_conditions(request: dict[str, Any]) -> None:
    """Replace condition objects with text, merging placeholders into the request's maps."""
    if not any(isinstance(request.get(p), ConditionBase) for p in CONDITION_PARAMETERS):
        return
    names = request.get("ExpressionAttributeNames")
    values = request.get("ExpressionAttributeValues")
    placeholders = Placeholders(
        dict(names) if isinstance(names, Mapping) else {},
        dict(values) if isinstance(values, Mapping) else {},
    )
    for parameter in CONDITION_PARAMETERS:
        condition = request.get(parameter)
        if isinstance(condition, ConditionBase):
            request[parameter] = render_condition(
                condition, placeholders, is_key_condition=parameter == "KeyConditionExpression"
            )
    if placeholders.names:
        request["ExpressionAttributeNames"] = placeholders.names
    if placeholders.values:
        request["ExpressionAttributeValues"] = placeholders.values


def transform_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The low-level request for a ``Table`` method's Python-valued arguments."""
    request = dict(kwargs)
    _build_conditions(request)
    values = request.get("ExpressionAttributeValues")
    if isinstance(values, Mapping):
        request["ExpressionAttributeValues"] = {k: serialize(v) for k, v in values.items()}
    for parameter in _ITEM_PARAMETERS:
        if isinstance(request.get(parameter), Mapping):
            request[parameter] = serialize_item(request[parameter])
    if isinstance(request.get("Expected"), Mapping):
        request["Expected"] = _serialize_specs(request["Expected"], list_key="AttributeValueList")
    if isinstance(request.get("AttributeUpdates"), Mapping):
        request["AttributeUpdates"] = _serialize_specs(request["AttributeUpdates"], list_key=None)
    for parameter in _VALUE_LIST_PARAMETERS:
        if isinstance(request.get(parameter), Mapping):
            request[parameter] = _serialize_specs(request[parameter], list_key="AttributeValueList")
    return request


def transform_response(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` with its attribute values turned into Python values (in place)."""
    for key in _ITEM_RESULTS:
        if key in response and response[key] is not None:
            response[key] = deserialize_item(response[key])
    if "Items" in response:
        response["Items"] = [deserialize_item(item) for item in response["Items"]]
    metrics = response.get("ItemCollectionMetrics")
    if isinstance(metrics, Mapping) and "ItemCollectionKey" in metrics:
        response["ItemCollectionMetrics"] = {
            **metrics,
            "ItemCollectionKey": deserialize_item(metrics["ItemCollectionKey"]),
        }
    return response
