"""Metrics at Ray's metrics export: requests through the driver's router and a router actor, and
the storage nodes' gauges and fsync latencies, scraped over HTTP from the local node's Prometheus
endpoint (``ray.nodes()[i]["MetricsExportPort"]``)."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.ray

Samples = list[tuple[str, dict[str, str], float]]
SCRAPE_DEADLINE_S = 120.0  # Ray reports every metrics_report_interval_ms; the machine is shared


def scrape() -> Samples:
    """Every sample of the session's Ray node's metrics export, over loopback (the session's
    Ray is local: its one node is this machine)."""
    import ray

    samples: Samples = []
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        url = f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name.startswith("ray_raydynamo_"):
                samples.extend((s.name, s.labels, s.value) for s in family.samples)
    return samples


def total(samples: Samples, name: str, **tags: str) -> float:
    """The sum over processes (Ray tags each with its WorkerId) of ``name`` with ``tags``."""
    return sum(
        value
        for sample, labels, value in samples
        if sample == name and all(labels.get(k) == v for k, v in tags.items())
    )


def per_node(samples: Samples, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample, labels, value in samples:
        if sample == name and "node" in labels:
            out[labels["node"]] = out.get(labels["node"], 0.0) + value
    return out


def wait_for_samples(condition: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``condition`` holds on what the export shows, or fail at the deadline."""
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    while True:
        samples = scrape()
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError("the metrics export never showed the expected series")
        time.sleep(0.5)  # a polling pause between scrapes; the deadline bounds the wait


def new_table(client: Any) -> str:
    name = f"metrics-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


def test_requests_and_storage_nodes_show_at_rays_metrics_export(client: Any, service: Any) -> None:
    import raydynamo

    before = scrape()
    fsyncs_before = per_node(before, "ray_raydynamo_node_fsync_latency_seconds_count")
    table = new_table(client)
    for i in range(5):
        client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
    for i in range(3):
        got = client.get_item(TableName=table, Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
        assert got["Item"]["n"] == {"N": str(i)}
        assert "ConsumedCapacity" not in got  # counted, never shown to a client that did not ask
    asked = client.get_item(
        TableName=table,
        Key={"pk": {"S": "k0"}},
        ConsistentRead=True,
        ReturnConsumedCapacity="TOTAL",
    )
    assert asked["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 1.0}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(
            TableName=table,
            Item={"pk": {"S": "k0"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    remote = raydynamo.connect(config=service, embedded_router=False)  # a router actor serves
    try:
        remote.put_item(TableName=table, Item={"pk": {"S": "via-actor"}})
    finally:
        remote.close()

    put = {"operation": "PutItem", "table": table}
    get = {"operation": "GetItem", "table": table}
    nodes = service.cluster.storage_nodes

    def shown(s: Samples) -> bool:
        fsyncs = per_node(s, "ray_raydynamo_node_fsync_latency_seconds_count")
        return (
            total(s, "ray_raydynamo_requests_total", **put) >= 7
            and total(s, "ray_raydynamo_requests_total", **get) >= 4
            and total(s, "ray_raydynamo_request_errors_total", **put) >= 1
            and total(s, "ray_raydynamo_consumed_write_capacity_units_total", **put) >= 6
            and len(per_node(s, "ray_raydynamo_node_replicas")) >= nodes
            and any(fsyncs.get(n, 0.0) > fsyncs_before.get(n, 0.0) for n in fsyncs)
        )

    samples = wait_for_samples(shown)
    # requests: all seven puts (five, the refused one, the router actor's), with their latency
    assert total(samples, "ray_raydynamo_request_latency_seconds_count", **put) >= 7
    assert total(samples, "ray_raydynamo_request_latency_seconds_bucket", le="+Inf", **put) >= 7
    assert total(samples, "ray_raydynamo_request_latency_seconds_sum", **put) > 0
    errors = total(
        samples, "ray_raydynamo_request_errors_total", code="ConditionalCheckFailedException", **put
    )
    assert errors == 1
    # units: 1 WCU per put of a small item (the refused one is not counted), 1 RCU per strong get
    assert total(samples, "ray_raydynamo_consumed_write_capacity_units_total", **put) == 6
    assert total(samples, "ray_raydynamo_consumed_read_capacity_units_total", **get) == 4
    assert total(samples, "ray_raydynamo_throttled_requests_total", **put) == 0
    # storage nodes: every node hosts replicas of the table's partitions, some lead them
    replicas = per_node(samples, "ray_raydynamo_node_replicas")
    assert all(replicas.get(f"sn{i}", 0) >= 1 for i in range(nodes))
    assert sum(per_node(samples, "ray_raydynamo_node_leaders").values()) >= 1
    assert sum(per_node(samples, "ray_raydynamo_node_log_entries").values()) >= 1
    for gauge in ("inbox_items", "pending_proposals", "peer_outbox_messages"):
        assert per_node(samples, f"ray_raydynamo_node_{gauge}")  # published for the nodes
