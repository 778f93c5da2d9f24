"""boto3 over HTTP against ``raydynamo serve`` and against ``moto_server``, in the same run.

Both servers run as child processes on free loopback ports (``bench.processes``): ``raydynamo
serve`` with the shipped local configuration (a local Ray, three storage nodes, every write
replicated three times and fsync'ed by a majority, the router embedded in the endpoint's
process) and ``moto_server`` (moto's in-memory DynamoDB behind werkzeug's threaded server, the
bench extra). The load runs in this process: 1 and 16 client threads, one boto3 client per
thread (no retries, so a refusal counts as an error, never as a slow success), each op timed
from call to answer:

- ``put_item``: PutItem of a 1 KB item (10 string attributes of 100 characters), keys cycling
  over 100 per thread;
- ``get_item``: strongly consistent GetItem of those (preloaded) items, each answer checked;
- ``query``: Query of one item collection of 5 items of about 200 bytes (100 collections);
- ``batch_write_item``: BatchWriteItem of 25 such 1 KB items (a refusal or UnprocessedItems
  counts as an error), in items/s.

The measurements are interleaved: for every repetition, workload and thread count, raydynamo
then moto (the order swapped every repetition); each figure is the median over ``--reps``. A
JSON line per workload and thread count: raydynamo's rate as ``value``, moto's as ``peer``,
``ratio`` = raydynamo / moto of the medians (``ratios``: of each back-to-back pair), p50/p99
latency of both, CPU per operation of each server's process tree and of the client, the
idle server's CPU meanwhile (both stay up: ``idle_cpu_cores`` is raydynamo's, a local Ray with
its ticks and heartbeats, while moto is measured; ``peer_idle_cpu_cores`` moto's), and the
1-minute load average. Both servers share this 2-core machine with the client.

    python -m bench.wire [--seconds S] [--reps R] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import LatencyRecorder, emit, log, process_tree_cpu_s
from bench.processes import ChildServer, moto_server, raydynamo_serve

BENCH = "wire"
TABLE = "wire"
QUERY_TABLE = "wire_query"
THREAD_COUNTS = (1, 16)
KEYS_PER_THREAD = 100
QUERY_COLLECTIONS = 100
QUERY_ITEMS = 5
BATCH_ITEMS = 25
WARMUP_S = 0.3
ACCESS_KEY = ("wirebench", "wirebench")  # the local configuration checks no signature


def item_1kb(key: str, rng: random.Random) -> dict[str, Any]:
    """A 1 KB item: the key and 10 string attributes of 100 characters."""
    return {"pk": {"S": key}, **{f"field{i}": {"S": rng.randbytes(50).hex()} for i in range(10)}}


def query_item(collection: int, rank: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"q{collection}"},
        "sk": {"S": f"{rank:04d}"},
        "body": {"S": "b" * 180},
    }


# ------------------------------------------------------------------------------ the workloads


@dataclass(frozen=True)
class Workload:
    """One kind of request: ``call(client, thread_index, n)`` sends it, True if well answered."""

    name: str
    items_per_op: int
    unit: str
    call: Callable[[Any, int, int], bool]


def _put_item(client: Any, thread: int, n: int, payload: dict[str, Any]) -> bool:
    item = {**payload, "pk": {"S": f"k{thread}-{n % KEYS_PER_THREAD}"}}
    client.put_item(TableName=TABLE, Item=item)
    return True


def _get_item(client: Any, thread: int, n: int) -> bool:
    key = {"pk": {"S": f"k{thread}-{n % KEYS_PER_THREAD}"}}
    answer = client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    return "Item" in answer


def _query(client: Any, thread: int, n: int) -> bool:
    answer = client.query(
        TableName=QUERY_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"q{(thread * 31 + n) % QUERY_COLLECTIONS}"}},
        ConsistentRead=True,
    )
    return answer["Count"] == QUERY_ITEMS


def _batch_write_item(client: Any, thread: int, n: int, payload: dict[str, Any]) -> bool:
    first = (n % KEYS_PER_THREAD) * BATCH_ITEMS
    requests = [
        {"PutRequest": {"Item": {**payload, "pk": {"S": f"b{thread}-{first + i}"}}}}
        for i in range(BATCH_ITEMS)
    ]
    answer = client.batch_write_item(RequestItems={TABLE: requests})
    return not answer.get("UnprocessedItems")


def workloads() -> list[Workload]:
    payload = item_1kb("", random.Random(8))
    del payload["pk"]
    return [
        Workload("put_item", 1, "ops/s", lambda c, t, n: _put_item(c, t, n, payload)),
        Workload("get_item", 1, "ops/s", _get_item),
        Workload("query", 1, "ops/s", _query),
        Workload(
            "batch_write_item",
            BATCH_ITEMS,
            "items/s",
            lambda c, t, n: _batch_write_item(c, t, n, payload),
        ),
    ]


# ------------------------------------------------------------------------------ the servers


def boto3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY[0],
        aws_secret_access_key=ACCESS_KEY[1],
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=2,
        ),
    )


def answers(url: str) -> bool:
    boto3_client(url).list_tables()
    return True


@dataclass
class Target:
    """A server under load and one boto3 client per client thread."""

    name: str
    url: str
    server: ChildServer
    clients: list[Any] = field(default_factory=list)

    def cpu_s(self) -> float:
        return process_tree_cpu_s(self.server.pid)


def create_tables(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=QUERY_TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for name in (TABLE, QUERY_TABLE):
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )


def write_all(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem of ``items`` 25 at a time, unprocessed items resent."""
    for start in range(0, len(items), BATCH_ITEMS):
        pending = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH_ITEMS]]}
        for _ in range(100):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not pending:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"preloading {table}: items stayed unprocessed")


