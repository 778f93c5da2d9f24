"""One token bucket: tokens refill at a rate up to a capacity; a charge may leave a debt.

Role: DynamoDB admits a request when its bucket is not in debt and charges the units the request
really consumed once it ran (a Query's size is known only afterwards), so a bucket may go below
zero and the next requests wait until the refill pays the debt back. ``overflow`` is how much the
last refill could not hold: a partition's burst bucket is fed from the allocated bucket's overflow
(unused capacity kept for later, ``partition.py``).

Invariants: ``tokens <= capacity`` after every call; time never runs backwards for a bucket (an
earlier ``now_s`` than the last one refills nothing).

Must not import ray or rocksdict; no clock (time is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    capacity: float
    tokens: float
    updated_s: float

    @classmethod
    def full(cls, rate_per_s: float, capacity: float, now_s: float) -> TokenBucket:
        return cls(rate_per_s, capacity, capacity, now_s)

    @classmethod
    def empty(cls, rate_per_s: float, capacity: float, now_s: float) -> TokenBucket:
        return cls(rate_per_s, capacity, 0.0, now_s)

    def refill(self, now_s: float) -> float:
        """Add what the time since the last refill earned; return the overflow (earned tokens
        the capacity could not hold)."""
        elapsed_s = now_s - self.updated_s
        if elapsed_s <= 0:
            return 0.0
        self.updated_s = now_s
        earned = elapsed_s * self.rate_per_s
        room = max(0.0, self.capacity - self.tokens)
        self.tokens = min(self.capacity, self.tokens + earned)
        return max(0.0, earned - room)

    def deposit(self, tokens: float) -> None:
        """Add ``tokens`` (from elsewhere: another bucket's overflow, a grant), up to capacity."""
        self.tokens = min(self.capacity, self.tokens + tokens)

    def has_tokens(self) -> bool:
        return self.tokens > 0

    def charge(self, units: float) -> None:
        """Take ``units``; the balance may go negative (a debt the refill pays back)."""
        self.tokens -= units

    def reconfigure(self, rate_per_s: float, capacity: float, now_s: float) -> None:
        """New rate and capacity from ``now_s`` on (what was earned until then at the old rate
        is kept, up to the new capacity)."""
        self.refill(now_s)
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.tokens = min(self.tokens, capacity)
