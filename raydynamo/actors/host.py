"""The storage node's logic without Ray: many replicas, one RocksDB, one flush loop.

``NodeHost`` hosts any number of replicas (of different partitions) over one engine. All of its
work funnels through one flush loop, which for every replica with output, in this order:
  1. persists the records of every replica in ONE write batch (fsync'ed when any replica needs it
     and ``sync_writes`` is on): one fsync per round for the whole node, whatever the partitions;
  2. hands the messages to per-peer outboxes; a peer's outbox travels as one call, and while a
     call to that peer is in flight new messages wait and go together in the next one;
  3. applies chosen slots in slot order through the partition state machine and answers the
     clients waiting on them; serves snapshots to replicas that fell behind.
Messages from a peer that arrive in a call are answered in that call's reply when possible, so a
request/response pair (Accept/Accepted) costs one actor call, not two.

Inputs that must see their effect persisted before they return (peer deliveries, client writes)
wait on the flush that covers them: that is the group commit.

The Ray actor (``storage_node.py``) only wraps this class with a ``Transport`` made of actor calls;
tests drive it with an in-process transport. Must not import ray or rocksdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from raydynamo.config import RaydynamoConfig
from raydynamo.consensus.codec import decode_batch, encode_batch
from raydynamo.consensus.messages import InstallSnapshot, Message
from raydynamo.consensus.replica import NotLeader, Overloaded, Replica, Role
from raydynamo.consensus.types import Ready
from raydynamo.partition.keys import CATALOG_PREFIX, PartitionKeys, catalog_key
from raydynamo.partition.replica_store import add_records, load_durable
from raydynamo.partition.snapshot import build_snapshot, snapshot_batch
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import Engine, WriteBatch, prefix_end

log = logging.getLogger(__name__)

Result = dict[str, Any]


class Transport(Protocol):
    async def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        """Deliver ``frame`` to ``peer``'s ``deliver`` and return its reply frame."""
        ...


@dataclass(slots=True)
class HostedReplica:
    partition_id: str
    keys: PartitionKeys
    replica: Replica
    machine: PartitionStateMachine
    pending: dict[bytes, asyncio.Future[Result]] = field(default_factory=dict)


def not_leader(hint: str | None) -> Result:
    return {"status": "not_leader", "leader": hint}


