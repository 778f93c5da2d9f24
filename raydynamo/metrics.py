"""The metrics raydynamo publishes: every series, its tags and buckets, and the tallies behind them.

Role: name every series in one place (``Series``: ``REQUEST_SERIES`` for where requests are
served, ``NODE_SERIES`` for storage nodes) and aggregate what the hot paths count in plain
Python, so that a request pays a few dict updates instead of Ray metric records (one costs 2-10
us here, against about 0.3 us for a dict update). A shell (``actors/metrics.py``) drains a tally
once per ``metrics.flush_interval_s`` into ``Point`` values and hands them to
``ray.util.metrics``; a point says what to record, the shell only records it.

Series of a request (tags ``operation``, ``table``; errors also ``code``): every request,
its latency, its errors by DynamoDB error code, the read and write capacity units it consumed,
and whether it was throttled. A batch request naming several tables counts once for each of
them (as DynamoDB's CloudWatch metrics do). Series of a storage node (tag ``node``; outboxes
also ``peer``): replicas, leaders, Paxos log entries kept, queue depths, fsync latency.

Invariants: tag values are bounded (known operations; at most ``TABLE_TAGS_MAX`` table names
and ``CODE_TAGS_MAX`` codes per process, the rest counted as ``(other)``), so a client sending
random table names cannot grow a process's series without bound. A histogram tally keeps per
bucket the count and the sum of its samples; draining it yields, per bucket, the mean of that
bucket's samples to be observed ``times`` times: the exported buckets, count and sum are exact
while memory stays bounded whatever the request rate. Tallies are thread-safe (one lock).

Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from raydynamo.api.errors import ClientError
from raydynamo.node.load import NodeLoad

Kind = Literal["counter", "gauge", "histogram"]
Tags = tuple[tuple[str, str], ...]  # (key, value) pairs in the series' tag key order

# Seconds. DynamoDB answers in single-digit milliseconds; a replicated, fsync'ed write here takes
# a few; the tail goes to seconds under overload or failover (a lease is 1 s by default).
REQUEST_LATENCY_BOUNDARIES_S = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
# Seconds. An fdatasync of the WAL takes tens of microseconds on a fast SSD, milliseconds on a
# disk or a busy machine.
FSYNC_LATENCY_BOUNDARIES_S = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip

TABLE_TAGS_MAX = 1000  # distinct table names one process tags its series with
CODE_TAGS_MAX = 100  # distinct error codes (DynamoDB has a few dozen)
OTHER = "(other)"  # a value past the bound; parentheses: never a valid table name or code
NO_TABLE = "(none)"  # requests that name no table (ListTables)
INVALID_TABLE = "(invalid)"  # a name DynamoDB would refuse (ValidationException)
TABLE_NAME = re.compile(r"[a-zA-Z0-9_.\-]{3,255}")

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
CONTROL_OPERATIONS = frozenset({"CreateTable", "DeleteTable", "DescribeTable", "ListTables"})
OPERATIONS = READ_OPERATIONS | WRITE_OPERATIONS | CONTROL_OPERATIONS
THROTTLE_CODES = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)
UNEXPECTED_CODE = "InternalServerError"  # an exception that is not a ClientError


@dataclass(frozen=True, slots=True)
class Series:
    """One metric as Ray exports it: ``ray_<name>`` (counters ``ray_<name>_total``)."""

    name: str
    kind: Kind
    description: str
    tag_keys: tuple[str, ...]
    boundaries: tuple[float, ...] = ()


OP_TABLE = ("operation", "table")
REQUESTS = Series("raydynamo_requests", "counter", "Requests served.", OP_TABLE)
REQUEST_LATENCY = Series(
    "raydynamo_request_latency_seconds",
    "histogram",
    "Time from a request's arrival at the router to its answer, in seconds.",
    OP_TABLE,
    REQUEST_LATENCY_BOUNDARIES_S,
)
REQUEST_ERRORS = Series(
    "raydynamo_request_errors",
    "counter",
    "Requests answered with an error, by its DynamoDB error code.",
    ("operation", "table", "code"),
)
READ_UNITS = Series(
    "raydynamo_consumed_read_capacity_units",
    "counter",
    "Read capacity units consumed by successful requests.",
    OP_TABLE,
)
WRITE_UNITS = Series(
    "raydynamo_consumed_write_capacity_units",
    "counter",
    "Write capacity units consumed by successful requests.",
    OP_TABLE,
)
THROTTLES = Series(
    "raydynamo_throttled_requests",
    "counter",
    "Requests refused with a throttling error, and batch requests that left items unprocessed.",
    OP_TABLE,
)
REQUEST_SERIES = (REQUESTS, REQUEST_LATENCY, REQUEST_ERRORS, READ_UNITS, WRITE_UNITS, THROTTLES)

NODE = ("node",)
NODE_REPLICAS = Series("raydynamo_node_replicas", "gauge", "Replicas the node hosts.", NODE)
NODE_LEADERS = Series("raydynamo_node_leaders", "gauge", "Replicas here that lead.", NODE)
NODE_LOG_ENTRIES = Series(
    "raydynamo_node_log_entries",
    "gauge",
    "Paxos log entries the node's replicas keep (not yet compacted).",
    NODE,
)
NODE_INBOX_ITEMS = Series(
    "raydynamo_node_inbox_items", "gauge", "Inputs queued for the node's core thread.", NODE
)
NODE_INBOX_BYTES = Series(
    "raydynamo_node_inbox_bytes", "gauge", "Bytes of writes and frames in the inbox.", NODE
)
NODE_PENDING_PROPOSALS = Series(
    "raydynamo_node_pending_proposals",
    "gauge",
    "Client requests proposed by the node's leaders and not yet applied.",
    NODE,
)
NODE_PENDING_BYTES = Series(
    "raydynamo_node_pending_proposal_bytes", "gauge", "Bytes of those requests.", NODE
)
NODE_PEER_OUTBOX = Series(
    "raydynamo_node_peer_outbox_messages",
    "gauge",
    "Messages waiting in the node's outbox to a peer storage node.",
    ("node", "peer"),
)
NODE_FSYNC_LATENCY = Series(
    "raydynamo_node_fsync_latency_seconds",
    "histogram",
    "Time to make the node's write-ahead log durable (one fsync a round), in seconds.",
    NODE,
    FSYNC_LATENCY_BOUNDARIES_S,
)
NODE_SERIES = (
    NODE_REPLICAS,
    NODE_LEADERS,
    NODE_LOG_ENTRIES,
    NODE_INBOX_ITEMS,
    NODE_INBOX_BYTES,
    NODE_PENDING_PROPOSALS,
    NODE_PENDING_BYTES,
    NODE_PEER_OUTBOX,
    NODE_FSYNC_LATENCY,
)
ALL_SERIES = REQUEST_SERIES + NODE_SERIES


@dataclass(frozen=True, slots=True)
class Point:
    """What to record: a counter's increment, a gauge's value, or a histogram sample to observe
    ``times`` times."""

    series: Series
    tags: Tags
    value: float
    times: int = 1

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


class BucketTally:
    """One histogram's samples since the last drain: per bucket, their count and sum."""

    __slots__ = ("boundaries", "counts", "sums")

    def __init__(self, boundaries: tuple[float, ...]) -> None:
        self.boundaries = boundaries
        self.counts = [0] * (len(boundaries) + 1)  # the last bucket: above every boundary
        self.sums = [0.0] * (len(boundaries) + 1)

    def observe(self, value: float) -> None:
        index = _bucket_of(self.boundaries, value)
        self.counts[index] += 1
        self.sums[index] += value

    def points(self, series: Series, tags: Tags) -> list[Point]:
        """Per non-empty bucket, its samples' mean (inside the bucket, so it lands in the same
        bucket) to be observed once per sample: buckets, count and sum come out exact."""
        return [
            Point(series, tags, self._mean(i, count), count)
            for i, count in enumerate(self.counts)
            if count
        ]

    def _mean(self, index: int, count: int) -> float:
        """The mean of bucket ``index``, kept inside it against rounding (three samples of 0.1
        sum to 0.30000000000000004, whose third is above 0.1)."""
        mean = self.sums[index] / count
        if index < len(self.boundaries):
            mean = min(mean, self.boundaries[index])
        if index > 0 and mean <= self.boundaries[index - 1]:
            mean = math.nextafter(self.boundaries[index - 1], math.inf)
        return mean


