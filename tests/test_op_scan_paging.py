"""Properties of Scan paging and of parallel scans, on tables cut into 1-4 partitions.

- Paging a Scan with random Limits and following LastEvaluatedKey returns exactly the items of
  one unpaged Scan, in the same order (partitions in key-hash order, keys in storage order), with
  the same Count and ScannedCount totals.
- The segments of a parallel scan (any TotalSegments) partition the table: every item comes back
  from exactly one segment, each segment paged with its own random Limits.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.operations.scan import scan
from tests.test_op_reads_support import World

PAGES_MAX = 500

ITEMS = st.lists(
    st.tuples(st.text(min_size=1, max_size=6), st.integers(0, 3)),
    max_size=40,
    unique_by=lambda t: t[0],
)


def load(partitions: int, items: list[tuple[str, int]]) -> World:
    world = World(partition_count=partitions)
    world.put("hash", [{"pk": {"S": pk}, "flag": {"N": str(flag)}} for pk, flag in items])
    return world


def page_through(
    world: World, request: dict[str, Any], limits: list[int]
) -> tuple[list[dict[str, Any]], int, int]:
    items: list[dict[str, Any]] = []
    count = scanned = 0
    start = None
    for page_number in range(PAGES_MAX):
        limit = limits[page_number % len(limits)]
        page_request = {**request, "Limit": limit}
        if start is not None:
            page_request["ExclusiveStartKey"] = start
        page = world.call(scan, page_request)
        assert page["ScannedCount"] <= limit
        items += page.get("Items", [])
        count += page["Count"]
        scanned += page["ScannedCount"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items, count, scanned
    raise AssertionError("paging did not end")


@settings(max_examples=120, deadline=None)
@given(
    items=ITEMS,
    partitions=st.integers(1, 4),
    limits=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    flag=st.none() | st.integers(0, 3),
)
def test_paging_a_scan_returns_exactly_the_unpaged_result(
    items: list[tuple[str, int]], partitions: int, limits: list[int], flag: int | None
) -> None:
    world = load(partitions, items)
    request: dict[str, Any] = {"TableName": "hash"}
    if flag is not None:
        request["FilterExpression"] = "flag = :f"
        request["ExpressionAttributeValues"] = {":f": {"N": str(flag)}}
    whole = world.call(scan, request)
    assert "LastEvaluatedKey" not in whole
    assert whole["ScannedCount"] == len(items)
    paged, count, scanned = page_through(world, request, limits)
    assert paged == whole["Items"]
    assert (count, scanned) == (whole["Count"], whole["ScannedCount"])
    expected = sorted(pk for pk, f in items if flag is None or f == flag)
    assert sorted(i["pk"]["S"] for i in paged) == expected


@settings(max_examples=120, deadline=None)
@given(
    items=ITEMS,
    partitions=st.integers(1, 4),
    total=st.integers(1, 9),
    limits=st.lists(st.integers(1, 5), min_size=1, max_size=3),
)
def test_parallel_scan_segments_partition_the_table(
    items: list[tuple[str, int]], partitions: int, total: int, limits: list[int]
) -> None:
    world = load(partitions, items)
    seen: list[str] = []
    scanned_total = 0
    for segment in range(total):
        request = {"TableName": "hash", "Segment": segment, "TotalSegments": total}
        got, _, scanned = page_through(world, request, limits)
        seen += [i["pk"]["S"] for i in got]
        scanned_total += scanned
    assert sorted(seen) == sorted(pk for pk, _ in items)
    assert scanned_total == len(items)
