"""The storage node's logic without Ray: many replicas, one RocksDB, one core thread.

``NodeHost`` hosts any number of replicas (of different partitions) over one engine. Every input
(a peer's messages, a client's write, a tick) goes through one inbox to one core thread, which
owns all replica state. Each turn it takes everything queued, feeds it to the replicas, and then
flushes, in this order:
  0. hands a leader's Accepts and Heartbeats to the peers' outboxes at once, so that its fsync
     overlaps theirs (safe: no reply is handled before step 1 is done, see ``consensus.types``);
  1. persists the records of every replica in ONE write batch (fsync'ed when any replica needs it
     and ``sync_writes`` is on): one fsync per round for the whole node, whatever the partitions;
     inputs that arrive meanwhile queue and form the next round (group commit);
  2. publishes each replica's read lease, then hands messages to per-peer outboxes; one sender
     thread per peer sends an outbox as one call, and while it is in flight new messages wait and
     go together in the next call;
  3. applies chosen slots in slot order through the partition state machine and answers the
     clients waiting on them; serves snapshots to replicas that fell behind.
Messages for a peer whose own call is being answered ride back in that call's reply, so an
Accept and its Accepted cost one actor call, not two.

Reads do not queue behind writes: they run in the caller's thread against the engine, after
checking the lease the core thread published (a strong read needs the leader's lease, and a new
leader's recovery applied).

Why threads and not asyncio: measured here, a threaded Ray actor handles about twice the calls of
an async one at 64 in flight, and the replication benchmark is held to a threaded ceiling.
The Ray actor (``storage_node.py``) wraps this class with a ``Transport`` of actor calls; tests
use an in-process transport. Must not import ray or rocksdict.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from raydynamo.actors.peers import PeerLinks
from raydynamo.config import RaydynamoConfig
from raydynamo.consensus.codec import decode_batch
from raydynamo.consensus.messages import InstallSnapshot, may_precede_persist
from raydynamo.consensus.replica import NotLeader, Overloaded, Replica, Role
from raydynamo.consensus.types import Ready
from raydynamo.partition.item_reads import execute_read
from raydynamo.partition.keys import CATALOG_PREFIX, PartitionKeys, catalog_key
from raydynamo.partition.replica_store import add_records, load_durable
from raydynamo.partition.snapshot import build_snapshot, snapshot_batch
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import Engine, WriteBatch, prefix_end

log = logging.getLogger(__name__)

Result = dict[str, Any]
CALL_TIMEOUT_S = 120.0


class Transport(Protocol):
    def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        """Deliver ``frame`` to ``peer``'s ``deliver`` and return its reply frame (blocking)."""
        ...


@dataclass(frozen=True, slots=True)
class ReadLease:
    """What a reader thread needs to know, published by the core thread after each flush."""

    strong_until: float = float("-inf")
    role: Role = Role.FOLLOWER
    leader: str | None = None


@dataclass(slots=True)
class WriteAnswer:
    """The results of one ``write`` call, filled in as its requests are applied."""

    done: Future[list[Result]]
    results: list[Result | None]
    missing: int

    def set(self, index: int, result: Result) -> None:
        if self.results[index] is None:
            self.results[index] = result
            self.missing -= 1
            if not self.missing and not self.done.done():
                self.done.set_result(self.results)


