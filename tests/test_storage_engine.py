"""The storage engine contract, run against both engines (MemoryEngine and RocksEngine).

Every test taking the ``engine`` fixture runs once per engine; passing for both is what shows that
``storage.engine`` is a complete interface and that the memory twin behaves like RocksDB. The
hypothesis tests drive both engines and a plain dict model with the same random batches, scans and
snapshots and require identical answers. RocksDB-only behaviour (reopen, crash, LOCK retry) and
MemoryEngine-only behaviour (crash_copy) close the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raydynamo.storage.checksum import StorageClosed, StorageError
from raydynamo.storage.engine import Engine, WriteBatch, prefix_end
from raydynamo.storage.memory import MemoryEngine
from raydynamo.storage.rocks import RocksEngine, StorageLocked, retry_while_locked

SMALL_ROCKS = {"write_buffer_bytes_max": 4 << 20, "block_cache_bytes": 1 << 20}

# Keys whose bytewise order is easy to get wrong: empty, NUL bytes, 0xff bytes, prefixes.
TRICKY_KEYS = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"\x01",
    b"a",
    b"a\x00",
    b"ab",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
]


def open_rocks(path: Path | str, **kwargs: object) -> RocksEngine:
    return RocksEngine(str(path), **{**SMALL_ROCKS, **kwargs})  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "rocks"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    opened: Engine = MemoryEngine() if request.param == "memory" else open_rocks(tmp_path / "db")
    yield opened
    opened.close()


def put_all(engine: Engine, pairs: dict[bytes, bytes], *, sync: bool = False) -> None:
    batch = WriteBatch()
    for key, value in pairs.items():
        batch.put(key, value)
    engine.write(batch, sync=sync)


def keys_of(pairs: Iterator[tuple[bytes, bytes]]) -> list[bytes]:
    return [key for key, _ in pairs]


# -- point reads and writes ----------------------------------------------------------------------


def test_get_put_delete(engine: Engine) -> None:
    assert engine.get(b"k") is None
    put_all(engine, {b"k": b"v1"})
    assert engine.get(b"k") == b"v1"
    put_all(engine, {b"k": b"v2"})
    assert engine.get(b"k") == b"v2"
    batch = WriteBatch()
    batch.delete(b"k")
    batch.delete(b"never-written")
    engine.write(batch, sync=False)
    assert engine.get(b"k") is None


def test_empty_value_is_not_absent_and_empty_key_is_a_key(engine: Engine) -> None:
    put_all(engine, {b"": b"empty key", b"e": b""})
    assert engine.get(b"e") == b""
    assert engine.get(b"") == b"empty key"
    assert list(engine.scan(b"")) == [(b"", b"empty key"), (b"e", b"")]


def test_multi_get_keeps_order_and_reports_missing(engine: Engine) -> None:
    put_all(engine, {b"a": b"1", b"c": b"3"})
    assert engine.multi_get([b"c", b"b", b"a", b"c"]) == [b"3", None, b"1", b"3"]
    assert engine.multi_get([]) == []


def test_sync_and_non_sync_writes_are_both_readable(engine: Engine) -> None:
    put_all(engine, {b"synced": b"1"}, sync=True)
    put_all(engine, {b"buffered": b"2"}, sync=False)
    engine.write(WriteBatch(), sync=True)  # an empty synced batch is a valid barrier
    engine.write(WriteBatch(), sync=False)
    assert engine.multi_get([b"synced", b"buffered"]) == [b"1", b"2"]


def test_non_bytes_are_rejected_and_nothing_of_the_batch_is_applied(engine: Engine) -> None:
    batch = WriteBatch()
    batch.put(b"good", b"1")
    batch.put(b"bad", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.write(batch, sync=True)
    batch = WriteBatch()
    batch.put(b"good", b"1")
    batch.put("bad", b"1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.write(batch, sync=True)
    assert engine.get(b"good") is None
    put_all(engine, {b"after": b"ok"})
    assert engine.get(b"after") == b"ok"


# -- scans ---------------------------------------------------------------------------------------


def test_scan_orders_tricky_keys_bytewise(engine: Engine) -> None:
    put_all(engine, {key: b"v" + key for key in reversed(TRICKY_KEYS)})
    assert keys_of(engine.scan(b"")) == sorted(TRICKY_KEYS)
    assert keys_of(engine.scan(b"", reverse=True)) == sorted(TRICKY_KEYS, reverse=True)
    assert dict(engine.scan(b"")) == {key: b"v" + key for key in TRICKY_KEYS}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    ("start", "end", "limit"),
    [
        (b"", None, None),
        (b"\x00", b"\x00\xff", None),
        (b"\x00", b"\x01", None),
        (b"a", b"a\x00", None),
        (b"a", b"b", 2),
        (b"\x7f", b"\xff\xff", 3),
        (b"\xff", None, None),
        (b"\xff\xff\xff", None, None),
        (b"", b"", None),
        (b"b", b"a", None),
        (b"", None, 0),
        (b"", None, 100),
        (b"b", b"\x7f", None),
        (b"\xff\xff\xff\x00", None, None),
    ],
)
def test_scan_ranges_match_a_sorted_filter(
    engine: Engine, start: bytes, end: bytes | None, limit: int | None, reverse: bool
) -> None:
    put_all(engine, {key: key * 2 for key in TRICKY_KEYS})
    expected = [k for k in sorted(TRICKY_KEYS) if k >= start and (end is None or k < end)]
    if reverse:
        expected.reverse()
    if limit is not None:
        expected = expected[:limit]
    got = list(engine.scan(start, end, reverse=reverse, limit=limit))
    assert got == [(key, key * 2) for key in expected]


def test_scan_of_an_empty_engine_is_empty(engine: Engine) -> None:
    assert list(engine.scan(b"")) == []
    assert list(engine.scan(b"", reverse=True)) == []


def test_negative_scan_limit_is_rejected(engine: Engine) -> None:
    with pytest.raises(ValueError):
        list(engine.scan(b"", limit=-1))


def test_scan_excludes_end_even_when_end_is_a_stored_key(engine: Engine) -> None:
    put_all(engine, {b"a": b"1", b"b": b"2", b"c": b"3"})
    assert keys_of(engine.scan(b"a", b"c")) == [b"a", b"b"]
    assert keys_of(engine.scan(b"a", b"c", reverse=True)) == [b"b", b"a"]


def test_scan_sees_the_data_as_of_the_call(engine: Engine) -> None:
    put_all(engine, {b"a": b"1", b"b": b"2", b"c": b"3"})
    pairs = engine.scan(b"")
    first = next(pairs)
    batch = WriteBatch()
    batch.put(b"b", b"changed")
    batch.delete(b"c")
    batch.put(b"bb", b"new")
    engine.write(batch, sync=False)
    assert [first, *pairs] == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


@pytest.mark.parametrize("prefix", [b"p", b"p\x00", b"p\xff", b"\xff", b"\xff\xff", b"q\xff\xff"])
def test_prefix_end_bounds_exactly_the_keys_with_the_prefix(engine: Engine, prefix: bytes) -> None:
    inside = [prefix, prefix + b"\x00", prefix + b"a", prefix + b"\xff", prefix + b"\xff\xff"]
    outside = [prefix[:-1], prefix[:-1] + b"\x00", b"p\xfe", b"q", b"\x00", b"r", b"\xfe"]
    outside = [key for key in outside if not key.startswith(prefix)]
    put_all(engine, {key: b"" for key in inside + outside})
    end = prefix_end(prefix)
    assert keys_of(engine.scan(prefix, end)) == sorted(set(inside))
    assert keys_of(engine.scan(prefix, end, reverse=True)) == sorted(set(inside), reverse=True)


@given(prefix=st.binary(max_size=4), key=st.binary(max_size=6))
def test_prefix_end_is_the_exclusive_bound_of_a_prefix(prefix: bytes, key: bytes) -> None:
    end = prefix_end(prefix)
    in_range = key >= prefix and (end is None or key < end)
    assert in_range == key.startswith(prefix)


# -- range deletes and batch semantics -----------------------------------------------------------


def test_delete_range_is_half_open(engine: Engine) -> None:
    put_all(engine, {key: b"v" for key in TRICKY_KEYS})
    batch = WriteBatch()
    batch.delete_range(b"\x00", b"a\x00")
    engine.write(batch, sync=True)
    expected = [k for k in sorted(TRICKY_KEYS) if not b"\x00" <= k < b"a\x00"]
    assert keys_of(engine.scan(b"")) == expected
    assert engine.get(b"a\x00") == b"v"
    assert engine.get(b"\x00") is None


def test_delete_range_to_the_end_of_the_keyspace(engine: Engine) -> None:
    put_all(engine, {key: b"v" for key in TRICKY_KEYS})
    batch = WriteBatch()
    batch.delete_range(b"", b"\xff\xff\xff\xff")
    engine.write(batch, sync=False)
    assert list(engine.scan(b"")) == []


@pytest.mark.parametrize(("start", "end"), [(b"b", b"b"), (b"z", b"a")])
def test_empty_or_inverted_delete_range_is_a_no_op(
    engine: Engine, start: bytes, end: bytes
) -> None:
    # RocksDB itself applies the rest of a batch holding an inverted range and then refuses every
    # later write: the engine must keep such a batch atomic and itself writable.
    put_all(engine, {b"a": b"1", b"b": b"2", b"c": b"3"})
    batch = WriteBatch()
    batch.put(b"d", b"4")
    batch.delete_range(start, end)
    engine.write(batch, sync=True)
    put_all(engine, {b"e": b"5"})
    assert keys_of(engine.scan(b"")) == [b"a", b"b", b"c", b"d", b"e"]


def test_later_operations_in_a_batch_win(engine: Engine) -> None:
    put_all(engine, {b"gone": b"old", b"back": b"old"})
    batch = WriteBatch()
    batch.put(b"put-then-delete", b"x")
    batch.delete(b"put-then-delete")
    batch.delete(b"back")
    batch.put(b"back", b"new")
    batch.put(b"twice", b"first")
    batch.put(b"twice", b"second")
    batch.put(b"r1", b"x")
    batch.delete_range(b"gone", b"r2")  # removes gone, put-then-delete, r1 (and not back)
    batch.put(b"r1", b"revived")
    engine.write(batch, sync=False)
    assert dict(engine.scan(b"")) == {b"back": b"new", b"twice": b"second", b"r1": b"revived"}


def test_batch_extend_keeps_operation_order(engine: Engine) -> None:
    first, second = WriteBatch(), WriteBatch()
    first.put(b"k", b"1")
    second.delete(b"k")
    second.put(b"j", b"2")
    first.extend(second)
    assert len(first) == 3
    engine.write(first, sync=True)
    assert dict(engine.scan(b"")) == {b"j": b"2"}


# -- snapshots -----------------------------------------------------------------------------------


def test_snapshot_is_unaffected_by_later_writes_and_deletes(engine: Engine) -> None:
    before = {key: b"old" for key in TRICKY_KEYS}
    put_all(engine, before)
    with engine.snapshot() as snapshot:
        batch = WriteBatch()
        batch.put(b"a", b"new")
        batch.put(b"brand-new", b"new")
        batch.delete(b"\x00")
        batch.delete_range(b"\x7f", b"\xff\xff")
        engine.write(batch, sync=True)
        assert dict(snapshot.scan(b"")) == before
        assert keys_of(snapshot.scan(b"", reverse=True)) == sorted(before, reverse=True)
        assert snapshot.get(b"a") == b"old"
        assert snapshot.get(b"brand-new") is None
        assert snapshot.multi_get([b"\x00", b"brand-new", b"\xff"]) == [b"old", None, b"old"]
        assert keys_of(snapshot.scan(b"\x7f", b"\xff\xff", limit=2)) == [b"\x7f", b"\x80"]
        assert keys_of(snapshot.scan(b"\x7f", b"\xff\xff", reverse=True)) == [
            b"\xff\x00",
            b"\xff",
            b"\x80",
            b"\x7f",
        ]
    assert engine.get(b"a") == b"new"
    assert engine.get(b"\x00") is None


def test_snapshot_scans_survive_interleaved_reads_of_the_same_snapshot(engine: Engine) -> None:
    put_all(engine, {key: key for key in TRICKY_KEYS})
    snapshot = engine.snapshot()
    forward = snapshot.scan(b"")
    backward = snapshot.scan(b"", reverse=True)
    pairs = []
    for (low, _), (high, _) in zip(forward, backward, strict=True):
        pairs.append((low, high))
        assert snapshot.get(b"a") == b"a"  # moves any shared cursor
        put_all(engine, {low: b"overwritten"})
    assert pairs == list(zip(sorted(TRICKY_KEYS), sorted(TRICKY_KEYS, reverse=True), strict=True))
    snapshot.close()


def test_closed_snapshot_refuses_reads_and_close_is_idempotent(engine: Engine) -> None:
    put_all(engine, {b"a": b"1", b"b": b"2"})
    snapshot = engine.snapshot()
    pairs = snapshot.scan(b"")
    assert next(pairs) == (b"a", b"1")
    snapshot.close()
    snapshot.close()
    with pytest.raises(StorageClosed):
        snapshot.get(b"a")
    with pytest.raises(StorageClosed):
        next(pairs)
    assert engine.get(b"a") == b"1"


def test_many_snapshots_each_see_their_own_moment(engine: Engine) -> None:
    snapshots = []
    for version in range(5):
        put_all(engine, {b"counter": b"%d" % version, b"v%d" % version: b""})
        snapshots.append(engine.snapshot())
    for version, snapshot in enumerate(snapshots):
        assert snapshot.get(b"counter") == b"%d" % version
        assert keys_of(snapshot.scan(b"v")) == [b"v%d" % seen for seen in range(version + 1)]
        snapshot.close()


# -- lifecycle -----------------------------------------------------------------------------------


def test_close_is_idempotent_and_later_calls_raise(engine: Engine) -> None:
    put_all(engine, {b"a": b"1", b"b": b"2"})
    snapshot = engine.snapshot()
    pairs = engine.scan(b"")
    assert next(pairs) == (b"a", b"1")
    engine.close()
    engine.close()
    for call in (
        lambda: engine.get(b"a"),
        lambda: engine.multi_get([b"a"]),
        lambda: engine.scan(b""),
        lambda: engine.write(WriteBatch(), sync=True),
        lambda: engine.snapshot(),
        lambda: snapshot.get(b"a"),
        lambda: next(pairs),
    ):
        with pytest.raises(StorageClosed):
            call()
    assert issubclass(StorageClosed, StorageError)


# -- model-based properties ----------------------------------------------------------------------

model_keys = st.lists(st.sampled_from([0x00, 0x01, 0x7F, 0xFE, 0xFF]), max_size=3).map(bytes)
model_values = st.binary(max_size=4)
model_ops = st.one_of(
    st.tuples(st.just(WriteBatch.PUT), model_keys, model_values),
    st.tuples(st.just(WriteBatch.DELETE), model_keys, st.none()),
    st.tuples(st.just(WriteBatch.DELETE_RANGE), model_keys, model_keys),
)
model_scans = st.tuples(
    model_keys, st.none() | model_keys, st.booleans(), st.none() | st.integers(0, 6)
)
model_steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.lists(model_ops, max_size=6), st.booleans()),
        st.tuples(st.just("scan"), model_scans),
        st.tuples(st.just("snapshot")),
    ),
    max_size=25,
)


def apply_to_model(model: dict[bytes, bytes], ops: list[tuple[int, bytes, bytes | None]]) -> None:
    for kind, key, arg in ops:
        if kind == WriteBatch.PUT:
            model[key] = arg  # type: ignore[assignment]
        elif kind == WriteBatch.DELETE:
            model.pop(key, None)
        else:
            for stored in [k for k in model if key <= k < arg]:  # type: ignore[operator]
                del model[stored]


def scan_model(
    model: dict[bytes, bytes], start: bytes, end: bytes | None, reverse: bool, limit: int | None
) -> list[tuple[bytes, bytes]]:
    pairs = sorted((k, v) for k, v in model.items() if k >= start and (end is None or k < end))
    if reverse:
        pairs.reverse()
    return pairs if limit is None else pairs[:limit]


@pytest.fixture(scope="module")
def rocks_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rocks-model")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=model_steps)
def test_both_engines_match_a_dict_model(rocks_root: Path, steps: list[tuple]) -> None:
    with tempfile.TemporaryDirectory(dir=rocks_root) as directory:
        engines: list[Engine] = [MemoryEngine(), open_rocks(directory)]
        model: dict[bytes, bytes] = {}
        frozen: list[tuple[dict[bytes, bytes], list]] = []
        try:
            for step in steps:
                if step[0] == "write":
                    _, ops, sync = step
                    apply_to_model(model, ops)
                    for engine in engines:
                        engine.write(WriteBatch(ops=list(ops)), sync=sync)
                elif step[0] == "scan":
                    start, end, reverse, limit = step[1]
                    expected = scan_model(model, start, end, reverse, limit)
                    for engine in engines:
                        assert (
                            list(engine.scan(start, end, reverse=reverse, limit=limit)) == expected
                        )
                else:
                    frozen.append((dict(model), [engine.snapshot() for engine in engines]))
                for engine in engines:
                    assert list(engine.scan(b"")) == sorted(model.items())
            for seen, snapshots in frozen:
                for snapshot in snapshots:
                    assert list(snapshot.scan(b"")) == sorted(seen.items())
                    assert list(snapshot.scan(b"", reverse=True)) == sorted(seen.items())[::-1]
                    assert snapshot.multi_get(list(seen)) == list(seen.values())
        finally:
            for engine in engines:
                engine.close()


# -- RocksDB only: durability, reopen, LOCK ------------------------------------------------------


def test_rocks_reopen_keeps_synced_and_unsynced_writes(tmp_path: Path) -> None:
    engine = open_rocks(tmp_path)
    put_all(engine, {b"synced": b"1"}, sync=True)
    put_all(engine, {b"buffered": b"2"}, sync=False)
    batch = WriteBatch()
    batch.delete_range(b"a", b"c")  # removes buffered
    batch.put(b"after-range", b"3")
    engine.write(batch, sync=False)
    engine.close()
    reopened = open_rocks(tmp_path, open_retry_s=0.0)
    assert dict(reopened.scan(b"")) == {b"synced": b"1", b"after-range": b"3"}
    reopened.close()


_CRASH_AFTER_WRITES = """
import os, sys
from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.rocks import RocksEngine
engine = RocksEngine(sys.argv[1], write_buffer_bytes_max=4 << 20, block_cache_bytes=1 << 20)
for index in range(100):
    batch = WriteBatch()
    batch.put(b"k%03d" % index, b"v")
    batch.put(b"last", b"%03d" % index)
    engine.write(batch, sync=index % 10 == 0)
