"""Multi-Paxos as a deterministic state machine (pure: no ray, no rocksdict, no clock reads).

``Replica`` (replica.py) is the whole protocol of one group member; ``Leadership`` (leadership.py)
is one reign as candidate and leader; ``PaxosLog`` (log.py) the slots; ``messages.py`` and
``types.py`` the vocabulary. Shells feed it messages, proposals and ticks and handle its ``Ready``.
"""

from raydynamo.consensus.replica import NotLeader, Overloaded, Replica, Role
from raydynamo.consensus.types import Ballot, DurableState, Ready, Settings

__all__ = [
    "Ballot",
    "DurableState",
    "NotLeader",
    "Overloaded",
    "Ready",
    "Replica",
    "Role",
    "Settings",
]
