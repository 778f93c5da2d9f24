"""Item and attribute sizes, computed the way DynamoDB bills and limits them.

The rules (DynamoDB developer guide, "Item sizes and formats"; number sizes to the byte from
measurements against AWS, see ``numbers.number_size``):

- an item's size is the sum over its attributes of (UTF-8 bytes of the name) + (size of the value);
- S: UTF-8 bytes; B: raw bytes (not base64); N: see ``number_size``; BOOL and NULL: 1 byte;
- L and M: 3 bytes of overhead, plus 1 byte per element, plus the elements (for M each element
  is its key's UTF-8 bytes plus its value), so an empty L or M is 3 bytes;
- SS, NS, BS: the sum of their members' sizes (the guide states no per-member overhead for sets;
  # rule unverified: no measurement of set overhead against AWS was found).

An item of exactly ``ITEM_SIZE_MAX_BYTES`` (409,600) bytes is accepted and one byte more refused.

Invariants: sizes are computed on validated values only (this module does not validate; a
malformed value raises ``KeyError``/``TypeError``, a bug in the caller). This module is pure: it
must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.numbers import number_size

ITEM_SIZE_MAX_BYTES = 400 * 1024
CONTAINER_OVERHEAD_BYTES = 3
CONTAINER_ELEMENT_OVERHEAD_BYTES = 1

ITEM_SIZE_EXCEEDED = "Item size has exceeded the maximum allowed size"
# UpdateItem (and an Update in TransactWriteItems) words it differently.
ITEM_SIZE_TO_UPDATE_EXCEEDED = "Item size to update has exceeded the maximum allowed size"


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes one attribute value counts for, without its name."""
    ((tag, payload),) = value.items()
    if tag == "S":
        return _utf8_size(payload)
    if tag == "N":
        return number_size(payload)
    if tag == "B":
        return len(payload)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(_utf8_size(member) for member in payload)
    if tag == "NS":
        return sum(number_size(member) for member in payload)
    if tag == "BS":
        return sum(len(member) for member in payload)
    if tag == "L":
        return CONTAINER_OVERHEAD_BYTES + sum(
            CONTAINER_ELEMENT_OVERHEAD_BYTES + attribute_size(element) for element in payload
        )
    if tag == "M":
        return CONTAINER_OVERHEAD_BYTES + sum(
            CONTAINER_ELEMENT_OVERHEAD_BYTES + _utf8_size(name) + attribute_size(element)
            for name, element in payload.items()
        )
    raise KeyError(f"not an attribute value type: {tag!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes an item counts for: the sum of its attribute names (UTF-8) and values."""
    return sum(_utf8_size(name) + attribute_size(value) for name, value in item.items())


def validate_item_size(item: Mapping[str, Mapping[str, Any]], *, for_update: bool = False) -> int:
    """Return the item's size; raise ``ValidationException`` when it is above 400 KB."""
    size = item_size(item)
    if size > ITEM_SIZE_MAX_BYTES:
        raise ValidationException(
            ITEM_SIZE_TO_UPDATE_EXCEEDED if for_update else ITEM_SIZE_EXCEEDED
        )
    return size
