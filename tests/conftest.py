"""Shared fixtures. One Ray instance per test session (started lazily by the ``ray_session``
fixture), so the suite pays ``ray.init`` once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Property tests measure behaviour, never time: on a busy CI machine a slow example is not a
# failure (hypothesis' default 200 ms deadline and "too slow" health check would make it one).
settings.register_profile("raydynamo", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("raydynamo")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    import ray

    from raydynamo.ray_start import start_ray

    if not ray.is_initialized():
        start_ray(
            address="local",  # its own Ray: never a cluster someone's `ray start` left running
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


SERVICE_NAMESPACE = "raydynamo-e2e"


def service_config(data_dir: str, namespace: str = SERVICE_NAMESPACE, **overrides: object):
    """A quick-failover configuration for tests on one machine."""
    from raydynamo.config import config_from_dict

    data = {
        "cluster": {"namespace": namespace, "storage_nodes": 3, "partitions_per_table": 2},
        "consensus": {
            "heartbeat_interval_s": 0.05,
            "lease_duration_s": 0.5,
            "election_timeout_s": 0.75,
            "election_jitter_s": 0.25,
            "retransmit_interval_s": 0.1,
        },
        "storage": {"data_dir": data_dir},
        "router": {"refresh_interval_s": 0.1},
    }
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)  # type: ignore[union-attr]
    return config_from_dict(data)


@pytest.fixture(scope="session")
def service(ray_session: object) -> Iterator[object]:
    """One raydynamo service for the whole session (started once, stopped at the end)."""
    from raydynamo.actors.service import start_service, stop_service

    with tempfile.TemporaryDirectory(prefix="raydynamo-e2e-") as path:
        config = service_config(path)
        handles = start_service(config, detached=False)
        yield config
        stop_service(config)
        del handles


@pytest.fixture(scope="session")
def client(service: object) -> Iterator[object]:
    import raydynamo

    client = raydynamo.connect(config=service)  # type: ignore[arg-type]
    yield client
    client.close()


@pytest.fixture(scope="session")
def endpoint(service: object) -> Iterator[str]:
    """The DynamoDB endpoint (no auth) in front of the session's service; yields its URL."""
    from tests.endpoint_support import serving, with_endpoint

    with serving(with_endpoint(service)) as url:  # type: ignore[arg-type]
        yield url
