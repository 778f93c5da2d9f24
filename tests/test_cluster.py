"""A real three-host Ray cluster (``ray.cluster_utils.Cluster``, hosts told apart by a Ray node
label) that loses a host under load, has its controller killed in the middle of the heals, and
is then restarted whole, with new Ray node ids.

The scenario (``tests/cluster_scenario.py``) runs in a process of its own, because it needs its
own Ray clusters rather than the test session's one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

SCENARIO = Path(__file__).resolve().parent / "cluster_scenario.py"


def test_losing_a_host_loses_nothing_heals_across_a_controller_restart_and_survives_a_restart() -> (
    None
):
    done = subprocess.run(
        [sys.executable, str(SCENARIO)], capture_output=True, text=True, timeout=840, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(lines[-1])
    assert "error" not in seen, seen
    assert seen["distinct_hosts"], "replicas of a partition must start on distinct hosts"
    assert seen["acked"] > 0
    assert seen["lost"] == 0, "an acknowledged write was lost"
    assert seen["answered_after_removal"] > 0, "the service stopped answering"
    assert seen["healed"], "the controller did not restore three replicas on live hosts"
    assert seen["replacements"] >= 1
    assert seen["heals_at_kill"] >= 1, "the controller was not killed in the middle of a heal"
    assert seen["same_replacements"], "a resumed heal picked another replacement"
    assert seen["same_hosts_after_restart"], "a storage node moved host across a restart"
    assert seen["healthy_after_restart"], "partitions not healthy after the restart"
    assert seen["lost_after_restart"] == 0, "an acknowledged write was lost across the restart"
