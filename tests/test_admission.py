"""The admission core (``raydynamo.admission``): token buckets with debt and overflow, a
partition's allocated/burst/hard-limit buckets, GAC's table ledger and a router's grants, and the
paper's skew lesson on the simulated workload (``sim.admission_skew``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raydynamo.admission.buckets import TokenBucket
from raydynamo.admission.gac import Grant, RouterTokens, TableLedger
from raydynamo.admission.partition import PartitionBuckets, Verdict
from raydynamo.admission.rates import TableCapacity, ledger_for, throttle_error
from raydynamo.sim.admission_skew import SkewWorkload, run_skew


def test_a_bucket_refills_up_to_its_capacity_and_reports_the_overflow() -> None:
    bucket = TokenBucket.empty(10.0, 20.0, now_s=0.0)
    assert bucket.refill(1.0) == 0.0 and bucket.tokens == 10.0
    assert bucket.refill(3.0) == pytest.approx(10.0)  # 20 earned, room for 10
    assert bucket.tokens == 20.0
    assert bucket.refill(2.0) == 0.0 and bucket.tokens == 20.0  # time going back earns nothing


def test_a_charge_may_leave_a_debt_that_blocks_until_repaid() -> None:
    bucket = TokenBucket.full(10.0, 10.0, now_s=0.0)
    bucket.charge(25.0)
    assert not bucket.has_tokens()
    bucket.refill(1.5)
    assert not bucket.has_tokens()  # -15 + 15 = 0: still not positive
    bucket.refill(1.6)
    assert bucket.has_tokens()


def test_burst_starts_empty_and_fills_from_unused_allocated_capacity() -> None:
    buckets = PartitionBuckets.create(100.0, 1000.0, now_s=0.0, burst_window_s=300.0)
    assert buckets.burst.tokens == 0.0
    buckets.admit(10.0)  # idle for 10 s with a full allocated bucket: all of it overflowed
    assert buckets.burst.tokens == pytest.approx(1000.0)
    buckets.admit(10_000.0)
    assert buckets.burst.tokens == pytest.approx(30_000.0)  # at most 300 s of the share


def test_a_partition_serves_its_share_plus_its_burst_then_throttles() -> None:
    buckets = PartitionBuckets.create(100.0, 1000.0, now_s=0.0)
    buckets.admit(4.0)  # 400 units of burst saved
    admitted = 0
    now_s = 4.0
    while buckets.admit(now_s) is Verdict.ADMITTED:
        buckets.charge(1.0, now_s)
        admitted += 1
    assert admitted == 500  # one second of share plus the burst saved
    assert buckets.admit(now_s) is Verdict.THROTTLED
    assert buckets.admit(now_s + 0.02) is Verdict.ADMITTED  # the refill lets some through


def test_the_hard_limit_holds_whatever_the_share() -> None:
    buckets = PartitionBuckets.create(5000.0, 1000.0, now_s=0.0)
    served = 0
    refused = set()
    for step in range(3000):  # 3,000 one-unit writes in one second
        now_s = step / 3000
        verdict = buckets.admit(now_s)
        if verdict is Verdict.ADMITTED:
            buckets.charge(1.0, now_s)
            served += 1
        else:
            refused.add(verdict)
    assert 1900 <= served <= 2001  # the second held plus the second earned
    assert refused == {Verdict.OVER_PARTITION_LIMIT}


@given(st.lists(st.tuples(st.floats(0.0, 0.5), st.floats(0.1, 50.0)), min_size=1, max_size=200))
def test_a_partition_never_serves_more_than_its_limit_allows(
    steps: list[tuple[float, float]],
) -> None:
    limit = 100.0
    buckets = PartitionBuckets.create(1000.0, limit, now_s=0.0)
    now_s = 0.0
    served_before_last = 0.0
    last_units = 0.0
    for gap_s, units in steps:
        now_s += gap_s
        if buckets.admit(now_s) is Verdict.ADMITTED:
            buckets.charge(units, now_s)
            served_before_last += last_units
            last_units = units
    # What was admitted before the last request fits in the second held plus what was earned.
    assert served_before_last <= limit + limit * now_s + 1e-6


def test_the_ledger_grants_no_more_than_the_table_earns() -> None:
    ledger = TableLedger(100.0, now_s=0.0, grant_ttl_s=2.0)
    granted = 0.0
    for step in range(1, 101):  # ten routers asking for 1,000 units each, every 0.1 s, 10 s
        now_s = step / 10
        granted += ledger.request(f"r{step % 10}", 1000.0, now_s).units
    assert granted <= 100.0 + 100.0 * 10.0 + 1e-6
    assert granted >= 100.0 * 9.0


def test_a_scarce_ledger_shares_in_proportion_to_what_was_asked() -> None:
    ledger = TableLedger(100.0, now_s=0.0, grant_ttl_s=5.0)
    ledger.request("big", 300.0, 0.0)  # takes what it can of the 100 held
    ledger.bucket.tokens = 100.0  # a known balance for the next two
    small = ledger.request("small", 100.0, 0.0)
    assert small.units == pytest.approx(25.0)  # 100 x 100 / (300 + 100)


def test_a_router_that_left_no_longer_counts_against_the_share() -> None:
    ledger = TableLedger(100.0, now_s=0.0, grant_ttl_s=1.0)
    ledger.request("gone", 1000.0, 0.0)
    ledger.bucket.tokens = 50.0
    grant = ledger.request("here", 40.0, 5.0)  # "gone" asked 5 s ago, past the grant's life
    assert grant.units == pytest.approx(40.0)


def test_a_router_admits_only_on_a_live_grant_with_tokens() -> None:
    tokens = RouterTokens(refresh_s=1.0)
    assert tokens.needs_grant(0.0) and not tokens.admit(1.0, 0.0)  # no grant yet
    tokens.units_to_ask(0.0)
    tokens.accept(Grant(2.0, expires_s=2.0), 0.0)
    assert not tokens.needs_grant(0.1)
    assert tokens.admit(1.0, 0.1) and tokens.admit(1.0, 0.2)
    assert not tokens.admit(1.0, 0.3)  # spent
    assert tokens.needs_grant(0.3)  # the grant was all it asked for: ask again, do not throttle
    tokens.units_to_ask(0.3)
    tokens.accept(Grant(5.0, expires_s=2.0), 0.4)
    assert not tokens.admit(1.0, 2.0)  # expired
    assert tokens.needs_grant(2.0)


def test_a_router_whose_ledger_ran_short_throttles_between_asks() -> None:
    tokens = RouterTokens(refresh_s=1.0, units_min=10.0)
    assert tokens.units_to_ask(0.0) == 10.0
    tokens.accept(Grant(1.0, expires_s=2.0), 0.0)  # the table had 1 of the 10 asked for
    assert tokens.short and tokens.admit(1.0, 0.01)
    assert not tokens.needs_grant(0.05) and not tokens.admit(1.0, 0.05)  # throttled
    assert tokens.needs_grant(0.11)  # a tenth of the period later it may ask again


def test_a_router_asks_for_what_it_is_offered_and_pays_its_debt() -> None:
    tokens = RouterTokens(refresh_s=1.0, headroom=1.0, demand_half_life_s=0.001)
    tokens.accept(Grant(1.0, expires_s=10.0), 0.0)
    for step in range(1, 51):  # 50 units offered over 1 s
        tokens.admit(1.0, step / 50)
    tokens.charge(3.0)  # the last admitted request cost more than expected
    assert tokens.tokens == pytest.approx(-3.0)
    asked = tokens.units_to_ask(1.0)
    assert 40.0 <= asked <= 60.0 + 3.0
    tokens.accept(Grant(asked, expires_s=3.0), 1.0)
    assert tokens.tokens == pytest.approx(asked - 3.0)


def test_the_skew_lesson_even_split_throttles_and_gac_does_not() -> None:
    # ATC'22: a 400-unit table of 4 partitions, 300 writes/s, 80% on one key. Split evenly, the
    # hot partition has 100/s and throttles about half the writes; with GAC the table's 400/s
    # serve them all.
    workload = SkewWorkload(seconds=30, seed=7)
    static = run_skew(workload, "static")
    gac = run_skew(workload, "gac")
    assert static.offered == gac.offered > 8000
    assert static.throttled_fraction > 0.25
    assert gac.throttled_fraction < 0.02
    assert max(gac.throttled_per_s[5:]) < 0.02  # steady once the routers hold grants


def test_gac_still_enforces_the_table_rate_when_flooded() -> None:
    workload = SkewWorkload(
        table_units_per_s=50.0, partitions=1, writes_per_s=400.0, hot_fraction=0.0, seconds=30
    )
    result = run_skew(workload, "gac")
    admitted_per_s = (result.offered - result.throttled) / workload.seconds
    assert 45.0 <= admitted_per_s <= 50.0 * 1.15  # the rate plus the second the ledger held


def test_an_on_demand_ledger_grows_to_twice_its_peak() -> None:
    ledger = TableLedger(100.0, now_s=0.0, follows_peak=True)
    now_s = 0.0
    for _ in range(40):  # ask for more than there is, every 0.1 s, for 4 s
        now_s += 0.1
        ledger.request("r", 1000.0, now_s)
    assert ledger.rate_per_s > 150.0  # the peak granted (about 100/s) doubled
    fixed = TableLedger(100.0, now_s=0.0)
    for step in range(1, 41):
        fixed.request("r", 1000.0, step / 10)
    assert fixed.rate_per_s == 100.0


def test_static_mode_splits_a_provisioned_table_evenly_and_gac_keeps_it_whole() -> None:
    capacity = TableCapacity("PROVISIONED", read_units=400, write_units=100, partitions=4)
    static = ledger_for("static", "t", capacity, "read", "p2", on_demand_initial_per_s=1.0)
    gac = ledger_for("gac", "t", capacity, "write", "p2", on_demand_initial_per_s=1.0)
    assert (static.key, static.rate_per_s) == ("t/read/p2", 100.0)
    assert (gac.key, gac.rate_per_s, gac.follows_peak) == ("t/write", 100.0, False)
    assert throttle_error(capacity).code == "ProvisionedThroughputExceededException"
    on_demand = TableCapacity("PAY_PER_REQUEST", 0, 0, partitions=4)
    spec = ledger_for("static", "t", on_demand, "write", "p2", on_demand_initial_per_s=4000.0)
    assert (spec.key, spec.rate_per_s, spec.follows_peak) == ("t/write", 4000.0, True)
    assert throttle_error(on_demand).code == "ThrottlingException"


def test_a_debt_outlives_its_grant_and_unspent_units_do_not() -> None:
    tokens = RouterTokens(refresh_s=1.0, headroom=1.0, units_min=1.0)
    tokens.units_to_ask(0.0)
    tokens.accept(Grant(1.0, expires_s=2.0), 0.0)
    assert tokens.admit(1.0, 0.1)
    tokens.charge(24.0)  # a batch of 25 units admitted on one
    assert tokens.units_to_ask(5.0) >= 24.0  # long after the grant expired, the debt is owed
    tokens.accept(Grant(4.0, expires_s=7.0), 5.0)
    assert tokens.tokens == pytest.approx(-20.0) and not tokens.admit(1.0, 5.1)
    spare = RouterTokens(refresh_s=1.0)
    spare.units_to_ask(0.0)
    spare.accept(Grant(50.0, expires_s=2.0), 0.0)
    spare.units_to_ask(3.0)
    spare.accept(Grant(1.0, expires_s=5.0), 3.0)
    assert spare.tokens == pytest.approx(1.0)  # the 50 unspent expired with their grant
