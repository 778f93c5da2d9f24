"""Shared helpers for the benchmarks in ``bench/``: timing, CPU accounting, output and Ray start-up.

- ``LatencyRecorder`` and ``RunResult`` turn raw timings into ops/s, items/s, p50/p99/mean.
- ``CpuMeter`` reads CPU seconds of this process (and optionally every process it started, which
  for a local ``ray.init`` is the whole Ray instance) from ``/proc``: on a shared 2-core machine
  CPU per operation is usually steadier than wall-clock throughput (contention still inflates
  it), so figures carry both.
- ``drive_refs`` keeps N calls in flight from a plain (sync) driver with ``ray.wait``; measured
  here it beats an asyncio driver awaiting refs (15-25% more calls/s with 64 in flight, about 50%
  with 1), so every bench should drive its load with it.
- ``repeat_interleaved`` runs several measurements round-robin and keeps the median of each field,
  so a noisy neighbour hurts the real system and its ceiling alike.
- ``emit`` prints one JSON object per line: ``bench``, ``figure``, ``value``, ``unit`` and, when
  known, ``ceiling`` (or ``peer``, another system measured alongside) and ``ratio``; inside
  ``recording(path)`` it also appends each line to that file (``python -m bench`` keeps one
  per benchmark for ``bench.plots``).
- ``start_ray`` / ``stop_ray`` start and stop a private local Ray instance for benchmarks.

- ``cpu_by_role`` splits that CPU by process role (the driver, each Ray actor class).

Benchmarks print figures; they never pass or fail on a time. This module must not import
rocksdict or ``raydynamo`` internals (``raydynamo.ray_start``, the one retrying ``ray.init``,
excepted).
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ray

from raydynamo.ray_start import start_ray as init_ray_retrying

# Actor options every bench ceiling uses. Task events off, measured with 64 calls in flight:
# about 7-22% less CPU per call and 0-25% more calls/s (noisy); no difference with 1 in flight.
FAST_ACTOR_OPTIONS: dict[str, Any] = {"enable_task_events": False}

_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest-rank; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LatencyRecorder:
    """Collects per-operation latencies in seconds; summarises them in milliseconds."""

    latencies_s: list[float] = field(default_factory=list)

    def record(self, latency_s: float) -> None:
        """Add one operation's latency."""
        self.latencies_s.append(latency_s)

    def summary_ms(self) -> dict[str, float]:
        """p50, p99 and mean latency in milliseconds."""
        ordered = sorted(self.latencies_s)
        mean = statistics.fmean(ordered) if ordered else math.nan
        return {
            "p50_ms": percentile(ordered, 0.50) * 1e3,
            "p99_ms": percentile(ordered, 0.99) * 1e3,
            "mean_ms": mean * 1e3,
        }


@dataclass
class RunResult:
    """One timed run: how many operations and items completed, in what time and CPU."""

    ops: int
    items: int
    elapsed_s: float
    latency: LatencyRecorder
    cpu_s: float = math.nan
    driver_cpu_s: float = math.nan

    def fields(self) -> dict[str, float]:
        """Flat numeric fields: ops/s, items/s, latency percentiles, CPU per op and per item.

        ``cpu_*`` count every measured process; ``driver_cpu_us_per_op`` the calling one alone.
        """
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "ops_per_s": self.ops / elapsed,
            "items_per_s": self.items / elapsed,
            **self.latency.summary_ms(),
            "cpu_us_per_op": self.cpu_s / max(self.ops, 1) * 1e6,
            "cpu_us_per_item": self.cpu_s / max(self.items, 1) * 1e6,
            "driver_cpu_us_per_op": self.driver_cpu_s / max(self.ops, 1) * 1e6,
            "cpu_cores": self.cpu_s / elapsed,
            "ops": self.ops,
            "elapsed_s": self.elapsed_s,
        }


