"""The node simulation: the real storage node core under disk, frame and crash faults.

CI (``CI=true``) runs a bounded form (200 seeds of 5 nodes and 4 partitions); a local run fewer.
``python -m raydynamo.sim nodes --seeds 2000 --jobs 2`` is the full run. The checker must also
catch cores broken the ways finding-by-finding the storage node once was (a node that carries on
after a failed write, a retried request applied twice, votes acknowledged before they are
durable, a corrupted frame obeyed).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from raydynamo.node import core as node_core
from raydynamo.node import snapshots as node_snapshots
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.sim.__main__ import main as sim_main
from raydynamo.sim.__main__ import run_nodes_one
from raydynamo.sim.node_world import NodeWorld
from raydynamo.storage.engine import WriteBatch
from tests.conftest import in_ci

SEEDS = 200 if in_ci() else 40


def test_seeded_node_runs_find_no_violation_with_every_fault_injected() -> None:
    jobs = [(seed, 5, 4, 1200) for seed in range(SEEDS)]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(run_nodes_one, jobs, chunksize=4))
    failed = {r.seed: r.violations[0] for r in results if r.violations}
    assert failed == {}
    # Real work, and every kind of fault actually injected, or "no violation" means nothing.
    assert sum(r.acked for r in results) > 200 * SEEDS
    assert sum(r.strong_reads for r in results) > 100 * SEEDS
    assert sum(r.disk_faults for r in results) > SEEDS
    assert sum(r.corrupt_frames for r in results) > SEEDS
    assert sum(r.foreign_frames for r in results) > SEEDS
    assert sum(r.crashes for r in results) > SEEDS
    assert sum(r.reconfigurations for r in results) > SEEDS
    # Nodes that hosted a partition before are added again, as new members (member ids).
    assert sum(r.former_nodes_readded for r in results) > SEEDS // 4
    # Snapshots of several chunks in most runs, with nodes crashing in the middle of them.
    assert sum(r.snapshot_transfers_completed for r in results) > 3 * SEEDS
    assert sum(r.snapshots_installed for r in results) > 3 * SEEDS
    assert sum(1 for r in results if r.snapshot_transfers_multichunk) > SEEDS // 2
    assert sum(r.crashes_mid_transfer for r in results) > SEEDS


@pytest.mark.parametrize("seed", [295, 968, 1643])
def test_a_joining_member_is_not_kept_waiting_by_a_snapshot_to_a_removed_one(seed: int) -> None:
    # Seeds of the 2,000-seed runs that found two such stalls. 968 and 1643: the leader served
    # a snapshot to a member removed from the group, which held the node's only transfer slot
    # until the stall timeout. 295: a receiver restarted mid-transfer, a delayed first chunk
    # opened it again, and the next chunk (past a gap) was dropped silently instead of refused.
    # Either way the joining member had applied nothing when the run ended.
    result = run_nodes_one((seed, 5, 4, 1200))
    assert result.violations == []


def test_same_seed_gives_same_run() -> None:
    first = NodeWorld(7, keep_trace=True).run()
    second = NodeWorld(7, keep_trace=True).run()
    assert first.trace == second.trace
    assert first == second
    assert NodeWorld(8).run().trace_digest != first.trace_digest


def test_cli_prints_one_json_line_with_the_fault_counts(capsys: pytest.CaptureFixture) -> None:
    code = sim_main(["nodes", "--seeds", "2", "--nodes", "4", "--partitions", "3"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    for key in ("runs", "steps", "violations", "disk_faults", "corrupt_frames", "crashes"):
        assert key in summary
    for key in ("snapshot_transfers_started", "snapshot_transfers_completed"):
        assert key in summary
    assert summary["runs"] == 2 and summary["violations"] == 0 and summary["steps"] == 2400


def caught_within(seeds: int) -> bool:
    """Whether some run of the first ``seeds`` finds a violation (stops at the first)."""
    return any(NodeWorld(seed).run().violations for seed in range(seeds))


def test_checker_catches_a_retry_applied_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state machine that forgets request ids applies a retried increment again."""
    original = PartitionStateMachine.apply_slot

    def forgetful(self, view, slot, value):  # type: ignore[no-untyped-def]
        batch, results = original(self, view, slot, value)
        batch.delete_range(self.keys.dedup_prefix, self.keys.dedup_prefix + b"\xff")
        return batch, results

    monkeypatch.setattr(PartitionStateMachine, "apply_slot", forgetful)
    assert caught_within(20), "a retry applied twice went unnoticed"


