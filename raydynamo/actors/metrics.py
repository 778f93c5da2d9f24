"""Handing raydynamo's tallies to ``ray.util.metrics``, on a timer, in every process that counts.

Role: the Ray side of ``raydynamo.metrics``. A ``Flusher`` thread drains a tally every
``metrics.flush_interval_s`` and records its points through one Ray metric object per series
(made once per process, ``_instrument``); Ray's core worker then reports them to the metrics
agent of its node, which serves them in Prometheus' text format at the node's metrics export
port (``ray.nodes()[i]["MetricsExportPort"]``), named ``ray_<series>`` (counters
``ray_<series>_total``) with Ray's own tags (``WorkerId``, ``NodeAddress``, ...) beside ours.

Where requests are served (the router, in a driver, an endpoint process or a router actor) one
``RequestTally`` per process is shared by every router in it (``request_tally``); a storage node
actor has a flusher of its own for its gauges and fsync latencies (``start_node_metrics``).

Why a timer: a Ray metric record costs 2-10 us here (measured, busy 2-core machine), a request
counted in a ``RequestTally`` under 2 us; counters and gauges cost one record per series and
interval, whatever the rate. A histogram still costs one record per sample (Ray takes no
pre-aggregated buckets), but in the flusher, not on the request's path.

Invariants: nothing here may fail a request or a storage node: a flush that fails is logged and
dropped. Without Ray initialised (plain-Python tests) points are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import ray
from ray.util import metrics as ray_metrics

from raydynamo.config import MetricsConfig
from raydynamo.metrics import FsyncTally, Point, RequestTally, Series, node_points
from raydynamo.node.load import NodeLoad

log = logging.getLogger(__name__)

_instruments: dict[str, Any] = {}
_instruments_lock = threading.Lock()
_requests: tuple[RequestTally, Flusher] | None = None
_requests_lock = threading.Lock()


def _instrument(series: Series) -> Any:
    """The Ray metric of ``series`` in this process (made on first use)."""
    with _instruments_lock:
        made = _instruments.get(series.name)
        if made is not None:
            return made
        if series.kind == "counter":
            made = ray_metrics.Counter(series.name, series.description, series.tag_keys)
        elif series.kind == "gauge":
            made = ray_metrics.Gauge(series.name, series.description, series.tag_keys)
        else:
            made = ray_metrics.Histogram(
                series.name, series.description, list(series.boundaries), series.tag_keys
            )
        _instruments[series.name] = made
        return made


def record(points: Iterable[Point]) -> None:
    """Record ``points`` through Ray's metrics (dropped when Ray is not initialised)."""
    if not ray.is_initialized():
        return
    for point in points:
        metric = _instrument(point.series)
        tags = point.tag_dict
        if point.series.kind == "counter":
            if point.value > 0:  # Ray refuses increments of zero
                metric.inc(point.value, tags)
        elif point.series.kind == "gauge":
            metric.set(point.value, tags)
        else:
            for _ in range(point.times):
                metric.observe(point.value, tags)


class Flusher:
    """A daemon thread that records ``drain()``'s points every ``interval_s``."""

    def __init__(self, name: str, interval_s: float, drain: Callable[[], list[Point]]) -> None:
        self.interval_s = interval_s
        self.drain = drain
        self.stopped = threading.Event()
        self.failures = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Flusher:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def flush(self) -> None:
        try:
            record(self.drain())
        except Exception as err:  # metrics must never stop what they measure
            self.failures += 1
            level = logging.WARNING if self.failures == 1 else logging.DEBUG
            log.log(level, "metrics flush failed (%d so far): %r", self.failures, err)

    def _run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            self.flush()


def request_tally(config: MetricsConfig) -> RequestTally | None:
    """This process's request tally, shared by its routers (its flusher started on first use,
    at the first router's ``flush_interval_s``); None when disabled."""
    global _requests
    if not config.enabled:
        return None
    with _requests_lock:
        if _requests is None:
            tally = RequestTally()
            flusher = Flusher("raydynamo-request-metrics", config.flush_interval_s, tally.drain)
            _requests = (tally, flusher.start())
        return _requests[0]


def start_node_metrics(
    node_id: str, load: Callable[[], NodeLoad], fsyncs: FsyncTally, config: MetricsConfig
) -> Flusher:
    """Publish a storage node's gauges (``load()``: a ``node.load.NodeLoad``, read on its core
    thread) and its fsync latencies every ``flush_interval_s``."""

    def drain() -> list[Point]:
        return fsyncs.drain(node_id) + node_points(node_id, load())

    return Flusher(f"{node_id}-metrics", config.flush_interval_s, drain).start()
