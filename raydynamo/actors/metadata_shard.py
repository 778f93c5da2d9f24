"""Metadata shards: an in-memory, sharded cache of table entries in front of the authority.

Each shard holds the tables whose name hashes to it (``shard_of``): for each, an entry with the
table's description record and partition map, versioned by the map version. The controller
pushes every change; a shard that restarts empty asks the controller for its tables before it
answers anything. Routers call ``get`` with the names they cache, once per refresh period.
Shards count the requests they serve, which the cold-router experiment reads.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import ray

TableEntry = dict[str, Any]  # {"description": record, "map": partition map wire}


def metadata_shard_name(index: int) -> str:
    return f"raydynamo-meta-{index}"


def shard_of(table_name: str, shards: int) -> int:
    return zlib.crc32(table_name.encode()) % shards


@ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=1000)
class MetadataShard:
    def __init__(self, index: int, shards: int, namespace: str, controller_name: str) -> None:
        self.index = index
        self.shards = shards
        self.namespace = namespace
        self.controller_name = controller_name
        self.entries: dict[str, TableEntry] = {}
        self.loaded = False
        self.loading: asyncio.Lock | None = None
        self.controller: Any = None
        self.requests = 0
        self.tables_served = 0

    async def _ensure_loaded(self) -> None:
        if self.loaded:
            return
        if self.loading is None:
            self.loading = asyncio.Lock()
        async with self.loading:
            if self.loaded:
                return
            if self.controller is None:  # looked up off the event loop, then kept
                self.controller = await asyncio.to_thread(
                    ray.get_actor, self.controller_name, namespace=self.namespace
                )
            try:
                entries = await self.controller.shard_snapshot.remote(self.index, self.shards)
            except Exception:
                self.controller = None  # a controller started anew is another actor: look again
                raise
            for name, entry in entries.items():
                self._store(name, entry)
            self.loaded = True

    def _store(self, name: str, entry: TableEntry | None) -> None:
        if entry is None:
            self.entries.pop(name, None)
            return
        current = self.entries.get(name)
        if current is None or entry["version"] >= current["version"]:
            self.entries[name] = entry

    async def put(self, updates: dict[str, TableEntry | None]) -> None:
        """The controller's push: newer versions replace older; None removes a table."""
        for name, entry in updates.items():
            self._store(name, entry)

    async def get(self, names: list[str]) -> dict[str, TableEntry | None]:
        await self._ensure_loaded()
        self.requests += 1
        self.tables_served += len(names)
        return {name: self.entries.get(name) for name in names}

    async def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "tables_served": self.tables_served,
            "tables": len(self.entries),
        }
