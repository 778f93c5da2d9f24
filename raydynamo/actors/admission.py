"""Admission actors: global admission control's ledgers, one Ray actor per shard of tables.

Role: ``AdmissionActor.grant(key, router_id, units, rate_per_s, follows_peak)`` answers a
router's request for tokens from the ledger ``key`` names (``admission.rates.ledger_for``),
creating it on first use with the rate the router read from the table's description (so the
actor needs no catalog of its own, and a rate changed by UpdateTable reaches it with the next
grant). The answer is ``(units, ttl_s)``: the router may spend ``units`` for ``ttl_s`` from the
moment it asked. State is ephemeral by design (ATC'22): a restarted actor starts fresh ledgers
and routers ask again; Ray restarts it.

Must not be imported by the pure layers.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import ray

from raydynamo.admission.gac import TableLedger
from raydynamo.config import config_from_dict


def admission_actor_name(index: int) -> str:
    return f"raydynamo-admission-{index}"


def admission_shard_of(ledger_key: str, shards: int) -> int:
    """Ledgers of one table live on one shard (the key starts with the table's name)."""
    table_name = ledger_key.split("/", 1)[0]
    return zlib.crc32(table_name.encode()) % shards


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=1000)
class AdmissionActor:
    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = config_from_dict(config).admission
        self.ledgers: dict[str, TableLedger] = {}

    async def grant(
        self, key: str, router_id: str, units: float, rate_per_s: float, follows_peak: bool
    ) -> tuple[float, float]:
        now_s = time.monotonic()
        ledger = self.ledgers.get(key)
        if ledger is None:
            ledger = TableLedger(
                rate_per_s,
                now_s,
                grant_ttl_s=self.settings.grant_ttl_s,
                burst_window_s=self.settings.burst_window_s,
                follows_peak=follows_peak,
            )
            self.ledgers[key] = ledger
        elif ledger.floor_per_s != rate_per_s:
            ledger.set_rate(rate_per_s, now_s)
        grant = ledger.request(router_id, units, now_s)
        return grant.units, grant.expires_s - now_s

    async def forget(self, table_name: str) -> int:
        """Drop a deleted table's ledgers; returns how many there were."""
        keys = [k for k in self.ledgers if k.split("/", 1)[0] == table_name]
        for key in keys:
            del self.ledgers[key]
        return len(keys)

    async def ping(self) -> bool:
        return True
