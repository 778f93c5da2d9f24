"""Global admission control: a table's tokens handed to routers as time-limited grants.

Role (ATC'22): an admission actor keeps, per table and kind of unit, a ``TableLedger``: a token
bucket refilled at the table's rate (provisioned units per second) with up to ``burst_window_s``
of unused capacity. Each router holds ``RouterTokens`` for the tables it serves: it admits or
throttles requests locally, spends its tokens, and asks the ledger for a new grant about every
``refresh_s`` or as soon as it runs out. A grant is valid until ``expires_s``; tokens a router does
not spend in time are lost, so a router that goes away cannot hoard a table's capacity. The
ledger's state is ephemeral: a restarted admission actor starts a fresh ledger (holding one second
of the table's rate) and the routers simply ask again. Partition buckets stay as defense in depth
(``partition.py``).

Sharing: when the ledger holds enough for every router's request, each gets what it asked for;
when it does not, a router gets at most its share of what is there, in proportion to what it asked
for against what every router seen within the grant lifetime asked for, so one busy router cannot
starve the others.

Invariants: the units granted over any interval never exceed the table's rate times the interval
plus what its bucket held at the start; a grant is never negative; a router never admits on an
expired grant.

Must not import ray or rocksdict; no clock (time is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raydynamo.admission.buckets import TokenBucket
from raydynamo.admission.partition import BURST_WINDOW_S

REQUEST_UNITS = 1.0  # what a router expects a request to cost before it runs


@dataclass(frozen=True, slots=True)
class Grant:
    units: float
    expires_s: float


@dataclass(slots=True)
class _Asked:
    units: float
    at_s: float


class TableLedger:
    """The admission actor's account of one table's units of one kind."""

    def __init__(
        self,
        rate_per_s: float,
        now_s: float,
        *,
        grant_ttl_s: float = 2.0,
        burst_window_s: float = BURST_WINDOW_S,
        follows_peak: bool = False,
    ) -> None:
        assert rate_per_s > 0 and grant_ttl_s > 0, (rate_per_s, grant_ttl_s)
        self.grant_ttl_s = grant_ttl_s
        self.burst_window_s = burst_window_s
        self.bucket = TokenBucket(rate_per_s, rate_per_s * burst_window_s, rate_per_s, now_s)
        self._asked: dict[str, _Asked] = {}
        # On-demand: the rate is at least floor_per_s and twice the highest rate granted.
        self.follows_peak = follows_peak
        self.floor_per_s = rate_per_s
        self.peak_per_s = 0.0
        self._window_start_s = now_s
        self._window_granted = 0.0

    @property
    def rate_per_s(self) -> float:
        return self.bucket.rate_per_s

    def set_rate(self, rate_per_s: float, now_s: float) -> None:
        """The table's capacity changed (UpdateTable); for an on-demand ledger, its floor."""
        assert rate_per_s > 0, rate_per_s
        self.floor_per_s = rate_per_s
        self._apply_rate(now_s)

    def _apply_rate(self, now_s: float) -> None:
        rate = self.floor_per_s
        if self.follows_peak:
            rate = max(rate, 2 * self.peak_per_s)
        if rate != self.bucket.rate_per_s:
            self.bucket.reconfigure(rate, rate * self.burst_window_s, now_s)

    def _note_granted(self, units: float, now_s: float) -> None:
        self._window_granted += units
        elapsed_s = now_s - self._window_start_s
        if elapsed_s >= 1.0:
            self.peak_per_s = max(self.peak_per_s, self._window_granted / elapsed_s)
            self._window_start_s, self._window_granted = now_s, 0.0
            if self.follows_peak:
                self._apply_rate(now_s)

    def request(self, router_id: str, units: float, now_s: float) -> Grant:
        """A grant for ``router_id``, which asks for ``units`` to spend before the grant expires."""
        self.bucket.refill(now_s)
        self._asked[router_id] = _Asked(max(0.0, units), now_s)
        self._forget_idle(now_s)
        available = max(0.0, self.bucket.tokens)
        wanted = self._asked[router_id].units
        asked_by_all = sum(asked.units for asked in self._asked.values())
        if asked_by_all > available and asked_by_all > 0:
            wanted = min(wanted, available * wanted / asked_by_all)
        granted = min(wanted, available)
        self.bucket.charge(granted)
        self._note_granted(granted, now_s)
        return Grant(granted, now_s + self.grant_ttl_s)

    def _forget_idle(self, now_s: float) -> None:
        idle = [r for r, asked in self._asked.items() if now_s - asked.at_s > self.grant_ttl_s]
        for router_id in idle:
            del self._asked[router_id]


