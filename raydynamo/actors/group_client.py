"""Talking to one partition's replication group from anywhere in the Ray cluster.

``GroupClient`` sends writes and strong reads to the leader and eventually consistent reads to
any replica, follows leader hints, moves on from replicas that are down, and retries a write with
its original request id, so a retry is answered from the first result and never applied twice.
Concurrent requests to the same group are coalesced: while ``calls_in_flight_max`` calls are
out, new requests queue and leave together in the next call (the router's half of group commit).
Every wait is bounded by ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from raydynamo.actors.host import Result
from raydynamo.actors.storage_node import storage_actor_name

BATCH_REQUESTS_MAX = 256


class GroupUnavailable(Exception):
    """No replica of the group could serve the request before the deadline."""


class NoSuchPartition(Exception):
    """A replica does not host the partition (the caller's map is stale)."""


class _Coalescer:
    """Queues items and sends them in batches, at most ``in_flight_max`` batches at a time."""

    def __init__(self, send: Any, in_flight_max: int) -> None:
        self.send = send
        self.in_flight_max = in_flight_max
        self.queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        while self.queue and self.in_flight < self.in_flight_max:
            batch, self.queue = self.queue[:BATCH_REQUESTS_MAX], self.queue[BATCH_REQUESTS_MAX:]
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            results = await self.send([item for item, _ in batch])
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        except BaseException as err:  # every waiter learns of the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
        finally:
            self.in_flight -= 1
            self._kick()


class GroupClient:
    def __init__(
        self,
        partition_id: str,
        members: list[str],
        namespace: str,
        *,
        deadline_s: float = 30.0,
        retry_pause_s: float = 0.05,
        calls_in_flight_max: int = 2,
        map_version: int = 0,
        call_timeout_s: float = 5.0,
    ) -> None:
        self.partition_id = partition_id
        self.call_timeout_s = call_timeout_s
        self.map_version = map_version
        self.members = list(members)
        self.namespace = namespace
        self.deadline_s = deadline_s
        self.retry_pause_s = retry_pause_s
        self.leader: str | None = None
        self.handles: dict[str, Any] = {}
        self.retries = 0
        self.writes = _Coalescer(self.write, calls_in_flight_max)
        self.strong_reads = _Coalescer(self._strong_read_batch, calls_in_flight_max)
        self.weak_reads = _Coalescer(self._weak_read_batch, calls_in_flight_max)

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
                call = getattr(self._handle(target), method).remote(self.partition_id, *args)
                # A node that hangs (cut off, not yet declared dead) must not hold the request
                # for Ray's failure detection: move on; a retried write keeps its request id.
                reply = await asyncio.wait_for(call, self.call_timeout_s)
            except Exception as err:  # the actor is down, restarting or unreachable
                self.handles.pop(target, None)
                last_error = err
                self.retries += 1
                self.leader = None
                tried += 1
                await asyncio.sleep(self.retry_pause_s)
                continue
            first = reply[0] if isinstance(reply, list) and reply else reply
            status = first.get("status") if isinstance(first, dict) else None
            if status in ("no_such_partition", "stale_map"):
                raise NoSuchPartition(self.partition_id)
            if status not in ("not_leader", "overloaded", "unavailable"):
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
        deadline = time.monotonic() + self.deadline_s
        while todo:
            replies = await self._call_leader(
                "write", [requests[i] for i in todo], self.map_version
            )
            again = []
            for i, reply in zip(todo, replies, strict=True):
                if reply.get("status") == "ok":
                    results[i] = reply
                else:
                    again.append(i)
            if again and time.monotonic() > deadline:
                raise GroupUnavailable(f"{self.partition_id}: writes not ordered in time")
            if len(again) == len(todo):
                await asyncio.sleep(self.retry_pause_s)
            todo = again
        return [r for r in results if r is not None]

    async def write_one(self, request_id: bytes, command: bytes) -> Result:
        """One command, coalesced with concurrent ones into shared calls; returns its result."""
        reply = await self.writes.submit((request_id, command))
        return dict(reply["result"])

    async def read_item(self, read_request: dict[str, Any], consistent: bool) -> dict[str, Any]:
        """One item read (``partition.item_reads``), coalesced with concurrent ones."""
        coalescer = self.strong_reads if consistent else self.weak_reads
        return dict(await coalescer.submit(read_request))

    async def _strong_read_batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await self._call_leader("read_items", requests, True, self.map_version))

    async def _weak_read_batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for node_id in [self.leader or self.members[0], *self.members]:
            try:
                reply = await self._handle(node_id).read_items.remote(
                    self.partition_id, requests, False, self.map_version
                )
            except Exception:
                self.handles.pop(node_id, None)
                continue
            if isinstance(reply, list):
                return reply
            if reply.get("status") in ("no_such_partition", "stale_map"):
                raise NoSuchPartition(self.partition_id)
        raise GroupUnavailable(f"{self.partition_id}: no replica answered")

    async def read(self, keys: list[bytes], *, consistent: bool) -> list[bytes | None]:
        """Raw values of partition-local keys (system data, tests)."""
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

    async def read_range(self, start: bytes, end: bytes | None) -> list[tuple[bytes, bytes]]:
        """Raw pairs of partition-local keys in ``[start, end)``, read at the leader."""
        reply = await self._call_leader("read_range", start, end, True)
        return [(bytes(k), bytes(v)) for k, v in reply["pairs"]]