def _read_proc_tree() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds user+system) for every readable process."""
    tree: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # the process ended meanwhile
        rest = stat[stat.rindex(b")") + 2 :].split()  # fields after "(comm)"
        ticks = int(rest[11]) + int(rest[12])  # utime, stime
        tree[int(entry)] = (int(rest[1]), ticks / _CLOCK_TICKS_PER_S)
    return tree


def _own_cpu_s() -> float:
    """CPU seconds of this process (all its threads), children excluded."""
    times = os.times()
    return times.user + times.system


def process_tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of ``root_pid`` and of all its live descendants (a server under load)."""
    return _tree_cpu_s(root_pid)


def _tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of ``root_pid`` and of all its live descendants."""
    tree = _read_proc_tree()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in tree.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += tree.get(pid, (0, 0.0))[1]
        stack.extend(children.get(pid, []))
    return total


def _process_name(pid: int) -> str:
    """A process's role: its Ray actor class (``ray::StorageNodeActor``) or its program name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline_file:
            first = cmdline_file.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return "?"
    return first.split(".", 1)[0] if first.startswith("ray::") else os.path.basename(first)


def cpu_by_role(root_pid: int) -> dict[str, float]:
    """CPU seconds of ``root_pid`` ("driver") and of each kind of its descendants, by role."""
    tree = _read_proc_tree()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in tree.items():
        children.setdefault(ppid, []).append(pid)
    roles: dict[str, float] = {}
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        role = "driver" if pid == root_pid else _process_name(pid)
        roles[role] = roles.get(role, 0.0) + tree.get(pid, (0, 0.0))[1]
        stack.extend(children.get(pid, []))
    return roles


class CpuMeter:
    """CPU seconds spent between ``start`` and ``stop`` by this process (and its descendants).

    With ``include_descendants`` it counts the Ray instance this driver started (raylet, GCS,
    workers), so CPU per operation includes caller, callee and Ray's own bookkeeping. Processes
    that exit during the run are lost; 10 ms tick resolution is fine over runs of seconds.
    """

    def __init__(self, include_descendants: bool = True) -> None:
        self._include_descendants = include_descendants
        self._start_s = self._start_own_s = 0.0

    def _total_s(self) -> float:
        return _tree_cpu_s(os.getpid()) if self._include_descendants else _own_cpu_s()

    def start(self) -> None:
        """Take the starting reading."""
        self._start_own_s = _own_cpu_s()
        self._start_s = self._total_s()

    def stop(self) -> tuple[float, float]:
        """CPU seconds used since ``start``: (all measured processes, this process alone)."""
        total = self._total_s() - self._start_s
        return total, _own_cpu_s() - self._start_own_s


def drive_refs(
    submit: Callable[[], ray.ObjectRef],
    in_flight: int,
    seconds: float,
    items_per_op: int = 1,
    warmup_s: float = 0.2,
) -> RunResult:
    """Keep ``in_flight`` calls outstanding for ``seconds``; time each from submit to ready.

    ``submit`` starts one call and returns its ref. Results are fetched, so a failed call raises.
    Calls still outstanding at the end are awaited but not counted.
    """
    assert in_flight >= 1
    _drive_window(submit, in_flight, warmup_s, LatencyRecorder())
    latency = LatencyRecorder()
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    ops = _drive_window(submit, in_flight, seconds, latency)
    elapsed = time.perf_counter() - started
    return RunResult(ops, ops * items_per_op, elapsed, latency, *meter.stop())


def _drive_window(
    submit: Callable[[], ray.ObjectRef], in_flight: int, seconds: float, latency: LatencyRecorder
) -> int:
    """The ``drive_refs`` loop; returns the number of calls completed within ``seconds``."""
    clock = time.perf_counter
    pending: dict[ray.ObjectRef, float] = {}
    ops = 0
    deadline = clock() + seconds
    while True:
        now = clock()
        if now >= deadline:
            break
        while len(pending) < in_flight:
            pending[submit()] = clock()
        ready, _ = ray.wait(list(pending), num_returns=1)
        done_at = clock()
        for ref in ready:
            ray.get(ref)  # already local: raises if the call failed
            latency.record(done_at - pending.pop(ref))
            ops += 1
    ray.get(list(pending))
    return ops


