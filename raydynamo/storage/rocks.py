"""RocksEngine: the durable ``storage.engine.Engine`` on RocksDB, through ``rocksdict`` raw mode.

Role: the one place in the project that imports ``rocksdict``. A storage node opens one
``RocksEngine`` for all the replicas it hosts (keys carry a partition prefix), so the memtable
budget is a constructor argument, enforced by a RocksDB write buffer manager, instead of 64 MB
per database.

Invariants and how they are kept:
- Keys and values are raw bytes (``Options(raw_mode=True)``); RocksDB's default bytewise
  comparator gives the order the interface promises.
- ``write`` turns the whole ``WriteBatch`` into one RocksDB write batch, so it is atomic; with
  ``sync=True`` every live WAL file is fdatasync'ed before it returns, and the directory too
  when a WAL file appeared since the last sync; which WAL files exist is learnt from RocksDB's
  LSM version, never from file timestamps (``_WalSyncer``). A non-synced write is in the WAL (the
  OS page cache): it survives a crash of the process, not a crash of the machine.
- Range deletes with ``start >= end`` are dropped before they reach RocksDB: RocksDB rejects an
  inverted range only *after* applying the earlier operations of the batch and then refuses every
  later write of the process (measured with rocksdict 0.3.29), which would break atomicity.
- Snapshots and scans read through a RocksDB iterator, which sees the data as of its creation
  (RocksDB's implicit iterator snapshot). ``rocksdict.Snapshot`` is not used: in rocksdict 0.3.29
  its ``iter``/``items`` ignore the snapshot and read the latest data. A snapshot keeps one
  iterator pinned; scans sharing it re-seek when another read moved it. A pinned iterator keeps
  memtables and files alive, so snapshots should be short-lived.
- ``ReadOptions.set_iterate_lower_bound`` is never called: in rocksdict 0.3.29 it sets the
  *upper* bound. Forward scans set the upper bound (so they stop at ``end`` without walking
  tombstones past it); reverse scans start with ``seek_for_prev`` and stop at ``start`` here.
- ``close()`` drops every iterator this engine handed out before closing the database: rocksdict
  keeps RocksDB (and its LOCK file) open while any iterator lives. It is idempotent.
- Opening retries while the LOCK file is held (by a dying previous process, DESIGN.md §5) and
  raises ``StorageLocked`` after ``open_retry_s``.

Not thread-safe for one snapshot or scan shared by several threads; RocksDB itself is.

Must not import ray. Nothing but this module may import rocksdict.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import rocksdict

from raydynamo.storage.checksum import StorageClosed, StorageCorruption, StorageError
from raydynamo.storage.engine import Engine, Snapshot, WriteBatch

_T = TypeVar("_T")

_OPEN_RETRY_FIRST_DELAY_S = 0.05
_OPEN_RETRY_DELAY_MAX_S = 1.0
_INFO_LOG_FILES_MAX = 3


class StorageLocked(StorageError):
    """The database's LOCK file stayed held by another process (or handle) past the deadline."""


def _is_lock_error(exc: Exception) -> bool:
    # RocksDB reports "IO error: While lock file: <path>/LOCK: Resource temporarily unavailable"
    # across processes and "IO error: lock hold by current process ... <path>/LOCK: ..." within
    # one; rocksdict raises both as a bare Exception.
    return "/LOCK:" in str(exc)


def _translate(exc: Exception) -> StorageError:
    """A storage error for an exception rocksdict raised (it raises bare ``Exception``s)."""
    message = str(exc)
    if isinstance(exc, rocksdict.DbClosedError):
        return StorageClosed(message)
    if message.startswith("Corruption"):
        return StorageCorruption(message)
    return StorageError(message)


def retry_while_locked(
    open_db: Callable[[], _T],
    *,
    path: str,
    retry_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> _T:
    """Call ``open_db`` until it stops failing on a held LOCK file, for at most ``retry_s``.

    Other errors propagate at once. Raises ``StorageLocked`` once the deadline has passed.
    """
    deadline = clock() + retry_s
    delay_s = _OPEN_RETRY_FIRST_DELAY_S
    attempts = 0
    while True:
        attempts += 1
        try:
            return open_db()
        except Exception as exc:
            if not _is_lock_error(exc):
                raise
            remaining_s = deadline - clock()
            if remaining_s <= 0:
                raise StorageLocked(
                    f"RocksDB at {path!r} still locked after {retry_s:.1f} s "
                    f"({attempts} attempts): {exc}"
                ) from exc
            sleep(min(delay_s, remaining_s))
            delay_s = min(delay_s * 2, _OPEN_RETRY_DELAY_MAX_S)


def _check_scan_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"scan limit must be >= 0 or None, got {limit}")


