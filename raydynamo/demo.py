"""The main job (``make demo``, ``raydynamo demo``): the whole system, start to finish.

On an embedded local Ray with no configuration (or on a running service with ``--address``), it
starts the cluster, creates a table, loads items with a progress bar, runs a mixed read/write
workload, kills the storage node that leads the most partitions in the middle of it (a real
SIGKILL; Ray restarts the process and it recovers from its own disk), and shows the system
carrying on: leaders changed, every acknowledged write still there. It prints throughput,
latency percentiles and the status table, then shuts everything down.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

TABLE = "demo-orders"
CUSTOMERS = 200
ORDERS_PER_CUSTOMER = 10
WORKERS = 8
WORKLOAD_S = 12.0
KILL_AT_S = 4.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


class Workload:
    """Mixed gets and updates. Worker ``w`` alone updates the customers ``c`` with
    ``c % WORKERS == w``, so the updates of one item are sequential and the last acknowledged one
    must be what a strongly consistent read returns at the end (or a later attempt whose answer
    was lost in the failover, which may have been applied too)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.acked: dict[tuple[str, int], int] = {}
        self.attempted_after: dict[tuple[str, int], set[int]] = {}
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop_at = 0.0

    def key(self, customer: int, order: int) -> dict[str, Any]:
        return {"customer": {"S": f"c{customer:04d}"}, "order": {"N": str(order)}}

    def worker(self, seed: int) -> int:
        rng = random.Random(seed)
        mine = [c for c in range(CUSTOMERS) if c % WORKERS == seed]
        done = 0
        while time.monotonic() < self.stop_at:
            order = rng.randrange(ORDERS_PER_CUSTOMER)
            started = time.perf_counter()
            if rng.random() < 0.5:
                ok = self._read(rng.randrange(CUSTOMERS), order, rng.random() < 0.5)
            else:
                ok = self._update(rng.choice(mine), order, rng.randrange(1_000_000_000))
            if ok:
                with self.lock:
                    self.latencies.append(time.perf_counter() - started)
                done += 1
        return done

    def _read(self, customer: int, order: int, consistent: bool) -> bool:
        try:
            self.client.get_item(
                TableName=TABLE, Key=self.key(customer, order), ConsistentRead=consistent
            )
            return True
        except Exception as err:  # counted and shown: a failover may time a request out
            with self.lock:
                self.errors.append(type(err).__name__)
            return False

    def _update(self, customer: int, order: int, version: int) -> bool:
        key = (f"c{customer:04d}", order)
        with self.lock:
            self.attempted_after.setdefault(key, set()).add(version)
        try:
            self.client.update_item(
                TableName=TABLE,
                Key=self.key(customer, order),
                UpdateExpression="SET version = :v, updates = updates + :one",
                ExpressionAttributeValues={":v": {"N": str(version)}, ":one": {"N": "1"}},
            )
        except Exception as err:  # not acknowledged: it may or may not have been applied
            with self.lock:
                self.errors.append(type(err).__name__)
            return False
        with self.lock:
            self.acked[key] = version
            self.attempted_after[key] = set()
        return True


def _leaders(status: dict[str, Any]) -> dict[str, str | None]:
    return {p["partition_id"]: p["leader"] for t in status["tables"] for p in t["partitions"]}