def _bucket_of(boundaries: tuple[float, ...], value: float) -> int:
    """The index of the bucket ``value`` falls in (Prometheus: ``value <= le``): the first
    boundary not below it."""
    return bisect.bisect_left(boundaries, value)


class TagBound:
    """At most ``values_max`` distinct values; later new ones read as ``OTHER``."""

    def __init__(self, values_max: int) -> None:
        self.values_max = values_max
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) >= self.values_max:
            return OTHER
        self.seen.add(value)
        return value


def tables_of(request: object) -> list[str]:
    """The table names a request names (``TableName``, or the keys of ``RequestItems``)."""
    if not isinstance(request, dict):
        return []
    name = request.get("TableName")
    if isinstance(name, str):
        return [name]
    items = request.get("RequestItems")
    if isinstance(items, dict):
        return [n for n in items if isinstance(n, str)]
    return []


def error_code(err: BaseException) -> str:
    """The DynamoDB error code a client sees for ``err``."""
    if isinstance(err, ClientError):
        return str(err.response["Error"]["Code"])
    return UNEXPECTED_CODE


def capacity_of(response: Mapping[str, Any]) -> dict[str, float]:
    """Units per table of a response's ``ConsumedCapacity`` (an entry, or a list of them)."""
    consumed = response.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed]
    units: dict[str, float] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("TableName"), str):
            name = entry["TableName"]
            units[name] = units.get(name, 0.0) + float(entry.get("CapacityUnits", 0.0))
    return units