def prepare(target: Target) -> None:
    """Tables, the items GetItem and Query read, and warm clients (one connection each)."""
    client = target.clients[0]
    create_tables(client)
    rng = random.Random(3)
    items = [
        item_1kb(f"k{t}-{i}", rng)
        for t in range(max(THREAD_COUNTS))
        for i in range(KEYS_PER_THREAD)
    ]
    write_all(client, TABLE, items)
    query_items = [query_item(c, r) for c in range(QUERY_COLLECTIONS) for r in range(QUERY_ITEMS)]
    write_all(client, QUERY_TABLE, query_items)
    for each in target.clients:
        each.describe_table(TableName=TABLE)


# ------------------------------------------------------------------------------ measuring


@dataclass
class ThreadTally:
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    errors: int = 0
    first_error: str = ""


def _drive(
    workload: Workload, client: Any, thread: int, window: tuple[float, float], tally: ThreadTally
) -> None:
    """One client thread: call until the window ends, recording the calls that end inside it."""
    start_at, end_at = window
    clock = time.perf_counter
    n = 0
    while True:
        began = clock()
        if began >= end_at:
            return
        try:
            good = workload.call(client, thread, n)
            problem = "" if good else "answer not as expected"
        except Exception as err:  # a refusal or a dropped connection: counted, shown once
            good, problem = False, f"{type(err).__name__}: {err}"[:300]
        done = clock()
        n += 1
        if not start_at <= done <= end_at:  # completions inside the window count
            continue
        if good:
            tally.latency.record(done - began)
        else:
            tally.errors += 1
            tally.first_error = tally.first_error or problem


