"""The model checker's state: its replicas, their disks, the network, and the ghost votes.

A model state is immutable, so that BFS can branch from it many times:
- per replica (``NodeState``): the ``Replica`` (pickled once the explorer keeps the state), the
  hashes of its fingerprint, a small ``ReplicaView`` the invariants read, its disk (``Disk``: the
  synced image plus a tail of unsynced write batches) and the values its data applied, in order;
- the network: a frozenset of ids of interned, normalized messages (``MessageTable``); a message
  stays in it when delivered (duplication) and leaves only when lost or dead (``is_dead``);
- ghost votes: every (acceptor, ballot, slot, value) an acceptor ever persisted, from which the
  invariants compute what is chosen (a majority voted for it in one ballot);
- the counters that bound the model, and each replica's clock.
``model_replica`` says what of a replica is fingerprinted and why the rest may be left out.
Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import dataclasses
import itertools
import pickle
from typing import NamedTuple

from raydynamo.consensus.messages import Accepted, HeartbeatAck, Message, Promise, Reject
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import (
    ZERO_BALLOT,
    Ballot,
    ChosenThroughRecord,
    CompactedRecord,
    ConfigRecord,
    DurableState,
    Entry,
    EntryRecord,
    PromisedRecord,
    Record,
    Value,
)
from raydynamo.sim.model_replica import (
    ReplicaView,
    check_model_fields,
    replica_fingerprint,
    replica_view,
)

# --- disk ----------------------------------------------------------------------------------------


class AppliedOp(NamedTuple):
    """Disk op: the data applied ``slot`` (written unsynced, after the Ready's messages left)."""

    slot: int
    value: Value


class SnapshotOp(NamedTuple):
    """Disk op: the data was replaced by a snapshot holding these applied values."""

    applied: tuple[Value, ...]


DiskOp = Record | AppliedOp | SnapshotOp


class DiskImage(NamedTuple):
    """What a replica's disk holds: Paxos records and the applied data."""

    promised: Ballot = ZERO_BALLOT
    entries: tuple[tuple[int, Entry], ...] = ()
    chosen_through: int = 0
    compacted_through: int = 0
    applied: tuple[Value, ...] = ()
    configs: tuple[object, ...] = ()  # membership.Config history; empty: the hosting members

    def with_ops(self, batches: tuple[tuple[DiskOp, ...], ...]) -> DiskImage:
        promised, entries, configs = self.promised, dict(self.entries), self.configs
        chosen, compacted, applied = self.chosen_through, self.compacted_through, self.applied
        for batch in batches:
            for op in batch:
                if isinstance(op, PromisedRecord):
                    promised = op.ballot
                elif isinstance(op, EntryRecord):
                    if op.slot > compacted:
                        entries[op.slot] = op.entry
                elif isinstance(op, ChosenThroughRecord):
                    chosen = max(chosen, op.slot)
                elif isinstance(op, CompactedRecord):
                    entries = {s: e for s, e in entries.items() if s > op.slot}
                    compacted = max(compacted, op.slot)
                elif isinstance(op, ConfigRecord):
                    configs = op.configs
                elif isinstance(op, AppliedOp):
                    assert op.slot == len(applied) + 1, "data applies slots in order"
                    applied = (*applied, op.value)
                elif isinstance(op, SnapshotOp):
                    applied = op.applied
                else:
                    raise AssertionError(f"unknown disk op {op!r}")
        entry_items = tuple(sorted(entries.items()))
        return DiskImage(promised, entry_items, chosen, compacted, applied, configs)

    def durable(self) -> DurableState:
        return DurableState(
            promised=self.promised,
            entries=dict(self.entries),
            chosen_through=self.chosen_through,
            compacted_through=self.compacted_through,
            applied_through=len(self.applied),
            configs=self.configs,
        )


class Disk(NamedTuple):
    """The synced image and the unsynced batches after it. A crash keeps any prefix of the tail
    (a sequential write-ahead log); a synced write makes the whole tail durable."""

    synced: DiskImage = DiskImage()
    tail: tuple[tuple[DiskOp, ...], ...] = ()

    def write(self, batch: tuple[DiskOp, ...], *, sync: bool) -> Disk:
        if not batch and not sync:
            return self
        tail = (*self.tail, batch)
        if sync:
            return Disk(self.synced.with_ops(tail), ())
        return Disk(self.synced, tail)

    def after_crash(self, kept: int) -> DiskImage:
        assert 0 <= kept <= len(self.tail)
        return self.synced.with_ops(self.tail[:kept])


# --- network -----------------------------------------------------------------------------------


def normalize(msg: Message) -> Message:
    """Drop what cannot matter in the model: times (read only for leases and check-quorum, both
    off), leader hints (they only flow into other hints), and the ``chosen_through`` of Promise
    and Accepted (read only for hand-off progress)."""
    if isinstance(msg, Reject):
        return dataclasses.replace(msg, leader_hint=None)
    if isinstance(msg, Promise | Accepted):
        return dataclasses.replace(msg, chosen_through=0, sent_at=0.0)
    if hasattr(msg, "sent_at"):
        return dataclasses.replace(msg, sent_at=0.0)  # type: ignore[type-var]
    return msg


ALWAYS_DEAD = (ZERO_BALLOT, -1)


class MessageTable:
    """Interns (destination, message) pairs to small ints; a network is a frozenset of them."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, Message], int] = {}
        self.raw_ids: dict[tuple[str, Message], int] = {}  # before normalizing
        self.envelopes: list[tuple[str, Message]] = []
        # Per id, for answers to a ballot: (ballot, round a Reject raises max_round_seen to).
        self.answers: list[tuple[Ballot, int] | None] = []

    def intern(self, dest: str, msg: Message) -> int:
        raw = self.raw_ids.get((dest, msg))
        if raw is not None:
            return raw
        mid = self._intern(dest, msg)
        self.raw_ids[dest, msg] = mid
        return mid

    def _intern(self, dest: str, msg: Message) -> int:
        key = (dest, normalize(msg))
        found = self.ids.get(key)
        if found is not None:
            return found
        msg = key[1]
        self.ids[key] = len(self.envelopes)
        self.envelopes.append(key)
        if isinstance(msg, Reject):
            self.answers.append((msg.ballot, msg.promised.round))
        elif isinstance(msg, HeartbeatAck):
            self.answers.append(ALWAYS_DEAD)
        elif isinstance(msg, Promise | Accepted):
            self.answers.append((msg.ballot, 0))
        else:
            self.answers.append(None)
        return len(self.envelopes) - 1

    def is_dead(self, mid: int, promised: Ballot, reign: Ballot | None) -> bool:
        """True when the message can never again change its destination, whose promise and
        reign (the ballot it campaigns or leads with) are given. That holds for an answer to a
        ballot ``b`` (Promise, Accepted, HeartbeatAck, Reject; always addressed to ``b``'s
        owner) once the owner's reign is no longer ``b`` and it promised ``b`` or more: its
        handlers act only while it reigns with ``b``, and it never reigns with ``b`` again, since
        a new reign takes a round above ``max_round_seen`` >= ``promised.round`` (durable, so
        this survives a crash too). A Reject also raises ``max_round_seen`` to its ``promised``
        round, a no-op once ``promised.round`` (<= ``max_round_seen``) is that high. A
        HeartbeatAck is always dead here: it only records lease acknowledgements and hand-off
        progress, and the model has neither."""
        answer = self.answers[mid]
        if answer is None:
            return False
        if answer is ALWAYS_DEAD:
            return True
        ballot, round_seen = answer
        return ballot != reign and ballot <= promised and round_seen <= promised.round


# --- replicas ------------------------------------------------------------------------------------


class NodeState(NamedTuple):
    replica: Replica | bytes  # live (never mutated) until the explorer keeps it, then pickled
    fingerprint: int  # hash of ``memory`` and of the disk
    memory: int  # hash of the replica's fingerprint and of its applied data (not the disk)
    view: ReplicaView
    disk: Disk
    applied: tuple[Value, ...]


def freeze(replica: Replica, disk: Disk, applied: tuple[Value, ...], now: float) -> NodeState:
    """A node from a replica nobody will mutate again (the caller drops its reference)."""
    memory = hash((replica_fingerprint(replica, now), applied))
    key = hash((memory, disk))
    return NodeState(replica, key, memory, replica_view(replica, now), disk, applied)


_SEALS = itertools.count(1)
FIELD_CHECKS_ALL = 5000  # check the fields of this many replicas, then of one in FIELD_CHECK_EVERY
FIELD_CHECK_EVERY = 64


def seal(node: NodeState) -> NodeState:
    """Pickle a live replica: a kept state takes a third of the memory, and stays immutable."""
    if isinstance(node.replica, bytes):
        return node
    n = next(_SEALS)
    if n <= FIELD_CHECKS_ALL or n % FIELD_CHECK_EVERY == 0:
        check_model_fields(node.replica)
    return node._replace(replica=pickle.dumps(node.replica, protocol=pickle.HIGHEST_PROTOCOL))


def load(node: NodeState) -> Replica:
    """The node's replica, for reading only (``clone`` it before handing it inputs)."""
    if isinstance(node.replica, bytes):
        replica = pickle.loads(node.replica)
        assert isinstance(replica, Replica)
        return replica
    return node.replica
