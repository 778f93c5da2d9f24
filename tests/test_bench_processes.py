"""``bench.processes``: a benchmark's child server is stopped with everything it started.

A stand-in server (a Python process that starts a grandchild ignoring SIGTERM, then prints that
it is ready) is started by ``ChildServer``; ``stop`` leaves neither process alive. A server
that exits before it is ready is reported with its output, not waited on forever.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from bench.processes import ChildServer, still_alive

# A stand-in server process: its sleeps are it "serving" until it is killed, not a test waiting.
STUBBORN_SERVER = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    # the grandchild above and this process "serve" by sleeping until they are killed
    print("serving at stand-in", flush=True)
    time.sleep(600)  # serving until stopped: the stand-in's work, not a test waiting
    """
)


def test_stop_leaves_no_process_of_the_server_alive() -> None:
    server = ChildServer("stand-in", [sys.executable, "-c", STUBBORN_SERVER], leftover_grace_s=0.5)
    try:
        assert "stand-in" in server.wait_for_line("serving at", deadline_s=60)
        server.note_descendants()
        started = set(server.seen) | {(server.pid, server.started_at)}
        assert len(started) == 2  # the server and the grandchild that ignores SIGTERM
    finally:
        server.stop()
    assert still_alive(started) == set()
    assert server.process.poll() is not None


def test_a_server_that_exits_early_is_reported_with_its_output() -> None:
    command = [sys.executable, "-c", "print('no port for me'); raise SystemExit(3)"]
    with ChildServer("early", command) as server, pytest.raises(RuntimeError, match="no port"):
        server.wait_for_line("serving at", deadline_s=60)
