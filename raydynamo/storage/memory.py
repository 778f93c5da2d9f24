"""MemoryEngine: the sorted in-memory twin of RocksEngine, for the simulator and unit tests.

Role: implement ``storage.engine.Engine`` with plain Python containers, so the pure layers and the
deterministic simulator can run without RocksDB, and so the shared contract tests
(``tests/test_storage_engine.py``) prove the interface complete.

Representation: a sorted ``list`` of keys (kept sorted with ``bisect``) and a ``dict`` from key to
value. ``sortedcontainers`` is not used because it is not a declared dependency of the project (it
is only pulled in by hypothesis, a test dependency).

Invariants:
- ``_keys`` is strictly increasing and holds exactly the keys of ``_values``.
- A state (the ``_keys``/``_values`` pair) that a snapshot or a crash copy may still see is never
  mutated: ``_shared`` is set when such a reference is handed out, and the next write copies the
  state first (copy-on-write). Taking a snapshot is O(1); the first write after it is O(n).
- ``write`` validates the whole batch before applying any of it, so a bad batch changes nothing.
- Every write is durable the moment it returns: ``sync`` is accepted and has no effect, and
  ``crash_copy()`` (what survives a crash) is therefore an exact, independent copy.

Not thread-safe: one caller at a time, like the actors that own an engine.

This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence

from raydynamo.storage.checksum import StorageClosed
from raydynamo.storage.engine import Engine, Snapshot, WriteBatch

_ABSENT = object()


def _check_scan_limit(limit: int | None) -> None:
    """Reject a negative ``limit`` (RocksEngine does the same)."""
    if limit is not None and limit < 0:
        raise ValueError(f"scan limit must be >= 0 or None, got {limit}")


def _check_batch(batch: WriteBatch) -> None:
    """Raise before anything is applied if an operation of ``batch`` is malformed."""
    for kind, key, arg in batch.ops:
        if not isinstance(key, bytes):
            raise TypeError(f"keys must be bytes, got {type(key).__name__}")
        if kind == WriteBatch.DELETE:
            continue
        if kind not in (WriteBatch.PUT, WriteBatch.DELETE_RANGE):
            raise ValueError(f"unknown write batch operation {kind!r}")
        if not isinstance(arg, bytes):
            raise TypeError(f"values and range ends must be bytes, got {type(arg).__name__}")


def _range_indexes(
    keys: list[bytes], start: bytes, end: bytes | None, reverse: bool, limit: int | None
) -> tuple[int, int]:
    """Index bounds ``[low, high)`` of the keys a scan yields, with ``limit`` applied."""
    low = bisect_left(keys, start)
    high = len(keys) if end is None else bisect_left(keys, end)
    high = max(low, high)
    if limit is not None:
        if reverse:
            low = max(low, high - limit)
        else:
            high = min(high, low + limit)
    return low, high


class MemorySnapshot(Snapshot):
    """A frozen view of a MemoryEngine: it holds the state that was current when it was taken."""

    def __init__(self, keys: list[bytes], values: dict[bytes, bytes]) -> None:
        self._keys: list[bytes] | None = keys
        self._values: dict[bytes, bytes] | None = values

    def _state(self) -> tuple[list[bytes], dict[bytes, bytes]]:
        if self._keys is None or self._values is None:
            raise StorageClosed("snapshot is closed (or its engine is)")
        return self._keys, self._values

    def get(self, key: bytes) -> bytes | None:
        return self._state()[1].get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        values = self._state()[1]
        return [values.get(key) for key in keys]

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        _check_scan_limit(limit)
        keys, values = self._state()
        low, high = _range_indexes(keys, start, end, reverse, limit)
        indexes = range(high - 1, low - 1, -1) if reverse else range(low, high)
        return self._walk(keys, values, indexes)

    def _walk(
        self, keys: list[bytes], values: dict[bytes, bytes], indexes: range
    ) -> Iterator[tuple[bytes, bytes]]:
        # The state is frozen (copy-on-write), so a lazy walk over it stays consistent.
        for index in indexes:
            if self._keys is None:
                raise StorageClosed("snapshot closed during a scan")
            key = keys[index]
            yield key, values[key]

    def close(self) -> None:
        self._keys = None
        self._values = None


class MemoryEngine(Engine):
    """A sorted in-memory key-value store with atomic batches and O(1) snapshots."""

    def __init__(self) -> None:
        self._keys: list[bytes] = []
        self._values: dict[bytes, bytes] = {}
        self._shared = False
        self._closed = False
        self._snapshots: weakref.WeakSet[MemorySnapshot] = weakref.WeakSet()

    @classmethod
    def _sharing(cls, keys: list[bytes], values: dict[bytes, bytes]) -> MemoryEngine:
        engine = cls()
        engine._keys = keys
        engine._values = values
        engine._shared = True
        return engine

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed("memory engine is closed")

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._values.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self._check_open()
        values = self._values
        return [values.get(key) for key in keys]

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs in ``[start, end)`` as of this call, like a RocksDB iterator's implicit snapshot.

        The range is copied now (cost bounded by the range and ``limit``), so writes made while
        the caller consumes the iterator are not seen.
        """
        self._check_open()
        _check_scan_limit(limit)
        keys, values = self._keys, self._values
        low, high = _range_indexes(keys, start, end, reverse, limit)
        pairs = [(key, values[key]) for key in keys[low:high]]
        if reverse:
            pairs.reverse()
        return self._yield_while_open(pairs)

    def _yield_while_open(self, pairs: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        for pair in pairs:
            if self._closed:
                raise StorageClosed("memory engine closed during a scan")
            yield pair

    # -- writes --------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, *, sync: bool) -> None:
        """Apply ``batch`` atomically. Every write is durable on return, so ``sync`` is ignored."""
        self._check_open()
        _check_batch(batch)
        if not batch.ops:
            return
        if self._shared:
            self._keys = list(self._keys)
            self._values = dict(self._values)
            self._shared = False
        for kind, key, arg in batch.ops:
            if kind == WriteBatch.PUT:
                self._put(key, arg)  # type: ignore[arg-type]  # checked by _check_batch
            elif kind == WriteBatch.DELETE:
                self._delete(key)
            else:
                self._delete_range(key, arg)  # type: ignore[arg-type]

    def _put(self, key: bytes, value: bytes) -> None:
        if key not in self._values:
            insort(self._keys, key)
        self._values[key] = value

    def _delete(self, key: bytes) -> None:
        if self._values.pop(key, _ABSENT) is not _ABSENT:
            del self._keys[bisect_left(self._keys, key)]

    def _delete_range(self, start: bytes, end: bytes) -> None:
        if start >= end:
            return  # [start, end) is empty
        low = bisect_left(self._keys, start)
        high = bisect_left(self._keys, end)
        for key in self._keys[low:high]:
            del self._values[key]
        del self._keys[low:high]

    # -- views, crash, lifecycle ---------------------------------------------------------------

    def snapshot(self) -> MemorySnapshot:
        self._check_open()
        self._shared = True
        snapshot = MemorySnapshot(self._keys, self._values)
        self._snapshots.add(snapshot)
        return snapshot

    def crash_copy(self) -> MemoryEngine:
        """A new, independent engine holding exactly what survives a crash of this one now.

        Every write of the memory engine is durable, so that is all of its data. The copy is
        made lazily (copy-on-write), so this is O(1). Allowed on a closed engine: a closed
        engine's data is still what a restart would find.
        """
        self._shared = True
        return MemoryEngine._sharing(self._keys, self._values)

    def close(self) -> None:
        """Release the engine and every snapshot taken from it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for snapshot in list(self._snapshots):
            snapshot.close()
        self._snapshots = weakref.WeakSet()
