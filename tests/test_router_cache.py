"""A router that starts with an empty cache does not multiply the load on the metadata shards.

With constant-work refresh, a cold router sends one request per metadata shard per refresh
period, however many tables its first requests miss; the plain fill-on-miss cache sends one per
table missed. Counted in requests per refresh, not in time, so the test cannot race the clock.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.ray

TABLES = 12


@pytest.fixture(scope="module")
def tables(client: Any) -> list[str]:
    names = [f"rc-{uuid.uuid4().hex[:8]}" for _ in range(TABLES)]
    for name in names:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    for name in names:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return names


def cold_router_burst(service: Any, tables: list[str], mode: str) -> tuple[int, int]:
    """A new router answers 5 GetItems per table at once; (metadata requests, refreshes)."""
    from raydynamo.actors.router import Router

    config = service.model_copy(
        update={"router": service.router.model_copy(update={"cache_mode": mode})}
    )

    async def scenario() -> tuple[int, int]:
        router = Router(config)
        requests = [
            router.call("GetItem", {"TableName": name, "Key": {"pk": {"S": "k"}}})
            for name in tables
            for _ in range(5)
        ]
        answers = await asyncio.gather(*requests)
        await router.aclose()
        assert all("Item" not in a for a in answers)  # empty tables, every request answered
        return router.metadata_requests, router.refreshes

    return asyncio.run(scenario())


def test_constant_work_cold_router_sends_one_request_per_shard_per_refresh(
    service: Any, tables: list[str]
) -> None:
    requests, refreshes = cold_router_burst(service, tables, "constant")
    shards = service.cluster.metadata_shards
    assert refreshes >= 1
    assert requests <= shards * refreshes


def test_fill_on_miss_cold_router_sends_one_request_per_table(
    service: Any, tables: list[str]
) -> None:
    requests, _ = cold_router_burst(service, tables, "on_miss")
    assert requests >= TABLES
