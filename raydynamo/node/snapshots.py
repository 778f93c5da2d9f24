"""Snapshots in the node core (a mixin: these methods live on ``NodeCore``).

Sending. A replica asked for slots it compacted (``Ready.snapshot_requests``): the core takes an
engine snapshot on its thread (cheap), reads the applied-through slot from it and the membership
history as of that slot, and hands an ``OutgoingTransfer`` to the node's ``SnapshotSender``, which
reads and sends the chunks off the core thread. At most one transfer per (partition, peer) runs,
and the sender bounds how many run at once; a request while it is busy is dropped (the replica
asks again at its next retransmit).

Receiving. ``SnapshotChunk``s are written as they come (one bounded, unsynced batch each) into the
partition's staging generation (``partition.keys``: the live generation plus one), which reads
never look at. Chunk 0 opens a transfer when the replica needs it (not a leader, and the snapshot
is past its applied slot) and no other live transfer is under way; a new transfer replaces the
open one when it comes from the same node (that sender restarted or gave up) or from the leader
the replica follows (an old leader's transfer may never finish). Any
other chunk must be the next one of the open transfer: a duplicate is acknowledged again, one
out of order is dropped, one of a transfer not open here (never opened, abandoned, or opened
before this node restarted) is dropped and refused, so that its sender stops at once instead of
waiting out ``snapshot_stall_s``. The running CRC32C of the pairs must match
the sender's (``SnapshotChunk.digest``), or the transfer is abandoned. When the last chunk is
staged, the core hands its replica an ``InstallSnapshot`` (the consensus core applies its own
rules), and the round that persists the install also switches the live generation and
range-deletes the old one in its one synced batch: O(1) in the data's size. An open transfer that
gets no chunk for ``snapshot_stall_s`` is abandoned and its staging deleted. A crash leaves only
staging garbage, deleted when the replica is opened again.

A failed staging write marks the core failed (``NodeFailure`` at the next ``flush``): receiving a
frame never raises. Pure: no ray, no rocksdict, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raydynamo.consensus.messages import InstallSnapshot, SnapshotAck, SnapshotChunk
from raydynamo.consensus.types import Role
from raydynamo.metadata.member_ids import node_of
from raydynamo.node.transfers import IncomingTransfer, OutgoingTransfer
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.snapshot import (
    applied_in,
    discard_batch,
    garbage_batch,
    install_batch,
    is_state_suffix,
    pairs_digest,
    stage_batch,
)
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import WriteBatch

if TYPE_CHECKING:
    from raydynamo.node.core import HostedReplica, NodeCore


@dataclass(slots=True)
class SnapshotStats:
    """What one node core did with snapshots (this incarnation)."""

    transfers_started: int = 0  # handed to the sender
    requests_dropped: int = 0  # the sender was busy: the replica asks again
    transfers_accepted: int = 0  # opened here as a receiver
    transfers_abandoned: int = 0  # staged, then refused, stalled or superseded
    chunks_staged: int = 0
    chunks_dropped: int = 0  # unexpected, out of order, or for no open transfer
    chunks_corrupt: int = 0  # digest mismatch, or a key outside the state
    installed: int = 0
    garbage_removed: int = 0  # partitions opened with staging a crash left


class NodeFailed(Exception):
    """Internal: a staging write failed; ``NodeCore.failed`` holds why."""


class SnapshotsMixin:
    # --- sending ---------------------------------------------------------------------------------

    def _send_snapshot(self: NodeCore, hosted: HostedReplica, peer: str, now: float) -> None:
        sender = self.snapshot_sender
        pid = hosted.partition_id
        if sender is None or not sender.can_start(pid, peer):
            self.snapshot_stats.requests_dropped += 1
            return
        view = self.engine.snapshot()
        applied = applied_in(view, hosted.keys)
        configs = hosted.replica.snapshot_configs(applied)
        self.transfer_seq += 1
        transfer_id = f"{self.node_id}:{self.seed}:{self.transfer_seq}".encode()
        transfer = OutgoingTransfer(
            transfer_id,
            pid,
            hosted.replica.replica_id,
            peer,
            applied,
            configs,
            view,
            hosted.keys,
            self.limits.snapshot_chunk_bytes,
            now,
        )
        self.snapshot_stats.transfers_started += 1
        sender.start(transfer)

    def _on_snapshot_ack(self: NodeCore, peer: str, ack: SnapshotAck, now: float) -> None:
        if self.snapshot_sender is not None:
            self.snapshot_sender.on_ack(peer, ack, now)

    # --- receiving -------------------------------------------------------------------------------

    def _on_snapshot_chunk(
        self: NodeCore, hosted: HostedReplica, chunk: SnapshotChunk, now: float
    ) -> None:
        """Stage ``chunk`` if it is the one expected, and answer it; drop it otherwise."""
        accepted = self._stage_chunk(hosted, chunk, now)
        if accepted is None:
            self.snapshot_stats.chunks_dropped += 1
            return
        ack = SnapshotAck(hosted.replica.replica_id, chunk.transfer_id, chunk.seq, accepted)
        self.outbox.post(node_of(chunk.sender), hosted.partition_id, ack)

    def _stage_chunk(
        self: NodeCore, hosted: HostedReplica, chunk: SnapshotChunk, now: float
    ) -> bool | None:
        """True: staged (or staged before); False: the transfer is refused; None: dropped."""
        if self.failed is not None:
            return None
        incoming = hosted.incoming
        if hosted.finished_transfer == (chunk.transfer_id, chunk.seq):
            return True  # the last chunk again: its acknowledgement was lost
        if incoming is None or chunk.transfer_id != incoming.transfer_id:
            if chunk.seq != 0:
                self.snapshot_stats.chunks_dropped += 1
                return False  # not opened here (or abandoned, or lost in a restart): stop it
            if incoming is not None and incoming.complete:
                return None  # the staged one is being installed this round
            if not self._wants_snapshot(hosted, chunk.last_slot):
                return False
            if incoming is not None and not self._may_replace(hosted, incoming, chunk, now):
                return False  # another node's transfer is under way
            staging = hosted.keys.at(hosted.keys.generation + 1)
            incoming = IncomingTransfer(
                chunk.transfer_id, chunk.sender, chunk.last_slot, chunk.configs, staging, now
            )
            hosted.incoming = incoming
            self.snapshot_stats.transfers_accepted += 1
        if chunk.seq < incoming.next_seq:
            return True  # a duplicate: staged already
        if incoming.complete:
            return None
        if chunk.seq > incoming.next_seq:
            # A gap: the sender had an acknowledgement this staging never gave (from before a
            # restart here, which lost what was staged, while a delayed first chunk opened the
            # transfer again). Refuse it, so the sender starts over now rather than both ends
            # waiting out the stall timeout (found by the node simulation, seed 295).
            self._abandon_incoming(hosted)
            return False
        if chunk.last_slot != incoming.last_slot or not self._chunk_checks(incoming, chunk):
            self._abandon_incoming(hosted)
            return False
        try:
            self._write_staging(stage_batch(incoming.staging, chunk.pairs, first=chunk.seq == 0))
        except NodeFailed:
            return None
        incoming.next_seq += 1
        incoming.digest = chunk.digest
        incoming.progress_at = now
        self.snapshot_stats.chunks_staged += 1
        if chunk.last:
            return self._hand_install(hosted, incoming, chunk, now)
        return True

    def _may_replace(
        self: NodeCore,
        hosted: HostedReplica,
        incoming: IncomingTransfer,
        chunk: SnapshotChunk,
        now: float,
    ) -> bool:
        """Whether a new transfer's first chunk may replace the open transfer: it comes from
        the same node (which restarted or gave up), from the leader the replica follows, or
        the open one went silent."""
        return (
            incoming.source == chunk.sender
            or hosted.replica.leader_id == chunk.sender
            or now - incoming.progress_at > self.limits.snapshot_stall_s
        )

    def _chunk_checks(self: NodeCore, incoming: IncomingTransfer, chunk: SnapshotChunk) -> bool:
        if not all(is_state_suffix(suffix) for suffix, _ in chunk.pairs):
            self.snapshot_stats.chunks_corrupt += 1
            return False
        if pairs_digest(incoming.digest, chunk.pairs) != chunk.digest:
            self.snapshot_stats.chunks_corrupt += 1
            return False
        return True

    def _wants_snapshot(self: NodeCore, hosted: HostedReplica, last_slot: int) -> bool:
        """The consensus core's own rule: a leader never installs, nor does a replica that
        already applied ``last_slot``."""
        replica = hosted.replica
        return replica.role is not Role.LEADER and last_slot > replica.log.applied_through

    def _hand_install(
        self: NodeCore,
        hosted: HostedReplica,
        incoming: IncomingTransfer,
        chunk: SnapshotChunk,
        now: float,
    ) -> bool:
        """Every chunk is staged: hand the install to the replica (persisted by the flush)."""
        if not self._wants_snapshot(hosted, incoming.last_slot):
            self._abandon_incoming(hosted)
            return False
        incoming.complete = True
        hosted.finished_transfer = (chunk.transfer_id, chunk.seq)
        message = InstallSnapshot(chunk.sender, incoming.last_slot, incoming, incoming.configs)
        hosted.replica.step(message, now)
        self.dirty.add(hosted.partition_id)
        self.installs_due.add(hosted.partition_id)
        return True

    def _abandon_incoming(self: NodeCore, hosted: HostedReplica) -> None:
        incoming, hosted.incoming = hosted.incoming, None
        if incoming is None:
            return
        self.snapshot_stats.transfers_abandoned += 1
        try:
            self._write_staging(discard_batch(incoming.staging))
        except NodeFailed:
            return

    def _expire_incoming(self: NodeCore, now: float) -> None:
        """Abandon staged transfers that stopped arriving (the sender died or gave up)."""
        stall_s = self.limits.snapshot_stall_s
        for hosted in self.replicas.values():
            incoming = hosted.incoming
            if incoming and not incoming.complete and now - incoming.progress_at > stall_s:
                self._abandon_incoming(hosted)

    def _write_staging(self: NodeCore, batch: WriteBatch) -> None:
        try:
            self.engine.write(batch, sync=False)
        # Broad on purpose (crash-only): any failure to write the staging marks the node failed;
        # the next flush raises NodeFailure and the process ends.
        except Exception as err:  # crash-only: marks the node failed
            self._fail(err)
            raise NodeFailed from err

    # --- installing (inside the round's persist) -------------------------------------------------

    def _install(self: NodeCore, hosted: HostedReplica, snapshot: InstallSnapshot) -> WriteBatch:
        """The writes that make the staged generation live, and the switch of the replica's keys
        (before the write: a reader that used the old keys retries, see ``_reading``)."""
        incoming = snapshot.data
        if not isinstance(incoming, IncomingTransfer) or incoming is not hosted.incoming:
            raise self._fail(TypeError("a snapshot to install must be the one staged here"))
        live = hosted.keys
        batch = install_batch(live, incoming.staging, snapshot.last_slot)
        hosted.keys = incoming.staging
        hosted.machine = PartitionStateMachine(incoming.staging, self.limits.dedup)
        hosted.incoming = None
        self.snapshot_stats.installed += 1
        return batch

    def _settle_installs(self: NodeCore) -> None:
        """A staged transfer the replica did not install (its rules said no) is discarded."""
        due, self.installs_due = self.installs_due, set()
        for partition_id in due:
            hosted = self.replicas.get(partition_id)
            if hosted is not None and hosted.incoming is not None and hosted.incoming.complete:
                self._abandon_incoming(hosted)

    # --- opening ---------------------------------------------------------------------------------

    def _remove_garbage(self: NodeCore, keys: PartitionKeys) -> None:
        """Delete every state generation of the partition but the live one (what a crash or a
        stop left of an unfinished transfer)."""
        batch = garbage_batch(self.engine, keys)
        if len(batch):
            self._write(batch, sync=False)
            self.snapshot_stats.garbage_removed += 1