def median_fields(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each numeric field over repeated runs (fields taken from the first run)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def repeat_interleaved(
    jobs: dict[str, Callable[[], dict[str, float]]], repetitions: int
) -> dict[str, dict[str, Any]]:
    """Run every job ``repetitions`` times round-robin; per job, the median of each field.

    Every job returns a ``value`` field (its headline figure); each summary also carries ``reps``
    and ``values`` (``value`` of every repetition), so the spread behind a median is visible.
    """
    assert repetitions >= 1
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in jobs}
    for _ in range(repetitions):
        for name, job in jobs.items():
            runs[name].append(job())
    summary: dict[str, dict[str, Any]] = {}
    for name, job_runs in runs.items():
        summary[name] = {
            **median_fields(job_runs),
            "reps": len(job_runs),
            "values": [run["value"] for run in job_runs],
        }
    return summary


def _rounded(value: Any) -> Any:
    """Round floats for printing: 4 significant digits is plenty for a noisy machine."""
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else None
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def emit(
    bench: str,
    figure: str,
    value: float,
    unit: str,
    ceiling: float | None = None,
    ratio: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Print one figure as a JSON line on stdout and return it.

    ``ratio`` defaults to ``value / ceiling`` when a ceiling is given.
    """
    if ceiling is not None and ratio is None and ceiling:
        ratio = value / ceiling
    line: dict[str, Any] = {"bench": bench, "figure": figure, "value": value, "unit": unit}
    if ceiling is not None:
        line["ceiling"] = ceiling
    if ratio is not None:
        line["ratio"] = ratio
    line.update(fields)
    line = {key: _rounded(item) for key, item in line.items()}
    text = json.dumps(line)
    print(text, flush=True)
    for path in _recording_paths:
        with open(path, "a", encoding="utf-8") as results:
            results.write(text + "\n")
    return line


_recording_paths: list[str] = []


@contextmanager
def recording(path: str) -> Iterator[None]:
    """Within the block, ``emit`` also appends every JSON line to ``path`` (created empty)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8"):
        pass
    _recording_paths.append(path)
    try:
        yield
    finally:
        _recording_paths.remove(path)


def start_ray(num_cpus: int | None = None, task_events: bool = True, **init_kwargs: Any) -> None:
    """Start a private local Ray instance tuned for benchmarks (no dashboard, quiet logs).

    ``address="local"`` never joins another engineer's cluster on this shared machine.
    ``task_events=False`` stops task event reporting for the whole instance (system config
    ``task_events_report_interval_ms=0``); then per-actor ``enable_task_events=True`` has no
    effect. To compare both side by side in one instance, leave it on and pass
    ``FAST_ACTOR_OPTIONS`` to the actors that should run without.
    """
    options: dict[str, Any] = {
        "address": "local",
        "include_dashboard": False,
        "num_cpus": num_cpus or os.cpu_count() or 2,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if not task_events:
        options["_system_config"] = {"task_events_report_interval_ms": 0}
    options.update(init_kwargs)
    init_ray_retrying(**options)


def stop_ray() -> None:
    """Stop the Ray instance started by ``start_ray`` (safe to call twice)."""
    if ray.is_initialized():
        ray.shutdown()


@contextmanager
def local_ray(
    num_cpus: int | None = None, task_events: bool = True, **init_kwargs: Any
) -> Iterator[None]:
    """``start_ray`` for the duration of a ``with`` block, always stopped afterwards."""
    start_ray(num_cpus, task_events, **init_kwargs)
    try:
        yield
    finally:
        stop_ray()


def log(message: str) -> None:
    """Progress on stderr, so stdout stays pure JSON lines."""
    print(message, file=sys.stderr, flush=True)
