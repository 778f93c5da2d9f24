"""Ceilings: the fastest this machine can go for what raydynamo does, measured in one run.

1. A bare Ray actor call (sync, async and threaded actors; 1 and 64 calls in flight; task events
   on against off).
2. Raw RocksDB through rocksdict in the driver: single puts, write batches, synced batches.
3. A bare three-actor replicated put (``bench/ceiling_actors.py``): leader plus
   two followers, plain dicts, group commit, acknowledged by one follower. This is THE ceiling the
   real replicated put is compared with. The leader is a threaded (sync, ``max_concurrency``)
   actor by default: measured here it needs about half the CPU per request of an async-actor
   leader, so it is the higher ceiling; the async leader is printed against it for reference.

Each figure is the median over ``--reps`` repetitions run round-robin and printed as one JSON line
(``bench.common.emit``). The ``measure_*`` functions and ``BareReplicatedGroup`` are meant to be
imported by other benchmarks, so a real workload and its ceiling run side by side::

    group = BareReplicatedGroup()
    ceiling = measure_bare_replicated_put(1, 64, 2.0, group=group)["ops_per_s"]

Run: ``python -m bench.ceilings`` (about 1.5 min), ``--quick`` (about 20 s), ``--sweep`` adds an
in-flight sweep. Progress goes to stderr; stdout is JSON lines only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import ray
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from bench.ceiling_actors import (
    BareFollower,
    BareLeader,
    BareThreadedLeader,
    NoopAsyncActor,
    NoopSyncActor,
)
from bench.common import (
    FAST_ACTOR_OPTIONS,
    CpuMeter,
    LatencyRecorder,
    RunResult,
    drive_refs,
    emit,
    local_ray,
    log,
    repeat_interleaved,
)

BENCH = "ceilings"
ActorKind = Literal["async", "sync", "threaded"]
LeaderKind = Literal["async", "threaded"]
KEY_BYTES = 16  # keys are b"%016d" % counter: distinct, ordered, and cheap to make


def _warmup_s(seconds: float) -> float:
    """Untimed warm-up before each run: a fraction of it, at most 0.2 s."""
    return min(0.2, seconds / 4)


# --- 1. bare actor call -----------------------------------------------------------------------


def start_noop_actor(
    kind: ActorKind, task_events: bool = False, wait: bool = True
) -> ray.actor.ActorHandle:
    """Start a no-op actor of ``kind``; with ``wait``, return once it answers.

    ``threaded`` is the sync actor with ``max_concurrency=64`` (calls run in a thread pool).
    """
    options: dict[str, Any] = {"enable_task_events": task_events}
    if kind == "threaded":
        options["max_concurrency"] = 64
    actor_class = NoopAsyncActor if kind == "async" else NoopSyncActor
    actor = actor_class.options(**options).remote()
    if wait:
        ray.get(actor.noop.remote())
    return actor


def measure_actor_call(
    kind: ActorKind,
    in_flight: int,
    seconds: float,
    task_events: bool = False,
    actor: ray.actor.ActorHandle | None = None,
) -> dict[str, float]:
    """Calls/s and latency of a no-op actor method with ``in_flight`` calls outstanding.

    Starts (and kills) its own actor unless ``actor`` is given. Needs a running Ray.
    """
    own = actor is None
    handle = actor if actor is not None else start_noop_actor(kind, task_events)
    try:
        run = drive_refs(handle.noop.remote, in_flight, seconds, warmup_s=_warmup_s(seconds))
    finally:
        if own:
            ray.kill(handle)
    return {"value": run.ops / run.elapsed_s, **run.fields()}


# --- 2. raw rocksdict -------------------------------------------------------------------------


@contextmanager
def scratch_db(data_dir: str | None = None) -> Iterator[Rdict]:
    """A fresh raw-mode (bytes in, bytes out) RocksDB in a temporary directory, destroyed after."""
    parent = tempfile.mkdtemp(prefix="raydynamo-ceilings-", dir=data_dir)
    options = Options(raw_mode=True)
    path = os.path.join(parent, "db")
    db = Rdict(path, options)
    try:
        yield db
    finally:
        db.close()
        Rdict.destroy(path, options)
        shutil.rmtree(parent, ignore_errors=True)


def _timed_loop(step: Callable[[int], int], seconds: float) -> RunResult:
    """Call ``step(op_index)`` (returns items written) until ``seconds`` pass; time each step."""
    clock = time.perf_counter
    latency = LatencyRecorder()
    meter = CpuMeter(include_descendants=False)  # the driver alone, Ray not counted
    meter.start()
    ops = items = 0
    started = clock()
    deadline = started + seconds
    while True:
        step_started = clock()
        if step_started >= deadline:
            break
        items += step(ops)
        latency.record(clock() - step_started)
        ops += 1
    elapsed = clock() - started
    return RunResult(ops, items, elapsed, latency, *meter.stop())


def measure_rocksdict_puts(
    value_bytes: int, seconds: float, data_dir: str | None = None
) -> dict[str, float]:
    """Single ``put`` calls per second into a fresh DB (WAL on, no sync), distinct keys."""
    value = os.urandom(value_bytes)
    with scratch_db(data_dir) as db:
        put = db.put

        def step(index: int) -> int:
            put(b"%016d" % index, value)
            return 1

        run = _timed_loop(step, seconds)
    return {"value": run.items / run.elapsed_s, **run.fields()}


def measure_rocksdict_batches(
    batch_items: int,
    seconds: float,
    sync: bool = False,
    value_bytes: int = 100,
    data_dir: str | None = None,
) -> dict[str, float]:
    """Items/s written in ``WriteBatch``es of ``batch_items``; ``sync`` fsyncs the WAL per batch.

    Latency is timed around ``db.write`` alone (building the batch is not in it).
    """
    value = os.urandom(value_bytes)
    write_options = WriteOptions()
    write_options.sync = sync
    clock = time.perf_counter
    with scratch_db(data_dir) as db:
        write = db.write
        latency = LatencyRecorder()

        def step(index: int) -> int:
            batch = WriteBatch(raw_mode=True)
            first = index * batch_items
            for key_index in range(first, first + batch_items):
                batch.put(b"%016d" % key_index, value)
            started = clock()
            write(batch, write_options)
            latency.record(clock() - started)
            return batch_items

        run = _timed_loop(step, seconds)
    run.latency = latency  # the write alone, not the batch building
    return {"value": run.items / run.elapsed_s, **run.fields()}


# --- 3. bare three-actor replicated put -------------------------------------------------------


class BareReplicatedGroup:
    """A bare leader and two followers (see ``bench.ceiling_actors``), started once, reused.

    ``leader_kind`` picks ``BareThreadedLeader`` (default, the cheaper) or ``BareLeader`` (async).
    Task events are off unless ``task_events``; ``lagging_rounds_max`` bounds the rounds a slow
    follower may leave unacknowledged. ``submitter`` makes requests of distinct keys;
    ``verify`` checks that both followers and the leader stored every item sent since ``reset``.
    """

    def __init__(
        self,
        task_events: bool = False,
        leader_kind: LeaderKind = "threaded",
        lagging_rounds_max: int = 8,
        wait: bool = True,
    ) -> None:
        options = {**FAST_ACTOR_OPTIONS, "enable_task_events": task_events}
        self.followers = [BareFollower.options(**options).remote() for _ in range(2)]
        leader_class = BareLeader if leader_kind == "async" else BareThreadedLeader
        self.leader = leader_class.options(**options).remote(self.followers, lagging_rounds_max)
        self._next_key = 0
        self._sent_since_reset = 0
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Return once the three actors answer (``wait=False`` starts groups in parallel)."""
        ray.get([actor.stats.remote() for actor in [self.leader, *self.followers]])

    def submitter(
        self, items_per_request: int, value_bytes: int = 100
    ) -> Callable[[], ray.ObjectRef]:
        """A function that sends one ``leader.put`` of ``items_per_request`` new items."""
        assert value_bytes >= KEY_BYTES
        padding = b"v" * (value_bytes - KEY_BYTES)
        put = self.leader.put.remote

        def submit() -> ray.ObjectRef:
            first = self._next_key
            self._next_key += items_per_request
            self._sent_since_reset += items_per_request
            # Distinct value objects, so no serializer can share them between items.
            items = [
                (b"%016d" % key, b"%016d" % key + padding)
                for key in range(first, first + items_per_request)
            ]
            return put(items)

        return submit

    def reset(self) -> None:
        """Drain all rounds and empty every store."""
        ray.get(self.leader.clear.remote())
        self._sent_since_reset = 0

    def verify(self) -> dict[str, int]:
        """Wait for the followers to catch up; assert all three stored every item sent."""
        ray.get(self.leader.drain.remote())
        leader = ray.get(self.leader.stats.remote())
        followers = ray.get([follower.stats.remote() for follower in self.followers])
        for stats in [leader, *followers]:
            assert stats["items"] == self._sent_since_reset, (stats, self._sent_since_reset)
            assert stats["rounds"] == leader["rounds"], (stats, leader)
        return {"items_sent": self._sent_since_reset, "rounds": leader["rounds"]}

    def stop(self) -> None:
        """Kill the three actors."""
        for actor in [self.leader, *self.followers]:
            ray.kill(actor)


