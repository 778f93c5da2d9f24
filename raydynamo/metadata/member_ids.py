"""Member ids: which storage node a replica lives on, and which incarnation of it a group knows.

A partition's configuration lists *member ids*. A replica placed with the group is named after
its storage node (``sn3``); a replica added later gets an incarnation of its own (``sn3#5f2a``).
Votes are counted by member id, so a storage node that once hosted a group and is added to it
again (after its directory was lost, or as a replacement after it was removed) is a new member:
whatever the old incarnation promised or accepted can never be counted for the new one, and a
replica that missed the changes cannot count the new, empty one in an old configuration (it would
be an acceptor that forgot). Messages travel to ``node_of(member_id)``.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

SEPARATOR = "#"


def node_of(member_id: str) -> str:
    """The storage node a member lives on."""
    return member_id.split(SEPARATOR, 1)[0]


def new_member_id(node_id: str, token: str | None = None) -> str:
    """A member id for a replica added to a running group on ``node_id``: never used before."""
    assert SEPARATOR not in node_id, f"a storage node id has no {SEPARATOR!r}"
    return f"{node_id}{SEPARATOR}{token or uuid.uuid4().hex[:8]}"


def member_on(node_id: str, members: Iterable[str]) -> str | None:
    """The member of ``members`` that lives on ``node_id`` (None if none does)."""
    found = [m for m in members if node_of(m) == node_id]
    assert len(found) <= 1, f"two members on {node_id}: {found}"
    return found[0] if found else None
