"""The pure side of metrics (``raydynamo.metrics``, ``node/load.py``): what is counted, and the
points a drain hands to Ray. No Ray here."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from raydynamo.actors.metrics import Flusher
from raydynamo.api.errors import (
    ConditionalCheckFailedException,
    ProvisionedThroughputExceededException,
)
from raydynamo.metrics import (
    INVALID_TABLE,
    NO_TABLE,
    NODE_FSYNC_LATENCY,
    NODE_LEADERS,
    NODE_PEER_OUTBOX,
    NODE_REPLICAS,
    OTHER,
    READ_UNITS,
    REQUEST_ERRORS,
    REQUEST_LATENCY,
    REQUEST_LATENCY_BOUNDARIES_S,
    REQUESTS,
    THROTTLES,
    WRITE_UNITS,
    BucketTally,
    FsyncTally,
    Point,
    RequestTally,
    measured,
    node_points,
)
from raydynamo.node.load import NodeLoad
from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.rocks import RocksEngine
from tests.node_harness import LocalCluster
from tests.test_layering import PACKAGE, imported_modules
from tests.test_node_host import put, started


def by_series(points: list[Point]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Counter and gauge values by (series, tags); histogram samples as value x times summed."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for p in points:
        key = (p.series.name, p.tags)
        out[key] = out.get(key, 0.0) + p.value * (p.times if p.series.kind == "histogram" else 1)
    return out


def op_table(operation: str, table: str) -> tuple[tuple[str, str], ...]:
    return (("operation", operation), ("table", table))


def test_a_successful_write_counts_the_request_its_latency_and_its_units() -> None:
    tally = RequestTally()
    response = {"ConsumedCapacity": {"TableName": "Music", "CapacityUnits": 2.0}}
    tally.record("PutItem", {"TableName": "Music"}, 0.003, response=response)
    tally.record("PutItem", {"TableName": "Music"}, 0.004, response=response)
    got = by_series(tally.drain())
    tags = op_table("PutItem", "Music")
    assert got[(REQUESTS.name, tags)] == 2
    assert got[(WRITE_UNITS.name, tags)] == 4.0
    assert (READ_UNITS.name, tags) not in got
    assert got[(REQUEST_LATENCY.name, tags)] == pytest.approx(0.007)
    assert tally.drain() == []  # a drain starts a new window


def test_reads_count_read_units_and_errors_count_by_code() -> None:
    tally = RequestTally()
    tally.record(
        "Query",
        {"TableName": "Music"},
        0.001,
        response={"ConsumedCapacity": {"TableName": "Music", "CapacityUnits": 0.5}},
    )
    tally.record("PutItem", {"TableName": "Music"}, 0.002, code="ConditionalCheckFailedException")
    tally.record("PutItem", {"TableName": "Music"}, 0.002, code="ThrottlingException")
    got = by_series(tally.drain())
    assert got[(READ_UNITS.name, op_table("Query", "Music"))] == 0.5
    put_tags = op_table("PutItem", "Music")
    assert got[(REQUESTS.name, put_tags)] == 2
    assert got[(REQUEST_ERRORS.name, (*put_tags, ("code", "ConditionalCheckFailedException")))] == 1
    assert got[(REQUEST_ERRORS.name, (*put_tags, ("code", "ThrottlingException")))] == 1
    assert got[(THROTTLES.name, put_tags)] == 1  # only the throttling error is a throttle
    assert (WRITE_UNITS.name, put_tags) not in got


def test_a_batch_counts_once_per_table_and_unprocessed_items_are_throttles() -> None:
    tally = RequestTally()
    request = {"RequestItems": {"A_table": [{}], "B_table": [{}]}}
    response = {
        "UnprocessedItems": {"B_table": [{"PutRequest": {}}]},
        "ConsumedCapacity": [
            {"TableName": "A_table", "CapacityUnits": 3.0},
            {"TableName": "B_table", "CapacityUnits": 1.0},
        ],
    }
    tally.record("BatchWriteItem", request, 0.01, response=response)
    got = by_series(tally.drain())
    for table, units in (("A_table", 3.0), ("B_table", 1.0)):
        assert got[(REQUESTS.name, op_table("BatchWriteItem", table))] == 1
        assert got[(WRITE_UNITS.name, op_table("BatchWriteItem", table))] == units
    assert got[(THROTTLES.name, op_table("BatchWriteItem", "B_table"))] == 1
    assert (THROTTLES.name, op_table("BatchWriteItem", "A_table")) not in got


def test_tag_values_are_bounded() -> None:
    tally = RequestTally(tables_max=2, codes_max=1)
    for name in ("t_one", "t_two", "t_three", "t_one"):
        tally.record("GetItem", {"TableName": name}, 0.001, code="ResourceNotFoundException")
    tally.record("GetItem", {"TableName": "no spaces allowed"}, 0.001, code="ValidationException")
    tally.record("ListTables", {}, 0.001, response={"TableNames": []})
    tally.record("NoSuchOperation", {"TableName": "t_one"}, 0.001, code="ValidationException")
    got = by_series(tally.drain())
    requests = {tags: v for (name, tags), v in got.items() if name == REQUESTS.name}
    assert requests == {
        op_table("GetItem", "t_one"): 2,
        op_table("GetItem", "t_two"): 1,
        op_table("GetItem", OTHER): 1,  # past two table names
        op_table("GetItem", INVALID_TABLE): 1,
        op_table("ListTables", NO_TABLE): 1,
        op_table(OTHER, "t_one"): 1,  # an operation nobody serves
    }
    codes = {tags[2][1] for (name, tags) in got if name == REQUEST_ERRORS.name}
    assert codes == {"ResourceNotFoundException", OTHER}  # past one code


def bucket_counts(points: list[Point], boundaries: tuple[float, ...]) -> list[int]:
    """The cumulative bucket counts Prometheus would show for ``points`` (``value <= le``)."""
    counts = [0] * (len(boundaries) + 1)
    for p in points:
        index = next((i for i, b in enumerate(boundaries) if p.value <= b), len(boundaries))
        counts[index] += p.times
    return counts


def test_histogram_drain_keeps_buckets_count_and_sum_exact() -> None:
    boundaries = (0.001, 0.01, 0.1)
    samples = [0.0002, 0.001, 0.0011, 0.005, 0.1, 0.1, 0.1, 0.5, 7.0]
    tally = BucketTally(boundaries)
    for s in samples:
        tally.observe(s)
    points = tally.points(REQUEST_LATENCY, ())
    expected = [0] * (len(boundaries) + 1)
    for s in samples:
        expected[next((i for i, b in enumerate(boundaries) if s <= b), len(boundaries))] += 1
    assert bucket_counts(points, boundaries) == expected  # three 0.1s stay in le=0.1
    assert sum(p.times for p in points) == len(samples)
    assert math.isclose(sum(p.value * p.times for p in points), sum(samples), rel_tol=1e-12)


def test_latency_buckets_are_dynamodb_ish_seconds() -> None:
    assert tuple(sorted(REQUEST_LATENCY_BOUNDARIES_S)) == REQUEST_LATENCY_BOUNDARIES_S
    assert REQUEST_LATENCY_BOUNDARIES_S[0] <= 0.001 and REQUEST_LATENCY_BOUNDARIES_S[-1] >= 5


def run_measured(
    tally: RequestTally, operation: str, request: dict[str, Any], answer: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    async def serve(r: dict[str, Any]) -> dict[str, Any]:
        seen.append(r)
        if isinstance(answer, BaseException):
            raise answer
        return dict(answer)

    ticks = iter([10.0, 10.25])
    result = asyncio.run(measured(tally, operation, request, serve, clock=lambda: next(ticks)))
    return result, seen


def test_measured_asks_for_capacity_and_hides_it_from_a_client_that_did_not() -> None:
    tally = RequestTally()
    request = {"TableName": "Music", "Item": {}}
    units = {"ConsumedCapacity": {"TableName": "Music", "CapacityUnits": 1.0}}
    result, seen = run_measured(tally, "PutItem", request, units)
    assert seen[0]["ReturnConsumedCapacity"] == "TOTAL"
    assert "ReturnConsumedCapacity" not in request  # the caller's request is not changed
    assert "ConsumedCapacity" not in result
    asked = {**request, "ReturnConsumedCapacity": "TOTAL"}
    result, seen = run_measured(tally, "PutItem", asked, units)
    assert result == units  # asked for: kept
    got = by_series(tally.drain())
    tags = op_table("PutItem", "Music")
    assert got[(WRITE_UNITS.name, tags)] == 2.0
    assert got[(REQUEST_LATENCY.name, tags)] == pytest.approx(0.5)  # 0.25 s each


def test_measured_leaves_control_operations_and_refused_values_alone() -> None:
    tally = RequestTally()
    _, seen = run_measured(tally, "DescribeTable", {"TableName": "Music"}, {"Table": {}})
    assert seen == [{"TableName": "Music"}]
    bad = {"TableName": "Music", "ReturnConsumedCapacity": "SOME"}
    _, seen = run_measured(tally, "GetItem", bad, {})
    assert seen == [bad]  # DynamoDB's ValidationException is the operation's to raise


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConditionalCheckFailedException("The conditional request failed"), None),
        (ProvisionedThroughputExceededException("slow down"), None),
        (RuntimeError("a bug"), "InternalServerError"),
    ],
)
def test_measured_counts_an_error_by_its_code_and_raises_it(
    error: Exception, code: str | None
) -> None:
    tally = RequestTally()
    with pytest.raises(type(error)):
        run_measured(tally, "PutItem", {"TableName": "Music"}, error)
    expected = code or error.response["Error"]["Code"]  # type: ignore[attr-defined]
    got = by_series(tally.drain())
    tags = op_table("PutItem", "Music")
    assert got[(REQUEST_ERRORS.name, (*tags, ("code", expected)))] == 1
    assert got[(REQUESTS.name, tags)] == 1
    assert ((THROTTLES.name, tags) in got) == (expected == "ProvisionedThroughputExceededException")


def test_fsync_tally_and_node_points() -> None:
    fsyncs = FsyncTally()
    for seconds in (0.0001, 0.0004, 0.02):
        fsyncs.observe(seconds)
    points = fsyncs.drain("sn1")
    assert {p.series for p in points} == {NODE_FSYNC_LATENCY}
    assert sum(p.times for p in points) == 3
    assert fsyncs.drain("sn1") == []
    load = NodeLoad(
        replicas=4,
        leaders=1,
        log_entries=9,
        pending_proposals=2,
        pending_proposal_bytes=300,
        inbox_items=1,
        inbox_bytes=50,
        peer_outboxes=(("sn2", 3), ("sn3", 0)),
    )
    got = by_series(node_points("sn1", load))
    assert got[(NODE_REPLICAS.name, (("node", "sn1"),))] == 4
    assert got[(NODE_LEADERS.name, (("node", "sn1"),))] == 1
    assert got[(NODE_PEER_OUTBOX.name, (("node", "sn1"), ("peer", "sn2")))] == 3


def test_a_host_reports_its_replicas_leaders_and_log(data_dir: str) -> None:
    cluster: LocalCluster = started(data_dir)
    try:
        leader = cluster.host("a")
        for i in range(5):
            leader.write("p0", [put(f"r{i}", f"k{i}", "v")])
        load = leader.load()
        assert (load.replicas, load.leaders) == (1, 1)
        assert load.log_entries >= 5  # fewer than log_retained_slots: none compacted yet
        assert load.pending_proposals == 0 and load.pending_proposal_bytes == 0
        follower = cluster.host("b").load()
        assert (follower.replicas, follower.leaders) == (1, 0)
    finally:
        cluster.close()


def test_the_rocks_engine_reports_every_wal_sync(tmp_path: Path) -> None:
    synced: list[float] = []
    engine = RocksEngine(
        str(tmp_path / "db"), write_buffer_bytes_max=4 << 20, on_sync=synced.append
    )
    try:
        batch = WriteBatch()
        batch.put(b"k", b"v")
        engine.write(batch, sync=False)
        assert synced == []
        engine.write(batch, sync=True)
        engine.write(WriteBatch(), sync=True)
        assert len(synced) == 2 and all(s >= 0 for s in synced)
    finally:
        engine.close()


def test_a_failing_flush_is_counted_not_raised() -> None:
    def broken() -> list[Point]:
        raise RuntimeError("no")

    flusher = Flusher("test-flusher", 60.0, broken)
    flusher.flush()
    flusher.flush()
    assert flusher.failures == 2


def test_the_pure_metrics_module_imports_neither_ray_nor_rocksdict() -> None:
    for path in (PACKAGE / "metrics.py", PACKAGE / "node" / "load.py"):
        assert imported_modules(path) & {"ray", "rocksdict"} == set()
