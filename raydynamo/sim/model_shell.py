"""The model checker's shell: one replica's storage node, for the length of one action.

It handles each ``Ready`` as a storage node does: send the early messages, persist the records
(one batch, synced when asked), send the other messages, apply ``to_apply`` in slot order (one
unsynced data batch) and call ``on_applied``; snapshot requests are answered with the applied
data. Every entry it persists that is not known chosen is a ghost vote. With ``crash_early`` the
node crashes in the first Ready that sends early messages (``may_precede_persist``) ahead of
records: after those messages left and before the records are durable.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

from raydynamo.consensus.messages import may_precede_persist
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Ballot, EntryRecord, Ready, Value
from raydynamo.sim.model_replica import snapshot_message
from raydynamo.sim.model_state import AppliedOp, Disk, DiskOp, MessageTable, SnapshotOp

READY_ROUNDS_MAX = 64  # a Ready loop longer than this is a core that never settles

Vote = tuple[str, Ballot, int, Value]


class CrashBeforePersist(Exception):
    """The replica crashed after sending its early messages and before persisting."""


class Shell:
    """One replica's storage node for the length of one action. With ``crash_early``, the node
    crashes in the first Ready that sends early messages (``may_precede_persist``) ahead of
    records: after those messages left and before the records are durable."""

    def __init__(
        self,
        table: MessageTable,
        replica: Replica,
        disk: Disk,
        applied: tuple[Value, ...],
        crash_early: bool = False,
    ) -> None:
        self.table = table
        self.replica = replica
        self.disk = disk
        self.applied: list[Value] = list(applied)
        self.sent: set[int] = set()
        self.votes: set[Vote] = set()
        self.crash_early = crash_early
        self.early_cut = False  # a Ready sent early messages ahead of records

    def drain(self) -> None:
        for _ in range(READY_ROUNDS_MAX):
            ready = self.replica.ready()
            if ready.is_empty():
                return
            self._handle(ready)
        raise AssertionError("the core kept producing Ready batches")

    def _handle(self, ready: Ready) -> None:
        early = [(to, m) for to, m in ready.messages if may_precede_persist(m)]
        for to, msg in early:
            self.sent.add(self.table.intern(to, msg))
        if early and ready.records:
            self.early_cut = True
            if self.crash_early:
                raise CrashBeforePersist()
        self._persist(ready)
        for to, msg in ready.messages:
            if not may_precede_persist(msg):
                self.sent.add(self.table.intern(to, msg))
        snapshot = ready.snapshot_to_install
        if snapshot is not None:
            self.applied = list(snapshot.data)  # type: ignore[call-overload]
        if ready.to_apply:
            for slot, value in ready.to_apply:
                assert slot == len(self.applied) + 1, f"to_apply skips to slot {slot}"
                self.applied.append(value)
            ops = tuple(AppliedOp(slot, value) for slot, value in ready.to_apply)
            self.disk = self.disk.write(ops, sync=False)
            self.replica.on_applied(ready.to_apply[-1][0])
        for peer in ready.snapshot_requests:
            msg = snapshot_message(self.replica, tuple(self.applied))
            self.sent.add(self.table.intern(peer, msg))

    def _persist(self, ready: Ready) -> None:
        """One write batch; a vote (an entry not known chosen) counts once it is written."""
        rid = self.replica.replica_id
        batch: list[DiskOp] = list(ready.records)
        for record in ready.records:
            if isinstance(record, EntryRecord) and not record.entry.chosen:
                entry = record.entry
                self.votes.add((rid, entry.ballot, record.slot, entry.value))
        snapshot = ready.snapshot_to_install
        if snapshot is not None:
            assert isinstance(snapshot.data, tuple), "model snapshots are applied values"
            batch.append(SnapshotOp(snapshot.data))
        self.disk = self.disk.write(tuple(batch), sync=ready.sync)
