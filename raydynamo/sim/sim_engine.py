"""A simulated storage node's disk: the ``Engine`` interface over memory, with failpoints.

``SimEngine`` keeps what is synced (``durable``) apart from the write batches written since the
last sync (``unsynced``); reads see both, as RocksDB's memtable does. A crash keeps the durable
state plus a random *prefix* of the unsynced batches (RocksDB's sequential write-ahead log: a
later synced write makes every earlier one durable too) and the node restarts from that alone.

Failpoints, drawn from the world's seeded generator while ``armed``:
- a write fails before anything is applied (an I/O error, or a full disk);
- a synced write applies, then its fsync fails: the data is visible but its durability is
  unknown (a crash may keep or lose it, as after a real failed fsync);
- a write applies and the process dies right after (a crash between persisting and the next
  step of the round).
Every failpoint raises ``StorageError``; the node core turns that into ``NodeFailure`` and the
simulated node crashes, as the real process ends. Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from raydynamo.storage.checksum import StorageError
from raydynamo.storage.engine import Engine, Snapshot, WriteBatch
from raydynamo.storage.memory import MemoryEngine


@dataclass(frozen=True, slots=True)
class DiskFaults:
    """Per-write probabilities of each failpoint."""

    write_error_rate: float = 0.0
    disk_full_rate: float = 0.0
    fsync_error_rate: float = 0.0
    die_after_write_rate: float = 0.0


class InjectedFault(StorageError):
    """A failure the simulator injected (the node must stop)."""


class SimEngine(Engine):
    def __init__(self, rng: random.Random, faults: DiskFaults) -> None:
        self.rng = rng
        self.faults = faults
        self.armed = False
        self.durable = MemoryEngine()
        self.current = MemoryEngine()
        self.unsynced: list[WriteBatch] = []
        self.injected = 0

    # --- reads ---------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        return self.current.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return self.current.multi_get(keys)

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.current.scan(start, end, reverse=reverse, limit=limit)

    def snapshot(self) -> Snapshot:
        return self.current.snapshot()

    # --- writes --------------------------------------------------------------------------------

    def _roll(self, rate: float) -> bool:
        if self.armed and rate and self.rng.random() < rate:
            self.injected += 1
            return True
        return False

    def write(self, batch: WriteBatch, *, sync: bool) -> None:
        f = self.faults
        if self._roll(f.write_error_rate):
            raise InjectedFault("injected I/O error")
        if self._roll(f.disk_full_rate):
            raise InjectedFault("No space left on device (injected)")
        if not batch.ops and not sync:
            return
        self.current.write(batch, sync=False)
        self.unsynced.append(batch)
        if sync:
            if self._roll(f.fsync_error_rate):
                raise InjectedFault("injected fsync failure")
            for pending in self.unsynced:
                self.durable.write(pending, sync=True)
            self.unsynced.clear()
        if self._roll(f.die_after_write_rate):
            raise InjectedFault("injected death after a write")

    # --- crash and restart ------------------------------------------------------------------------

    def crash(self) -> None:
        """What survives a crash now: the durable state and a random prefix of the rest."""
        kept = self.rng.randint(0, len(self.unsynced))
        for pending in self.unsynced[:kept]:
            self.durable.write(pending, sync=True)
        self.unsynced.clear()
        self.current = self.durable.crash_copy()

    def close(self) -> None:
        """Nothing to release: the data stays for the next incarnation."""
