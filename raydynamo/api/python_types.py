"""Python values <-> attribute values, for the resource-style driver (``Table.put_item(Item=...)``).

The mapping a boto3 user already knows (boto3's ``TypeSerializer``/``TypeDeserializer``)::

    None                    <-> {"NULL": True}
    bool                    <-> {"BOOL": b}
    int, Decimal            --> {"N": str(n)}        {"N": s} --> Decimal(s)
    str                     <-> {"S": s}
    bytes, bytearray        --> {"B": bytes}         {"B": b} --> bytes
    set/frozenset of str    <-> {"SS": [...]}
    set of int/Decimal      <-> {"NS": [...]}        (members come back as Decimal)
    set of bytes            <-> {"BS": [...]}
    list, tuple             --> {"L": [...]}         {"L": [...]} --> list
    Mapping with str keys   <-> {"M": {...}}

Rules kept from boto3: ``float`` is refused (it cannot carry a decimal exactly; use ``Decimal``),
as are ``Decimal`` NaN and Infinity and any other type; an empty set serializes as
``{"NS": []}`` (which DynamoDB then refuses as an empty number set). Differences: binaries come
back as ``bytes`` (not boto3's ``Binary`` wrapper), and numbers are not range-checked here (the
server-side validation in ``values`` does that, with DynamoDB's messages). Errors are
``ValidationException`` with boto3's wording, so they are ``ClientError``s like every other
failure a user sees.

Invariants: ``deserialize(serialize(x))`` equals ``x`` for supported ``x`` (ints come back as
``Decimal``, tuples as lists, frozensets as sets); ``serialize(deserialize(v))`` equals ``v`` for a
valid ``v`` up to set member order. This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from raydynamo.api.errors import ValidationException

FLOAT_REFUSED = "Float types are not supported. Use Decimal types instead."
NAN_REFUSED = "Infinity and NaN not supported"

_BINARY_TYPES = (bytes, bytearray)


def _unsupported(value: object) -> ValidationException:
    return ValidationException(f'Unsupported type "{type(value)}" for value "{value}"')


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        raise ValidationException(FLOAT_REFUSED)
    return isinstance(value, int | Decimal)


def _number_text(value: int | Decimal) -> str:
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationException(NAN_REFUSED)
    return str(value)


def _serialize_set(value: set[Any] | frozenset[Any]) -> dict[str, Any]:
    # boto3's order of tests: an empty set passes the first one and becomes an NS.
    if all(_is_number(member) for member in value):
        return {"NS": [_number_text(member) for member in value]}
    if all(isinstance(member, str) for member in value):
        return {"SS": list(value)}
    if all(isinstance(member, _BINARY_TYPES) for member in value):
        return {"BS": [bytes(member) for member in value]}
    raise _unsupported(value)


def serialize(value: Any) -> dict[str, Any]:
    """The attribute value for a Python value (see the module docstring for the mapping)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number_text(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, _BINARY_TYPES):
        return {"B": bytes(value)}
    if isinstance(value, set | frozenset):
        return _serialize_set(value)
    if isinstance(value, list | tuple):
        return {"L": [serialize(element) for element in value]}
    if isinstance(value, Mapping):
        return {"M": serialize_item(value)}
    raise _unsupported(value)


def serialize_item(item: Mapping[Any, Any]) -> dict[str, dict[str, Any]]:
    """``serialize`` applied to every attribute of a Python dict (keys must be ``str``)."""
    result: dict[str, dict[str, Any]] = {}
    for name, value in item.items():
        if not isinstance(name, str):
            raise ValidationException(f'Attribute names must be strings, not "{type(name)}"')
        result[name] = serialize(value)
    return result


def deserialize(value: Mapping[str, Any]) -> Any:
    """The Python value of a valid attribute value (numbers as ``Decimal``, binaries as bytes)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValidationException(f"Not an attribute value: {value!r}")  # wording unverified
    ((tag, payload),) = value.items()
    if tag == "NULL":
        return None
    if tag in ("S", "BOOL"):
        return payload
    if tag == "N":
        return Decimal(payload)
    if tag == "B":
        return bytes(payload)
    if tag == "SS":
        return set(payload)
    if tag == "NS":
        return {Decimal(member) for member in payload}
    if tag == "BS":
        return {bytes(member) for member in payload}
    if tag == "L":
        return [deserialize(element) for element in payload]
    if tag == "M":
        return deserialize_item(payload)
    raise ValidationException(f"{tag} is not a supported type")  # wording unverified


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``deserialize`` applied to every attribute of an item."""
    return {name: deserialize(value) for name, value in item.items()}