@dataclass(slots=True)
class HostedReplica:
    partition_id: str
    keys: PartitionKeys
    replica: Replica
    machine: PartitionStateMachine
    pending: dict[bytes, list[tuple[WriteAnswer, int]]] = field(default_factory=dict)
    lease: ReadLease = field(default_factory=ReadLease)
    next_tick_at: float = float("-inf")


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
        self.map_versions: dict[str, int] = {}
        self.dirty: set[str] = set()
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.peers = PeerLinks(
            node_id,
            transport,
            lambda frame: self.inbox.put(("reply", frame)),
            calls_in_flight_max=config.node.peer_calls_in_flight_max,
            retry_pause_s=self.settings.retransmit_interval_s,
        )
        self.reply_waiters: list[tuple[str, Future[bytes]]] = []
        self.flushed = threading.Condition()
        self.threads: list[threading.Thread] = []
        self.closed = False
        self.stats = {"flushes": 0, "fsyncs": 0, "frames_in": 0, "bad_frames": 0}

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover every replica in the catalog, then start the core thread."""
        end = prefix_end(CATALOG_PREFIX)
        for key, value in self.engine.scan(CATALOG_PREFIX, end):
            partition_id = key[len(CATALOG_PREFIX) :].decode()
            entry = msgpack.unpackb(value, raw=False)
            self._open_replica(partition_id, tuple(entry["members"]), entry.get("joining", False))
        core = threading.Thread(target=self._core_loop, name=f"{self.node_id}-core", daemon=True)
        self.threads.append(core)
        core.start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.inbox.put(("wake",))
        self.peers.close()
        for thread in self.threads:
            thread.join(timeout=10)
        for hosted in self.replicas.values():
            self._fail_pending(hosted, {"status": "unavailable", "message": "node closing"})
        for _, waiter in self.reply_waiters:
            if not waiter.done():
                waiter.set_result(b"")
        self.engine.close()

    def _submit(self, kind: str, *args: Any) -> Any:
        """Run an input on the core thread and wait for its answer."""
        if self.closed:
            raise RuntimeError(f"storage node {self.node_id} is closed")
        future: Future[Any] = Future()
        self.inbox.put((kind, future, *args))
        return future.result(timeout=CALL_TIMEOUT_S)

    # --- operations (any thread) -----------------------------------------------------------------

    def host_partition(
        self, partition_id: str, members: tuple[str, ...], joining: bool = False
    ) -> None:
        """Start hosting a replica of ``partition_id`` whose group is ``members`` (node ids);
        ``joining`` for a replica added to a running group (it learns the group from the log)."""
        self._submit("host", partition_id, tuple(members), joining)

    def change_members(self, partition_id: str, members: tuple[str, ...]) -> bool:
        """Ask this node's replica, if it leads, to change the group to ``members``."""
        return bool(self._submit("change", partition_id, tuple(members)))

    def campaign(self, partition_id: str) -> None:
        """Ask this node's replica to run for leader now (start-up, tests)."""
        self._submit("campaign", partition_id)

    def transfer_leadership(self, partition_id: str, target: str) -> bool:
        return bool(self._submit("transfer", partition_id, target))

    def deliver(self, sender: str, frame: bytes) -> bytes:
        """A peer's batch of messages; the reply carries what we have for that peer."""
        return bytes(self._submit("deliver", sender, frame))

    def write(
        self, partition_id: str, requests: list[tuple[bytes, bytes]], map_version: int = 0
    ) -> list[Result]:
        """Order ``(request_id, command)`` pairs; answer each once it is applied here. A router
        whose partition map is older than the one this replica was told about is refused."""
        if self._stale(partition_id, map_version):
            return [{"status": "stale_map"}] * len(requests)
        return list(self._submit("write", partition_id, requests))

    def set_map_version(self, partition_id: str, map_version: int) -> None:
        """The controller published a new map for this partition: refuse older routers."""
        if map_version > self.map_versions.get(partition_id, 0):
            self.map_versions[partition_id] = map_version

    def _stale(self, partition_id: str, map_version: int) -> bool:
        return 0 < map_version < self.map_versions.get(partition_id, 0)

    def status(self) -> list[dict[str, Any]]:
        return list(self._submit("status"))

    def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        """(applied-through, every state key and value): to compare replicas byte for byte."""
        return tuple(self._submit("state", partition_id))  # type: ignore[return-value]

    def read(self, partition_id: str, keys: list[bytes], consistent: bool) -> Result:
        """Values of partition-local ``keys``: at the leader under lease if ``consistent``."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return {"status": "no_such_partition"}
        if consistent:
            refusal = self.await_strong_read(hosted)
            if refusal is not None:
                return refusal
        values = self.engine.multi_get([hosted.keys.data(k) for k in keys])
        return {"status": "ok", "values": values}

    def read_items(
        self,
        partition_id: str,
        read_requests: list[dict[str, Any]],
        consistent: bool,
        map_version: int = 0,
    ) -> list[dict[str, Any]] | Result:
        """Run item reads (``partition.item_reads.execute_read``) against this replica.

        Returns one answer per request, or a refusal dict (not the leader, no such partition,
        a stale map).
        """
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return {"status": "no_such_partition"}
        if self._stale(partition_id, map_version):
            return {"status": "stale_map"}
        if consistent:
            refusal = self.await_strong_read(hosted)
            if refusal is not None:
                return refusal
        return [execute_read(self.engine, hosted.keys, request) for request in read_requests]

    def read_range(
        self, partition_id: str, start: bytes, end: bytes | None, consistent: bool
    ) -> Result:
        """Raw (key, value) pairs of partition-local keys in ``[start, end)`` (system data)."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return {"status": "no_such_partition"}
        if consistent:
            refusal = self.await_strong_read(hosted)
            if refusal is not None:
                return refusal
        lo = hosted.keys.data(start)
        hi = hosted.keys.data(end) if end is not None else prefix_end(hosted.keys.data_prefix)
        cut = len(hosted.keys.data_prefix)
        pairs = [(k[cut:], v) for k, v in self.engine.scan(lo, hi)]
        return {"status": "ok", "pairs": pairs}

    def partition_stats(self, partition_id: str) -> Result:
        """Items and bytes in this replica's copy of the data (for ItemCount/TableSizeBytes)."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return {"status": "no_such_partition"}
        count = size = 0
        for key, value in self.engine.scan(
            hosted.keys.data_prefix, prefix_end(hosted.keys.data_prefix)
        ):
            count += 1
            size += len(key) - len(hosted.keys.data_prefix) + len(value)
        return {"status": "ok", "items": count, "bytes": size}

    def drop_partition(self, partition_id: str) -> None:
        """Stop hosting ``partition_id`` and delete everything this node kept of it."""
        self._submit("drop", partition_id)

    def await_strong_read(self, hosted: HostedReplica) -> Result | None:
        """None when strong reads may be served now; a refusal otherwise. Waits (bounded) for a
        new leader's recovery or an election in progress, re-checking after every flush."""
        deadline = self.clock() + self.config.node.strong_read_wait_s
        while True:
            lease = hosted.lease
            now = self.clock()
            if now < lease.strong_until:
                return None
            if lease.role is Role.FOLLOWER and lease.leader not in (None, self.node_id):
                return not_leader(lease.leader)
            if now >= deadline or self.closed:
                return not_leader(lease.leader)
            with self.flushed:
                self.flushed.wait(timeout=min(0.05, deadline - now))

    # --- the core thread -------------------------------------------------------------------------

    def _core_loop(self) -> None:
        interval = self.config.node.tick_interval_s
        next_tick = self.clock() + interval
        while not self.closed:
            try:
                items = [self.inbox.get(timeout=max(0.0, next_tick - self.clock()))]
            except queue.Empty:
                items = []
            while True:
                try:
                    items.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            now = self.clock()
            for item in items:
                self._handle_input(item, now)
            if now >= next_tick:
                self._tick(now)
                next_tick = now + interval
            try:
                self._flush()
            except Exception:  # never let one bad round kill the node's only core thread
                log.exception("flush failed on %s", self.node_id)

    def _tick(self, now: float) -> None:
        """Tick leaders and candidates every tick; followers only as often as their timers need
        (a heartbeat interval): a node hosting thousands of replicas, most of them followers,
        should not spend its time ticking them."""
        follower_period = self.settings.heartbeat_interval_s
        for partition_id, hosted in self.replicas.items():
            replica = hosted.replica
            if now < hosted.next_tick_at and replica.role is Role.FOLLOWER:
                continue
            replica.tick(now)
            self.dirty.add(partition_id)
            if replica.role is Role.FOLLOWER:
                hosted.next_tick_at = now + follower_period

    def _handle_input(self, item: tuple[Any, ...], now: float) -> None:
        kind = item[0]
        if kind == "wake":
            return
        if kind == "reply":
            self._receive(item[1], now)
            return
        future: Future[Any] = item[1]
        try:
            handler = getattr(self, "_on_" + kind)
            args = (*item[2:], future) if kind == "write" else item[2:]
            result = handler(now, *args)
        except Exception as err:
            future.set_exception(err)
            return
        if result is not _LATER:
            future.set_result(result)
        elif kind == "deliver":
            self.reply_waiters.append((item[2], future))

    def _on_host(
        self, now: float, partition_id: str, members: tuple[str, ...], joining: bool
    ) -> None:
        if partition_id in self.replicas:
            return
        assert self.node_id in members, "a node hosts only groups it is a member of"
        batch = WriteBatch()
        entry = {"members": list(members), "joining": joining}
        batch.put(catalog_key(partition_id), msgpack.packb(entry))
        self.engine.write(batch, sync=True)
        self._open_replica(partition_id, members, joining)

    def _on_change(self, now: float, partition_id: str, members: tuple[str, ...]) -> bool:
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return False
        self.dirty.add(partition_id)
        return hosted.replica.propose_config(members, now)

    def _open_replica(
        self, partition_id: str, members: tuple[str, ...], joining: bool = False
    ) -> None:
        keys = PartitionKeys(partition_id)
        durable = load_durable(self.engine, keys)
        replica = Replica(
            self.node_id,
            members,
            self.settings,
            seed=zlib.crc32(f"{self.seed}/{self.node_id}/{partition_id}".encode()),
            now=self.clock(),
            durable=durable,
            joining=joining,
        )
        machine = PartitionStateMachine(keys, self.config.storage.dedup_slots_retained)
        self.replicas[partition_id] = HostedReplica(partition_id, keys, replica, machine)
        self.dirty.add(partition_id)

    def _on_drop(self, now: float, partition_id: str) -> None:
        hosted = self.replicas.pop(partition_id, None)
        if hosted is None:
            return
        self._fail_pending(hosted, {"status": "no_such_partition"})
        start, end = hosted.keys.all_range()
        batch = WriteBatch()
        batch.delete_range(start, end)
        batch.delete(catalog_key(partition_id))
        self.engine.write(batch, sync=True)
        self.dirty.discard(partition_id)

    def _on_campaign(self, now: float, partition_id: str) -> None:
        self.replicas[partition_id].replica.campaign(now)
        self.dirty.add(partition_id)

    def _on_transfer(self, now: float, partition_id: str, target: str) -> bool:
        self.dirty.add(partition_id)
        return self.replicas[partition_id].replica.transfer_leadership(target, now)

    def _on_deliver(self, now: float, sender: str, frame: bytes) -> object:
        self.peers.begin_reply(sender)
        self._receive(frame, now)
        return _LATER

    def _on_write(
        self, now: float, partition_id: str, requests: list[tuple[bytes, bytes]], done: Future
    ) -> object:
        """Propose; ``done`` gets the list of results once every request is answered."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return [{"status": "no_such_partition"}] * len(requests)
        try:
            hosted.replica.propose([command for _, command in requests], now)
        except NotLeader as err:
            return [not_leader(err.leader_hint)] * len(requests)
        except Overloaded:
            return [{"status": "overloaded"}] * len(requests)
        answer = WriteAnswer(done, [None] * len(requests), len(requests))
        for index, (request_id, _) in enumerate(requests):
            hosted.pending.setdefault(request_id, []).append((answer, index))
        self.dirty.add(partition_id)
        return _LATER

    def _on_status(self, now: float) -> list[dict[str, Any]]:
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
                    "config_slot": r.membership.current.slot,
                }
            )
        return out

    def _on_state(self, now: float, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        hosted = self.replicas[partition_id]
        pairs: list[tuple[bytes, bytes]] = []
        for start, end in hosted.keys.state_ranges():
            pairs.extend(self.engine.scan(start, end))
        return hosted.replica.log.applied_through, pairs

    def _receive(self, frame: bytes, now: float) -> None:
        if not frame:
            return
        try:
            messages = decode_batch(frame)
        except ValueError as err:  # ChecksumMismatch and CodecError are ValueErrors
            self.stats["bad_frames"] += 1
            log.warning("dropped a corrupted frame: %s", err)
            return
        self.stats["frames_in"] += 1
        for partition_id, message in messages:
            hosted = self.replicas.get(partition_id)
            if hosted is None:
                continue  # not (or no longer) a member: ignore, never answer for the group
            hosted.replica.step(message, now)
            self.dirty.add(partition_id)

    # --- flushing --------------------------------------------------------------------------------

    def _flush(self) -> None:
        waiters, self.reply_waiters = self.reply_waiters, []
        dirty, self.dirty = self.dirty, set()
        readies: list[tuple[HostedReplica, Ready]] = []
        for partition_id in dirty:
            hosted = self.replicas.get(partition_id)
            if hosted is not None:
                ready = hosted.replica.ready()
                if not ready.is_empty():
                    readies.append((hosted, ready))
        if readies:
            for hosted, ready in readies:
                for to, message in ready.messages:
                    if may_precede_persist(message):
                        self.peers.post(to, hosted.partition_id, message)
            self._persist(readies)
            now = self.clock()
            for hosted, ready in readies:
                self._publish(hosted, now)
                for to, message in ready.messages:
                    if not may_precede_persist(message):
                        self.peers.post(to, hosted.partition_id, message)
            for hosted, ready in readies:
                self._apply(hosted, ready)
                self._publish(hosted, now)
        self.stats["flushes"] += 1
        for sender, waiter in waiters:
            waiter.set_result(self.peers.end_reply(sender))
        with self.flushed:
            self.flushed.notify_all()

    def _publish(self, hosted: HostedReplica, now: float) -> None:
        replica = hosted.replica
        strong_until = float("-inf")
        if replica.can_serve_strong_read(now) and replica.leadership is not None:
            strong_until = replica.leadership.lease_until()
        hosted.lease = ReadLease(strong_until, replica.role, replica.leader_hint())

    def _persist(self, readies: list[tuple[HostedReplica, Ready]]) -> None:
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
        synced = sync and self.config.storage.sync_writes
        self.stats["fsyncs"] += int(synced)
        self.engine.write(batch, sync=synced)

    def _apply(self, hosted: HostedReplica, ready: Ready) -> None:
        replica = hosted.replica
        for slot, value in ready.to_apply:
            batch, results = hosted.machine.apply_slot(self.engine, slot, value)
            self.engine.write(batch, sync=False)
            for request_id, result in results:
                for answer, index in hosted.pending.pop(request_id, ()):
                    answer.set(index, {"status": "ok", "result": result, "slot": slot})
        if ready.to_apply:
            replica.on_applied(ready.to_apply[-1][0])
            self.dirty.add(hosted.partition_id)
        for peer in ready.snapshot_requests:
            with self.engine.snapshot() as view:
                applied, blob = build_snapshot(view, hosted.keys)
            configs = replica.snapshot_configs(applied)
            message = InstallSnapshot(self.node_id, applied, blob, configs)
            self.peers.post(peer, hosted.partition_id, message)
        if ready.leadership_lost:
            self._fail_pending(hosted, not_leader(replica.leader_hint()))

    def _fail_pending(self, hosted: HostedReplica, result: Result) -> None:
        pending, hosted.pending = hosted.pending, {}
        for waiting in pending.values():
            for answer, index in waiting:
                answer.set(index, result)


_LATER = object()
