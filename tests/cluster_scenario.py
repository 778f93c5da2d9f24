"""A three-host Ray cluster (``ray.cluster_utils.Cluster``) losing a host under load, its
controller killed in the middle of the heals, then the whole cluster restarted.

Each Ray node carries the label ``raydynamo-host=h<i>`` and the service recognises hosts by it
(``cluster.host_identity: label:raydynamo-host``), so the three Ray nodes of this one machine
are three hosts: what happens to one of them is what happens to a machine.

Run by ``tests/test_cluster.py`` in a process of its own (it needs its own Ray clusters, not the
test session's), it prints one JSON line with what it observed:
- whether every partition's replicas started on three distinct hosts,
- acknowledged writes and how many of them strongly consistent reads no longer find,
- requests answered after the host was removed,
- the heals in progress when the controller was killed, and whether each finished with the
  replacement it had stored,
- whether the controller restored three live replicas for every partition, and how many
  replicas it replaced,
- after a restart of the whole cluster (new Ray node ids, hosts joining in another order, the
  lost host back): whether every storage node runs on the host it first ran on, whether every
  partition is healthy, and how many acknowledged writes are lost.
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
from raydynamo.metadata.member_ids import node_of

TABLE = "cluster-orders"
WORKERS = 4
KEYS_PER_WORKER = 50
HOST_LABEL = "raydynamo-host"


def make_config(data_dir: str) -> Any:
    return config_from_dict(
        {
            "cluster": {
                "namespace": "raydynamo-cluster-test",
                "storage_nodes": 6,
                "partitions_per_table": 4,
                "metadata_shards": 1,
                "routers": 0,
                "host_identity": f"label:{HOST_LABEL}",
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


def new_cluster(host_order: list[str]) -> tuple[Cluster, dict[str, Any]]:
    """A cluster whose head is h0 and whose workers join in ``host_order``."""
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "labels": {HOST_LABEL: "h0"}}
    )
    workers = {host: cluster.add_node(num_cpus=1, labels={HOST_LABEL: host}) for host in host_order}
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    return cluster, workers


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

    def lost(self, client: Any) -> int:
        lost = 0
        for key, value in self.acked.items():
            got = client.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get(
                "Item"
            )
            found = int(got["v"]["N"]) if got else None
            lost += found not in {value, *self.maybe.get(key, ())}
        return lost


def status_of(controller: Any) -> dict[str, Any]:
    return dict(ray.get(controller.status.remote(), timeout=60))


def hosts_of(status: dict[str, Any]) -> dict[str, str]:
    return {n["node_id"]: n["host"] for n in status["nodes"] if n.get("alive")}


def placement_distinct(controller: Any) -> bool:
    status = status_of(controller)
    hosts = hosts_of(status)
    partitions = [p for t in status["tables"] for p in t["partitions"]]
    return bool(partitions) and all(
        len({hosts.get(node_of(m)) for m in p["members"]}) == len(p["members"]) for p in partitions
    )


def healed(controller: Any, removed_host: str) -> tuple[bool, dict[str, Any]]:
    status = status_of(controller)
    hosts = hosts_of(status)
    partitions = [p for t in status["tables"] for p in t["partitions"]]
    ok = not status["heals"] and all(
        p["healthy"]
        and len(p["members"]) == 3
        and all(node_of(m) in hosts for m in p["members"])
        and removed_host not in {hosts[node_of(m)] for m in p["members"]}
        for p in partitions
    )
    return ok, status


def kill_controller_mid_heal(controller: Any, deadline: float) -> dict[str, str]:
    """Wait for heals in progress, kill the controller (Ray restarts it); the replacement each
    heal had stored, by group."""
    while time.monotonic() < deadline:
        heals = status_of(controller)["heals"]
        if heals:
            ray.kill(controller, no_restart=False)
            return {h["group_id"]: h["replacement"] for h in heals}
        time.sleep(0.1)
    return {}


def lose_a_host(cluster: Cluster, workers: dict[str, Any], controller: Any) -> dict[str, Any]:
    """Remove a worker host that holds neither this driver nor the control plane (with every Ray
    node on one IP the driver may be attached to a worker), under load; see it healed."""
    spared = {
        ray.get_runtime_context().get_node_id(),
        ray.get(controller.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id())),
    }
    host, victim = next((h, w) for h, w in workers.items() if w.node_id not in spared)
    removed_at = time.monotonic()
    cluster.remove_node(victim)
    deadline = time.monotonic() + 180
    stored = kill_controller_mid_heal(controller, deadline)
    result: dict[str, Any] = {"removed_host": host, "removed_at": removed_at, "healed": False}
    result["heals_at_kill"] = len(stored)
    while time.monotonic() < deadline:
        try:
            ok, status = healed(controller, host)
        except Exception:  # the controller is restarting
            ok = False
        if ok:
            members = {
                p["partition_id"]: p["members"] for t in status["tables"] for p in t["partitions"]
            }
            members["__system"] = status["system_members"]
            result["same_replacements"] = all(r in members.get(g, [r]) for g, r in stored.items())
            result["healed"], result["replacements"] = True, int(status["replacements"])
            break
        time.sleep(0.5)
    return result


def create_table(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})


def first_life(config: Any, result: dict[str, Any]) -> Writers:
    cluster, workers = new_cluster(["h1", "h2"])
    handles = start_service(config, detached=False)
    client = raydynamo.connect(config=config)
    controller = ray.get_actor(CONTROLLER_NAME, namespace=config.cluster.namespace)
    try:
        create_table(client)
        result["distinct_hosts"] = placement_distinct(controller)
        result["hosts_at_start"] = hosts_of(status_of(controller))
        writers = Writers(client)
        threads = [threading.Thread(target=writers.run, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        while len(writers.answered_at) < 100:  # under load before the host goes
            time.sleep(0.05)
        lost_host = lose_a_host(cluster, workers, controller)
        writers.stop.set()
        for thread in threads:
            thread.join()
        removed_at = lost_host.pop("removed_at")
        result.update(lost_host)
        result["answered_after_removal"] = sum(1 for t in writers.answered_at if t > removed_at)
        result["acked"] = len(writers.acked)
        result["lost"] = writers.lost(client)
        return writers
    finally:
        for cleanup in (client.close, lambda: stop_service(config), ray.shutdown, cluster.shutdown):
            try:
                cleanup()
            except Exception as err:
                result.setdefault("cleanup_errors", []).append(repr(err))
        del handles


def second_life(config: Any, writers: Writers, result: dict[str, Any]) -> None:
    """The whole cluster again, hosts joining in another order (all new Ray node ids)."""
    cluster, _ = new_cluster(["h2", "h1"])
    handles = start_service(config, detached=False)
    client = raydynamo.connect(config=config)
    controller = ray.get_actor(CONTROLLER_NAME, namespace=config.cluster.namespace)
    try:
        before = result.get("hosts_at_start", {})
        deadline = time.monotonic() + 120
        hosts: dict[str, str] = {}
        while time.monotonic() < deadline and set(hosts) < set(before):
            hosts = hosts_of(status_of(controller))
            time.sleep(0.5)
        result["same_hosts_after_restart"] = len(before) == config.cluster.storage_nodes and all(
            hosts.get(node) == host for node, host in before.items()
        )
        ok = False
        while time.monotonic() < deadline and not ok:
            ok, _ = healed(controller, removed_host="")
            time.sleep(0.5)
        result["healthy_after_restart"] = ok
        result["lost_after_restart"] = writers.lost(client)
    finally:
        for cleanup in (client.close, lambda: stop_service(config), ray.shutdown, cluster.shutdown):
            try:
                cleanup()
            except Exception as err:
                result.setdefault("cleanup_errors", []).append(repr(err))
        del handles


def main() -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="raydynamo-cluster-")
    config = make_config(data_dir)
    result: dict[str, Any] = {}
    writers = first_life(config, result)
    second_life(config, writers, result)
    return result


if __name__ == "__main__":
    try:
        outcome = main()
    except Exception as err:  # reported to the test, which fails with it
        outcome = {"error": repr(err)}
    print(json.dumps(outcome), flush=True)
    # Ray's background threads must not keep a finished scenario alive.
    os._exit(0)
