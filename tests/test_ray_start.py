"""``start_ray``: Ray's own start-up timeout (a busy machine) is retried, nothing else is."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from raydynamo.ray_start import start_ray

TIMEOUT = Exception(
    "The current node timed out during startup. This could happen because some of the raylet "
    "failed to startup or the GCS has become overloaded."
)


class FakeRay:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.inits: list[dict[str, Any]] = []
        self.shutdowns = 0

    def init(self, **options: Any) -> str:
        self.inits.append(options)
        if self.failures:
            raise self.failures.pop(0)
        return "context"

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRay:
    fake = FakeRay([])
    monkeypatch.setattr(ray, "init", fake.init)
    monkeypatch.setattr(ray, "shutdown", fake.shutdown)
    return fake


def test_a_start_that_timed_out_is_shut_down_and_tried_again(fake: FakeRay) -> None:
    fake.failures = [TIMEOUT, TIMEOUT]
    assert start_ray(address="local", namespace="n") == "context"
    assert len(fake.inits) == 3 and fake.shutdowns == 2
    assert all(options == {"address": "local", "namespace": "n"} for options in fake.inits)


def test_the_attempts_are_bounded(fake: FakeRay) -> None:
    fake.failures = [TIMEOUT] * 5
    with pytest.raises(Exception, match="timed out during startup"):
        start_ray(attempts=2)
    assert len(fake.inits) == 2


def test_any_other_failure_is_raised_at_once(fake: FakeRay) -> None:
    fake.failures = [ConnectionError("no cluster at 10.0.0.1:6379")]
    with pytest.raises(ConnectionError):
        start_ray(address="10.0.0.1:6379")
    assert len(fake.inits) == 1 and fake.shutdowns == 0
