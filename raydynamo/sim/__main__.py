"""``python -m raydynamo.sim run|nodes|check``: seeded simulations and the exhaustive model check.

``run`` simulates one replication group on the pure consensus core; ``nodes`` simulates several
storage nodes running the real node core (``raydynamo.node``) with several partitions each, disk
failpoints and damaged frames. Both print one JSON line (runs, steps, violations, what faults
were injected, ...) and exit 1 when any invariant failed, after printing each failing seed with
the command that replays it. ``check`` prints one JSON line (states, violations, ...) and exits 1
with the shortest violating trace.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from raydynamo.sim.node_world import NodeRunResult, NodeWorld
from raydynamo.sim.world import RunResult, SimWorld


def run_one(args: tuple[int, int, int]) -> RunResult:
    seed, replicas, steps = args
    return SimWorld(seed, replicas, steps=steps).run()


def cmd_run(ns: argparse.Namespace) -> int:
    if ns.trace:
        result = SimWorld(ns.start_seed, ns.replicas, steps=ns.steps, keep_trace=True).run()
        for line in result.trace or []:
            print(line)
        print(json.dumps({"seed": ns.start_seed, "violations": result.violations}))
        return 1 if result.violations else 0
    started = time.perf_counter()
    jobs = [(s, ns.replicas, ns.steps) for s in range(ns.start_seed, ns.start_seed + ns.seeds)]
    results: list[RunResult] = []
    if ns.jobs > 1:
        with ProcessPoolExecutor(ns.jobs) as pool:
            results = list(pool.map(run_one, jobs, chunksize=16))
    else:
        results = [run_one(job) for job in jobs]
    failed = [r for r in results if r.violations]
    for r in failed:
        print(f"seed {r.seed} FAILED: {r.violations[0]}", file=sys.stderr)
        replay = "python -m raydynamo.sim run --trace"
        replay += f" --start-seed {r.seed} --replicas {r.replicas}"
        print(f"  replay: {replay}", file=sys.stderr)
    summary = {
        "runs": len(results),
        "replicas": ns.replicas,
        "start_seed": ns.start_seed,
        "steps": sum(r.steps for r in results),
        "violations": sum(len(r.violations) for r in results),
        "failed_seeds": [r.seed for r in failed],
        "acked_writes": sum(r.acked_writes for r in results),
        "strong_reads": sum(r.strong_reads for r in results),
        "leader_recoveries": sum(r.leader_recoveries for r in results),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(summary))
    return 1 if failed else 0


def run_nodes_one(args: tuple[int, ...]) -> NodeRunResult:
    seed, nodes, partitions, steps = args
    return NodeWorld(seed, nodes=nodes, partitions=partitions, steps=steps).run()


def cmd_nodes(ns: argparse.Namespace) -> int:
    shape = (ns.nodes, ns.partitions, ns.steps)
    if ns.trace:
        world = NodeWorld(
            ns.start_seed,
            nodes=ns.nodes,
            partitions=ns.partitions,
            steps=ns.steps,
            keep_trace=True,
        )
        result = world.run()
        for line in result.trace or []:
            print(line)
        print(json.dumps({"seed": ns.start_seed, "violations": result.violations}))
        return 1 if result.violations else 0
    started = time.perf_counter()
    jobs = [(s, *shape) for s in range(ns.start_seed, ns.start_seed + ns.seeds)]
    if ns.jobs > 1:
        with ProcessPoolExecutor(ns.jobs) as pool:
            results = list(pool.map(run_nodes_one, jobs, chunksize=4))
    else:
        results = [run_nodes_one(job) for job in jobs]
    failed = [r for r in results if r.violations]
    for r in failed:
        print(f"seed {r.seed} FAILED: {r.violations[0]}", file=sys.stderr)
        replay = f"python -m raydynamo.sim nodes --trace --start-seed {r.seed}"
        replay += f" --nodes {ns.nodes} --partitions {ns.partitions} --steps {ns.steps}"
        print(f"  replay: {replay}", file=sys.stderr)
    summary = {
        "runs": len(results),
        "nodes": ns.nodes,
        "partitions": ns.partitions,
        "start_seed": ns.start_seed,
        "steps": sum(r.steps for r in results),
        "violations": sum(len(r.violations) for r in results),
        "failed_seeds": [r.seed for r in failed],
        "acked_writes": sum(r.acked for r in results),
        "indeterminate_writes": sum(r.indeterminate for r in results),
        "strong_reads": sum(r.strong_reads for r in results),
        "applied_slots": sum(r.applied_slots for r in results),
        "disk_faults": sum(r.disk_faults for r in results),
        "corrupt_frames": sum(r.corrupt_frames for r in results),
        "foreign_frames": sum(r.foreign_frames for r in results),
        "crashes": sum(r.crashes for r in results),
        "reconfigurations": sum(r.reconfigurations for r in results),
        "former_nodes_readded": sum(r.former_nodes_readded for r in results),
        "snapshot_transfers_started": sum(r.snapshot_transfers_started for r in results),
        "snapshot_transfers_completed": sum(r.snapshot_transfers_completed for r in results),
        "snapshot_chunks_sent": sum(r.snapshot_chunks_sent for r in results),
        "snapshots_installed": sum(r.snapshots_installed for r in results),
        "snapshot_transfers_multichunk": sum(r.snapshot_transfers_multichunk for r in results),
        "runs_with_multichunk_snapshots": sum(
            1 for r in results if r.snapshot_transfers_multichunk
        ),
        "crashes_mid_transfer": sum(r.crashes_mid_transfer for r in results),
        "trace_digest": _digest(r.trace_digest for r in results),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(summary))
    return 1 if failed else 0


def _digest(digests: Iterable[int]) -> int:
    out = 0
    for digest in digests:
        out = zlib.crc32(digest.to_bytes(4, "big"), out)
    return out


def cmd_check(ns: argparse.Namespace) -> int:
    from raydynamo.sim.model_check import run_check

    return run_check(depth=ns.depth, states_max=ns.states_max)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raydynamo.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="seeded randomized simulation runs")
    run.add_argument("--seeds", type=int, default=100)
    run.add_argument("--start-seed", type=int, default=0)
    run.add_argument("--replicas", type=int, choices=(3, 5), default=3)
    run.add_argument("--steps", type=int, default=1200)
    run.add_argument("--jobs", type=int, default=1, help="worker processes")
    run.add_argument("--trace", action="store_true", help="print the trace of --start-seed")
    run.set_defaults(func=cmd_run)
    nodes = sub.add_parser("nodes", help="seeded runs of storage nodes on the real node core")
    nodes.add_argument("--seeds", type=int, default=100)
    nodes.add_argument("--start-seed", type=int, default=0)
    nodes.add_argument("--nodes", type=int, default=5, help="storage nodes (at least 3)")
    nodes.add_argument("--partitions", type=int, default=4, help="partitions, 3 replicas each")
    nodes.add_argument("--steps", type=int, default=1200)
    nodes.add_argument("--jobs", type=int, default=1, help="worker processes")
    nodes.add_argument("--trace", action="store_true", help="print the trace of --start-seed")
    nodes.set_defaults(func=cmd_nodes)
    check = sub.add_parser("check", help="exhaustive model check of a small configuration")
    check.add_argument("--depth", type=int, default=None)
    check.add_argument("--states-max", type=int, default=None)
    check.set_defaults(func=cmd_check)
    ns = parser.parse_args(argv)
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
