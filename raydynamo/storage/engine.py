"""The storage engine interface: what every layer above may ask of a key-value store.

Keys and values are ``bytes``; keys order bytewise (unsigned, shorter prefix first), which is the
order RocksDB's default comparator gives. Two engines implement this interface: ``RocksEngine``
(``storage/rocks.py``, the only module that imports ``rocksdict``) and ``MemoryEngine``
(``storage/memory.py``, a sorted in-memory twin used by the simulator and the unit tests). One
contract test suite (``tests/test_storage_engine.py``) runs against both, which is what proves this
interface complete.

Invariants every engine keeps:
- ``write`` applies a ``WriteBatch`` atomically: after a crash either all of it or none is seen.
- ``write(batch, sync=True)`` returns only once the batch is durable (fsync'ed WAL).
- A ``Snapshot`` sees exactly the data present when it was taken, whatever is written later.
- ``scan`` ranges are half-open ``[start, end)``; ``end=None`` means "to the end of the keyspace".

This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class WriteBatch:
    """An ordered list of puts, deletes and range deletes applied atomically by ``Engine.write``.

    Later operations win over earlier ones on the same key, as in RocksDB.
    """

    ops: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)

    PUT = 0
    DELETE = 1
    DELETE_RANGE = 2

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((WriteBatch.PUT, key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((WriteBatch.DELETE, key, None))

    def delete_range(self, start: bytes, end: bytes) -> None:
        """Delete every key in ``[start, end)``; a no-op when ``start >= end``."""
        self.ops.append((WriteBatch.DELETE_RANGE, start, end))

    def __len__(self) -> int:
        return len(self.ops)

    def extend(self, other: WriteBatch) -> None:
        self.ops.extend(other.ops)


class ReadView(ABC):
    """Reads shared by an engine and its snapshots."""

    @abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or ``None``."""

    @abstractmethod
    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Values for ``keys``, in the same order, ``None`` where absent."""

    @abstractmethod
    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` in ascending key order, or descending if ``reverse``.

        ``limit`` bounds the number of pairs yielded (``0`` yields none; negative is a
        ``ValueError``). The pairs are the data as of this call, like a RocksDB iterator's
        implicit snapshot: writes made while the caller consumes the iterator are not seen.
        """


class Snapshot(ReadView):
    """A consistent, read-only point-in-time view. Release it with ``close()``."""

    @abstractmethod
    def close(self) -> None:
        """Release the snapshot's resources. Idempotent; further reads raise ``StorageClosed``."""

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Engine(ReadView):
    """A durable, ordered key-value store."""

    @abstractmethod
    def write(self, batch: WriteBatch, *, sync: bool) -> None:
        """Apply ``batch`` atomically; if ``sync``, return only once it is durable.

        A synced write also makes every earlier write durable, so an empty batch with
        ``sync=True`` is a durability barrier. A malformed batch (non-bytes keys or values) raises
        ``TypeError`` before anything of it is applied.
        """

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """A consistent view of the data as it is now."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the engine and its snapshots. Idempotent.

        Further calls on the engine, on its snapshots and on its unfinished scans raise
        ``StorageClosed`` (``storage.checksum`` holds the storage exception tree).
        """


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix`` (None: no such key)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