def _busiest_leader(status: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for leader in _leaders(status).values():
        if leader:
            counts[leader] = counts.get(leader, 0) + 1
    return max(sorted(counts), key=lambda n: counts[n])


def _load(client: Any) -> None:
    from tqdm import tqdm

    table = client.Table(TABLE)
    total = CUSTOMERS * ORDERS_PER_CUSTOMER
    with (
        tqdm(total=total, desc="loading", unit="item") as bar,
        table.batch_writer() as batch,
    ):
        for customer in range(CUSTOMERS):
            for order in range(ORDERS_PER_CUSTOMER):
                batch.put_item(Item={"customer": f"c{customer:04d}", "order": order, "updates": 0})
                bar.update(1)


def _verify(client: Any, workload: Workload) -> int:
    """Acknowledged updates missing from strongly consistent reads (0 is the only good answer)."""
    lost = 0
    keys = sorted(workload.acked)
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        request = {
            TABLE: {
                "Keys": [{"customer": {"S": c}, "order": {"N": str(o)}} for c, o in chunk],
                "ConsistentRead": True,
            }
        }
        found: dict[tuple[str, int], int] = {}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(TABLE, []):
                found[(item["customer"]["S"], int(item["order"]["N"]))] = int(item["version"]["N"])
            request = answer.get("UnprocessedKeys") or {}
        for key in chunk:
            allowed = {workload.acked[key], *workload.attempted_after.get(key, ())}
            lost += found.get(key) not in allowed
    return lost


def run_demo(address: str | None = None, config_path: str | None = None) -> int:
    import ray

    import raydynamo
    from raydynamo.actors.controller import CONTROLLER_NAME
    from raydynamo.actors.service import stop_service
    from raydynamo.actors.storage_node import storage_actor_name
    from raydynamo.cli import render_status
    from raydynamo.config import load_config

    config = load_config(config_path)
    data_dir = None
    if address is None:
        data_dir = tempfile.mkdtemp(prefix="raydynamo-demo-")
        storage = config.storage.model_copy(update={"data_dir": data_dir})
        config = config.model_copy(update={"storage": storage})
    print("starting raydynamo (an embedded Ray and the service inside it) ...", flush=True)
    started = time.monotonic()
    client = raydynamo.connect(address, config=config)
    print(f"  up in {time.monotonic() - started:.1f}s")
    try:
        return _run(client, config, ray, CONTROLLER_NAME, storage_actor_name, render_status)
    finally:
        client.close()
        if address is None:
            stop_service(config)
            ray.shutdown()
            if data_dir:
                shutil.rmtree(data_dir, ignore_errors=True)
        print("shut down cleanly")


def _run(client: Any, config: Any, ray: Any, controller_name: str, storage_name: Any, render: Any):
    controller = ray.get_actor(controller_name, namespace=config.cluster.namespace)
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
        client.get_waiter("table_not_exists").wait(TableName=TABLE)
    client.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "order", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})
    print(f"table {TABLE} is ACTIVE")
    _load(client)
    before = ray.get(controller.status.remote())
    victim = _busiest_leader(before)
    victim_pid = ray.get(
        ray.get_actor(storage_name(victim), namespace=config.cluster.namespace).pid.remote()
    )
    workload = Workload(client)
    workload.stop_at = time.monotonic() + WORKLOAD_S
    print(f"mixed workload: {WORKERS} clients, 50% reads / 50% updates, {WORKLOAD_S:.0f}s")
    begin = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(workload.worker, seed) for seed in range(WORKERS)]
        time.sleep(KILL_AT_S)  # the demo's script, not a synchronisation
        print(f"  killing storage node {victim} (SIGKILL) at t={time.monotonic() - begin:.1f}s")
        os.kill(victim_pid, signal.SIGKILL)
        operations = sum(f.result() for f in futures)
    elapsed = time.monotonic() - begin
    print(f"  {operations} operations in {elapsed:.1f}s: {operations / elapsed:.0f} ops/s")
    p50, p99 = _percentile(workload.latencies, 0.5), _percentile(workload.latencies, 0.99)
    worst = _percentile(workload.latencies, 1.0)
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.0f} ms")
    if workload.errors:
        print(f"  requests that failed and were not acknowledged: {len(workload.errors)}")
    after = ray.get(controller.status.remote())
    old, new = _leaders(before), _leaders(after)
    moved = [pid for pid in old if old[pid] == victim and new.get(pid) != victim]
    print(f"  {len(moved)} partitions led by {victim} changed leader: carried on without it")
    lost = _verify(client, workload)
    print(f"acknowledged updates checked: {len(workload.acked)}, lost: {lost}")
    print(render(after))
    return 0 if lost == 0 else 1


def main() -> int:
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
