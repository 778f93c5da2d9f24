"""The authority for metadata: table records in the system partition, replicated by Paxos.

The system partition (``SYSTEM_PARTITION``) is an ordinary replication group on the first storage
nodes; its keys are ``t/<table name>`` with a msgpack record ``{"description", "map",
"version"}``. Losing any single process loses no metadata: the controller reloads everything
from here when it restarts.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgpack

from raydynamo.actors.group_client import GroupClient
from raydynamo.partition.commands import Delete, Put, Write, encode_write

SYSTEM_PARTITION = "__system"
TABLE_PREFIX = b"t/"
TABLE_PREFIX_END = b"t0"


class SystemStore:
    def __init__(self, members: list[str], namespace: str, deadline_s: float = 60.0) -> None:
        self.group = GroupClient(SYSTEM_PARTITION, members, namespace, deadline_s=deadline_s)

    async def save(self, table_name: str, entry: dict[str, Any]) -> None:
        key = TABLE_PREFIX + table_name.encode()
        await self._write(Put(key, msgpack.packb(entry, use_bin_type=True)))

    async def delete(self, table_name: str) -> None:
        await self._write(Delete(TABLE_PREFIX + table_name.encode()))

    async def load_all(self) -> dict[str, dict[str, Any]]:
        pairs = await self.group.read_range(TABLE_PREFIX, TABLE_PREFIX_END)
        return {
            key[len(TABLE_PREFIX) :].decode(): msgpack.unpackb(value, raw=False)
            for key, value in pairs
        }

    async def _write(self, op: Put | Delete) -> None:
        request_id = uuid.uuid4().bytes
        command = encode_write(Write(request_id, (op,)))
        await self.group.write([(request_id, command)])
