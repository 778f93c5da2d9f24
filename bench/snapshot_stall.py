"""Snapshot stall: how a large partition's snapshot delays the other partitions of its node.

Three storage nodes in one process (``NodeHost`` on RocksDB, wired by an in-process transport:
no Ray, so the figures are the storage node's own), two partitions led by node ``a``: ``big``
(``--mb`` of 1 KB items) and ``small``. Node ``c`` is stopped, ``big`` is loaded (so ``a``'s log
is compacted past ``c``'s), then one client writes one item at a time to ``small`` at ``a``
(following leader hints, keeping its request id) while ``c`` restarts and is sent a snapshot of
``big``. Figures: p50/p99/max latency of those writes for ``--before-s`` before the restart (no
transfer) and from the restart until ``c`` has caught up on ``big`` (the transfer), how long the
transfer took, and how much the process's resident memory grew meanwhile (sender and receiver
together). The storage node actor's GIL switch interval is used, as in production.

The script also runs on the code from before snapshots were streamed: put that checkout first on
``PYTHONPATH`` and run it from a directory where ``raydynamo`` is not importable otherwise.

    python -m bench.snapshot_stall [--mb 200] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from bench.common import emit, percentile
from raydynamo.actors.host import NodeHost
from raydynamo.config import config_from_dict
from raydynamo.node.replies import Applied, NotLeader
from raydynamo.partition.commands import Put, Write, encode_write
from raydynamo.storage.rocks import RocksEngine

BENCH = "snapshot_stall"
NODES = ("a", "b", "c")
ITEM_BYTES = 1000
ITEMS_PER_WRITE = 100
LOADERS = 4
GIL_SWITCH_INTERVAL_S = 0.0002  # what StorageNodeActor sets
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class Transport:
    def __init__(self) -> None:
        self.hosts: dict[str, NodeHost] = {}

    def call(self, peer: str, sender: str, frame: bytes) -> bytes:
        host = self.hosts.get(peer)
        if host is None or host.closed:
            raise ConnectionError(peer)
        return host.deliver(sender, frame)

    def call_snapshot(self, peer: str, sender: str, frame: bytes) -> bytes:
        return self.call(peer, sender, frame)


@dataclass
class Cluster:
    root: str
    transport: Transport = field(default_factory=Transport)

    def __post_init__(self) -> None:
        self.config = config_from_dict(
            {"consensus": {"log_retained_slots": 16}, "storage": {"sync_writes": True}}
        )

    def start(self, node_id: str) -> NodeHost:
        engine = RocksEngine(f"{self.root}/{node_id}")
        host = NodeHost(node_id, engine, self.config, self.transport)
        host.start()
        self.transport.hosts[node_id] = host
        return host

    def stop(self, node_id: str) -> None:
        self.transport.hosts.pop(node_id).close()

    def host(self, node_id: str) -> NodeHost:
        return self.transport.hosts[node_id]

    def leads(self, node_id: str, partition_id: str) -> bool:
        host = self.transport.hosts[node_id]
        hosted = host.core.replicas.get(partition_id)
        return hosted is not None and host.clock() < hosted.lease.strong_until

    def applied(self, node_id: str, partition_id: str) -> int:
        hosted = self.transport.hosts[node_id].core.replicas.get(partition_id)
        return hosted.replica.log.applied_through if hosted is not None else -1


def wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{BENCH}: {what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.01)


def command(request_id: str, items: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, tuple(Put(k, v) for k, v in items)))


def load(cluster: Cluster, megabytes: int) -> None:
    writes = megabytes * 1_000_000 // (ITEM_BYTES * ITEMS_PER_WRITE)
    value = b"x" * ITEM_BYTES
    leader = cluster.host("a")

    def loader(first: int) -> None:
        for n in range(first, writes, LOADERS):
            items = [(f"k{n:06}-{i:03}".encode(), value) for i in range(ITEMS_PER_WRITE)]
            reply = leader.write("big", [command(f"load-{n}", items)])
            if not isinstance(reply[0], Applied):
                raise SystemExit(f"{BENCH}: loading failed: {reply[0]!r}")

    threads = [threading.Thread(target=loader, args=(i,)) for i in range(LOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class SmallWriter(threading.Thread):
    """Writes one item at a time to ``small``; records (start time, latency) of each."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        target = "a"
        n = 0
        while not self.stop.is_set():
            n += 1
            request = command(f"small-{n}", [(b"key", str(n).encode())])
            started = time.monotonic()
            while True:
                host = self.cluster.transport.hosts.get(target)
                reply = host.write("small", [request]) if host is not None else None
                if reply is not None and isinstance(reply[0], Applied):
                    break
                hint = reply[0].leader_hint if reply and isinstance(reply[0], NotLeader) else None
                target = hint or NODES[(NODES.index(target) + 1) % 2]  # a or b: c is behind
                time.sleep(0.005)
            self.samples.append((started, time.monotonic() - started))


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_bytes = 0
        self.stop = threading.Event()

    @staticmethod
    def rss_bytes() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.rss_bytes())
            time.sleep(0.02)


