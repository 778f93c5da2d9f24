"""``bench.common.cpu_by_role``: CPU seconds of this process and its descendants, by role."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import cpu_by_role

# A child that burns about 0.3 s of CPU, says so, then waits on stdin (so it is alive, and
# counted, when the test reads /proc) until the test closes its input.
BURNER = (
    "import sys, time\n"
    "end = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\n"
    "print('burnt', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_a_childs_cpu_is_counted_under_its_role_and_the_callers_as_driver() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "burnt"
        roles = cpu_by_role(os.getpid())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    name = os.path.basename(sys.executable)
    assert roles[name] >= 0.25  # clock ticks of 10 ms: 0.3 s of burning reads as 0.29-0.31
    assert roles["driver"] > 0
