"""``ray.init`` that survives a busy machine: Ray gives its own raylet 30 s (a constant in
``ray._private.node``) to register at start-up and raises when it takes longer, which happens on
a loaded two-core machine. A local start that timed out is shut down and tried again, a bounded
number of times; every other failure (a wrong address, a bad option) is raised at once.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

START_ATTEMPTS = 3
STARTUP_TIMEOUT_TEXT = "timed out during startup"


def start_ray(attempts: int = START_ATTEMPTS, **options: Any) -> Any:
    """``ray.init(**options)``, retried when Ray's own node start-up timed out."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            return ray.init(**options)
        # Broad on purpose: Ray raises a bare Exception for this timeout; only that one (matched
        # by its text) is retried, anything else goes to the caller unchanged.
        except Exception as err:
            if STARTUP_TIMEOUT_TEXT not in str(err) or attempt == attempts:
                raise
            log.warning("Ray did not start in time (attempt %d of %d); retrying", attempt, attempts)
            ray.shutdown()
    raise AssertionError("unreachable")  # the loop returns or raises
