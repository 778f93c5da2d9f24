"""The router cache's fetch decisions: constant work against fill-on-miss."""

from __future__ import annotations

from raydynamo.metadata.route_cache import RouteCache


def test_constant_mode_fetches_everything_each_period_and_nothing_between() -> None:
    cache = RouteCache("constant", refresh_interval_s=1.0, ttl_s=30)
    assert cache.lookup("a", 0.0) is None
    assert cache.fetch_now(0.0) == ["a"]
    cache.store("a", {"v": 1}, 0.0)
    assert cache.lookup("b", 0.1) is None  # a miss waits for the period
    assert cache.fetch_now(0.5) == []
    assert cache.fetch_now(1.0) == ["a", "b"]
    cache.store("b", None, 1.0)
    # Warm: hits everywhere, still one fetch of everything per period.
    for t in (1.2, 1.4, 1.6):
        assert cache.lookup("a", t) is not None
    assert cache.fetch_now(2.0) == ["a", "b"]
    assert cache.lookup("b", 2.1).value is None  # absent tables are cached too


def test_constant_mode_load_is_the_same_cold_or_warm() -> None:
    def fetches(warm: bool) -> int:
        cache = RouteCache("constant", refresh_interval_s=1.0, ttl_s=30)
        if warm:
            for name in "abc":
                cache.store(name, {}, 0.0)
        total = 0
        for tick in range(100):
            now = tick * 0.1
            for name in "abc":
                cache.lookup(name, now)
            names = cache.fetch_now(now)
            total += 1 if names else 0
            for name in names:
                cache.store(name, {}, now)
        return total

    assert fetches(warm=False) == fetches(warm=True) == 10


def test_on_miss_mode_fetches_at_once_and_expires() -> None:
    cache = RouteCache("on_miss", refresh_interval_s=1.0, ttl_s=5.0)
    assert cache.lookup("a", 0.0) is None
    assert cache.fetch_now(0.0) == ["a"]
    cache.store("a", {}, 0.0)
    assert cache.lookup("a", 4.9) is not None
    assert cache.fetch_now(4.9) == []
    assert cache.lookup("a", 5.1) is None
    assert cache.fetch_now(5.1) == ["a"]


def test_invalidate_forces_a_fetch() -> None:
    cache = RouteCache("constant", refresh_interval_s=1.0, ttl_s=30)
    cache.store("a", {}, 0.0)
    cache.fetch_now(0.0)
    cache.invalidate("a")
    assert cache.lookup("a", 0.1) is None
    assert cache.fetch_now(1.0) == ["a"]