os._exit(0)  # no close, no flush: a process crash
"""


def test_rocks_writes_survive_a_process_crash(tmp_path: Path) -> None:
    repository_root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_WRITES, str(tmp_path)], check=True, cwd=repository_root
    )
    engine = open_rocks(tmp_path, open_retry_s=0.0)
    assert engine.get(b"last") == b"099"
    assert keys_of(engine.scan(b"k", b"l")) == [b"k%03d" % index for index in range(100)]
    engine.close()


def test_rocks_close_releases_the_lock_despite_live_scans_and_snapshots(tmp_path: Path) -> None:
    engine = open_rocks(tmp_path)
    put_all(engine, {b"a": b"1", b"b": b"2"})
    pairs = engine.scan(b"")
    next(pairs)
    snapshot = engine.snapshot()
    engine.close()
    reopened = open_rocks(tmp_path, open_retry_s=0.0)
    assert reopened.get(b"b") == b"2"
    reopened.close()
    del pairs, snapshot


def test_rocks_open_gives_up_with_storage_locked_after_the_deadline(tmp_path: Path) -> None:
    holder = open_rocks(tmp_path)
    with pytest.raises(StorageLocked, match="still locked"):
        open_rocks(tmp_path, open_retry_s=0.0)
    holder.close()


def test_rocks_open_succeeds_once_the_previous_holder_lets_go(tmp_path: Path) -> None:
    holder = open_rocks(tmp_path)
    put_all(holder, {b"k": b"v"}, sync=True)
    waits: list[float] = []

    def sleep_and_release(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            holder.close()

    engine = open_rocks(tmp_path, open_retry_s=60.0, sleep=sleep_and_release)
    assert len(waits) == 2
    assert waits[1] > waits[0]  # backs off
    assert engine.get(b"k") == b"v"
    engine.close()


def test_retry_while_locked_retries_only_lock_errors() -> None:
    calls: list[int] = []

    def locked_twice() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise Exception("IO error: While lock file: /x/LOCK: Resource temporarily unavailable")
        return "opened"

    assert (
        retry_while_locked(locked_twice, path="/x", retry_s=60.0, sleep=lambda s: None) == "opened"
    )
    assert len(calls) == 3

    def corrupt() -> str:
        raise Exception("Corruption: bad block")

    waits: list[float] = []
    with pytest.raises(Exception, match="Corruption"):
        retry_while_locked(corrupt, path="/x", retry_s=60.0, sleep=waits.append)
    assert waits == []

    now = [0.0]

    def advance(seconds: float) -> None:
        now[0] += seconds

    def always_locked() -> str:
        raise Exception("IO error: lock hold by current process: /x/LOCK: No locks available")

    with pytest.raises(StorageLocked):
        retry_while_locked(
            always_locked, path="/x", retry_s=5.0, sleep=advance, clock=lambda: now[0]
        )
    assert now[0] == pytest.approx(5.0)


def test_rocks_rejects_a_memtable_budget_too_small_to_hold_two_memtables(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RocksEngine(str(tmp_path), write_buffer_bytes_max=1 << 20)
    assert not os.path.exists(tmp_path / "LOCK")


# -- MemoryEngine only: crash copies -------------------------------------------------------------


def test_memory_crash_copy_is_an_independent_copy_of_all_writes() -> None:
    engine = MemoryEngine()
    put_all(engine, {b"synced": b"1"}, sync=True)
    put_all(engine, {b"buffered": b"2"}, sync=False)
    survivor = engine.crash_copy()
    put_all(engine, {b"only-original": b"x"})
    put_all(survivor, {b"only-survivor": b"y"})
    assert keys_of(survivor.scan(b"")) == [b"buffered", b"only-survivor", b"synced"]
    assert keys_of(engine.scan(b"")) == [b"buffered", b"only-original", b"synced"]
    engine.close()
    assert keys_of(engine.crash_copy().scan(b"")) == [b"buffered", b"only-original", b"synced"]


def test_memory_snapshot_does_not_see_writes_to_a_crash_copy() -> None:
    engine = MemoryEngine()
    put_all(engine, {b"a": b"1"})
    snapshot = engine.snapshot()
    survivor = engine.crash_copy()
    batch = WriteBatch()
    batch.delete(b"a")
    survivor.write(batch, sync=True)
    engine.write(batch, sync=True)
    assert snapshot.get(b"a") == b"1"
    assert survivor.get(b"a") is None
