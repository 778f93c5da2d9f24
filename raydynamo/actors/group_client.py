"""Talking to one partition's replication group from anywhere in the Ray cluster.

``GroupClient`` sends writes and strong reads to the leader and eventually consistent reads to
any replica, follows leader hints, moves on from replicas that are down, and retries a write with
its original request id, so a retry is answered from the first result and never applied twice.
It is the seed of the router's forwarding logic. Every wait is bounded by ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from raydynamo.actors.host import Result
from raydynamo.actors.storage_node import storage_actor_name


class GroupUnavailable(Exception):
    """No replica of the group could serve the request before the deadline."""


class GroupClient:
    def __init__(
        self,
        partition_id: str,
        members: list[str],
        namespace: str,
        *,
        deadline_s: float = 30.0,
        retry_pause_s: float = 0.05,
    ) -> None:
        self.partition_id = partition_id
        self.members = list(members)
        self.namespace = namespace
        self.deadline_s = deadline_s
        self.retry_pause_s = retry_pause_s
        self.leader: str | None = None
        self.handles: dict[str, Any] = {}
        self.retries = 0

    def _handle(self, node_id: str) -> Any:
        handle = self.handles.get(node_id)
        if handle is None:
            handle = ray.get_actor(storage_actor_name(node_id), namespace=self.namespace)
            self.handles[node_id] = handle
        return handle

    def _next_target(self, tried: int) -> str:
        if self.leader is not None and tried == 0:
            return self.leader
        return self.members[tried % len(self.members)]

    async def _call_leader(self, method: str, *args: Any) -> Any:
        """Call ``method`` on whoever leads, following hints until the deadline."""
        deadline = time.monotonic() + self.deadline_s
        tried = 0
        last_error: object = None
        while time.monotonic() < deadline:
            target = self._next_target(tried)
            try:
                reply = await getattr(self._handle(target), method).remote(self.partition_id, *args)
            except Exception as err:  # the actor is down, restarting or unreachable
                self.handles.pop(target, None)
                last_error = err
                self.retries += 1
                self.leader = None
                tried += 1
                await asyncio.sleep(self.retry_pause_s)
                continue
            first = reply[0] if isinstance(reply, list) else reply
            status = first.get("status")
            if status == "ok" or status not in ("not_leader", "overloaded", "unavailable"):
                self.leader = target
                return reply
            last_error = first
            self.retries += 1
            hint = first.get("leader")
            if hint in self.members and hint != target:
                self.leader = hint
                tried = 0
                continue
            self.leader = None
            tried += 1
            await asyncio.sleep(self.retry_pause_s)
        raise GroupUnavailable(f"{self.partition_id}: no leader answered ({last_error!r})")

    async def write(self, requests: list[tuple[bytes, bytes]]) -> list[Result]:
        """Order ``(request_id, command)`` pairs; retries keep the request ids."""
        results: list[Result | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        while todo:
            replies = await self._call_leader("write", [requests[i] for i in todo])
            again = []
            for i, reply in zip(todo, replies, strict=True):
                if reply.get("status") == "ok":
                    results[i] = reply
                else:
                    again.append(i)
            if len(again) == len(todo):
                await asyncio.sleep(self.retry_pause_s)
            todo = again
        return [r for r in results if r is not None]

    async def read(self, keys: list[bytes], *, consistent: bool) -> list[bytes | None]:
        if consistent:
            reply = await self._call_leader("read", keys, True)
            return list(reply["values"])
        for node_id in [self.leader or self.members[0], *self.members]:
            try:
                reply = await self._handle(node_id).read.remote(self.partition_id, keys, False)
            except Exception:
                self.handles.pop(node_id, None)
                continue
            if reply.get("status") == "ok":
                return list(reply["values"])
        raise GroupUnavailable(f"{self.partition_id}: no replica answered")