def measure(
    workload: Workload, target: Target, idle: Target, threads: int, seconds: float
) -> dict[str, float]:
    """``threads`` clients of ``target`` for ``seconds`` (after a warm-up): rate, latency, CPU."""
    tallies = [ThreadTally() for _ in range(threads)]
    start_at = time.perf_counter() + WARMUP_S
    window = (start_at, start_at + seconds)
    workers = [
        threading.Thread(
            target=_drive,
            args=(workload, target.clients[i], i, window, tallies[i]),
            name=f"wire-{i}",
            daemon=True,
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, start_at - time.perf_counter()))
    before = (target.cpu_s(), idle.cpu_s(), _own_cpu_s())
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    after = (target.cpu_s(), idle.cpu_s(), _own_cpu_s())
    for worker in workers:
        worker.join()
    latency = LatencyRecorder([s for t in tallies for s in t.latency.latencies_s])
    ops = len(latency.latencies_s)
    errors = sum(t.errors for t in tallies)
    if errors:
        log(
            f"{BENCH}: {target.name} {workload.name} x{threads}: {errors} errors, first: "
            f"{next(t.first_error for t in tallies if t.first_error)}"
        )
    per_op = 1e6 / max(ops, 1)
    return {
        "value": ops * workload.items_per_op / seconds,
        "ops_per_s": ops / seconds,
        **latency.summary_ms(),
        "errors": errors,
        "server_cpu_us_per_op": (after[0] - before[0]) * per_op,
        "client_cpu_us_per_op": (after[2] - before[2]) * per_op,
        "server_cpu_cores": (after[0] - before[0]) / seconds,
        "idle_server_cpu_cores": (after[1] - before[1]) / seconds,
        "load_avg_1m": os.getloadavg()[0],
    }


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def run_interleaved(
    targets: list[Target], seconds: float, repetitions: int
) -> dict[tuple[str, int, str], list[dict[str, float]]]:
    """Every (workload, threads, target) ``repetitions`` times, targets alternating first."""
    runs: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    for rep in range(repetitions):
        order = targets if rep % 2 == 0 else targets[::-1]
        for workload in workloads():
            for threads in THREAD_COUNTS:
                for index, target in enumerate(order):
                    idle = order[1 - index]
                    figures = measure(workload, target, idle, threads, seconds)
                    runs.setdefault((workload.name, threads, target.name), []).append(figures)
                    log(
                        f"{BENCH}: rep {rep + 1}/{repetitions} {workload.name} x{threads} "
                        f"{target.name}: {figures['value']:.0f} {workload.unit}, "
                        f"p50 {figures['p50_ms']:.1f} ms (load {figures['load_avg_1m']:.1f})"
                    )
    return runs


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def emit_figures(runs: dict[tuple[str, int, str], list[dict[str, float]]]) -> list[dict[str, Any]]:
    lines = []
    for workload in workloads():
        for threads in THREAD_COUNTS:
            ours_runs = runs[(workload.name, threads, "raydynamo")]
            moto_runs = runs[(workload.name, threads, "moto")]
            ours, moto = _median(ours_runs), _median(moto_runs)
            lines.append(
                emit(
                    BENCH,
                    f"{workload.name}.{threads}_threads",
                    ours["value"],
                    workload.unit,
                    ratio=ours["value"] / moto["value"] if moto["value"] else None,
                    peer=moto["value"],
                    peer_name="moto_server",
                    threads=threads,
                    p50_ms=ours["p50_ms"],
                    p99_ms=ours["p99_ms"],
                    peer_p50_ms=moto["p50_ms"],
                    peer_p99_ms=moto["p99_ms"],
                    errors=sum(r["errors"] for r in ours_runs),
                    peer_errors=sum(r["errors"] for r in moto_runs),
                    server_cpu_us_per_op=ours["server_cpu_us_per_op"],
                    peer_server_cpu_us_per_op=moto["server_cpu_us_per_op"],
                    client_cpu_us_per_op=ours["client_cpu_us_per_op"],
                    peer_client_cpu_us_per_op=moto["client_cpu_us_per_op"],
                    ratios=[
                        ours_run["value"] / moto_run["value"] if moto_run["value"] else None
                        for ours_run, moto_run in zip(ours_runs, moto_runs, strict=True)
                    ],
                    idle_cpu_cores=moto["idle_server_cpu_cores"],
                    peer_idle_cpu_cores=ours["idle_server_cpu_cores"],
                    load_avg_1m=statistics.median(r["load_avg_1m"] for r in ours_runs + moto_runs),
                    reps=len(ours_runs),
                    values=[r["value"] for r in ours_runs],
                    peer_values=[r["value"] for r in moto_runs],
                )
            )
    return lines


# ------------------------------------------------------------------------------ the run


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM to the benchmark unwinds like Ctrl-C, so every server is stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(seconds: float, repetitions: int) -> list[dict[str, Any]]:
    with (
        sigterm_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="raydynamo-bench-wire-") as work_dir,
        contextlib.ExitStack() as servers,
    ):
        log(f"{BENCH}: starting raydynamo serve and moto_server (load {os.getloadavg()[0]:.1f})")
        ours, ours_url = raydynamo_serve(Path(work_dir), f"bench-wire-{uuid.uuid4().hex[:8]}")
        servers.callback(ours.stop)
        moto, moto_url = moto_server(answers)
        servers.callback(moto.stop)
        clients = max(THREAD_COUNTS)
        targets = [
            Target("raydynamo", ours_url, ours, [boto3_client(ours_url) for _ in range(clients)]),
            Target("moto", moto_url, moto, [boto3_client(moto_url) for _ in range(clients)]),
        ]
        for target in targets:
            prepare(target)
        ours.note_descendants()
        log(f"{BENCH}: {ours_url} and {moto_url} ready; {repetitions} x {seconds:g} s per figure")
        runs = run_interleaved(targets, seconds, repetitions)
        ours.note_descendants()
    return emit_figures(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wire", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.seconds, ns.reps = 1.5, 1
    try:
        run(ns.seconds, ns.reps)
    except KeyboardInterrupt:
        log(f"{BENCH}: interrupted; both servers stopped")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
