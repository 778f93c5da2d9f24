"""What a storage node holds and queues at one moment: the numbers its metrics publish.

``node_load`` reads the core's replicas (call it on the core thread, where nothing changes them
meanwhile) and takes the shell's queue depths as given: the core owns neither the inbox nor the
peer outboxes. Plain numbers only; the shell (``actors/metrics.py``) turns them into gauges.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raydynamo.consensus.types import Role

if TYPE_CHECKING:
    from raydynamo.node.core import NodeCore


@dataclass(frozen=True, slots=True)
class NodeLoad:
    replicas: int  # replicas hosted
    leaders: int  # of which lead their partition
    log_entries: int  # Paxos log entries kept in memory, not yet compacted, over all replicas
    pending_proposals: int  # client requests proposed by leaders here and not yet applied
    pending_proposal_bytes: int  # bytes of their commands
    inbox_items: int  # inputs queued for the core thread
    inbox_bytes: int  # bytes of client writes and peer frames among them
    peer_outboxes: tuple[tuple[str, int], ...]  # (peer storage node, messages waiting)


def node_load(
    core: NodeCore, *, inbox_items: int, inbox_bytes: int, peer_outboxes: Mapping[str, int]
) -> NodeLoad:
    replicas = list(core.replicas.values())
    return NodeLoad(
        replicas=len(replicas),
        leaders=sum(1 for hosted in replicas if hosted.replica.role is Role.LEADER),
        log_entries=sum(len(hosted.replica.log.entries) for hosted in replicas),
        pending_proposals=sum(len(hosted.pending) for hosted in replicas),
        pending_proposal_bytes=sum(hosted.pending_bytes for hosted in replicas),
        inbox_items=inbox_items,
        inbox_bytes=inbox_bytes,
        peer_outboxes=tuple(sorted(peer_outboxes.items())),
    )
