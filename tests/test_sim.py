"""The seeded simulation of the consensus core: zero violations, and determinism.

CI (``CI=true``) runs 2000 seeds for 3 and for 5 replicas, as the replication issue requires; a
local run uses fewer so that ``make test`` stays quick. ``python -m raydynamo.sim run`` runs more.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from raydynamo.sim.__main__ import main as sim_main
from raydynamo.sim.__main__ import run_one
from raydynamo.sim.world import SimWorld
from tests.conftest import in_ci

SEEDS = 2000 if in_ci() else 300


@pytest.mark.parametrize("replicas", [3, 5])
def test_seeded_runs_find_no_violation(replicas: int) -> None:
    jobs = [(seed, replicas, 1200) for seed in range(SEEDS)]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(run_one, jobs, chunksize=25))
    failed = {r.seed: r.violations[0] for r in results if r.violations}
    assert failed == {}
    # The runs must have done real work, or "no violation" means nothing.
    assert sum(r.acked_writes for r in results) > 50 * SEEDS
    assert sum(r.strong_reads for r in results) > 50 * SEEDS
    assert sum(r.leader_recoveries for r in results) > SEEDS


def test_same_seed_gives_same_trace() -> None:
    first = SimWorld(17, 3, keep_trace=True).run()
    second = SimWorld(17, 3, keep_trace=True).run()
    assert first.trace == second.trace
    assert first.trace_digest == second.trace_digest
    assert SimWorld(18, 3).run().trace_digest != first.trace_digest


def test_checker_catches_a_broken_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core whose acceptors ignore the leases they granted must be caught within a few seeds."""
    from raydynamo.consensus.replica import Replica

    monkeypatch.setattr(Replica, "_lease_forbids", lambda self, candidate, now: False)
    failing = [seed for seed in range(200) if SimWorld(seed, 3).run().violations]
    assert failing, "the simulator did not notice acceptors breaking their lease promises"


def test_cli_reports_json_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code = sim_main(["run", "--seeds", "5", "--replicas", "3"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["runs"] == 5 and summary["violations"] == 0 and summary["steps"] > 0
