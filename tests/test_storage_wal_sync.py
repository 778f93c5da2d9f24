"""RocksEngine's WAL sync: after ``write(..., sync=True)`` returns, every live WAL file has been
fdatasync'ed during that call, and the directory too whenever a WAL file appeared since the
previous sync, on any file system.

The engine writes to RocksDB unsynced and fdatasyncs the WAL files itself (``storage/rocks.py``,
``_WalSyncer``), so it must know every WAL file RocksDB creates. These tests run it on a simulated
file system with 1-second timestamps whose clock does not tick during the test (directory mtimes
never move), which is where a syncer that trusts directory mtimes misses new WAL files, and spy on
``os.fdatasync`` / ``os.fsync`` to see which files were really synced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.rocks import RocksEngine

SECOND_NS = 1_000_000_000
VALUE_BYTES = 64 << 10  # 16 of these fill one 1 MiB memtable, which switches RocksDB to a new WAL
WRITES_MAX = 200
SWITCHES_WANTED = 3

FileId = tuple[int, int]  # (st_dev, st_ino)


class CoarseStat:
    """A ``stat_result`` whose timestamps are those of a file system with 1 s resolution whose
    clock stays at ``frozen_s``: every mtime, ctime and atime reads as that same second."""

    def __init__(self, real: os.stat_result, frozen_s: int) -> None:
        self._real = real
        self.st_mtime_ns = self.st_ctime_ns = self.st_atime_ns = frozen_s * SECOND_NS
        self.st_mtime = self.st_ctime = self.st_atime = float(frozen_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class SyncSpy:
    """Records the files that ``os.fdatasync`` and ``os.fsync`` were called on."""

    def __init__(self) -> None:
        self.datasynced: set[FileId] = set()
        self.fsynced: set[FileId] = set()

    def clear(self) -> None:
        self.datasynced.clear()
        self.fsynced.clear()

    def wrap(self, real: Callable[[int], None], into: set[FileId]) -> Callable[[int], None]:
        def spied(fd: int) -> None:
            status = os.fstat(fd)
            into.add((status.st_dev, status.st_ino))
            real(fd)

        return spied


@pytest.fixture
def coarse_fs(monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncSpy]:
    """1-second timestamps that never tick, a wall clock 0.5 s into that same second (so the
    directory looks long settled), and a spy on every fdatasync and fsync."""
    real_stat = os.stat
    frozen_s = int(real_stat(".").st_mtime)

    def coarse_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        return CoarseStat(real_stat(path, *args, **kwargs), frozen_s)

    spy = SyncSpy()
    monkeypatch.setattr(os, "stat", coarse_stat)
    monkeypatch.setattr("time.time_ns", lambda: frozen_s * SECOND_NS + SECOND_NS // 2)
    monkeypatch.setattr(os, "fdatasync", spy.wrap(os.fdatasync, spy.datasynced))
    monkeypatch.setattr(os, "fsync", spy.wrap(os.fsync, spy.fsynced))
    yield spy


def live_wal_files(db: Path) -> dict[str, FileId]:
    """Every WAL file in ``db`` now (``os.lstat``: real, not coarse, but only ids are used)."""
    found: dict[str, FileId] = {}
    for name in os.listdir(db):
        if name.endswith(".log") and name[:-4].isdigit():
            try:
                status = os.lstat(db / name)
            except FileNotFoundError:  # obsolete: RocksDB deleted it after a flush
                continue
            found[name] = (status.st_dev, status.st_ino)
    return found


def directory_id(db: Path) -> FileId:
    status = os.lstat(db)
    return status.st_dev, status.st_ino


def big_batch(index: int) -> WriteBatch:
    batch = WriteBatch()
    batch.put(b"key-%06d" % index, bytes([index % 251]) * VALUE_BYTES)
    return batch


def assert_synced(spy: SyncSpy, db: Path, known: set[str]) -> set[str]:
    """Every live WAL file was fdatasync'ed; the directory fsync'ed if one appeared since
    ``known``. Returns the live WAL names."""
    live = live_wal_files(db)
    unsynced = {name for name, file_id in live.items() if file_id not in spy.datasynced}
    assert unsynced == set(), f"WAL files not synced: {sorted(unsynced)}"
    if set(live) - known:
        assert directory_id(db) in spy.fsynced, "a new WAL file's directory entry was not synced"
    return set(live)


def test_synced_writes_sync_every_new_wal_file_with_coarse_timestamps(
    tmp_path: Path, coarse_fs: SyncSpy
) -> None:
    """A memtable switch inside a synced write puts that write's record in a WAL file created
    in the same (coarse) second as the previous sync: it must be synced all the same."""
    db = tmp_path / "db"
    engine = RocksEngine(str(db), write_buffer_bytes_max=2 << 20, block_cache_bytes=1 << 20)
    known: set[str] = set()
    switches = 0
    for index in range(WRITES_MAX):
        coarse_fs.clear()
        engine.write(big_batch(index), sync=True)
        live = assert_synced(coarse_fs, db, known)
        switches += bool(known and live - known)
        known = live
        if switches >= SWITCHES_WANTED:
            break
    engine.close()
    assert switches >= SWITCHES_WANTED, "the test never made RocksDB switch WAL files"


def test_a_sync_barrier_covers_unsynced_writes_that_switched_wal_files(
    tmp_path: Path, coarse_fs: SyncSpy
) -> None:
    """Unsynced writes that switched RocksDB to a new WAL file, then an empty synced batch: the
    barrier must sync the new file (and its directory entry)."""
    db = tmp_path / "db"
    engine = RocksEngine(str(db), write_buffer_bytes_max=2 << 20, block_cache_bytes=1 << 20)
    engine.write(big_batch(0), sync=True)
    known = assert_synced(coarse_fs, db, set())
    index = 1
    while set(live_wal_files(db)) <= known and index < WRITES_MAX:
        engine.write(big_batch(index), sync=False)
        index += 1
    assert set(live_wal_files(db)) - known, "the test never made RocksDB switch WAL files"
    coarse_fs.clear()
    engine.write(WriteBatch(), sync=True)
    assert_synced(coarse_fs, db, known)
    engine.close()


def test_synced_writes_track_every_new_wal_file_across_flushes(tmp_path: Path) -> None:
    """A WAL created by a memtable flush is among the files synced right after (real clock)."""
    db = tmp_path / "db"
    engine = RocksEngine(str(db))
    for round_ in range(3):
        batch = WriteBatch()
        batch.put(b"k%d" % round_, b"v")
        engine.write(batch, sync=True)
        live = set(live_wal_files(db))
        assert live and live <= set(engine._wal._fds)
        engine._db.flush()  # a memtable flush switches to a new WAL file
    engine.close()


def test_a_wal_file_deleted_between_listing_and_opening_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RocksDB deletes an obsolete WAL file in a background thread after a flush; if that
    happens between the syncer's listing and its open, the sync goes on (a raise here was a
    storage node crash)."""
    from raydynamo.storage import rocks

    (tmp_path / "000007.log").write_bytes(b"live")
    (tmp_path / "000005.log").write_bytes(b"obsolete")
    real_open = os.open

    def open_racing_a_delete(path: str, flags: int, *args: int) -> int:
        if str(path).endswith("000005.log"):
            os.unlink(path)
            raise FileNotFoundError(path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(rocks.os, "open", open_racing_a_delete)
    syncer = rocks._WalSyncer(str(tmp_path), lambda: 1)
    syncer.sync()
    assert set(syncer._fds) == {"000007.log"}
    syncer.close()
