"""What one replica consumes: the read and write units it served and applied, as rates.

The paper's partitions measure their own consumption (it decides splits for load and shows where
a table's capacity goes); so does each replica here. Writes are counted when a replica applies
them, so every replica of a group counts the same writes; reads are counted by the replica that
served them, so a partition's read rate is the sum over its replicas. Requests the node refused
for overload are counted as throttles.

Rates decay exponentially (half-life ``half_life_s``) so that an idle partition's rate falls to
zero instead of keeping its last busy second; the average is corrected for the time before the
replica existed (a replica two seconds old that served 100 units a second reports 100, not the
quarter of it a plain moving average would). Updated from the core thread (writes) and from
caller threads (reads), so one lock guards it. Pure: callers pass times.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

Kind = Literal["read", "write"]
FOLD_INTERVAL_S = 1.0  # units are folded into the rates at most this often


@dataclass(frozen=True, slots=True)
class ConsumptionSnapshot:
    read_units_per_s: float
    write_units_per_s: float
    read_units_total: float
    write_units_total: float
    throttled: int


class PartitionConsumption:
    def __init__(self, now: float, half_life_s: float = 5.0) -> None:
        if half_life_s <= 0:
            raise ValueError("the half-life must be positive")
        self.half_life_s = half_life_s
        self._lock = threading.Lock()
        self._rates = {"read": 0.0, "write": 0.0}
        self._pending = {"read": 0.0, "write": 0.0}
        self._totals = {"read": 0.0, "write": 0.0}
        self._weight = 0.0  # how much of the average is made of observed time (bias correction)
        self._window_start = now
        self._throttled = 0

    def add(self, kind: Kind, units: float, now: float) -> None:
        with self._lock:
            self._pending[kind] += units
            self._totals[kind] += units
            if now - self._window_start >= FOLD_INTERVAL_S:
                self._fold(now)

    def throttle(self) -> None:
        with self._lock:
            self._throttled += 1

    def snapshot(self, now: float) -> ConsumptionSnapshot:
        with self._lock:
            if now - self._window_start >= FOLD_INTERVAL_S:
                self._fold(now)
            return ConsumptionSnapshot(
                self._estimate("read", now),
                self._estimate("write", now),
                self._totals["read"],
                self._totals["write"],
                self._throttled,
            )

    def _estimate(self, kind: Kind, now: float) -> float:
        """The rate as if the current partial window were folded in now (without folding it)."""
        elapsed = now - self._window_start
        if elapsed <= 0:
            return self._rates[kind] / self._weight if self._weight else 0.0
        keep = 0.5 ** (elapsed / self.half_life_s)
        rate = keep * self._rates[kind] + (1 - keep) * self._pending[kind] / elapsed
        return rate / (keep * self._weight + (1 - keep))

    def _fold(self, now: float) -> None:
        elapsed = now - self._window_start
        keep = 0.5 ** (elapsed / self.half_life_s)
        for kind in ("read", "write"):
            observed = self._pending[kind] / elapsed
            self._rates[kind] = keep * self._rates[kind] + (1 - keep) * observed
            self._pending[kind] = 0.0
        self._weight = keep * self._weight + (1 - keep)
        self._window_start = now


def consumption_fields(snapshot: ConsumptionSnapshot) -> dict[str, float | int]:
    """The snapshot as the fields of a replica's status."""
    return {
        "read_units_per_s": round(snapshot.read_units_per_s, 3),
        "write_units_per_s": round(snapshot.write_units_per_s, 3),
        "read_units_total": snapshot.read_units_total,
        "write_units_total": snapshot.write_units_total,
        "throttled": snapshot.throttled,
    }