class NodeHost:
    def __init__(
        self,
        node_id: str,
        engine: Engine,
        config: RaydynamoConfig,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.node_id = node_id
        self.engine = engine
        self.config = config
        self.settings = config.consensus.to_settings()
        self.transport = transport
        self.clock = clock
        self.seed = seed
        self.replicas: dict[str, HostedReplica] = {}
        self.dirty: set[str] = set()
        self.outbox: dict[str, list[tuple[str, Message]]] = {}
        self.senders: dict[str, asyncio.Task[None]] = {}
        self.peer_wake: dict[str, asyncio.Event] = {}
        self.waiters: list[asyncio.Future[None]] = []
        self.wake = asyncio.Event()
        self.flushed = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self.stats = {"flushes": 0, "fsyncs": 0, "calls_out": 0, "frames_in": 0, "bad_frames": 0}

    # --- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover every replica in the catalog, then start ticking and flushing."""
        end = prefix_end(CATALOG_PREFIX)
        for key, value in self.engine.scan(CATALOG_PREFIX, end):
            partition_id = key[len(CATALOG_PREFIX) :].decode()
            members = tuple(msgpack.unpackb(value, raw=False)["members"])
            self._open_replica(partition_id, members)
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._flush_loop()))
        self.tasks.append(loop.create_task(self._tick_loop()))

    async def close(self) -> None:
        self.closed = True
        for task in [*self.tasks, *self.senders.values()]:
            task.cancel()
        await asyncio.gather(*self.tasks, *self.senders.values(), return_exceptions=True)
        for hosted in self.replicas.values():
            self._fail_pending(hosted, {"status": "unavailable", "message": "node closing"})
        self.engine.close()

    def host_partition(self, partition_id: str, members: tuple[str, ...]) -> None:
        """Start hosting a replica of ``partition_id`` whose group is ``members`` (node ids)."""
        if partition_id in self.replicas:
            return
        assert self.node_id in members, "a node hosts only groups it is a member of"
        batch = WriteBatch()
        batch.put(catalog_key(partition_id), msgpack.packb({"members": list(members)}))
        self.engine.write(batch, sync=True)
        self._open_replica(partition_id, members)

    def _open_replica(self, partition_id: str, members: tuple[str, ...]) -> None:
        keys = PartitionKeys(partition_id)
        durable = load_durable(self.engine, keys)
        replica = Replica(
            self.node_id,
            members,
            self.settings,
            seed=zlib.crc32(f"{self.seed}/{self.node_id}/{partition_id}".encode()),
            now=self.clock(),
            durable=durable,
        )
        machine = PartitionStateMachine(keys, self.config.storage.dedup_slots_retained)
        self.replicas[partition_id] = HostedReplica(partition_id, keys, replica, machine)
        self._mark(partition_id)

    def campaign(self, partition_id: str) -> None:
        """Ask this node's replica to run for leader now (start-up, tests)."""
        self.replicas[partition_id].replica.campaign(self.clock())
        self._mark(partition_id)

    def transfer_leadership(self, partition_id: str, target: str) -> bool:
        ok = self.replicas[partition_id].replica.transfer_leadership(target, self.clock())
        self._mark(partition_id)
        return ok

    # --- peer messages ---------------------------------------------------------------------------

    async def deliver(self, sender: str, frame: bytes) -> bytes:
        """A peer's batch of messages; the reply carries what we have for that peer."""
        self._receive(frame)
        await self._covering_flush()
        return self._drain(sender)

    def _receive(self, frame: bytes) -> None:
        if not frame:
            return
        try:
            messages = decode_batch(frame)
        except ValueError as err:  # ChecksumMismatch and CodecError are ValueErrors
            self.stats["bad_frames"] += 1
            log.warning("dropped a corrupted frame: %s", err)
            return
        self.stats["frames_in"] += 1
        now = self.clock()
        for partition_id, message in messages:
            hosted = self.replicas.get(partition_id)
            if hosted is None:
                continue  # not (or no longer) a member: ignore, never answer for the group
            hosted.replica.step(message, now)
            self.dirty.add(partition_id)
        self.wake.set()

    def _drain(self, peer: str) -> bytes:
        pending = self.outbox.get(peer)
        if not pending:
            return b""
        self.outbox[peer] = []
        return encode_batch(pending)

    def _post(self, peer: str, partition_id: str, message: Message) -> None:
        self.outbox.setdefault(peer, []).append((partition_id, message))
        if peer not in self.senders:
            self.peer_wake[peer] = asyncio.Event()
            self.senders[peer] = asyncio.get_running_loop().create_task(self._send_loop(peer))
        self.peer_wake[peer].set()

    async def _send_loop(self, peer: str) -> None:
        wake = self.peer_wake[peer]
        while not self.closed:
            await wake.wait()
            wake.clear()
            frame = self._drain(peer)
            if not frame:
                continue
            self.stats["calls_out"] += 1
            try:
                reply = await self.transport.call(peer, self.node_id, frame)
            except Exception as err:  # the peer is down or restarting: Paxos retransmits
                log.debug("call to %s failed: %r", peer, err)
                await asyncio.sleep(self.settings.retransmit_interval_s)
                continue
            self._receive(reply)

    # --- client requests -------------------------------------------------------------------------

    async def write(self, partition_id: str, requests: list[tuple[bytes, bytes]]) -> list[Result]:
        """Order ``(request_id, command)`` pairs; answer each once it is applied here."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return [{"status": "no_such_partition"}] * len(requests)
        try:
            hosted.replica.propose([command for _, command in requests], self.clock())
        except NotLeader as err:
            return [not_leader(err.leader_hint)] * len(requests)
        except Overloaded:
            return [{"status": "overloaded"}] * len(requests)
        loop = asyncio.get_running_loop()
        futures = []
        for request_id, _ in requests:
            future = hosted.pending.get(request_id)
            if future is None:
                future = hosted.pending[request_id] = loop.create_future()
            futures.append(future)
        self._mark(partition_id)
        return list(await asyncio.gather(*futures))

    async def read(self, partition_id: str, keys: list[bytes], consistent: bool) -> Result:
        """Values of partition-local ``keys``: at the leader under lease if ``consistent``."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return {"status": "no_such_partition"}
        if consistent:
            refusal = await self._await_strong_read(hosted)
            if refusal is not None:
                return refusal
        values = self.engine.multi_get([hosted.keys.data(k) for k in keys])
        return {"status": "ok", "values": values}

    async def _await_strong_read(self, hosted: HostedReplica) -> Result | None:
        """None when strong reads may be served now; a refusal otherwise."""
        replica = hosted.replica
        deadline = self.clock() + self.config.node.strong_read_wait_s
        while not replica.can_serve_strong_read(self.clock()):
            if replica.role is Role.FOLLOWER and replica.leader_hint() is not None:
                return not_leader(replica.leader_hint())
            if self.clock() >= deadline:
                return not_leader(replica.leader_hint())
            # A new leader waits for its recovery to apply, or a candidate for its election:
            # every flush may change that, so wait for the next one.
            self.flushed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flushed.wait(), self.config.node.tick_interval_s * 5)
        return None

    def status(self) -> list[dict[str, Any]]:
        now = self.clock()
        out = []
        for partition_id, hosted in sorted(self.replicas.items()):
            r = hosted.replica
            out.append(
                {
                    "partition_id": partition_id,
                    "node_id": self.node_id,
                    "role": r.role.value,
                    "leader": r.leader_hint(),
                    "ballot": str(r.ballot or r.promised),
                    "chosen_through": r.log.chosen_through,
                    "applied_through": r.log.applied_through,
                    "compacted_through": r.log.compacted_through,
                    "lease": r.holds_lease(now),
                    "members": list(r.members),
                }
            )
        return out

    def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        """(applied-through, every state key and value): to compare replicas byte for byte."""
        keys = self.replicas[partition_id].keys
        pairs: list[tuple[bytes, bytes]] = []
        for start, end in keys.state_ranges():
            pairs.extend(self.engine.scan(start, end))
        return self.replicas[partition_id].replica.log.applied_through, pairs

    # --- the loops -------------------------------------------------------------------------------

    def _mark(self, partition_id: str) -> None:
        self.dirty.add(partition_id)
        self.wake.set()

    async def _covering_flush(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        self.wake.set()
        await future

    async def _tick_loop(self) -> None:
        interval = self.config.node.tick_interval_s
        while not self.closed:
            await asyncio.sleep(interval)
            now = self.clock()
            for partition_id, hosted in self.replicas.items():
                hosted.replica.tick(now)
                self.dirty.add(partition_id)
            self.wake.set()

    async def _flush_loop(self) -> None:
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._flush()
            except Exception:  # never let one bad round kill the node's only loop
                log.exception("flush failed")
                await asyncio.sleep(self.settings.retransmit_interval_s)

    async def _flush(self) -> None:
        waiters, self.waiters = self.waiters, []
        dirty, self.dirty = self.dirty, set()
        readies: list[tuple[HostedReplica, Ready]] = []
        for partition_id in dirty:
            hosted = self.replicas.get(partition_id)
            if hosted is not None:
                ready = hosted.replica.ready()
                if not ready.is_empty():
                    readies.append((hosted, ready))
        if readies:
            await self._persist(readies)
            for hosted, ready in readies:
                for to, message in ready.messages:
                    self._post(to, hosted.partition_id, message)
            for hosted, ready in readies:
                self._apply(hosted, ready)
        self.stats["flushes"] += 1
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.flushed.set()

    async def _persist(self, readies: list[tuple[HostedReplica, Ready]]) -> None:
        batch = WriteBatch()
        sync = False
        for hosted, ready in readies:
            add_records(hosted.keys, ready.records, batch)
            sync = sync or ready.sync
            snapshot = ready.snapshot_to_install
            if snapshot is not None:
                assert isinstance(snapshot.data, bytes)
                _, install = snapshot_batch(hosted.keys, snapshot.data)
                batch.extend(install)
        if not len(batch):
            return
        if sync and self.config.storage.sync_writes:
            self.stats["fsyncs"] += 1
            # The fsync runs off the event loop so that requests keep arriving and queue up for
            # the next round meanwhile (group commit).
            await asyncio.to_thread(self.engine.write, batch, sync=True)
        else:
            self.engine.write(batch, sync=False)

    def _apply(self, hosted: HostedReplica, ready: Ready) -> None:
        replica = hosted.replica
        for slot, value in ready.to_apply:
            batch, results = hosted.machine.apply_slot(self.engine, slot, value)
            self.engine.write(batch, sync=False)
            for request_id, result in results:
                future = hosted.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result({"status": "ok", "result": result, "slot": slot})
        if ready.to_apply:
            replica.on_applied(ready.to_apply[-1][0])
            self.dirty.add(hosted.partition_id)
        for peer in ready.snapshot_requests:
            with self.engine.snapshot() as view:
                applied, blob = build_snapshot(view, hosted.keys)
            self._post(peer, hosted.partition_id, InstallSnapshot(self.node_id, applied, blob))
        if ready.leadership_lost:
            self._fail_pending(hosted, not_leader(replica.leader_hint()))

    def _fail_pending(self, hosted: HostedReplica, result: Result) -> None:
        pending, hosted.pending = hosted.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(result)
