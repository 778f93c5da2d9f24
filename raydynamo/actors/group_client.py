"""Talking to one partition's replication group from anywhere in the Ray cluster.

``GroupClient`` sends writes and strong reads to the leader and eventually consistent reads to
any replica, follows leader hints, moves on from replicas that are down or hang, and retries a
write only with its original request id, so a retry is answered from the first result and never
applied twice. Concurrent requests to the same group are coalesced: while
``calls_in_flight_max`` calls are out, new requests queue (bounded in bytes) and leave together
in the next call (the router's half of group commit).

Replies are the node's typed replies (``node.replies``); nothing matches strings. Outcomes:
- a write's ``Applied`` result is returned;
- ``Overloaded`` raises ``Throttled`` at once (nothing was proposed: the client backs off);
- ``StaleMap``, or ``NoSuchPartition`` from every member, raise ``PartitionMoved`` (the caller
  refreshes its map and retries with the same request id); one member not hosting it (a node
  back on an empty directory, waiting to rejoin; a removed member) is passed over;
- ``NotLeader``/``Unavailable``/a failed or hung call: the next replica is tried, until
  ``deadline_s`` has passed, then ``GroupUnavailable`` (the write may or may not be applied).
Every call has a timeout (``call_timeout_s``) and every request a deadline. No blocking Ray call
runs on the event loop (actor handles are looked up in a thread and cached).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ray

from raydynamo.actors.node_writes import NodeWriteChannels
from raydynamo.actors.storage_node import storage_actor_name
from raydynamo.limits import COALESCED_BYTES_MAX, COALESCED_REQUESTS_MAX
from raydynamo.metadata.member_ids import node_of
from raydynamo.node.replies import (
    Applied,
    NoSuchPartition,
    NotLeader,
    Overloaded,
    StaleMap,
    Unavailable,
    WriteReply,
)

Request = tuple[bytes, bytes]


class GroupUnavailable(Exception):
    """No replica of the group could serve the request before the deadline."""


class PartitionMoved(Exception):
    """A replica does not host the partition, or the caller's map is older than the replica's:
    nothing was done; refresh the map and retry (with the same request id)."""


class Throttled(Exception):
    """The leader's queues are full: nothing was proposed; back off and retry."""