def measure_bare_replicated_put(
    items_per_request: int,
    in_flight: int,
    seconds: float,
    group: BareReplicatedGroup | None = None,
    value_bytes: int = 100,
) -> dict[str, float]:
    """Requests/s, items/s and latency of the bare replicated put; verifies every item landed.

    ``value`` is ops/s for one item per request, items/s otherwise. ``items_per_round`` is the
    mean group-commit size. Starts (and kills) its own group unless ``group`` is given.
    """
    own = group is None
    replicated = group if group is not None else BareReplicatedGroup()
    try:
        replicated.reset()
        submit = replicated.submitter(items_per_request, value_bytes)
        run = drive_refs(submit, in_flight, seconds, items_per_request, _warmup_s(seconds))
        check = replicated.verify()
    finally:
        if own:
            replicated.stop()
    fields = run.fields()
    value = fields["ops_per_s"] if items_per_request == 1 else fields["items_per_s"]
    return {"value": value, **fields, "items_per_round": check["items_sent"] / check["rounds"]}


# --- the run: every ceiling, medians over interleaved repetitions ------------------------------

LATENCY_KEYS = (
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "cpu_us_per_op",
    "cpu_us_per_item",
    "driver_cpu_us_per_op",
    "cpu_cores",
)


def _emit_summary(
    figure: str,
    summary: dict[str, Any],
    unit: str,
    reference: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Emit one median summary as a JSON line with its latency and CPU fields.

    With a ``reference`` summary, its value is the ``ceiling`` and ``cpu_vs_ceiling`` is this
    figure's CPU per operation over the reference's (steadier than throughput when shared).
    """
    fields = {key: summary[key] for key in LATENCY_KEYS}
    if reference is not None:
        extra["cpu_vs_ceiling"] = summary["cpu_us_per_op"] / reference["cpu_us_per_op"]
    return emit(
        BENCH,
        figure,
        summary["value"],
        unit,
        ceiling=None if reference is None else reference["value"],
        **extra,
        **fields,
        reps=summary["reps"],
        values=summary["values"],
    )


def run_rocksdb(seconds: float, repetitions: int, data_dir: str | None) -> None:
    """Raw rocksdict ceilings in this process (run before Ray starts, so Ray's idle CPU is out)."""
    jobs: dict[str, Callable[[], dict[str, float]]] = {}
    for value_bytes in (100, 1000):
        jobs[f"rocksdb.put.value_{value_bytes}B"] = lambda v=value_bytes: measure_rocksdict_puts(
            v, seconds, data_dir
        )
    for sync in (False, True):
        for batch_items in (1, 25, 100) if sync else (25, 100):
            name = f"rocksdb.{'synced_' if sync else ''}batch_{batch_items}.value_100B"
            jobs[name] = lambda b=batch_items, s=sync: measure_rocksdict_batches(
                b, seconds, s, 100, data_dir
            )
    for name, summary in repeat_interleaved(jobs, repetitions).items():
        _emit_summary(name, summary, "items/s")


ACTOR_CALL_CASES: list[tuple[ActorKind, int, bool]] = [
    ("sync", 1, False),
    ("async", 1, False),
    ("sync", 64, False),
    ("async", 64, False),
    ("threaded", 64, False),
    ("sync", 64, True),
    ("async", 64, True),
]


def _actor_call_reference(kind: ActorKind, in_flight: int, task_events: bool) -> str | None:
    """The figure a case is held against: task events off for on; the sync actor otherwise."""
    if task_events:
        return f"actor_call.{kind}.in_flight_{in_flight}.task_events_off"
    if kind != "sync":
        return f"actor_call.sync.in_flight_{in_flight}.task_events_off"
    return None


def run_actor_calls(seconds: float, repetitions: int) -> None:
    """Bare actor call ceilings: sync, async and threaded actors; task events on against off."""
    jobs: dict[str, Callable[[], dict[str, float]]] = {}
    actors: list[ray.actor.ActorHandle] = []
    references: dict[str, str | None] = {}
    for kind, in_flight, events in ACTOR_CALL_CASES:
        name = f"actor_call.{kind}.in_flight_{in_flight}.task_events_{'on' if events else 'off'}"
        actors.append(start_noop_actor(kind, events, wait=False))
        jobs[name] = lambda k=kind, n=in_flight, a=actors[-1]: measure_actor_call(
            k, n, seconds, actor=a
        )
        references[name] = _actor_call_reference(kind, in_flight, events)
    ray.get([actor.noop.remote() for actor in actors])  # all started in parallel
    summaries = repeat_interleaved(jobs, repetitions)
    for name, summary in summaries.items():
        reference = references[name]
        _emit_summary(name, summary, "calls/s", summaries[reference] if reference else None)
    for actor in actors:
        ray.kill(actor)


def _replicated_jobs(
    groups: dict[str, BareReplicatedGroup],
    cases: list[tuple[str, int, int]],
    seconds: float,
) -> dict[str, Callable[[], dict[str, float]]]:
    """One job per (group name, items per request, in flight), named after all three."""
    return {
        f"replicated_put.{name}.items_{items}.in_flight_{in_flight}": (
            lambda g=groups[name], i=items, n=in_flight: measure_bare_replicated_put(
                i, n, seconds, group=g
            )
        )
        for name, items, in_flight in cases
    }


def _emit_replicated(summaries: dict[str, dict[str, Any]], ceilings: dict[str, str]) -> None:
    """Emit replicated-put summaries; ``ceilings`` maps a group name to the group it is held to."""
    for figure, summary in summaries.items():
        group_name = figure.split(".items_")[0].rsplit(".", 1)[1]
        reference = None
        if group_name in ceilings:
            reference_name = figure.replace(f".{group_name}.", f".{ceilings[group_name]}.")
            reference = summaries.get(reference_name)
        unit = "ops/s" if ".items_1." in figure else "items/s"
        extra = {"items_per_round": summary["items_per_round"], "verified": True}
        _emit_summary(figure, summary, unit, reference, **extra)


def run_replicated(seconds: float, repetitions: int, batch_in_flight: int) -> None:
    """Bare replicated put: the threaded leader (the ceiling), the async leader held against it,
    and the threaded leader with task events on held against off."""
    groups = {
        "threaded_leader": BareReplicatedGroup(leader_kind="threaded", wait=False),
        "async_leader": BareReplicatedGroup(leader_kind="async", wait=False),
        "threaded_leader_task_events": BareReplicatedGroup(
            leader_kind="threaded", task_events=True, wait=False
        ),
    }
    for group in groups.values():
        group.wait_ready()
    shapes = [(1, 1), (1, 64), (25, batch_in_flight), (100, batch_in_flight)]
    cases = [(name, i, n) for name in ("threaded_leader", "async_leader") for i, n in shapes]
    cases.append(("threaded_leader_task_events", 1, 64))
    summaries = repeat_interleaved(_replicated_jobs(groups, cases, seconds), repetitions)
    _emit_replicated(
        summaries,
        {"async_leader": "threaded_leader", "threaded_leader_task_events": "threaded_leader"},
    )
    for group in groups.values():
        group.stop()


def run_sweep(seconds: float, repetitions: int) -> None:
    """How many requests in flight saturate the bare replicated put, per leader kind."""
    groups = {
        "threaded_leader": BareReplicatedGroup(leader_kind="threaded", wait=False),
        "async_leader": BareReplicatedGroup(leader_kind="async", wait=False),
    }
    for group in groups.values():
        group.wait_ready()
    cases = [(name, 1, n) for name in groups for n in (1, 2, 4, 8, 16, 32, 64, 128)]
    cases += [(name, 100, n) for name in groups for n in (1, 2, 4, 8, 16)]
    summaries = repeat_interleaved(_replicated_jobs(groups, cases, seconds), repetitions)
    _emit_replicated({f"sweep.{k}": v for k, v in summaries.items()}, {})
    for group in groups.values():
        group.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` shortens runs, explicit values still win."""
    parser = argparse.ArgumentParser(prog="python -m bench.ceilings", description=__doc__)
    parser.add_argument("--seconds", type=float, help="timed seconds per run (default 1.2)")
    parser.add_argument("--reps", type=int, help="repetitions per figure, median kept (default 3)")
    parser.add_argument("--quick", action="store_true", help="about 20 s in all (0.2 s runs)")
    parser.add_argument(
        "--batch-in-flight",
        type=int,
        default=8,
        help="requests in flight for the 25- and 100-item replicated puts (default 8)",
    )
    parser.add_argument("--sweep", action="store_true", help="add an in-flight sweep")
    parser.add_argument(
        "--only",
        choices=["rocksdb", "actor", "replicated", "sweep"],
        action="append",
        help="run only these sections (repeatable)",
    )
    parser.add_argument("--data-dir", help="parent directory of the scratch RocksDB")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (0.2 if args.quick else 1.2)
    args.reps = args.reps or 3
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the ceilings and print one JSON line per figure."""
    args = parse_args(argv)
    sections = set(args.only or ["rocksdb", "actor", "replicated"])
    if args.sweep:
        sections.add("sweep")
    started = time.perf_counter()
    if "rocksdb" in sections:
        log("ceilings: rocksdb")
        run_rocksdb(args.seconds / 2, args.reps, args.data_dir)
    if sections & {"actor", "replicated", "sweep"}:
        with local_ray():
            if "actor" in sections:
                log("ceilings: bare actor call")
                run_actor_calls(args.seconds, args.reps)
            if "replicated" in sections:
                log("ceilings: bare replicated put")
                run_replicated(args.seconds, args.reps, args.batch_in_flight)
            if "sweep" in sections:
                log("ceilings: in-flight sweep")
                run_sweep(args.seconds, args.reps)
    log(f"ceilings: done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
