"""Attribute values in DynamoDB's low-level wire format: validation, keys and canonical form.

Every item inside raydynamo is ``dict[str, AttributeValue]`` and an attribute value is a one-key
dict: ``{"S": str}``, ``{"N": str}`` (decimal text), ``{"B": bytes}``, ``{"BOOL": bool}``,
``{"NULL": True}``, ``{"L": [AttributeValue]}``, ``{"M": {str: AttributeValue}}``,
``{"SS": [str]}``, ``{"NS": [str]}``, ``{"BS": [bytes]}``. Binary payloads are ``bytes`` (or
``bytearray``) at this layer, never base64 text: base64 belongs to a JSON transport, which decodes
it before values reach here.

Errors, in DynamoDB's wording (current validation layer; the operation adds the
``"1 validation error detected: "`` envelope or the ``ExpressionAttributeValues contains invalid
value: ... for key :v`` wrapper where DynamoDB does)::

    ValidationException      the value breaks a DynamoDB rule (numbers, sets, NULL, nesting, keys)
    SerializationException   the Python shape is wrong (``{"N": 5}``, ``{"B": "text"}``, a set
                             member of the wrong type, an unknown type tag); DynamoDB answers a
                             mistyped JSON member with SerializationException, and the message
                             follows botocore's parameter validation, naming the ``path``
    (a string that is not valid Unicode, a lone surrogate, is a ValidationException: ``text``)

Invariants: validation never mutates its input; a value that passes ``validate_attribute_value``
can be sized (``sizes``), compared (``comparison``), canonicalized and key-encoded without
raising. Nesting: a top-level value is level 1 and DynamoDB accepts 32 levels (a leaf under 31
maps or lists), refusing the first value found at level 33 before looking at its contents.

The functions other layers use are importable from here: validation, ``canonicalize``, numbers
(``to_decimal``, ``canonical_number``, ...), sizes (``attribute_size``, ``item_size``,
``ITEM_SIZE_MAX_BYTES``), comparison (``values_equal``, ``compare_scalars``) and Python
conversion (``serialize``, ``deserialize``).

This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from raydynamo.api.comparison import compare_scalars, value_type, values_equal
from raydynamo.api.errors import SerializationException, ValidationException
from raydynamo.api.numbers import (
    NumberParts,
    add_numbers,
    canonical_number,
    compare_numbers,
    from_decimal,
    number_size,
    parse_number,
    parts_to_text,
    subtract_numbers,
    to_decimal,
)
from raydynamo.api.python_types import deserialize, deserialize_item, serialize, serialize_item
from raydynamo.api.sizes import (
    ITEM_SIZE_EXCEEDED,
    ITEM_SIZE_MAX_BYTES,
    ITEM_SIZE_TO_UPDATE_EXCEEDED,
    attribute_size,
    item_size,
    validate_item_size,
)
from raydynamo.api.text import LONE_SURROGATE_MESSAGE, has_lone_surrogate

__all__ = [
    "ATTRIBUTE_TYPES",
    "ITEM_SIZE_EXCEEDED",
    "ITEM_SIZE_MAX_BYTES",
    "ITEM_SIZE_TO_UPDATE_EXCEEDED",
    "KEY_ATTRIBUTE_TYPES",
    "NESTING_LEVELS_MAX",
    "PARTITION_KEY_BYTES_MAX",
    "SORT_KEY_BYTES_MAX",
    "NumberParts",
    "add_numbers",
    "attribute_size",
    "canonical_number",
    "canonicalize",
    "canonicalize_item",
    "compare_numbers",
    "compare_scalars",
    "deserialize",
    "deserialize_item",
    "from_decimal",
    "item_size",
    "number_size",
    "parse_number",
    "serialize",
    "serialize_item",
    "subtract_numbers",
    "to_decimal",
    "validate_attribute_value",
    "validate_item",
    "validate_item_key",
    "validate_item_size",
    "validate_key",
    "validate_key_attribute",
    "value_type",
    "values_equal",
]

AttributeValue = dict[str, Any]

ATTRIBUTE_TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
KEY_ATTRIBUTE_TYPES = ("S", "N", "B")
NESTING_LEVELS_MAX = 32
PARTITION_KEY_BYTES_MAX = 2048
SORT_KEY_BYTES_MAX = 1024

INVALID = "One or more parameter values were invalid: "
NOT_VALID = "One or more parameter values are not valid. "
AV_EMPTY = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
AV_MULTIPLE = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
NULL_NOT_TRUE = INVALID + "Null attribute value types must have the value of true"
NESTING_EXCEEDED = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
# DynamoDB's own typos ("An string", the double space) are kept on purpose.
EMPTY_SET = {
    "SS": INVALID + "An string set  may not be empty",
    "NS": INVALID + "An number set  may not be empty",
    "BS": INVALID + "Binary sets should not be empty",
}
NS_DUPLICATES = INVALID + "Input collection contains duplicates."
ATTRIBUTE_NAME_BYTES_MAX = 65535
# wording unverified: DynamoDB Local's error catalog has "Empty attribute name" and "Attribute name
# is too large, must be less than 65536 bytes"; the prefix is the service's usual one.
EMPTY_ATTRIBUTE_NAME = INVALID + "Empty attribute name"
ATTRIBUTE_NAME_TOO_LARGE = INVALID + "Attribute name is too large, must be less than 65536 bytes"

_BINARY_TYPES = (bytes, bytearray)
_SEQUENCE_TYPES = (list, tuple)
_SHOWN_VALUE_CHARS_MAX = 200  # a wrong 400 KB value must not make a 400 KB message


# ---------------------------------------------------------------- shape errors (Python types)


def _type_name(types: tuple[type, ...]) -> str:
    return ", ".join(str(t) for t in types)


def _wrong_type(value: object, param: str, valid: tuple[type, ...]) -> SerializationException:
    # botocore's ParamValidationError wording, which is what a boto3 user sees for these
    shown = repr(value)
    if len(shown) > _SHOWN_VALUE_CHARS_MAX:
        shown = shown[:_SHOWN_VALUE_CHARS_MAX] + "..."
    return SerializationException(
        f"Invalid type for parameter {param}, value: {shown}, type: {type(value)}, "
        f"valid types: {_type_name(valid)}"
    )


def _check_text(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise _wrong_type(value, param, (str,))
    if has_lone_surrogate(value):  # operations refuse these first (``text``); here for callers
        raise ValidationException(LONE_SURROGATE_MESSAGE.format(where=param))
    return value


def _check_binary(value: object, param: str) -> bytes | bytearray:
    if not isinstance(value, _BINARY_TYPES):
        raise _wrong_type(value, param, _BINARY_TYPES)
    return value


def _check_sequence(value: object, param: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, _SEQUENCE_TYPES):
        raise _wrong_type(value, param, _SEQUENCE_TYPES)
    return value


# ---------------------------------------------------------------- set duplicate messages


def _duplicate_rendering(members: list[Any], sort_key: Callable[[Any], Any]) -> list[Any] | None:
    """DynamoDB's listing of a set with a repeat, or None when the members are distinct.

    Captured against AWS: the members seen before the first repeat in byte order, then the
    repeat, then the rest as sent (``b, a, b`` -> ``["a", "b", "b"]``).
    """
    seen: dict[Any, Any] = {}
    for index, member in enumerate(members):
        key = sort_key(member)
        if key in seen:
            ordered = [seen[k] for k in sorted(seen)]
            return [*ordered, member, *members[index + 1 :]]
        seen[key] = member
    return None


def _check_ss_duplicates(members: list[str]) -> None:
    listing = _duplicate_rendering(members, lambda s: s)
    if listing is not None:
        rendered = ", ".join(f'"{s}"' for s in listing)
        raise ValidationException(f"{INVALID}Input collection [{rendered}] contains duplicates.")


def _check_bs_duplicates(members: list[bytes | bytearray]) -> None:
    listing = _duplicate_rendering(members, bytes)
    if listing is not None:
        rendered = ",".join(f'"{base64.b64encode(bytes(b)).decode("ascii")}"' for b in listing)
        # DynamoDB's missing space before "of" is kept on purpose.
        raise ValidationException(
            f"{INVALID}Input collection [{rendered}]of type BS contains duplicates."
        )


# ---------------------------------------------------------------- per-type checks


def _check_s(payload: object, param: str, level: int) -> None:
    _check_text(payload, param)


def _check_n(payload: object, param: str, level: int) -> None:
    if not isinstance(payload, str):
        raise _wrong_type(payload, param, (str,))
    parse_number(payload)


def _check_b(payload: object, param: str, level: int) -> None:
    _check_binary(payload, param)


def _check_bool(payload: object, param: str, level: int) -> None:
    if not isinstance(payload, bool):
        raise _wrong_type(payload, param, (bool,))


def _check_null(payload: object, param: str, level: int) -> None:
    if not isinstance(payload, bool):
        raise _wrong_type(payload, param, (bool,))
    if not payload:
        raise ValidationException(NULL_NOT_TRUE)


def _check_ss(payload: object, param: str, level: int) -> None:
    members = list(_check_sequence(payload, param))
    if not members:
        raise ValidationException(EMPTY_SET["SS"])
    for index, member in enumerate(members):
        _check_text(member, f"{param}[{index}]")
    _check_ss_duplicates(members)


def _check_ns(payload: object, param: str, level: int) -> None:
    members = list(_check_sequence(payload, param))
    if not members:
        raise ValidationException(EMPTY_SET["NS"])
    seen: set[NumberParts] = set()
    duplicate = False
    for index, member in enumerate(members):
        if not isinstance(member, str):
            raise _wrong_type(member, f"{param}[{index}]", (str,))
        parts = parse_number(member)
        duplicate = duplicate or parts in seen
        seen.add(parts)
    if duplicate:
        raise ValidationException(NS_DUPLICATES)


def _check_bs(payload: object, param: str, level: int) -> None:
    members = list(_check_sequence(payload, param))
    if not members:
        raise ValidationException(EMPTY_SET["BS"])
    for index, member in enumerate(members):
        _check_binary(member, f"{param}[{index}]")
    _check_bs_duplicates(members)


def _check_l(payload: object, param: str, level: int) -> None:
    for index, element in enumerate(_check_sequence(payload, param)):
        _validate(element, f"{param}[{index}]", level + 1)


def _check_m(payload: object, param: str, level: int) -> None:
    if not isinstance(payload, Mapping):
        raise _wrong_type(payload, param, (dict,))
    for name, element in payload.items():
        if not isinstance(name, str):
            raise _wrong_type(name, f"{param} key", (str,))
        _validate(element, f"{param}.{name}", level + 1)


_CHECKS: dict[str, Callable[[object, str, int], None]] = {
    "S": _check_s,
    "N": _check_n,
    "B": _check_b,
    "BOOL": _check_bool,
    "NULL": _check_null,
    "SS": _check_ss,
    "NS": _check_ns,
    "BS": _check_bs,
    "L": _check_l,
    "M": _check_m,
}


def _validate(value: object, param: str, level: int) -> None:
    if level > NESTING_LEVELS_MAX:
        raise ValidationException(NESTING_EXCEEDED)
    if not isinstance(value, Mapping):
        raise _wrong_type(value, param, (dict,))
    if not value:
        raise ValidationException(AV_EMPTY)
    for tag in value:
        if tag not in _CHECKS:
            raise SerializationException(
                f'Unknown parameter in {param}: "{tag}", must be one of: '
                + ", ".join(ATTRIBUTE_TYPES)
            )
    # DynamoDB checks each member's contents before it counts them (dynalite's captures).
    for tag, payload in value.items():
        _CHECKS[tag](payload, f"{param}.{tag}", level)
    if len(value) > 1:
        raise ValidationException(AV_MULTIPLE)


def validate_attribute_value(value: object, *, path: str = "") -> None:
    """Raise unless ``value`` is a valid attribute value; it counts as a top-level value (level 1).

    ``path`` names where the value sits (``"Item.a"``, ``"ExpressionAttributeValues.:v"``) and
    appears only in ``SerializationException`` messages; DynamoDB's validation messages never
    name a path.
    """
    _validate(value, path or "AttributeValue", 1)


def validate_item(item: object, *, path: str = "Item", check_size: bool = True) -> None:
    """Raise unless ``item`` is a map of valid attribute values (and, by default, at most 400 KB).

    Key attributes are checked separately (``validate_item_key``), because only the table's key
    schema says which attributes they are.
    """
    if not isinstance(item, Mapping):
        raise _wrong_type(item, path, (dict,))
    for name, value in item.items():
        if not isinstance(name, str):
            raise _wrong_type(name, f"{path} key", (str,))
        _validate(value, f"{path}.{name}", 1)
        _check_attribute_name(name)
    if check_size:
        validate_item_size(item)


def _check_attribute_name(name: str) -> None:
    """An item's attribute name: 1 to 65535 UTF-8 bytes (ScyllaDB's tests saw DynamoDB refuse
    65536, "contrary to what the documentation suggests")."""
    if name == "":
        raise ValidationException(EMPTY_ATTRIBUTE_NAME)
    if (
        len(name) * 4 > ATTRIBUTE_NAME_BYTES_MAX
        and len(name.encode("utf-8")) > ATTRIBUTE_NAME_BYTES_MAX
    ):
        raise ValidationException(ATTRIBUTE_NAME_TOO_LARGE)


# ---------------------------------------------------------------- keys


def _key_role_is_partition(role: str) -> bool:
    if role in ("partition", "HASH"):
        return True
    if role in ("sort", "RANGE"):
        return False
    raise ValueError(f"key role must be 'partition'/'HASH' or 'sort'/'RANGE', not {role!r}")


def validate_key_attribute(name: str, value: object, key_type: str, *, role: str) -> None:
    """Raise unless ``value`` is a valid value for the key attribute ``name`` of type ``key_type``.

    ``role`` is ``"partition"`` (or ``"HASH"``) or ``"sort"`` (or ``"RANGE"``). Checks, in
    DynamoDB's order: the value itself, its type against the schema, emptiness, then the size
    limit (2048 bytes for a partition key, 1024 for a sort key; UTF-8 bytes for S, raw bytes for
    B, both inclusive).
    """
    assert key_type in KEY_ATTRIBUTE_TYPES, key_type
    is_partition = _key_role_is_partition(role)
    validate_attribute_value(value, path=f"Key.{name}")
    assert isinstance(value, Mapping)
    actual = value_type(value)
    if actual != key_type:
        raise ValidationException(
            f"{INVALID}Type mismatch for key {name} expected: {key_type} actual: {actual}"
        )
    payload = value[actual]
    if actual == "N":
        return
    size = len(payload.encode("utf-8")) if actual == "S" else len(payload)
    if size == 0:
        kind = "string" if actual == "S" else "binary"
        raise ValidationException(
            f"{NOT_VALID}The AttributeValue for a key attribute cannot contain an empty "
            f"{kind} value. Key: {name}"
        )
    if is_partition and size > PARTITION_KEY_BYTES_MAX:
        # DynamoDB's missing space before 2048 is kept on purpose.
        raise ValidationException(
            f"{INVALID}Size of hashkey has exceeded the maximum size limit of"
            f"{PARTITION_KEY_BYTES_MAX} bytes"
        )
    if not is_partition and size > SORT_KEY_BYTES_MAX:
        raise ValidationException(
            f"{INVALID}Aggregated size of all range keys has exceeded the size limit of "
            f"{SORT_KEY_BYTES_MAX} bytes"
        )


KeyElement = tuple[str, str]  # (attribute name, "S" | "N" | "B")


def validate_item_key(
    item: Mapping[str, Any], partition_key: KeyElement, sort_key: KeyElement | None = None
) -> None:
    """Raise unless a (value-validated) item carries valid key attributes for the schema."""
    elements = [(partition_key, "partition")] + ([(sort_key, "sort")] if sort_key else [])
    for (name, key_type), role in elements:
        if name not in item:
            raise ValidationException(f"{INVALID}Missing the key {name} in the item")
        validate_key_attribute(name, item[name], key_type, role=role)


def validate_key(
    key: object, partition_key: KeyElement, sort_key: KeyElement | None = None
) -> None:
    """Raise unless a ``Key`` parameter names exactly the schema's key attributes, validly."""
    if not isinstance(key, Mapping):
        raise _wrong_type(key, "Key", (dict,))
    for name, value in key.items():
        _validate(value, f"Key.{name}", 1)
    expected = {partition_key[0]} | ({sort_key[0]} if sort_key else set())
    if set(key) != expected:
        raise ValidationException("The provided key element does not match the schema")
    validate_item_key(key, partition_key, sort_key)


# ---------------------------------------------------------------- canonical form


def canonicalize(value: Mapping[str, Any]) -> AttributeValue:
    """A copy of a valid value with numbers in DynamoDB's normalized text and binaries as bytes.

    This is the form stored and returned (``{"N": "01.50"}`` -> ``{"N": "1.5"}``); set member
    order is kept.
    """
    ((tag, payload),) = value.items()
    if tag == "N":
        return {"N": parts_to_text(parse_number(payload))}
    if tag == "NS":
        return {"NS": [parts_to_text(parse_number(member)) for member in payload]}
    if tag == "B":
        return {"B": bytes(payload)}
    if tag == "BS":
        return {"BS": [bytes(member) for member in payload]}
    if tag == "SS":
        return {"SS": list(payload)}
    if tag == "L":
        return {"L": [canonicalize(element) for element in payload]}
    if tag == "M":
        return {"M": {name: canonicalize(element) for name, element in payload.items()}}
    return {tag: payload}


def canonicalize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, AttributeValue]:
    """``canonicalize`` applied to every attribute of a valid item."""
    return {name: canonicalize(value) for name, value in item.items()}