def latencies(samples: list[tuple[float, float]], start: float, end: float) -> dict[str, float]:
    chosen = sorted(latency for at, latency in samples if start <= at < end)
    return {
        "writes": len(chosen),
        "p50_ms": percentile(chosen, 0.5) * 1e3,
        "p99_ms": percentile(chosen, 0.99) * 1e3,
        "max_ms": (chosen[-1] if chosen else float("nan")) * 1e3,
    }


def run(megabytes: int, before_s: float) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    with tempfile.TemporaryDirectory(prefix="raydynamo-bench-") as root:
        cluster = Cluster(root)
        for node_id in NODES:
            cluster.start(node_id)
        for partition_id in ("big", "small"):
            for node_id in NODES:
                cluster.host(node_id).host_partition(partition_id, NODES)
            cluster.host("a").campaign(partition_id)
            wait_for(lambda pid=partition_id: cluster.leads("a", pid), 30, "an election")
        cluster.stop("c")
        loaded_at = time.monotonic()
        load(cluster, megabytes)
        emit(BENCH, "load", time.monotonic() - loaded_at, "s", megabytes=megabytes)
        compacted = cluster.host("a").core.replicas["big"].replica.log.compacted_through
        if compacted <= 2:  # c applied the first slots (elections) before it stopped
            raise SystemExit(f"{BENCH}: the log of big was not compacted past c: load more")
        writer = SmallWriter(cluster)
        writer.start()
        time.sleep(before_s)
        rss = RssSampler()
        rss_before = rss.rss_bytes()
        rss.start()
        restarted_at = time.monotonic()
        target = cluster.applied("a", "big")
        cluster.start("c")
        wait_for(lambda: cluster.applied("c", "big") >= target, 1800, "the snapshot")
        caught_up_at = time.monotonic()
        time.sleep(0.5)
        writer.stop.set()
        rss.stop.set()
        writer.join()
        rss.join()
        stats = cluster.host("a").stats
        for node_id in list(cluster.transport.hosts):
            cluster.stop(node_id)
    quiet = latencies(writer.samples, restarted_at - before_s, restarted_at)
    during = latencies(writer.samples, restarted_at, caught_up_at)
    for name, figures in (("no_transfer", quiet), ("during_transfer", during)):
        for key in ("p50_ms", "p99_ms", "max_ms"):
            figure = f"small_write_{key[:-3]}_{name}"
            emit(BENCH, figure, figures[key], "ms", writes=figures["writes"])
    emit(BENCH, "transfer", caught_up_at - restarted_at, "s", megabytes=megabytes)
    growth = (rss.peak_bytes - rss_before) / 1e6
    emit(BENCH, "rss_growth_during_transfer", growth, "MB", megabytes=megabytes)
    emit(BENCH, "sender_stats", 0, "", **{k: v for k, v in stats.items() if "snapshot" in k})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshot_stall")
    parser.add_argument("--mb", type=int, default=200, help="size of the big partition (MB)")
    parser.add_argument("--before-s", type=float, default=5.0, help="writes measured before")
    parser.add_argument("--quick", action="store_true", help="20 MB, 2 s before")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.mb, ns.before_s = 20, 2.0
    run(ns.mb, ns.before_s)


if __name__ == "__main__":
    main(sys.argv[1:])
