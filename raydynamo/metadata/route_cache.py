"""A router's cache of table entries (schema, status, partition map), as pure decisions.

Two modes:
- ``constant``: every ``refresh_interval_s`` the router fetches EVERY table it knows or has been
  asked about, whatever its hit rate. A miss never triggers a fetch of its own: it waits for the
  next refresh. So the load a router puts on the metadata shards is the same warm or cold, and a
  fleet of routers restarting at once does not multiply it (the paper's MemDS lesson).
- ``on_miss``: the classic cache, for comparison: a miss fetches at once, an entry lives
  ``cache_ttl_s``. Cheap when warm, and a cold fleet sends one fetch per table per router at once.

The router owns the I/O; this class only says what to fetch and when. Time is passed in.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ABSENT = None  # a fetched answer for a table that does not exist


@dataclass(slots=True)
class CachedEntry:
    value: Any  # the metadata shard's entry for the table, or ABSENT
    fetched_at: float


class RouteCache:
    def __init__(self, mode: str, refresh_interval_s: float, ttl_s: float) -> None:
        assert mode in ("constant", "on_miss")
        self.mode = mode
        self.refresh_interval_s = refresh_interval_s
        self.ttl_s = ttl_s
        self.entries: dict[str, CachedEntry] = {}
        self.wanted: set[str] = set()
        self.next_refresh_at = 0.0
        self.hits = 0
        self.misses = 0

    def lookup(self, table_name: str, now: float) -> CachedEntry | None:
        """The cached entry (possibly ABSENT), or None when it must be fetched first."""
        entry = self.entries.get(table_name)
        if entry is not None and (self.mode == "constant" or now - entry.fetched_at < self.ttl_s):
            self.hits += 1
            return entry
        self.misses += 1
        self.wanted.add(table_name)
        return None

    def fetch_now(self, now: float) -> list[str]:
        """Names to fetch at ``now`` (and mark the refresh done). Constant mode: everything at
        each period, nothing in between; on-miss mode: what was missed, at once."""
        if self.mode == "constant":
            if now < self.next_refresh_at:
                return []
            self.next_refresh_at = now + self.refresh_interval_s
            names = sorted(set(self.entries) | self.wanted)
        else:
            names = sorted(self.wanted)
        self.wanted.clear()
        return names

    def seconds_to_next_refresh(self, now: float) -> float:
        if self.mode == "on_miss":
            return 0.0 if self.wanted else self.ttl_s
        return max(0.0, self.next_refresh_at - now)

    def store(self, table_name: str, value: Any, now: float) -> None:
        self.entries[table_name] = CachedEntry(value, now)

    def invalidate(self, table_name: str) -> None:
        """Forget an entry found stale (a partition moved): it is fetched again."""
        self.entries.pop(table_name, None)
        self.wanted.add(table_name)
