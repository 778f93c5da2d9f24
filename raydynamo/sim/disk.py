"""A simulated replica's disk and data: Paxos records plus a tiny key-value state machine.

The disk keeps what was synced and a list of unsynced write batches. A crash keeps the synced state
and a random *prefix* of the unsynced batches, which is what RocksDB's sequential write-ahead log
gives: a later synced write makes every earlier write durable too.

The state machine applies sim commands ``W|<write id>|<key>|<value>`` in slot order, exactly once
per write id, and keeps a chained digest of everything applied so two replicas that applied the
same sequence of slots hold the same digest. Pure: no ray, no rocksdict, no clock.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

from raydynamo.consensus.membership import is_config_command
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


def write_command(write_id: str, key: str, value: int) -> bytes:
    return f"W|{write_id}|{key}|{value}".encode()


def parse_command(command: bytes) -> tuple[str, str, int]:
    _, write_id, key, value = command.decode().split("|")
    return write_id, key, int(value)


@dataclass(slots=True)
class KvState:
    """The data a replica applied: key -> (value, write id, slot), plus dedup and digest."""

    data: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    applied_ids: dict[str, int] = field(default_factory=dict)
    applied_through: int = 0
    digest: int = 0

    def copy(self) -> KvState:
        return KvState(dict(self.data), dict(self.applied_ids), self.applied_through, self.digest)

    def apply(self, slot: int, value: Value) -> list[tuple[str, bool]]:
        """Apply one chosen slot; returns (write id, newly applied) per command."""
        assert slot == self.applied_through + 1, "slots must be applied in order, exactly once"
        results: list[tuple[str, bool]] = []
        for command in value:
            if is_config_command(command):
                continue  # a membership change: nothing to apply to the data
            write_id, key, val = parse_command(command)
            if write_id in self.applied_ids:
                results.append((write_id, False))
                continue
            self.applied_ids[write_id] = slot
            self.data[key] = (val, write_id, slot)
            results.append((write_id, True))
        self.digest = zlib.crc32(repr((slot, value)).encode(), self.digest)
        self.applied_through = slot
        return results


@dataclass(frozen=True, slots=True)
class AppliedSlot:
    """Disk op: the data applied ``slot`` (written unsynced, with nothing else)."""

    slot: int
    value: Value


@dataclass(frozen=True, slots=True)
class SnapshotData:
    """Disk op: the data was replaced by a snapshot (written with the records that go with it)."""

    kv: KvState


DiskOp = Record | AppliedSlot | SnapshotData


@dataclass(slots=True)
class DiskState:
    promised: Ballot = ZERO_BALLOT
    entries: dict[int, Entry] = field(default_factory=dict)
    chosen_through: int = 0
    compacted_through: int = 0
    kv: KvState = field(default_factory=KvState)
    configs: tuple[object, ...] = ()

    def apply(self, batch: list[DiskOp]) -> None:
        for op in batch:
            if isinstance(op, PromisedRecord):
                self.promised = op.ballot
            elif isinstance(op, EntryRecord):
                if op.slot > self.compacted_through:
                    self.entries[op.slot] = op.entry
            elif isinstance(op, ChosenThroughRecord):
                self.chosen_through = max(self.chosen_through, op.slot)
            elif isinstance(op, CompactedRecord):
                for slot in [s for s in self.entries if s <= op.slot]:
                    del self.entries[slot]
                self.compacted_through = max(self.compacted_through, op.slot)
            elif isinstance(op, ConfigRecord):
                self.configs = op.configs
            elif isinstance(op, AppliedSlot):
                self.kv.apply(op.slot, op.value)
            elif isinstance(op, SnapshotData):
                self.kv = op.kv.copy()
            else:
                raise AssertionError(f"unknown disk op {op!r}")


class SimDisk:
    def __init__(self) -> None:
        self.synced = DiskState()
        self.unsynced: list[list[DiskOp]] = []

    def write(self, batch: list[DiskOp], *, sync: bool) -> None:
        if not batch and not sync:
            return
        self.unsynced.append(list(batch))
        if sync:
            for pending in self.unsynced:
                self.synced.apply(pending)
            self.unsynced.clear()

    def crash(self, rng: random.Random) -> None:
        """Lose a random suffix of the unsynced batches."""
        kept = rng.randint(0, len(self.unsynced))
        for pending in self.unsynced[:kept]:
            self.synced.apply(pending)
        self.unsynced.clear()

    def recover(self) -> tuple[DurableState, KvState]:
        state = self.synced
        durable = DurableState(
            promised=state.promised,
            entries=dict(state.entries),
            chosen_through=state.chosen_through,
            compacted_through=state.compacted_through,
            applied_through=state.kv.applied_through,
            configs=state.configs,
        )
        return durable, state.kv.copy()
