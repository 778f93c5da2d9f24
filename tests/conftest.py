"""Shared fixtures. One Ray instance per test session (started lazily by the ``ray_session``
fixture), so the suite pays ``ray.init`` once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    import ray

    if not ray.is_initialized():
        ray.init(
            num_cpus=4,
            include_dashboard=False,
            log_to_driver=False,
            namespace="raydynamo-tests",
            _system_config={"task_events_report_interval_ms": 0},
            runtime_env={"env_vars": {"RAY_DEDUP_LOGS": "0"}},
        )
    yield ray
    ray.shutdown()


@pytest.fixture
def data_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="raydynamo-test-") as path:
        yield path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
