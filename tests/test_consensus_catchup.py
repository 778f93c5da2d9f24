"""Catch-up between replicas: one chain of requests per lagging replica, never a storm.

Found by the seeded simulation (seed 1100, 3 replicas): a lagging member answered every CatchUp it
received with a new CatchUpRequest at once, so each request chain lived forever and every
duplicated reply started another; in-flight CatchUps passed 100,000 within 300 steps.
"""

from __future__ import annotations

from raydynamo.consensus.messages import CatchUp, CatchUpRequest
from raydynamo.consensus.replica import Replica
from raydynamo.consensus.types import Settings
from raydynamo.sim.world import SimWorld

SETTINGS = Settings(
    heartbeat_interval_s=0.1,
    lease_duration_s=1.0,
    election_timeout_s=2.0,
    election_jitter_s=0.5,
    retransmit_interval_s=0.05,
    clock_drift_max=0.01,
    slots_in_flight_max=4,
    batch_commands_max=4,
    catchup_entries_max=2,
    log_retained_slots=50,
    handoff_timeout_s=0.2,
    batch_bytes_max=4 << 20,
    pending_commands_max=1_000,
    leases_enabled=True,
)


def catchup_requests(replica: Replica) -> list[CatchUpRequest]:
    return [m for _, m in replica.ready().messages if isinstance(m, CatchUpRequest)]


def test_a_catch_up_that_teaches_something_asks_for_the_next_batch_at_once() -> None:
    follower = Replica("r1", ("r0", "r1", "r2"), SETTINGS, seed=1, now=0.0)
    follower.step(CatchUp("r0", ((1, (b"a",)), (2, (b"b",))), chosen_through=6), now=0.001)
    assert [r.from_slot for r in catchup_requests(follower)] == [3]
    follower.step(CatchUp("r0", ((3, (b"c",)), (4, (b"d",))), chosen_through=6), now=0.002)
    assert [r.from_slot for r in catchup_requests(follower)] == [5]


def test_a_duplicate_catch_up_does_not_start_another_request() -> None:
    follower = Replica("r1", ("r0", "r1", "r2"), SETTINGS, seed=1, now=0.0)
    batch = CatchUp("r0", ((1, (b"a",)), (2, (b"b",))), chosen_through=6)
    follower.step(batch, now=0.001)
    assert len(catchup_requests(follower)) == 1
    follower.step(batch, now=0.002)  # the network delivered it twice
    assert catchup_requests(follower) == []
    # Still behind once the retransmit interval has passed: it asks again, from where it is.
    follower.step(batch, now=0.001 + SETTINGS.retransmit_interval_s)
    assert [r.from_slot for r in catchup_requests(follower)] == [3]


def test_the_seed_that_found_the_storm_keeps_the_network_small() -> None:
    world = SimWorld(1100, 3)
    peak = 0
    step_once = world._step

    def step_and_measure(*, faults: bool) -> None:
        nonlocal peak
        step_once(faults=faults)
        peak = max(peak, len(world.network.queue))

    world._step = step_and_measure  # type: ignore[method-assign]
    result = world.run()
    assert result.violations == []
    assert peak < 2_000, f"{peak} messages in flight at once"
