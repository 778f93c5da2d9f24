"""Items to put: validated and made canonical once, quickly when they are plain.

Role: BatchWriteItem and the bulk writes of ``raydynamo.data`` validate every item exactly as
PutItem does (``api.values.validate_item``, then the key attributes against the table's key
schema, then ``canonicalize_item``) and need its size. Done that way an item is walked four times
(values, size, key, canonical form). ``plain_item`` does it in one pass for the common item, one
whose attributes are all S, N, B, BOOL or NULL (ASCII names), and answers ``None`` as soon as
anything is not plain or not valid; the caller then runs the full validation, which raises
DynamoDB's error. So an accepted item is exactly one the full path accepts, with the same
canonical form and size, and every refusal comes from the full path with its usual wording.

Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raydynamo.api.errors import ValidationException
from raydynamo.api.numbers import parse_number, parts_size, parts_to_text
from raydynamo.api.schema import Item, TableSchema
from raydynamo.api.sizes import ITEM_SIZE_MAX_BYTES, item_size
from raydynamo.api.text import has_lone_surrogate
from raydynamo.api.values import (
    ATTRIBUTE_NAME_BYTES_MAX,
    PARTITION_KEY_BYTES_MAX,
    SORT_KEY_BYTES_MAX,
    validate_item,
    value_type,
)
from raydynamo.operations.common import KEY_MISMATCH, key_elements, validate_item_for


def plain_item(item: object) -> tuple[Item, int] | None:
    """``(canonical copy, size in bytes)`` of a valid item of plain scalar attributes, or None
    when the item is not plain or not valid (then the full validation must run)."""
    if type(item) is not dict:
        return None
    canonical: Item = {}
    size = 0
    for name, value in item.items():
        if type(name) is not str or not name or not name.isascii():
            return None
        if len(name) > ATTRIBUTE_NAME_BYTES_MAX or type(value) is not dict or len(value) != 1:
            return None
        for tag, payload in value.items():
            if tag == "S":
                if type(payload) is not str:
                    return None
                if payload.isascii():
                    size += len(payload)
                elif has_lone_surrogate(payload):
                    return None
                else:
                    size += len(payload.encode("utf-8"))
                canonical[name] = {"S": payload}
            elif tag == "N":
                if type(payload) is not str:
                    return None
                try:
                    parts = parse_number(payload)
                except ValidationException:
                    return None
                size += parts_size(parts)
                canonical[name] = {"N": parts_to_text(parts)}
            elif tag == "B":
                if type(payload) is not bytes:
                    return None
                size += len(payload)
                canonical[name] = {"B": payload}
            elif tag == "BOOL":
                if type(payload) is not bool:
                    return None
                size += 1
                canonical[name] = {"BOOL": payload}
            elif tag == "NULL":
                if payload is not True:
                    return None
                size += 1
                canonical[name] = {"NULL": True}
            else:
                return None
        size += len(name)
    if size > ITEM_SIZE_MAX_BYTES:
        return None
    return canonical, size


def plain_key_fits(schema: TableSchema, item: Mapping[str, Any]) -> bool:
    """True when a ``plain_item`` result carries valid key attributes for ``schema``."""
    partition, sort = key_elements(schema.key)
    for element, bytes_max in ((partition, PARTITION_KEY_BYTES_MAX), (sort, SORT_KEY_BYTES_MAX)):
        if element is None:
            continue
        name, key_type = element
        value = item.get(name)
        if value is None:
            return False
        payload = value.get(key_type)
        if payload is None:
            return False
        if key_type == "N":
            continue
        length = len(payload.encode("utf-8")) if key_type == "S" else len(payload)
        if not 0 < length <= bytes_max:
            return False
    return True


def check_put_values(item: object) -> tuple[Item, int] | None:
    """The value checks of an item to put (before its table is looked up): the plain result,
    or None after the full checks passed (raises DynamoDB's error when they fail)."""
    plain = plain_item(item)
    if plain is None:
        validate_item(item, path="Item")
    return plain


def put_item_for(
    schema: TableSchema, item: Mapping[str, Any], plain: tuple[Item, int] | None
) -> tuple[Item, int]:
    """A put's item against its table's key schema: ``(canonical item, size)``. ``plain`` is
    ``check_put_values``'s result; a missing or mistyped key is "The provided key element does
    not match the schema", as BatchWriteItem words it."""
    if plain is not None and plain_key_fits(schema, plain[0]):
        return plain
    partition, sort = key_elements(schema.key)
    for element in (partition, sort):
        if element is None:
            continue
        name, key_type = element
        if name not in item or value_type(item[name]) != key_type:
            raise ValidationException(KEY_MISMATCH)
    canonical = validate_item_for(schema, item)
    return canonical, item_size(canonical)
