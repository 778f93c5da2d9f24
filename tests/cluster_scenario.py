"""A three-node Ray cluster (``ray.cluster_utils.Cluster``) losing a node under load.

Run by ``tests/test_cluster.py`` in a process of its own (it needs its own Ray cluster, not the
test session's), it prints one JSON line with what it observed:
- whether every partition's replicas started on three distinct Ray nodes,
- acknowledged writes and how many of them strongly consistent reads no longer find,
- requests answered after the node was removed,
- whether the controller restored three live replicas for every partition, and how many
  replicas it replaced.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from typing import Any

import ray
from ray.cluster_utils import Cluster

import raydynamo
from raydynamo.actors.controller import CONTROLLER_NAME
from raydynamo.actors.service import start_service, stop_service
from raydynamo.config import config_from_dict

TABLE = "cluster-orders"
WORKERS = 4
KEYS_PER_WORKER = 50


def make_config(data_dir: str) -> Any:
    return config_from_dict(
        {
            "cluster": {
                "namespace": "raydynamo-cluster-test",
                "storage_nodes": 6,
                "partitions_per_table": 4,
                "metadata_shards": 1,
                "routers": 0,
            },
            "consensus": {
                "heartbeat_interval_s": 0.05,
                "lease_duration_s": 0.5,
                "election_timeout_s": 0.75,
                "election_jitter_s": 0.25,
                "retransmit_interval_s": 0.1,
                "log_retained_slots": 64,
            },
            "storage": {"data_dir": data_dir},
            "router": {"refresh_interval_s": 0.1, "request_timeout_s": 10.0},
            "controller": {"health_interval_s": 0.5, "node_dead_after_s": 3.0},
        }
    )


class Writers:
    """Each worker owns its keys, so the last acknowledged value of a key is what must be read."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.acked: dict[str, int] = {}
        self.maybe: dict[str, set[int]] = {}
        self.answered_at: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self, worker: int) -> None:
        rng = random.Random(worker)
        while not self.stop.is_set():
            key = f"w{worker}-{rng.randrange(KEYS_PER_WORKER)}"
            value = rng.randrange(1 << 40)
            with self.lock:
                self.maybe.setdefault(key, set()).add(value)
            try:
                self.client.put_item(
                    TableName=TABLE, Item={"pk": {"S": key}, "v": {"N": str(value)}}
                )
            except Exception:  # unacknowledged: may or may not have been applied
                continue
            with self.lock:
                self.acked[key] = value
                self.maybe[key] = set()
                self.answered_at.append(time.monotonic())

    def lost(self) -> int:
        lost = 0
        for key, value in self.acked.items():
            got = self.client.get_item(
                TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True
            ).get("Item")
            found = int(got["v"]["N"]) if got else None
            lost += found not in {value, *self.maybe.get(key, ())}
        return lost


def placement_distinct(controller: Any) -> bool:
    status = ray.get(controller.status.remote())
    zones = {n["node_id"]: n["zone"] for n in status["nodes"]}
    partitions = [p for t in status["tables"] for p in t["partitions"]]
    return bool(partitions) and all(
        len({zones[m] for m in p["members"]}) == len(p["members"]) for p in partitions
    )


def healed(controller: Any, removed_zone: str) -> tuple[bool, int]:
    status = ray.get(controller.status.remote())
    zones = {n["node_id"]: n["zone"] for n in status["nodes"]}
    partitions = [p for t in status["tables"] for p in t["partitions"]]
    ok = all(
        p["healthy"]
        and len(p["members"]) == 3
        and removed_zone not in {zones[m] for m in p["members"]}
        for p in partitions
    )
    return ok, int(status["replacements"])


def main() -> dict[str, Any]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    data_dir = tempfile.mkdtemp(prefix="raydynamo-cluster-")
    config = make_config(data_dir)
    handles = start_service(config, detached=False)
    client = raydynamo.connect(config=config)
    controller = ray.get_actor(CONTROLLER_NAME, namespace=config.cluster.namespace)
    result: dict[str, Any] = {}
    try:
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})
        result["distinct_nodes"] = placement_distinct(controller)
        writers = Writers(client)
        threads = [threading.Thread(target=writers.run, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        while len(writers.answered_at) < 100:  # under load before the node goes
            time.sleep(0.05)
        # Remove a worker that hosts neither this driver nor the control plane: the scenario
        # is about losing storage nodes (the control plane prefers the driver's node, but with
        # every node on one IP the driver may be attached to a worker).
        spared = {
            ray.get_runtime_context().get_node_id(),
            ray.get(
                controller.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id())
            ),
        }
        victim = next(w for w in workers if w.node_id not in spared)
        removed_zone = victim.node_id
        removed_at = time.monotonic()
        cluster.remove_node(victim)
        deadline = time.monotonic() + 120
        result["healed"] = False
        while time.monotonic() < deadline:
            ok, replaced = healed(controller, removed_zone)
            if ok:
                result["healed"], result["replacements"] = True, replaced
                break
            time.sleep(0.5)
        writers.stop.set()
        for thread in threads:
            thread.join()
        result["answered_after_removal"] = sum(1 for t in writers.answered_at if t > removed_at)
        result["acked"] = len(writers.acked)
        result["lost"] = writers.lost()
    finally:
        for cleanup in (client.close, lambda: stop_service(config), ray.shutdown, cluster.shutdown):
            try:
                cleanup()
            except Exception as err:
                result.setdefault("cleanup_errors", []).append(repr(err))
        del handles
    return result


if __name__ == "__main__":
    try:
        outcome = main()
    except Exception as err:  # reported to the test, which fails with it
        outcome = {"error": repr(err)}
    print(json.dumps(outcome), flush=True)
    # Ray's background threads must not keep a finished scenario alive.
    os._exit(0)
