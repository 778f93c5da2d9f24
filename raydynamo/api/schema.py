"""What the data path needs to know of a table: its name, id and primary key schema.

Routers, the operation planners (``operations``) and the partition executors all take a
``TableSchema``; the metadata layer builds it from the table's description. Also here: how an
item is stored (its storage key and its encoded value), shared by the write and read paths.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from raydynamo.storage.keycodec import decode_item_key, encode_item_key, key_hash

Item = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class KeySchema:
    partition_key: str
    partition_type: str  # "S" | "N" | "B"
    sort_key: str | None = None
    sort_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (
            (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)
        )

    def to_wire(self) -> list[Any]:
        return [self.partition_key, self.partition_type, self.sort_key, self.sort_type]

    @staticmethod
    def from_wire(value: list[Any]) -> KeySchema:
        return KeySchema(value[0], value[1], value[2], value[3])


@dataclass(frozen=True, slots=True)
class TableSchema:
    table_name: str
    table_id: str
    key: KeySchema


def storage_key(key: KeySchema, item_or_key: Mapping[str, Any]) -> bytes:
    """The partition-local storage key of an item (or of a Key map); inputs already validated."""
    sort_value = item_or_key[key.sort_key] if key.sort_key is not None else None
    return encode_item_key(item_or_key[key.partition_key], sort_value)


def item_key_hash(key: KeySchema, item_or_key: Mapping[str, Any]) -> int:
    """The 64-bit key hash that picks the partition."""
    return key_hash(item_or_key[key.partition_key])


def key_from_storage_key(key: KeySchema, data: bytes) -> Item:
    """The Key map (attribute name to value) that ``storage_key`` encoded into ``data``."""
    partition_value, sort_value = decode_item_key(data, key.partition_type, key.sort_type)
    out: Item = {key.partition_key: dict(partition_value)}
    if key.sort_key is not None and sort_value is not None:
        out[key.sort_key] = dict(sort_value)
    return out


def encode_item(item: Mapping[str, Any]) -> bytes:
    """An item's stored bytes (msgpack of the wire form: bytes stay bytes)."""
    return msgpack.packb(item, use_bin_type=True)


def decode_item(data: bytes) -> Item:
    return msgpack.unpackb(data, raw=False)