def test_checker_catches_a_node_that_carries_on_after_a_failed_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 2: a node that logs a failed persist and goes on answers for records it never
    stored (the old flush loop did this)."""
    original = node_core.NodeCore._write

    def carry_on(self, batch, *, sync):  # type: ignore[no-untyped-def]
        try:
            original(self, batch, sync=sync)
        except node_core.NodeFailure:
            self.failed = None  # pretend nothing happened

    monkeypatch.setattr(node_core.NodeCore, "_write", carry_on)
    assert caught_within(20), "a node carrying on after a failed write went unnoticed"


def test_checker_catches_votes_answered_before_they_are_durable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every message sent before the round's records are persisted (not only the leader's
    Accepts): a crash then forgets votes a leader already counted."""
    monkeypatch.setattr(node_core, "may_precede_persist", lambda message: True)
    original = node_core.NodeCore._persist

    def unsynced(self, readies):  # type: ignore[no-untyped-def]
        for _, ready in readies:
            ready.sync = False
        original(self, readies)

    monkeypatch.setattr(node_core.NodeCore, "_persist", unsynced)
    assert caught_within(20), "votes lost in a crash went unnoticed"


def test_checker_catches_a_core_that_a_corrupted_frame_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 4: a checksum mismatch escaping the frame decoder ended the core thread."""
    from raydynamo.consensus import codec
    from raydynamo.storage.checksum import unseal

    def decode_unguarded(frame: bytes):  # type: ignore[no-untyped-def]
        unseal(frame)  # raises ChecksumMismatch, which the core must never let out
        return codec.decode_batch(frame)

    monkeypatch.setattr(node_core, "decode_batch", decode_unguarded)
    monkeypatch.setattr(node_core, "ChecksumMismatch", LookupError)  # the old, narrower except
    assert caught_within(20), "a corrupted frame stopping the core went unnoticed"


def test_checker_catches_a_snapshot_that_loses_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver that stages only part of each chunk installs a state its peers never had."""
    original = node_snapshots.stage_batch

    def lossy(staging, pairs, *, first):  # type: ignore[no-untyped-def]
        return original(staging, pairs[:-1], first=first)

    monkeypatch.setattr(node_snapshots, "stage_batch", lossy)
    assert caught_within(20), "a snapshot that lost pairs went unnoticed"


def test_checker_catches_an_install_that_keeps_the_old_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica that takes a snapshot's slot but not its data skips every slot in between."""
    original = node_snapshots.SnapshotsMixin._install

    def slot_only(self, hosted, snapshot):  # type: ignore[no-untyped-def]
        live, machine = hosted.keys, hosted.machine
        original(self, hosted, snapshot)
        hosted.keys, hosted.machine = live, machine
        return WriteBatch()

    monkeypatch.setattr(node_snapshots.SnapshotsMixin, "_install", slot_only)
    assert caught_within(20), "an install that kept the old data went unnoticed"


def test_checker_catches_a_former_member_added_again_under_its_old_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by this simulation: a node added again to a group it had left, under its old id,
    is an acceptor that forgot. A member that missed the removal and the re-addition counts it
    in the configuration it knows, wins an election with it and overwrites chosen slots. Member
    ids (``metadata.member_ids``) make every added replica a new member."""
    from raydynamo.sim import node_reconfig

    monkeypatch.setattr(node_reconfig, "new_member_id", lambda node_id, token=None: node_id)
    assert any(NodeWorld(seed).run().violations for seed in range(100, 400)), (
        "re-adding a member under its old id went unnoticed"
    )
