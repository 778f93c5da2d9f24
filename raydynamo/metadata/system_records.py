"""The controller's records in the system partition: their keys and their bytes.

The system partition (``SYSTEM_PARTITION``) is an ordinary replication group; the controller
keeps everything it must not forget in it, one key per record, msgpack values::

    c/cluster          {"cluster_id"}                    the service's cluster id, written once
    t/<table name>     {"description", "map", "version"} a table and its partition map
    n/<storage node>   {"host", "directory_id"}          where a storage node runs, its directory
    h/<group id>       a ``HealIntent``                   a heal in progress (stored before acting)

``decode_state`` turns the partition's pairs into a ``SystemState``; records that do not decode
are reported, not fatal (a newer controller's extra keys must not stop an older one).
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from raydynamo.metadata.healing import HealIntent
from raydynamo.metadata.storage_hosts import StorageNodeRecord

log = logging.getLogger(__name__)

SYSTEM_PARTITION = "__system"
CLUSTER_KEY = b"c/cluster"
TABLE_PREFIX = b"t/"
NODE_PREFIX = b"n/"
INTENT_PREFIX = b"h/"


def table_key(table_name: str) -> bytes:
    return TABLE_PREFIX + table_name.encode()


def node_key(storage_node_id: str) -> bytes:
    return NODE_PREFIX + storage_node_id.encode()


def intent_key(group_id: str) -> bytes:
    return INTENT_PREFIX + group_id.encode()


def pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def cluster_record(cluster_id: str) -> bytes:
    return pack({"cluster_id": cluster_id})


@dataclass(slots=True)
class SystemState:
    cluster_id: str | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, StorageNodeRecord] = field(default_factory=dict)
    intents: dict[str, HealIntent] = field(default_factory=dict)
    unreadable: list[bytes] = field(default_factory=list)


def _name(key: bytes, prefix: bytes) -> str:
    return key[len(prefix) :].decode()


def decode_state(pairs: Mapping[bytes, bytes]) -> SystemState:
    state = SystemState()
    for key, value in sorted(pairs.items()):
        try:
            record = unpack(value)
            if key == CLUSTER_KEY:
                state.cluster_id = str(record["cluster_id"])
            elif key.startswith(TABLE_PREFIX):
                state.tables[_name(key, TABLE_PREFIX)] = dict(record)
            elif key.startswith(NODE_PREFIX):
                state.nodes[_name(key, NODE_PREFIX)] = StorageNodeRecord.from_wire(record)
            elif key.startswith(INTENT_PREFIX):
                state.intents[_name(key, INTENT_PREFIX)] = HealIntent.from_wire(record)
            else:
                state.unreadable.append(key)
        except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError):
            log.warning("system record %r does not decode; ignored", key)
            state.unreadable.append(key)
    return state