class _PinnedIterator:
    """A RocksDB iterator the engine can revoke on close, and who last positioned it.

    Generators hold this handle, never the raw iterator, so that ``close()`` can drop the raw
    iterator even while a scan is suspended (rocksdict keeps the database open while it lives).
    """

    __slots__ = ("__weakref__", "owner", "raw")

    def __init__(self, raw: rocksdict.RdictIter) -> None:
        self.raw: rocksdict.RdictIter | None = raw
        self.owner: object | None = None

    def iterator(self) -> rocksdict.RdictIter:
        if self.raw is None:
            raise StorageClosed("iterator released: its snapshot or engine is closed")
        return self.raw


def _check_iterator_status(raw: rocksdict.RdictIter) -> None:
    try:
        raw.status()
    except Exception as exc:
        raise _translate(exc) from exc


def _seek_below(raw: rocksdict.RdictIter, bound: bytes) -> None:
    """Position ``raw`` at the largest key strictly below ``bound``."""
    raw.seek_for_prev(bound)
    if raw.valid() and raw.key() == bound:
        raw.prev()


def _position(
    raw: rocksdict.RdictIter, start: bytes, end: bytes | None, reverse: bool, last: bytes | None
) -> None:
    """Seek to the first pair a scan yields, or to the one after ``last`` if it yielded some."""
    if last is None:
        if not reverse:
            raw.seek(start)
        elif end is None:
            raw.seek_to_last()
        else:
            _seek_below(raw, end)
    elif reverse:
        _seek_below(raw, last)
    else:
        raw.seek(last + b"\x00")  # the smallest key greater than ``last``


def _step(
    handle: _PinnedIterator,
    owner: object,
    start: bytes,
    end: bytes | None,
    reverse: bool,
    last: bytes | None,
) -> tuple[bytes, bytes] | None:
    """The next pair of a scan, or None when it is over. Holds the raw iterator only inside."""
    raw = handle.iterator()
    if handle.owner is not owner:
        _position(raw, start, end, reverse, last)
        handle.owner = owner
    elif reverse:
        raw.prev()
    else:
        raw.next()
    if not raw.valid():
        _check_iterator_status(raw)
        return None
    key: bytes = raw.key()
    if reverse:
        if key < start:
            return None
    elif end is not None and key >= end:
        return None
    return key, raw.value()


def _scan_pinned(
    handle: _PinnedIterator, start: bytes, end: bytes | None, reverse: bool, limit: int | None
) -> Iterator[tuple[bytes, bytes]]:
    owner = object()
    last: bytes | None = None
    yielded = 0
    while limit is None or yielded < limit:
        pair = _step(handle, owner, start, end, reverse, last)
        if pair is None:
            return
        yield pair
        last = pair[0]
        yielded += 1


def _is_empty_range(start: bytes, end: bytes | None, limit: int | None) -> bool:
    return limit == 0 or (end is not None and start >= end)


class RocksSnapshot(Snapshot):
    """A point-in-time view of a RocksEngine, read through one pinned RocksDB iterator."""

    def __init__(self, handle: _PinnedIterator) -> None:
        self._handle = handle

    def get(self, key: bytes) -> bytes | None:
        raw = self._handle.iterator()
        self._handle.owner = None  # any scan in progress must re-seek
        raw.seek(key)
        if raw.valid() and raw.key() == key:
            value: bytes = raw.value()
            return value
        _check_iterator_status(raw)
        return None

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        _check_scan_limit(limit)
        self._handle.iterator()  # fail now, not at the first next(), if closed
        if _is_empty_range(start, end, limit):
            return iter(())
        return _scan_pinned(self._handle, start, end, reverse, limit)

    def close(self) -> None:
        """Release the pinned iterator. Idempotent."""
        self._handle.raw = None


_WAL_FILE = re.compile(r"^[0-9]+\.log$")
# RocksDB's count of LSM-tree changes (memtable switches included); not kept across restarts.
_LSM_VERSION_PROPERTY = "rocksdb.current-super-version-number"