def unprocessed_tables(response: Mapping[str, Any]) -> set[str]:
    """Tables a batch response left items or keys of unprocessed."""
    left = response.get("UnprocessedItems") or response.get("UnprocessedKeys")
    if not isinstance(left, dict):
        return set()
    return {name for name, entries in left.items() if entries}


def asking_for_capacity(operation: str, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``request`` made to return its ``ConsumedCapacity``, so that units can be counted; True
    when that was added here (the caller strips it from the response again). A request that
    already asks, or carries a value DynamoDB refuses, is left as it is."""
    if operation not in READ_OPERATIONS and operation not in WRITE_OPERATIONS:
        return request, False
    if not isinstance(request, dict):
        return request, False
    if request.get("ReturnConsumedCapacity", "NONE") != "NONE":
        return request, False
    return {**request, "ReturnConsumedCapacity": "TOTAL"}, True


@dataclass
class _Window:
    """What a tally gathered since its last drain."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    latencies: dict[tuple[str, str], BucketTally] = field(default_factory=dict)
    errors: dict[tuple[str, str, str], int] = field(default_factory=dict)
    read_units: dict[tuple[str, str], float] = field(default_factory=dict)
    write_units: dict[tuple[str, str], float] = field(default_factory=dict)
    throttles: dict[tuple[str, str], int] = field(default_factory=dict)


class RequestTally:
    """Requests counted in plain Python between drains (one per process, any thread)."""

    def __init__(self, tables_max: int = TABLE_TAGS_MAX, codes_max: int = CODE_TAGS_MAX) -> None:
        self.lock = threading.Lock()
        self.window = _Window()
        self.table_tag = TagBound(tables_max)
        self.code_tag = TagBound(codes_max)
        self.table_tags: dict[str, str] = {}  # name -> its tag, for the names already seen

    def _table(self, name: str) -> str:
        tag = self.table_tags.get(name)
        if tag is None:
            tag = self.table_tag(name) if TABLE_NAME.fullmatch(name) else INVALID_TABLE
            if tag != OTHER and len(self.table_tags) < 2 * self.table_tag.values_max:
                self.table_tags[name] = tag  # bounded: valid names and as many invalid ones
        return tag

    def record(
        self,
        operation: str,
        request: object,
        latency_s: float,
        *,
        response: Mapping[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        """One request answered after ``latency_s``: with ``response``, or the error ``code``."""
        op = operation if operation in OPERATIONS else OTHER
        names = tables_of(request)
        with self.lock:
            w = self.window
            tables = [self._table(n) for n in names] or [NO_TABLE]
            for table in tables:
                key = (op, table)
                w.counts[key] = w.counts.get(key, 0) + 1
                bucket = w.latencies.get(key)
                if bucket is None:
                    bucket = w.latencies[key] = BucketTally(REQUEST_LATENCY_BOUNDARIES_S)
                bucket.observe(latency_s)
            if code is not None:
                self._count_error(op, tables, self.code_tag(code))
            elif response is not None:
                self._count_response(op, response)

    def _count_error(self, op: str, tables: list[str], code: str) -> None:
        w = self.window
        for table in tables:
            key = (op, table, code)
            w.errors[key] = w.errors.get(key, 0) + 1
            if code in THROTTLE_CODES:
                w.throttles[(op, table)] = w.throttles.get((op, table), 0) + 1

    def _count_response(self, op: str, response: Mapping[str, Any]) -> None:
        w = self.window
        units = w.read_units if op in READ_OPERATIONS else w.write_units
        for name, consumed in capacity_of(response).items():
            key = (op, self._table(name))
            units[key] = units.get(key, 0.0) + consumed
        for name in unprocessed_tables(response):
            key = (op, self._table(name))
            w.throttles[key] = w.throttles.get(key, 0) + 1

    def drain(self) -> list[Point]:
        """Everything counted since the last drain, as points (and start a new window)."""
        with self.lock:
            w, self.window = self.window, _Window()
        points: list[Point] = []
        for (op, table), count in w.counts.items():
            points.append(Point(REQUESTS, (("operation", op), ("table", table)), count))
        for (op, table), bucket in w.latencies.items():
            points.extend(bucket.points(REQUEST_LATENCY, (("operation", op), ("table", table))))
        for (op, table, code), count in w.errors.items():
            tags = (("operation", op), ("table", table), ("code", code))
            points.append(Point(REQUEST_ERRORS, tags, count))
        for series, counted in ((READ_UNITS, w.read_units), (WRITE_UNITS, w.write_units)):
            for (op, table), units in counted.items():
                points.append(Point(series, (("operation", op), ("table", table)), units))
        for (op, table), count in w.throttles.items():
            points.append(Point(THROTTLES, (("operation", op), ("table", table)), count))
        return points


async def measured(
    tally: RequestTally,
    operation: str,
    request: dict[str, Any],
    serve: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """``serve(request)``, counted in ``tally``: its latency, its error's code or the units its
    response consumed (asked for here if the client did not, and taken out again)."""
    started = clock()
    asked, added = asking_for_capacity(operation, request)
    try:
        response = await serve(asked)
    except Exception as err:  # a cancelled request (the client went away) is not counted
        tally.record(operation, request, clock() - started, code=error_code(err))
        raise
    tally.record(operation, request, clock() - started, response=response)
    if added:
        response.pop("ConsumedCapacity", None)
    return response


class FsyncTally:
    """fsync durations of one storage node since the last drain (recorded by its engine)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets = BucketTally(FSYNC_LATENCY_BOUNDARIES_S)

    def observe(self, seconds: float) -> None:
        with self.lock:
            self.buckets.observe(seconds)

    def drain(self, node_id: str) -> list[Point]:
        with self.lock:
            buckets, self.buckets = self.buckets, BucketTally(FSYNC_LATENCY_BOUNDARIES_S)
        return buckets.points(NODE_FSYNC_LATENCY, (("node", node_id),))


def node_points(node_id: str, load: NodeLoad) -> list[Point]:
    """The gauges of one storage node's state."""
    tags = (("node", node_id),)
    points = [
        Point(NODE_REPLICAS, tags, load.replicas),
        Point(NODE_LEADERS, tags, load.leaders),
        Point(NODE_LOG_ENTRIES, tags, load.log_entries),
        Point(NODE_INBOX_ITEMS, tags, load.inbox_items),
        Point(NODE_INBOX_BYTES, tags, load.inbox_bytes),
        Point(NODE_PENDING_PROPOSALS, tags, load.pending_proposals),
        Point(NODE_PENDING_BYTES, tags, load.pending_proposal_bytes),
    ]
    for peer, messages in load.peer_outboxes:
        points.append(Point(NODE_PEER_OUTBOX, (("node", node_id), ("peer", peer)), messages))
    return points
