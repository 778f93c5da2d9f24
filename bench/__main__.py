"""``python -m bench`` (``make bench``): every benchmark in turn, each printing JSON lines.

replication, ycsb, op_cost (CPU per PutItem and GetItem by process role), bulk
(BatchWriteItem and write_table), cold_router, failover, admission (the skew lesson: static
split against global admission control; a flooded table), wire (boto3 over
HTTP against ``raydynamo serve`` and ``moto_server``).

Each benchmark starts and stops its own local Ray (or servers). ``--quick`` shortens every run.
Every benchmark's JSON lines also go to ``<results>/<name>.jsonl`` (``bench/results/`` unless
``--results DIR``; git-ignored), which ``python -m bench.plots DIR`` draws as PNG plots (``make
bench`` does both). ``--only NAME[,NAME]`` runs some of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bench import admission, bulk, cold_router, failover, op_cost, replication, wire, ycsb
from bench.common import log, recording

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def benchmarks(quick: bool) -> dict[str, Callable[[], None]]:
    flag = ["--quick"] if quick else []
    return {
        "replication": lambda: replication.main(flag),
        "ycsb": lambda: ycsb.main(flag),
        "op_cost": lambda: op_cost.main(flag),
        "bulk": lambda: bulk.main(flag),
        "cold_router": lambda: cold_router.main(flag),
        "failover": lambda: failover.main(["--reps", "2"] if quick else []),
        "admission": lambda: admission.main(flag),
        "wire": lambda: wire.main(flag),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where *.jsonl go")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    ns = parser.parse_args(argv)
    runs = benchmarks(ns.quick)
    chosen = [name for name in ns.only.split(",") if name] or list(runs)
    unknown = sorted(set(chosen) - set(runs))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {sorted(runs)}")
    for name in chosen:
        path = ns.results / f"{name}.jsonl"
        with recording(os.fspath(path)):
            runs[name]()
        log(f"bench: {name} figures in {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
