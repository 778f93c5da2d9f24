"""Every internal bound and timeout of the service, in one place, with why it is what it is.

Tunable behaviour lives in ``config.py`` (validated, described, loaded from ``configs/``); what
is here are the fixed bounds of the machinery: how long a caller waits, how much one message or
queue holds, how many threads a pool has. DynamoDB's own documented limits (1 MB pages, 25
requests a BatchWriteItem, 400 KB items, ...) stay beside the rules that enforce them in
``api/``, ``operations/`` and ``partition/``. Names end in their unit (``_S`` seconds, ``_MAX``
a count). Pure: imports nothing.
"""

from __future__ import annotations

# --- consensus -----------------------------------------------------------------------------------
ACCEPT_SLOTS_PER_MESSAGE_MAX = 64  # slots one Accept carries (a recovering leader sends many)

# --- the storage node (node/, actors/host.py, actors/storage_node.py) ----------------------------
NODE_CALL_WAIT_S = 120.0  # a caller waits this long for the core thread at most
PEER_CALL_TIMEOUT_S = 10.0  # a peer that does not answer a frame by then is tried again
PEER_OUTBOX_MESSAGES_MAX = 100_000  # per peer; past it the oldest half goes (Paxos resends)
STORAGE_THREADS_MAX = 512  # Ray threads for client calls (each waits on the core thread)
PEER_THREADS_MAX = 64  # Ray threads for peers' frames (their own pool: no cross-node deadlock)
CONTROL_THREADS_MAX = 16  # Ray threads for the controller's calls (probes never starve)
# The core thread gets the GIL back soon after each fsync (Python's default, 5 ms, can be longer
# than the fsync). Not shorter: at 0.2 ms, a node busy with bulk writes spent about 40% more CPU
# per item handing the GIL between its threads (bench.bulk, BatchWriteItem of 25).
GIL_SWITCH_INTERVAL_S = 0.001
STAMP_INTERVAL_S = 1.0  # a leader stamps the log's clock at most this often (partition/dedup)
STAMP_MS_MAX = 60_000  # one stamp advances log time by a minute at most
SNAPSHOT_JOIN_TIMEOUT_S = 10.0  # closing a node waits this long for its snapshot senders

# --- the router and the group client -------------------------------------------------------------
COALESCED_REQUESTS_MAX = 256  # requests to one partition that leave together in one call
# Bytes those requests hold at most (one slot carries 4 MB): a bulk write queues many large
# commands at once, and one call must stay a bounded message.
COALESCED_BYTES_MAX = 4 << 20
STALE_MAP_RETRIES_MAX = 3  # an operation is run again this often after a stale map
ENSURE_WAIT_MAX_S = 10.0  # waiting for a table's metadata before ServiceUnavailable
CONTROL_TIMEOUT_S = 60.0  # table operations wait for the controller's table lock
METADATA_TIMEOUT_S = 5.0  # one metadata shard lookup

# --- the controller ------------------------------------------------------------------------------
HOST_DEADLINE_S = 30.0  # hosting a new group on its members
LEADER_WAIT_S = 60.0  # a new group elects a leader
CONTROLLER_RETRY_PAUSE_S = 0.5  # between attempts to host a group
SYSTEM_WRITE_DEADLINE_S = 60.0  # one write to the system partition
PROBE_TIMEOUT_S = 2.0  # a storage node that does not answer a probe by then is unreachable
COMMAND_TIMEOUT_S = 30.0  # host, campaign, drop on a storage node
LEADER_POLL_S = 0.1  # how often a group is asked whether it has a leader
PRIME_INTERVAL_S = 5.0  # how often the system store re-checks which members host it
HEAL_POLL_PAUSE_S = 0.2  # between looks at a group being healed

# --- starting the service ------------------------------------------------------------------------
DISCOVERY_TIMEOUT_S = 60.0  # asking every host which storage directories it holds
START_TIMEOUT_S = 120.0  # every storage node answers after start
RECORDS_TIMEOUT_S = 90.0  # reading the storage node records before the controller starts
ENDPOINT_CALL_TIMEOUT_S = 30.0  # starting, listing or stopping one node's endpoint
