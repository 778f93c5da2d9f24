"""A router's side of admission control: local, time-limited tokens per ledger, refreshed from
the admission actors without blocking requests.

Role: ``RouterAdmission.admit(table_name, capacity, kind, partition_id)`` is called before a
request leaves the router: it raises DynamoDB's throttling error (nothing was proposed, so the
client may retry) when the router's grant for that ledger is spent, and otherwise takes the
request's expected units (one); ``charge`` takes the difference once the real cost is known. A
router without a live grant (just started, idle, or the table is new to it) waits for one, at most
``grant_timeout_s``; a busy router asks for the next grant in the background before the current
one runs out. An admission actor that does not answer in time is not a reason to refuse service:
the router then grants itself one refresh period of the ledger's rate and logs it (partition
buckets are the defense in depth).

Must not be imported by the pure layers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from raydynamo.admission.gac import REQUEST_UNITS, Grant, RouterTokens
from raydynamo.admission.rates import Kind, LedgerSpec, TableCapacity, ledger_for, throttle_error
from raydynamo.config import AdmissionConfig

log = logging.getLogger(__name__)

GrantCall = Callable[[LedgerSpec, str, float], Awaitable[tuple[float, float]]]


class RouterAdmission:
    def __init__(
        self,
        settings: AdmissionConfig,
        ask: GrantCall,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.ask = ask
        self.clock = clock
        self.router_id = uuid.uuid4().hex[:12]
        self.tokens: dict[str, RouterTokens] = {}
        self.asking: dict[str, asyncio.Task[None]] = {}
        self.throttled = 0
        self.fallbacks = 0

    def spec(
        self, table_name: str, capacity: TableCapacity, kind: Kind, partition_id: str
    ) -> LedgerSpec:
        return ledger_for(
            self.settings.mode,
            table_name,
            capacity,
            kind,
            partition_id,
            on_demand_initial_per_s=(
                self.settings.on_demand_read_units_initial
                if kind == "read"
                else self.settings.on_demand_write_units_initial
            ),
        )

    async def admit(
        self, table_name: str, capacity: TableCapacity, kind: Kind, partition_id: str
    ) -> LedgerSpec | None:
        """Admit one request (or raise the table's throttling error); returns the ledger to
        ``charge`` afterwards, None when admission is off."""
        if not self.settings.enabled:
            return None
        spec = self.spec(table_name, capacity, kind, partition_id)
        tokens = self.tokens.get(spec.key)
        if tokens is None:
            refresh_s = self.settings.refresh_s
            # A first ask of a sixteenth of a period of the ledger's rate, so a new router
            # neither waits for many small grants nor hoards a small table's capacity.
            units_min = max(1.0, spec.rate_per_s * refresh_s / 16)
            tokens = RouterTokens(refresh_s=refresh_s, units_min=units_min)
            self.tokens[spec.key] = tokens
        now_s = self.clock()
        if tokens.needs_grant(now_s):  # wait for a grant (one request for all who wait)
            await asyncio.shield(self._asking(spec, tokens))
        elif tokens.wants_refresh(now_s):
            self._asking(spec, tokens)
        if not tokens.admit(REQUEST_UNITS, self.clock()):
            self.throttled += 1
            raise throttle_error(capacity)
        return spec

    def charge(self, spec: LedgerSpec | None, units: float) -> None:
        """The request admitted on ``spec`` consumed ``units`` (one was taken at admission)."""
        if spec is None:
            return
        tokens = self.tokens.get(spec.key)
        if tokens is not None:
            tokens.charge(units - REQUEST_UNITS)

    def _asking(self, spec: LedgerSpec, tokens: RouterTokens) -> asyncio.Task[None]:
        """The grant request in flight for ``spec``, started if there is none."""
        task = self.asking.get(spec.key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._refresh(spec, tokens))
            self.asking[spec.key] = task
            task.add_done_callback(lambda _t, key=spec.key: self.asking.pop(key, None))
        return task

    async def _refresh(self, spec: LedgerSpec, tokens: RouterTokens) -> None:
        asked_s = self.clock()
        units = tokens.units_to_ask(asked_s)
        try:
            granted, ttl_s = await asyncio.wait_for(
                self.ask(spec, self.router_id, units), self.settings.grant_timeout_s
            )
        # Broad on purpose: a timeout, an actor restarting or gone (Ray raises several types)
        # must never refuse service; nothing is persisted here, so nothing is lost.
        except Exception as err:  # never refuse service; nothing persisted
            self.fallbacks += 1
            log.warning("admission grant for %s failed (%r); granting locally", spec.key, err)
            granted = spec.rate_per_s * self.settings.refresh_s
            ttl_s = self.settings.refresh_s
        tokens.accept(Grant(granted, asked_s + ttl_s), self.clock())

    def forget(self, table_name: str) -> None:
        for key in [k for k in self.tokens if k.split("/", 1)[0] == table_name]:
            del self.tokens[key]

    def stats(self) -> dict[str, Any]:
        return {"throttled": self.throttled, "fallbacks": self.fallbacks}
