"""The storage node core: many replicas over one engine, one write batch and one fsync a round.

``NodeCore`` is the synchronous heart of a storage node. It hosts any number of replicas (of
different partitions) over one ``Engine``, takes typed inputs (a peer's frame, a client's write, a
tick, membership and hosting requests) and, at every ``flush``, handles the ``Ready`` of every
replica that changed, in this order:
  0. a leader's Accepts and Heartbeats go to the outbox at once, so that its fsync overlaps its
     followers' (safe: no reply is handled before step 1 is done, see ``consensus.types``);
  1. the records of every replica are persisted in ONE write batch, fsync'ed when any replica
     needs it and ``sync_writes`` is on: one fsync per round for the whole node;
  2. each replica's read lease is published, then the other messages go to the outbox;
  3. chosen slots are applied in slot order through the partition state machine, exactly once
     per request id, and the waiting clients are answered with typed replies (``replies``).

Crash-only: if persisting or applying fails, ``flush`` raises ``NodeFailure`` and the shell must
end the process (Ray restarts it and it recovers from its own disk); the core is then unusable.
Nothing here catches an unexpected exception and carries on. A malformed, corrupted or foreign
frame from a peer is dropped and counted, never handled: no input can stop the core.

Snapshots (``node/snapshots.py``): a replica behind its peers' compaction point is sent the
partition's state in bounded chunks, read off the core thread by the node's ``SnapshotSender``
from an engine snapshot the core took; the receiver stages them beside its live state and the
install is one small batch of the round.

The core owns no threads, no clock and no randomness: callers pass ``now``. The Ray actor
(``actors/host.py``) runs it on one core thread; the simulator (``sim/nodes``) runs exactly this
code on disks with failpoints. Reads (``read_refusal``, ``execute_reads``) may be called from other
threads: they only look at the published ``ReadLease`` and the engine, under the keys of the
live state generation (re-read if an install switched them meanwhile, ``_reading``).
Must not import ray or rocksdict.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from raydynamo.consensus.codec import CodecError, decode_batch
from raydynamo.consensus.messages import (
    InstallSnapshot,
    Message,
    SnapshotAck,
    SnapshotChunk,
    may_precede_persist,
)
from raydynamo.consensus.replica import NotLeader as CoreNotLeader
from raydynamo.consensus.replica import Overloaded as CoreOverloaded
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Ballot, Ready, Role, Settings, Value
from raydynamo.limits import STAMP_INTERVAL_S
from raydynamo.metadata.member_ids import member_on, node_of
from raydynamo.node.consumption import PartitionConsumption, consumption_fields
from raydynamo.node.reads import ReadsMixin
from raydynamo.node.replies import (
    Applied,
    NoSuchPartition,
    NotLeader,
    Overloaded,
    StaleMap,
    Unavailable,
    WriteReply,
)
from raydynamo.node.snapshots import SnapshotsMixin, SnapshotStats
from raydynamo.node.transfers import IncomingTransfer, SnapshotSender
from raydynamo.operations.capacity import write_result_units
from raydynamo.partition.commands import encode_clock
from raydynamo.partition.dedup import DEFAULT_BOUNDS, DedupBounds
from raydynamo.partition.keys import CATALOG_PREFIX, PartitionKeys, catalog_key
from raydynamo.partition.replica_store import add_records, load_durable
from raydynamo.partition.snapshot import current_generation, state_pairs
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.checksum import ChecksumMismatch
from raydynamo.storage.engine import Engine, WriteBatch, prefix_end

Request = tuple[bytes, bytes]  # (request id, encoded command)


class NodeFailure(Exception):
    """Persisting or applying failed: the node must stop (crash-only) and recover from disk."""


class Outbox(Protocol):
    """Where the core hands messages for peers (the shell batches them per peer)."""

    def post(self, peer: str, partition_id: str, message: Message) -> None: ...


# Told of every chosen slot this node is about to apply (the simulator's checker listens).
ApplyObserver = Callable[[str, int, Value], None]


@dataclass(frozen=True, slots=True)
class ReadLease:
    """What a reader needs to know of a replica, published by the core after each flush."""

    strong_until: float = float("-inf")
    role: Role = Role.FOLLOWER
    leader: str | None = None
    recovering: bool = False  # a leader whose recovery is not applied yet


class WriteWaiter:
    """The replies to one batch of write requests; ``on_done`` gets them once all are in."""

    __slots__ = ("missing", "on_done", "replies")

    def __init__(self, count: int, on_done: Callable[[list[WriteReply]], None]) -> None:
        self.replies: list[WriteReply | None] = [None] * count
        self.missing = count
        self.on_done = on_done
        if not count:
            on_done([])

    def set(self, index: int, reply: WriteReply) -> None:
        if self.replies[index] is not None:
            return
        self.replies[index] = reply
        self.missing -= 1
        if not self.missing:
            self.on_done([r for r in self.replies if r is not None])

    def set_all(self, reply: WriteReply) -> None:
        for index in range(len(self.replies)):
            self.set(index, reply)


@dataclass(slots=True)
class HostedReplica:
    partition_id: str
    keys: PartitionKeys
    replica: Replica
    machine: PartitionStateMachine
    consumption: PartitionConsumption
    pending: dict[bytes, list[tuple[WriteWaiter, int]]] = field(default_factory=dict)
    pending_sizes: dict[bytes, int] = field(default_factory=dict)
    pending_bytes: int = 0
    lease: ReadLease = field(default_factory=ReadLease)
    next_tick_at: float = float("-inf")
    stamp_ballot: Ballot | None = None  # the reign that stamps the log's clock
    stamped_at: float = 0.0
    incoming: IncomingTransfer | None = None  # a snapshot being staged for this replica
    finished_transfer: tuple[bytes, int] | None = None  # (transfer id, last seq) staged last

    def stamp(self, now: float) -> bytes | None:
        """A clock command for the log (``partition.dedup``), when one is due: the time since
        this reign's previous stamp. A reign's first proposal only starts its clock."""
        ballot = self.replica.ballot
        if ballot != self.stamp_ballot:
            self.stamp_ballot, self.stamped_at = ballot, now
            return None
        if now - self.stamped_at < STAMP_INTERVAL_S:
            return None
        elapsed_ms = int((now - self.stamped_at) * 1000)
        self.stamped_at = now
        return encode_clock(elapsed_ms)


@dataclass(slots=True)
class NodeStats:
    flushes: int = 0
    fsyncs: int = 0
    frames_in: int = 0
    bad_frames: int = 0
    foreign_messages: int = 0


@dataclass(frozen=True, slots=True)
class NodeLimits:
    """The bounds and switches of one node (from ``config.StorageConfig``/``NodeConfig``)."""

    sync_writes: bool = True
    dedup: DedupBounds = DEFAULT_BOUNDS  # how long and how many first results are kept
    pending_bytes_max: int = 64 << 20  # bytes of commands waiting to be applied, per replica
    snapshot_chunk_bytes: int = 1 << 20  # bytes of state pairs one snapshot chunk carries
    snapshot_stall_s: float = 10.0  # a transfer without progress for this long is abandoned


DEFAULT_LIMITS = NodeLimits()


class NodeCore(SnapshotsMixin, ReadsMixin):
    def __init__(
        self,
        node_id: str,
        engine: Engine,
        settings: Settings,
        outbox: Outbox,
        *,
        limits: NodeLimits = DEFAULT_LIMITS,
        seed: int = 0,
        on_applied: ApplyObserver | None = None,
        snapshots: SnapshotSender | None = None,
    ) -> None:
        """``snapshots`` reads and sends the snapshots this node serves (without one, requests
        for snapshots are dropped and counted)."""
        self.node_id = node_id
        self.engine = engine
        self.settings = settings
        self.outbox = outbox
        self.limits = limits
        self.seed = seed
        self.on_applied = on_applied
        self.replicas: dict[str, HostedReplica] = {}
        self.map_versions: dict[str, int] = {}
        self.dirty: set[str] = set()
        self.stats = NodeStats()
        self.snapshot_stats = SnapshotStats()
        self.failed: NodeFailure | None = None
        self.snapshot_sender = snapshots
        self.transfer_seq = 0
        self.installs_due: set[str] = set()

    # --- hosting ---------------------------------------------------------------------------------

    def recover(self, now: float) -> None:
        """Open every replica this node's catalog lists (after a start or a restart)."""
        end = prefix_end(CATALOG_PREFIX)
        for key, value in self.engine.scan(CATALOG_PREFIX, end):
            partition_id = key[len(CATALOG_PREFIX) :].decode()
            entry = msgpack.unpackb(value, raw=False)
            members = tuple(entry["members"])
            member_id = entry.get("member_id") or self.node_id  # older catalogs: the node's id
            self._open(partition_id, members, bool(entry.get("joining")), now, member_id)

    def host(self, partition_id: str, members: tuple[str, ...], joining: bool, now: float) -> None:
        """Start hosting a replica of ``partition_id`` in group ``members`` (member ids, one of
        them on this node: ``metadata.member_ids``); ``joining`` for a replica added to a
        running group (it learns the group from the log). A node already hosting the partition
        as another member (an older incarnation not dropped yet) refuses."""
        member_id = member_on(self.node_id, members)
        if member_id is None:
            raise ValueError(f"{self.node_id} is not a member of {members}")
        hosted = self.replicas.get(partition_id)
        if hosted is not None:
            if hosted.replica.replica_id != member_id:
                raise ValueError(
                    f"{self.node_id} hosts {partition_id} as {hosted.replica.replica_id}, "
                    f"not as {member_id}: drop it first"
                )
            return
        batch = WriteBatch()
        entry = {"members": list(members), "joining": joining, "member_id": member_id}
        batch.put(catalog_key(partition_id), msgpack.packb(entry))
        self._write(batch, sync=True)
        self._open(partition_id, tuple(members), joining, now, member_id)

    def drop(self, partition_id: str) -> None:
        """Stop hosting ``partition_id`` and delete everything this node kept of it."""
        hosted = self.replicas.pop(partition_id, None)
        if hosted is None:
            return
        self._fail_pending(hosted, Unavailable("the partition was dropped from this node"))
        if self.snapshot_sender is not None:
            self.snapshot_sender.cancel(partition_id)
        start, end = hosted.keys.all_range()
        batch = WriteBatch()
        batch.delete_range(start, end)
        batch.delete(catalog_key(partition_id))
        self._write(batch, sync=True)
        self.dirty.discard(partition_id)
        self.map_versions.pop(partition_id, None)

    def _open(
        self,
        partition_id: str,
        members: tuple[str, ...],
        joining: bool,
        now: float,
        member_id: str,
    ) -> None:
        keys = PartitionKeys(partition_id)
        keys = keys.at(current_generation(self.engine, keys))
        self._remove_garbage(keys)
        durable = load_durable(self.engine, keys)
        replica = Replica(
            member_id,
            members,
            self.settings,
            seed=zlib.crc32(f"{self.seed}/{member_id}/{partition_id}".encode()),
            now=now,
            durable=durable,
            joining=joining,
        )
        machine = PartitionStateMachine(keys, self.limits.dedup)
        self.replicas[partition_id] = HostedReplica(
            partition_id, keys, replica, machine, PartitionConsumption(now)
        )
        self.dirty.add(partition_id)

    # --- control inputs --------------------------------------------------------------------------

    def change_members(self, partition_id: str, members: tuple[str, ...], now: float) -> bool:
        """Ask this node's replica, if it leads, to change the group to ``members``."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return False
        self.dirty.add(partition_id)
        return hosted.replica.propose_config(members, now)

    def campaign(self, partition_id: str, now: float) -> bool:
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return False
        hosted.replica.campaign(now)
        self.dirty.add(partition_id)
        return True

    def transfer_leadership(self, partition_id: str, target: str, now: float) -> bool:
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            return False
        self.dirty.add(partition_id)
        return hosted.replica.transfer_leadership(target, now)

    def set_map_version(self, partition_id: str, map_version: int) -> None:
        """The controller published a new map for this partition: refuse older routers."""
        if map_version > self.map_versions.get(partition_id, 0):
            self.map_versions[partition_id] = map_version

    def stale(self, partition_id: str, map_version: int) -> StaleMap | None:
        known = self.map_versions.get(partition_id, 0)
        return StaleMap(known) if 0 < map_version < known else None

    # --- client writes ---------------------------------------------------------------------------

    def propose(
        self,
        partition_id: str,
        requests: Sequence[Request],
        map_version: int,
        now: float,
        waiter: WriteWaiter,
    ) -> None:
        """Order ``requests``; ``waiter`` gets one reply per request (refusals at once)."""
        hosted = self.replicas.get(partition_id)
        if hosted is None:
            waiter.set_all(NoSuchPartition())
            return
        stale = self.stale(partition_id, map_version)
        if stale is not None:
            waiter.set_all(stale)
            return
        size = sum(len(command) for _, command in requests)
        if hosted.pending_bytes + size > self.limits.pending_bytes_max and hosted.pending:
            hosted.consumption.throttle()
            waiter.set_all(Overloaded())
            return
        commands = [command for _, command in requests]
        if hosted.replica.role is Role.LEADER:
            stamp = hosted.stamp(now)
            if stamp is not None:
                commands.insert(0, stamp)
        try:
            hosted.replica.propose(commands, now)
        except CoreNotLeader as err:
            waiter.set_all(NotLeader(err.leader_hint))
            return
        except CoreOverloaded:
            hosted.consumption.throttle()
            waiter.set_all(Overloaded())
            return
        for index, (request_id, command) in enumerate(requests):
            hosted.pending.setdefault(request_id, []).append((waiter, index))
            if request_id not in hosted.pending_sizes:
                hosted.pending_sizes[request_id] = len(command)
                hosted.pending_bytes += len(command)
        self.dirty.add(partition_id)

    # --- peers and time --------------------------------------------------------------------------

    def receive(self, sender: str, frame: bytes, now: float) -> None:
        """A peer's frame of messages. A frame that does not decode, or a message that claims
        another sender, is dropped and counted; messages for partitions not hosted here are
        ignored (never answer for a group this node is not in)."""
        if not frame:
            return
        try:
            messages = decode_batch(frame)
        except (ChecksumMismatch, CodecError):  # damaged on the way, or not ours: never obeyed
            self.stats.bad_frames += 1
            return
        self.stats.frames_in += 1
        for partition_id, message in messages:
            if node_of(message.sender) != sender or isinstance(message, InstallSnapshot):
                self.stats.foreign_messages += 1  # an InstallSnapshot is only ever made here
                continue
            if isinstance(message, SnapshotAck):
                self._on_snapshot_ack(message.sender, message, now)
                continue
            hosted = self.replicas.get(partition_id)
            if hosted is None:
                continue
            if isinstance(message, SnapshotChunk):
                self._on_snapshot_chunk(hosted, message, now)
                continue
            hosted.replica.step(message, now)
            self.dirty.add(partition_id)

    def tick(self, now: float) -> None:
        """Tick leaders and candidates every time; followers once per heartbeat interval (a node
        hosting thousands of replicas, most of them followers, should not spend its time on
        them)."""
        follower_period = self.settings.heartbeat_interval_s
        self._expire_incoming(now)
        for partition_id, hosted in self.replicas.items():
            replica = hosted.replica
            if now < hosted.next_tick_at and replica.role is Role.FOLLOWER:
                continue
            replica.tick(now)
            self.dirty.add(partition_id)
            if replica.role is Role.FOLLOWER:
                hosted.next_tick_at = now + follower_period

    # --- the round -------------------------------------------------------------------------------

    def flush(self, now: float) -> None:
        """Persist, send and apply everything the replicas produced (see the module docstring).
        Raises ``NodeFailure`` when the node must stop."""
        if self.failed is not None:
            raise self.failed
        dirty, self.dirty = self.dirty, set()
        readies: list[tuple[HostedReplica, Ready]] = []
        for partition_id in sorted(dirty):
            hosted = self.replicas.get(partition_id)
            if hosted is not None:
                ready = hosted.replica.ready()
                if not ready.is_empty():
                    readies.append((hosted, ready))
        self.stats.flushes += 1
        if not readies:
            self._settle_installs()
            return
        for hosted, ready in readies:
            for to, message in ready.messages:
                if may_precede_persist(message):
                    self.outbox.post(node_of(to), hosted.partition_id, message)
        self._persist(readies)
        self._settle_installs()
        for hosted, ready in readies:
            self._publish(hosted, now)
            for to, message in ready.messages:
                if not may_precede_persist(message):
                    self.outbox.post(node_of(to), hosted.partition_id, message)
        for hosted, ready in readies:
            self._apply(hosted, ready, now)
            self._publish(hosted, now)

    def _persist(self, readies: list[tuple[HostedReplica, Ready]]) -> None:
        batch = WriteBatch()
        sync = False
        for hosted, ready in readies:
            add_records(hosted.keys, ready.records, batch)
            sync = sync or ready.sync
            snapshot = ready.snapshot_to_install
            if snapshot is not None:
                batch.extend(self._install(hosted, snapshot))
        if not len(batch):
            return
        synced = sync and self.limits.sync_writes
        self.stats.fsyncs += int(synced)
        self._write(batch, sync=synced)

    def _apply(self, hosted: HostedReplica, ready: Ready, now: float) -> None:
        replica = hosted.replica
        for slot, value in ready.to_apply:
            try:
                batch, results = hosted.machine.apply_slot(self.engine, slot, value)
            # Broad on purpose (crash-only): whatever makes an apply fail (a bug, the engine),
            # the node must stop here rather than skip the slot; NodeFailure ends the process.
            except Exception as err:  # crash-only: the node stops (see above)
                raise self._fail(err) from err
            if self.on_applied is not None:  # told before the write: it may be the last one
                self.on_applied(hosted.partition_id, slot, value)
            self._write(batch, sync=False)
            for request_id, result in results:
                if isinstance(result, dict):  # a failed condition is charged too, as DynamoDB does
                    hosted.consumption.add("write", write_result_units(result), now)
                hosted.pending_bytes -= hosted.pending_sizes.pop(request_id, 0)
                for waiter, index in hosted.pending.pop(request_id, ()):
                    waiter.set(index, Applied(result, slot))
        if ready.to_apply:
            replica.on_applied(ready.to_apply[-1][0])
            self.dirty.add(hosted.partition_id)
        for peer in ready.snapshot_requests:
            self._send_snapshot(hosted, peer, now)
        if ready.leadership_lost:
            self._fail_pending(hosted, NotLeader(replica.leader_hint(), proposed=True))

    def _write(self, batch: WriteBatch, *, sync: bool) -> None:
        try:
            self.engine.write(batch, sync=sync)
        # Broad on purpose (crash-only): any failure to persist (RocksDB, the OS, a full disk)
        # ends the node; nothing is acknowledged from an unpersisted round.
        except Exception as err:  # crash-only: nothing unpersisted is acked
            raise self._fail(err) from err

    def _fail(self, err: BaseException) -> NodeFailure:
        failure = NodeFailure(f"storage node {self.node_id} cannot go on: {err!r}")
        self.failed = failure
        return failure

    def _publish(self, hosted: HostedReplica, now: float) -> None:
        replica = hosted.replica
        strong_until = float("-inf")
        lead = replica.leadership
        if replica.can_serve_strong_read(now) and lead is not None:
            strong_until = lead.lease_until()
        recovering = (
            replica.role is Role.LEADER
            and lead is not None
            and replica.log.applied_through < lead.recovered_through
        )
        hosted.lease = ReadLease(strong_until, replica.role, replica.leader_hint(), recovering)

    def _fail_pending(self, hosted: HostedReplica, reply: WriteReply) -> None:
        pending, hosted.pending = hosted.pending, {}
        hosted.pending_sizes.clear()
        hosted.pending_bytes = 0
        for waiting in pending.values():
            for waiter, index in waiting:
                waiter.set(index, reply)

    def fail_all_pending(self, reason: str) -> None:
        """Answer every waiting write (the node is closing or failed): the outcome is unknown."""
        for hosted in self.replicas.values():
            self._fail_pending(hosted, Unavailable(reason))

    # --- inspection ------------------------------------------------------------------------------

    def status(self, now: float) -> list[dict[str, Any]]:
        out = []
        for partition_id, hosted in sorted(self.replicas.items()):
            r = hosted.replica
            out.append(
                {
                    "partition_id": partition_id,
                    "node_id": self.node_id,
                    "member_id": r.replica_id,
                    "role": r.role.value,
                    "leader": r.leader_hint(),
                    "ballot": str(r.ballot or r.promised),
                    "chosen_through": r.log.chosen_through,
                    "applied_through": r.log.applied_through,
                    "compacted_through": r.log.compacted_through,
                    "lease": r.holds_lease(now),
                    "members": list(r.members),
                    "config_slot": r.membership.current.slot,
                    **consumption_fields(hosted.consumption.snapshot(now)),
                }
            )
        return out

    def partition_state(self, partition_id: str) -> tuple[int, list[tuple[bytes, bytes]]]:
        """(applied-through, every state key below its generation's prefix, and value): to
        compare replicas byte for byte, whatever generation each holds its state under."""
        hosted = self.replicas[partition_id]
        return hosted.replica.log.applied_through, state_pairs(self.engine, hosted.keys)