@dataclass(slots=True)
class RouterTokens:
    """What one router holds for one table and kind: spent locally, refreshed from the ledger.

    The router asks for what it expects to be asked for until the next refresh: the units
    offered to it recently (admitted or not: an exponentially weighted rate over
    ``demand_half_life_s``) times ``refresh_s`` times ``headroom``, at least ``units_min``, plus
    any debt on its current grant. ``needs_grant`` says when a request should wait for a grant
    rather than be judged on what the router holds: there is no live grant (just started, idle
    past its grant), or the grant is spent while the ledger was not short when it last answered
    (the router only under-estimated its demand). A request is throttled when the grant is spent
    and the ledger's last answer was short: the table is out of capacity.
    """

    refresh_s: float = 1.0
    headroom: float = 1.5
    units_min: float = 1.0
    demand_half_life_s: float = 1.0
    tokens: float = 0.0
    expires_s: float = float("-inf")
    asked_s: float = float("-inf")
    short: bool = False  # the last grant was less than asked for
    demand_per_s: float = 0.0
    _asked_units: float = field(default=0.0)
    _offered: float = field(default=0.0)
    _window_start_s: float | None = field(default=None)

    def live(self, now_s: float) -> bool:
        return now_s < self.expires_s

    def needs_grant(self, now_s: float) -> bool:
        if not self.live(now_s):
            return True
        spent = self.tokens < REQUEST_UNITS
        # A scarce ledger is asked again at most ten times per refresh period.
        return spent and (not self.short or now_s - self.asked_s >= self.refresh_s / 10)

    def wants_refresh(self, now_s: float) -> bool:
        """A refresh period passed since the last ask: ask in the background."""
        return now_s - self.asked_s >= self.refresh_s

    def admit(self, units: float, now_s: float) -> bool:
        """Whether a request expected to cost ``units`` may run: the grant is live and holds
        them; if so they are taken (``charge`` corrects them once the real cost is known)."""
        self._observe(now_s)
        self._offered += units
        if not (self.live(now_s) and self.tokens >= units):
            return False
        self.tokens -= units
        return True

    def charge(self, units: float) -> None:
        """A correction after the request ran: ``units`` more (or fewer, when negative)."""
        self.tokens -= units

    def units_to_ask(self, now_s: float) -> float:
        """What to ask the ledger for: the demand expected until the next refresh, less what
        the live grant still holds, plus its debt."""
        self._observe(now_s)
        self.asked_s = now_s
        held = self._held(now_s)
        expected = self.demand_per_s * self.refresh_s * self.headroom
        wanted = max(self.units_min, expected, self._offered * self.headroom)
        self._asked_units = max(self.units_min, wanted - held) if held > 0 else wanted - held
        return self._asked_units

    def accept(self, grant: Grant, now_s: float) -> None:
        """A new grant adds to what the live one still holds, or pays the debt first (a debt
        outlives its grant); what is held lives until the new grant expires."""
        self.tokens = self._held(now_s) + grant.units
        self.expires_s = grant.expires_s
        self.short = grant.units < self._asked_units

    def _held(self, now_s: float) -> float:
        """What the router holds: unspent units expire with their grant, a debt never does (a
        large request charged after it ran must be paid for, however long it took)."""
        return self.tokens if self.live(now_s) else min(0.0, self.tokens)

    def _observe(self, now_s: float) -> None:
        """Fold the units offered since the window started into the demand estimate."""
        if self._window_start_s is None:
            self._window_start_s = now_s
            return
        elapsed_s = now_s - self._window_start_s
        if elapsed_s < self.refresh_s / 10:
            return
        observed = self._offered / elapsed_s
        keep = 0.5 ** (elapsed_s / self.demand_half_life_s)
        self.demand_per_s = keep * self.demand_per_s + (1 - keep) * observed
        self._offered = 0.0
        self._window_start_s = now_s