class _WalSyncer:
    """Makes RocksDB's write-ahead log durable with ``os.fdatasync``, which releases the GIL.

    rocksdict holds the GIL for the whole of ``Rdict.write``, fsync included: a synced write
    there stalls every other thread of the storage node for the length of the fsync (measured:
    43% of the time the GIL was held in the leader under load). So writes go to RocksDB unsynced
    and this class syncs the WAL files instead. That is as durable as a synced write: with
    ``manual_wal_flush`` off (the default), RocksDB hands each write's WAL record to the OS with
    write(2) before ``write`` returns, so fdatasync of every live WAL file afterwards covers it. A
    WAL file that appeared since the last sync also gets its directory entry synced, as RocksDB
    would when it creates one.

    Knowing every WAL file, without listing the directory at every sync (the listing grows with
    the SST files: about 60 µs for 100 entries here, a third of an fdatasync): RocksDB creates a
    WAL file only when it opens the database or switches memtables, and every memtable switch
    installs a new LSM version (``_LSM_VERSION_PROPERTY``) before the write that triggered it
    returns. So the directory is listed at the first sync and whenever that number moved since
    the last listing; it is read *before* listing, so a switch during the listing is caught by the
    next sync. Nothing here depends on file timestamps, whose resolution varies (1 s or 2 s on
    some file systems) and which two events within one tick share. The database has one column
    family (the default one, whose number this is) and WAL recycling stays off (a recycled WAL
    keeps an old name).
    """

    def __init__(self, path: str, lsm_version: Callable[[], int]) -> None:
        self._path = path
        self._lsm_version = lsm_version
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listed_version: int | None = None

    def sync(self) -> None:
        with self._lock:
            appeared = self._refresh()
            for fd in list(self._fds.values()):
                os.fdatasync(fd)
            if appeared:
                directory = os.open(self._path, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

    def _refresh(self) -> set[str]:
        """Track the live WAL files, listing the directory only when the LSM version moved since
        the last listing (or at the first sync). Returns the WAL files that appeared."""
        version = self._lsm_version()
        if version == self._listed_version:
            return set()
        self._listed_version = version
        names = {e.name for e in os.scandir(self._path) if _WAL_FILE.match(e.name)}
        appeared = names - self._fds.keys()
        for name in appeared:
            self._fds[name] = os.open(os.path.join(self._path, name), os.O_RDONLY)
        for name in [n for n in self._fds if n not in names]:
            os.close(self._fds.pop(name))
        return appeared

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


class RocksEngine(Engine):
    """One RocksDB database, opened in raw (bytes) mode, with a capped memtable budget."""

    def __init__(
        self,
        path: str,
        *,
        write_buffer_bytes_max: int = 64 << 20,
        block_cache_bytes: int = 32 << 20,
        open_retry_s: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        on_sync: Callable[[float], None] | None = None,
    ) -> None:
        """Open (creating if missing) the database at ``path``.

        ``write_buffer_bytes_max`` caps the memory of all memtables together (two memtables of
        half that size, under a write buffer manager); ``block_cache_bytes`` sizes the block
        cache of reads. ``open_retry_s`` is how long to keep retrying while the LOCK file is held;
        ``sleep`` is how to wait between attempts (tests replace it). ``on_sync`` is told the
        seconds every WAL sync took (the storage node's fsync latency metric).
        """
        if write_buffer_bytes_max < 2 << 20:
            raise ValueError(f"write_buffer_bytes_max must be >= 2 MiB: {write_buffer_bytes_max}")
        if block_cache_bytes <= 0:
            raise ValueError(f"block_cache_bytes must be > 0: {block_cache_bytes}")
        self._path = path
        self._write_buffer_manager = rocksdict.WriteBufferManager(write_buffer_bytes_max, False)
        options = self._options(write_buffer_bytes_max, block_cache_bytes)
        self._db: rocksdict.Rdict | None = retry_while_locked(
            lambda: rocksdict.Rdict(path, options),
            path=path,
            retry_s=open_retry_s,
            sleep=sleep,
        )
        self._write_options = rocksdict.WriteOptions()
        self._write_options.sync = False
        self._wal = _WalSyncer(path, self._lsm_version)
        self._pinned: weakref.WeakSet[_PinnedIterator] = weakref.WeakSet()
        self._on_sync = on_sync

    def _options(self, write_buffer_bytes_max: int, block_cache_bytes: int) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_manager(self._write_buffer_manager)
        options.set_write_buffer_size(write_buffer_bytes_max // 2)
        options.set_max_write_buffer_number(2)
        options.set_keep_log_file_num(_INFO_LOG_FILES_MAX)
        table_options = rocksdict.BlockBasedOptions()
        table_options.set_block_cache(rocksdict.Cache(block_cache_bytes))
        table_options.set_bloom_filter(10, False)  # point gets on absent keys skip most files
        options.set_block_based_table_factory(table_options)
        return options

    @property
    def path(self) -> str:
        return self._path

    def _lsm_version(self) -> int:
        db = self._open_db()
        try:
            version: int | None = db.property_int_value(_LSM_VERSION_PROPERTY)
        except Exception as exc:
            raise _translate(exc) from exc
        if version is None:  # RocksDB has had it for years; never guess if it goes missing
            raise StorageError(f"RocksDB property {_LSM_VERSION_PROPERTY} is unavailable")
        return version

    def _open_db(self) -> rocksdict.Rdict:
        if self._db is None:
            raise StorageClosed(f"RocksDB engine at {self._path!r} is closed")
        return self._db

    def _pin(self, raw: rocksdict.RdictIter) -> _PinnedIterator:
        handle = _PinnedIterator(raw)
        self._pinned.add(handle)
        return handle

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        db = self._open_db()
        try:
            value: bytes | None = db.get(key)
        except Exception as exc:
            raise _translate(exc) from exc
        return value

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        db = self._open_db()
        try:
            values: list[bytes | None] = db.get(list(keys))
        except Exception as exc:
            raise _translate(exc) from exc
        return values

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs in ``[start, end)`` as of this call (the iterator is created now)."""
        db = self._open_db()
        _check_scan_limit(limit)
        if _is_empty_range(start, end, limit):
            return iter(())
        read_options = rocksdict.ReadOptions()
        if end is not None and not reverse:
            read_options.set_iterate_upper_bound(end)
        handle = self._pin(db.iter(read_options))
        return _scan_pinned(handle, start, end, reverse, limit)

    # -- writes --------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, *, sync: bool) -> None:
        """Apply ``batch`` atomically; if ``sync``, fsync the WAL before returning.

        An empty batch with ``sync=True`` still syncs the WAL, making every earlier write durable.
        """
        db = self._open_db()
        if batch.ops:
            rocks_batch = _to_rocks_batch(batch)
            try:
                # Never sync inside rocksdict: it holds the GIL for the whole call, fsync
                # included, which would stall every other thread of the process (see _WalSyncer).
                db.write(rocks_batch, self._write_options)
            except Exception as exc:
                raise _translate(exc) from exc
        if sync:
            if self._on_sync is None:
                self._wal.sync()
            else:
                started = time.perf_counter()
                self._wal.sync()
                self._on_sync(time.perf_counter() - started)

    # -- views and lifecycle -------------------------------------------------------------------

    def snapshot(self) -> RocksSnapshot:
        db = self._open_db()
        return RocksSnapshot(self._pin(db.iter(rocksdict.ReadOptions())))

    def close(self) -> None:
        """Release every iterator and snapshot, flush memtables and close RocksDB. Idempotent."""
        db = self._db
        if db is None:
            return
        self._db = None
        for handle in list(self._pinned):
            handle.raw = None
        self._pinned = weakref.WeakSet()
        self._wal.close()
        try:
            db.close()
        except Exception as exc:
            raise _translate(exc) from exc


def _to_rocks_batch(batch: WriteBatch) -> rocksdict.WriteBatch:
    """The rocksdict batch for ``batch``; raises before any write if an operation is malformed."""
    rocks_batch = rocksdict.WriteBatch(raw_mode=True)
    for kind, key, arg in batch.ops:
        if not isinstance(key, bytes):
            raise TypeError(f"keys must be bytes, got {type(key).__name__}")
        if kind == WriteBatch.DELETE:
            rocks_batch.delete(key)
            continue
        if not isinstance(arg, bytes):
            raise TypeError(f"values and range ends must be bytes, got {type(arg).__name__}")
        if kind == WriteBatch.PUT:
            rocks_batch.put(key, arg)
        elif kind == WriteBatch.DELETE_RANGE:
            if key < arg:  # see the module docstring: never hand RocksDB an inverted range
                rocks_batch.delete_range(key, arg)
        else:
            raise ValueError(f"unknown write batch operation {kind!r}")
    return rocks_batch