class _Coalescer:
    """Queues items and sends them in batches, at most ``in_flight_max`` batches at a time, with
    at most ``queued_bytes_max`` bytes waiting (more is refused with ``Throttled``)."""

    def __init__(
        self,
        send: Callable[[list[Any]], Awaitable[Sequence[Any]]],
        in_flight_max: int,
        queued_bytes_max: int,
    ) -> None:
        self.send = send
        self.in_flight_max = in_flight_max
        self.queued_bytes_max = queued_bytes_max
        self.queue: list[tuple[Any, int, asyncio.Future[Any]]] = []
        self.queued_bytes = 0
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Any, size: int) -> Any:
        return await self._enqueue(item, size)

    def submit_many(self, entries: list[tuple[Any, int]]) -> list[asyncio.Future[Any]]:
        """Queue every entry before any call leaves, so they share calls (a bulk write's
        commands for one partition); one future each, ``Throttled`` where the bound is hit."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for item, size in entries:
            future: asyncio.Future[Any] = loop.create_future()
            if self.queue and self.queued_bytes + size > self.queued_bytes_max:
                future.set_exception(Throttled("too many bytes waiting for this partition"))
            else:
                self.queue.append((item, size, future))
                self.queued_bytes += size
            futures.append(future)
        self._kick()
        return futures

    def _enqueue(self, item: Any, size: int) -> asyncio.Future[Any]:
        if self.queue and self.queued_bytes + size > self.queued_bytes_max:
            raise Throttled("too many bytes waiting for this partition")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.append((item, size, future))
        self.queued_bytes += size
        self._kick()
        return future

    def _kick(self) -> None:
        while self.queue and self.in_flight < self.in_flight_max:
            count = taken_bytes = 0
            for _, size, _ in self.queue[:COALESCED_REQUESTS_MAX]:
                if count and taken_bytes + size > COALESCED_BYTES_MAX:
                    break
                count += 1
                taken_bytes += size
            batch, self.queue = self.queue[:count], self.queue[count:]
            self.queued_bytes -= taken_bytes
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: list[tuple[Any, int, asyncio.Future[Any]]]) -> None:
        try:
            results = await self.send([item for item, _, _ in batch])
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        except BaseException as err:  # every waiter learns of the failure
            for _, _, future in batch:
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
        queued_bytes_max: int = 16 << 20,
        lookup: Callable[[str], Any] | None = None,
        node_writes: NodeWriteChannels | None = None,
    ) -> None:
        """``lookup(node_id)`` finds a storage node's actor handle (blocking; run in a thread);
        by default by its actor name in ``namespace``. With ``node_writes`` (the router's),
        write calls share calls with other partitions' writes to the same storage node."""
        self.partition_id = partition_id
        self.call_timeout_s = call_timeout_s
        self.map_version = map_version
        self.members = list(members)
        self.namespace = namespace
        self.deadline_s = deadline_s
        self.retry_pause_s = retry_pause_s
        self.leader: str | None = None
        self.handles: dict[str, Any] = {}
        self.lookup = lookup or self._named_actor
        self.retries = 0
        self.node_writes = node_writes
        self.writes = _Coalescer(self._write_batch, calls_in_flight_max, queued_bytes_max)
        self.strong_reads = _Coalescer(
            self._strong_read_batch, calls_in_flight_max, queued_bytes_max
        )
        self.weak_reads = _Coalescer(self._weak_read_batch, calls_in_flight_max, queued_bytes_max)

    def _named_actor(self, node_id: str) -> Any:
        return ray.get_actor(storage_actor_name(node_id), namespace=self.namespace)

    async def _handle(self, member_id: str) -> Any:
        """The actor handle of the storage node a member lives on (``metadata.member_ids``)."""
        handle = self.handles.get(member_id)
        if handle is None:
            handle = await asyncio.to_thread(self.lookup, node_of(member_id))
            self.handles[member_id] = handle
        return handle

    async def _call(self, node_id: str, method: str, *args: Any) -> Any:
        """One call with a timeout: a node that hangs (cut off, not yet declared dead) must not
        hold the request for Ray's failure detection. Raises on any failure."""
        handle = await self._handle(node_id)
        call = getattr(handle, method).remote(self.partition_id, *args)
        try:
            return await asyncio.wait_for(call, self.call_timeout_s)
        except BaseException:
            self.handles.pop(node_id, None)
            raise

    def _targets(self) -> list[str]:
        first = [self.leader] if self.leader in self.members else []
        return first + [m for m in self.members if m != self.leader]

    # --- writes ----------------------------------------------------------------------------------

    async def write_one(self, request_id: bytes, command: bytes) -> dict[str, Any]:
        """One command, coalesced with concurrent ones into shared calls; returns its result."""
        applied = await self.writes.submit((request_id, command), len(command) + len(request_id))
        return dict(applied.result)

    async def write_many(self, requests: list[Request]) -> list[dict[str, Any] | Exception]:
        """Many commands queued at once, so they leave in as few calls as the bounds allow;
        per command its result or the exception ``write_one`` would raise."""
        futures = self.writes.submit_many([(r, len(r[1]) + len(r[0])) for r in requests])
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        return [
            o if isinstance(o, BaseException) else dict(o.result)  # type: ignore[misc]
            for o in outcomes
        ]

    async def write(self, requests: list[Request]) -> list[Applied]:
        """Order ``(request_id, command)`` pairs in one call (retries keep the ids); raises the
        first request's failure, if any."""
        results = await self._write_batch(requests)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [r for r in results if isinstance(r, Applied)]

    async def _write_batch(self, requests: list[Request]) -> list[Applied | Exception]:
        results: list[Applied | Exception | None] = [None] * len(requests)
        todo = list(range(len(requests)))
        deadline = time.monotonic() + self.deadline_s
        tried = 0
        last: object = None
        hosting_not: set[str] = set()  # members that said they do not host the partition
        while todo:
            if time.monotonic() > deadline:
                failure = GroupUnavailable(f"{self.partition_id}: writes not ordered ({last!r})")
                for i in todo:
                    results[i] = failure
                break
            targets = self._targets()
            target = targets[tried % len(targets)]
            try:
                replies = await self._write_call(target, [requests[i] for i in todo])
            except Exception as err:  # down, restarting, unreachable or hung: try the next one
                last = err
                self._moved_on(target)
                tried += 1
                await asyncio.sleep(self.retry_pause_s)
                continue
            again: list[int] = []
            hint: str | None = None
            if any(isinstance(r, NoSuchPartition) for r in replies):
                hosting_not.add(target)
            gone = hosting_not >= set(self.members)  # no member hosts it: the map is stale
            for i, reply in zip(todo, replies, strict=True):
                if isinstance(reply, Applied):
                    results[i] = reply
                    self.leader = target
                elif isinstance(reply, Overloaded):
                    results[i] = Throttled(f"{self.partition_id}: the leader is overloaded")
                elif isinstance(reply, StaleMap) or (isinstance(reply, NoSuchPartition) and gone):
                    results[i] = PartitionMoved(self.partition_id)
                else:  # NotLeader, Unavailable, a member not hosting it: try another, same id
                    again.append(i)
                    last = reply
                    if isinstance(reply, NotLeader):
                        hint = reply.leader_hint
            if again:
                self.retries += 1
                if hint in self.members and hint != target:
                    self.leader, tried = hint, 0
                else:
                    self._moved_on(target)
                    tried += 1
                    await asyncio.sleep(self.retry_pause_s)
            todo = again
        return [r for r in results if r is not None]

    async def _write_call(self, target: str, requests: list[Request]) -> list[WriteReply]:
        """One write call to ``target``, shared with other partitions' when the router has
        ``node_writes``. Raises on any failure."""
        if self.node_writes is None:
            return list(await self._call(target, "write", requests, self.map_version))
        node_id = node_of(target)
        return await self.node_writes.write(node_id, self.partition_id, requests, self.map_version)

    def _moved_on(self, target: str) -> None:
        self.retries += 1
        if self.leader == target:
            self.leader = None

    # --- reads -----------------------------------------------------------------------------------

    async def read_item(self, read_request: dict[str, Any], consistent: bool) -> dict[str, Any]:
        """One item read (``partition.item_reads``), coalesced with concurrent ones."""
        coalescer = self.strong_reads if consistent else self.weak_reads
        return dict(await coalescer.submit(read_request, 256))

    async def _strong_read_batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        return list(await self._at_leader("read_items", requests, True, self.map_version))

    async def _weak_read_batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        return list(await self._at_any("read_items", requests, False, self.map_version))

    async def read(self, keys: list[bytes], *, consistent: bool) -> list[bytes | None]:
        """Raw values of partition-local keys (system data, tests)."""
        if consistent:
            return list(await self._at_leader("read", keys, True))
        return list(await self._at_any("read", keys, False))

    async def read_range(self, start: bytes, end: bytes | None) -> list[tuple[bytes, bytes]]:
        """Raw pairs of partition-local keys in ``[start, end)``, read at the leader."""
        pairs = await self._at_leader("read_range", start, end, True)
        return [(bytes(k), bytes(v)) for k, v in pairs]

    async def _at_leader(self, method: str, *args: Any) -> Any:
        """A read served by whoever leads (under lease), following hints until the deadline."""
        deadline = time.monotonic() + self.deadline_s
        tried = 0
        last: object = None
        hosting_not: set[str] = set()
        while time.monotonic() < deadline:
            targets = self._targets()
            target = targets[tried % len(targets)]
            try:
                reply = await self._call(target, method, *args)
            except Exception as err:  # down, restarting, unreachable or hung
                last = err
                self._moved_on(target)
                tried += 1
                await asyncio.sleep(self.retry_pause_s)
                continue
            if isinstance(reply, NoSuchPartition):
                hosting_not.add(target)
            if isinstance(reply, StaleMap) or hosting_not >= set(self.members):
                raise PartitionMoved(self.partition_id)
            if not isinstance(reply, NotLeader | Unavailable | NoSuchPartition):
                self.leader = target
                return reply
            last = reply
            hint = reply.leader_hint if isinstance(reply, NotLeader) else None
            if hint in self.members and hint != target:
                self.leader, tried = hint, 0
                continue
            self._moved_on(target)
            tried += 1
            await asyncio.sleep(self.retry_pause_s)
        raise GroupUnavailable(f"{self.partition_id}: no leader answered ({last!r})")

    async def _at_any(self, method: str, *args: Any) -> Any:
        """An eventually consistent read at any replica that answers before the deadline."""
        deadline = time.monotonic() + self.deadline_s
        last: object = None
        hosting_not: set[str] = set()
        while time.monotonic() < deadline:
            for node_id in self._targets():
                try:
                    reply = await self._call(node_id, method, *args)
                except Exception as err:  # try another replica
                    last = err
                    continue
                if isinstance(reply, NoSuchPartition):
                    hosting_not.add(node_id)
                if isinstance(reply, StaleMap) or hosting_not >= set(self.members):
                    raise PartitionMoved(self.partition_id)
                if not isinstance(reply, NotLeader | Unavailable | NoSuchPartition):
                    return reply
                last = reply
            await asyncio.sleep(self.retry_pause_s)
        raise GroupUnavailable(f"{self.partition_id}: no replica answered ({last!r})")
