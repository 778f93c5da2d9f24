"""A real three-node Ray cluster (``ray.cluster_utils.Cluster``) that loses a node under load.

The scenario (``tests/cluster_scenario.py``) runs in a process of its own, because it needs its
own Ray cluster rather than the test session's one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

SCENARIO = Path(__file__).resolve().parent / "cluster_scenario.py"


def test_losing_a_node_loses_nothing_and_three_replicas_are_restored() -> None:
    done = subprocess.run(
        [sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=540, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(lines[-1])
    assert "error" not in seen, seen
    assert seen["distinct_nodes"], "replicas of a partition must start on distinct Ray nodes"
    assert seen["acked"] > 0
    assert seen["lost"] == 0, "an acknowledged write was lost"
    assert seen["answered_after_removal"] > 0, "the service stopped answering"
    assert seen["healed"], "the controller did not restore three replicas on live nodes"
    assert seen["replacements"] >= 1
