"""``python -m bench`` (``make bench``): every benchmark in turn, each printing JSON lines.

replication, ycsb, bulk (BatchWriteItem and write_table), cold_router, failover.

Each benchmark starts and stops its own local Ray. ``--quick`` shortens every run.
"""

from __future__ import annotations

import sys

from bench import bulk, cold_router, failover, replication, ycsb


def main(argv: list[str]) -> None:
    quick = ["--quick"] if "--quick" in argv else []
    replication.main(quick)
    ycsb.main(quick)
    bulk.main(quick)
    cold_router.main(quick)
    failover.main(["--reps", "2"] if quick else [])


if __name__ == "__main__":
    main(sys.argv[1:])
