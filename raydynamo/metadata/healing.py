"""Healing as a pure planner: from a heal intent and what the group reports, the next action.

A *heal intent* says: group ``group_id``, whose members were ``members_before``, loses member
``lost`` and takes ``replacement`` in its place. The controller stores it in the system partition
before it acts, and asks ``plan_heal`` what to do next every time it looks at the group (after
each change, after a timeout, after a controller restart), passing:

- the group's *chosen* configuration as its members report it (the newest configuration slot
  wins; ``None`` when no member answered),
- which storage nodes are usable (alive and with their data),
- the members the partition map currently publishes for the group.

Two kinds of heal, both one membership change at a time through the log (so two disjoint
majorities never exist, see ``consensus.membership``):

- **replacement** (``replacement != lost``; the lost member is dead): add the replacement, then
  remove the lost member, then publish. The replacement is fixed once the intent is stored: a
  retry never picks another one, so a group is never left with two half-added replacements.
  If the replacement dies before the heal finishes, the heal *rolls back*: the replacement is
  removed again (if it was added) and the intent is abandoned; the next health round starts a
  new heal with a new replacement.
- **rejoin** (the replacement is a new member id on the lost member's own node: the member lost
  its data directory but runs): remove it, then add the node back under its new member id
  (``metadata.member_ids``) as an empty, joining member, then publish. Nothing the old member
  promised or accepted is ever counted for the new one.

Members are member ids; ``usable`` holds storage node ids.

Decisions, replacement heal (C = the chosen configuration, L = lost, R = replacement)::

    C == before - L + R                   publish it (unless the map already does), then finish
    step roll_back, R in C                remove R
    step roll_back, R not in C            abandon (rolled back)
    R not usable, R in C                  step roll_back: remove R
    R not usable, R not in C              abandon (replacement died before it was added)
    C holds a member X not in before + R  remove X (a stray an abandoned heal's change left)
    L in C, R not in C                    step add: host R joining, then add R
    L in C, R in C                        step remove: remove L
    L not in C, R not in C                step add: host R joining, then add R
    anything else                         abandon (the group changed under the heal)

Rejoin heal (R: the new member id on L's node)::

    C == before - L + R                   publish it (unless the map already does), then finish
    C holds a member X not in before + R  remove X
    step remove, L in C                   remove L
    step remove, L not in C               step add (the removal is chosen)
    step add, C == before - L, R usable   host R joining, then add R
    step add, C == before - L, R unusable abandon (a replacement heal follows)

Reports older than the newest configuration slot the intent has seen are stale (a lagging
member) and answered with ``Wait``: decisions only ever move forward. Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from enum import StrEnum

from raydynamo.metadata.member_ids import node_of

NO_SLOT_SEEN = -1


class HealStep(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    PUBLISH = "publish"
    ROLL_BACK = "roll_back"


@dataclass(frozen=True, slots=True)
class HealIntent:
    group_id: str
    table: str | None  # None for the system partition
    members_before: tuple[str, ...]  # as the partition map ordered them
    lost: str
    replacement: str
    step: HealStep
    config_slot_seen: int = NO_SLOT_SEEN

    def __post_init__(self) -> None:
        assert self.lost in self.members_before, "the lost member is a member"
        assert self.replacement not in self.members_before, "a replacement is a new member"

    @property
    def rejoin(self) -> bool:
        """The lost member's own node comes back, as a new member (it lost its directory)."""
        return node_of(self.replacement) == node_of(self.lost)

    @property
    def members_after(self) -> tuple[str, ...]:
        """The members once healed, in the map's order (the replacement in the lost's place)."""
        return tuple(self.replacement if m == self.lost else m for m in self.members_before)

    @property
    def involved(self) -> tuple[str, ...]:
        """Every storage node that may host the group while the heal runs."""
        return tuple(dict.fromkeys((*self.members_before, self.replacement)))

    def to_wire(self) -> dict[str, object]:
        return {
            "group_id": self.group_id,
            "table": self.table,
            "members_before": list(self.members_before),
            "lost": self.lost,
            "replacement": self.replacement,
            "step": self.step.value,
            "config_slot_seen": self.config_slot_seen,
        }

    @staticmethod
    def from_wire(data: Mapping[str, object]) -> HealIntent:
        table = data.get("table")
        members = data["members_before"]
        assert isinstance(members, list | tuple)
        slot = data.get("config_slot_seen", NO_SLOT_SEEN)
        assert isinstance(slot, int)
        return HealIntent(
            group_id=str(data["group_id"]),
            table=None if table is None else str(table),
            members_before=tuple(str(m) for m in members),
            lost=str(data["lost"]),
            replacement=str(data["replacement"]),
            step=HealStep(str(data["step"])),
            config_slot_seen=slot,
        )


def start_heal(
    group_id: str, table: str | None, members: Sequence[str], lost: str, replacement: str
) -> HealIntent:
    """A new intent: a replacement heal starts by adding, a rejoin by removing."""
    step = HealStep.REMOVE if node_of(replacement) == node_of(lost) else HealStep.ADD
    return HealIntent(group_id, table, tuple(members), lost, replacement, step)


@dataclass(frozen=True, slots=True)
class ReportedConfig:
    """A group's chosen configuration as a member reports it."""

    slot: int
    members: frozenset[str]


def newest_config(reports: Sequence[ReportedConfig | None]) -> ReportedConfig | None:
    """The newest known configuration among members' reports (slot -1 means "not known yet":
    a joining replica's guess, never an answer)."""
    known = [r for r in reports if r is not None and r.slot >= 0]
    return max(known, key=lambda r: r.slot) if known else None


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str


@dataclass(frozen=True, slots=True)
class AddMember:
    """Host ``member`` (joining: its configuration unknown until it learns one) with
    ``config`` as its group, then ask the group's leader to change to ``config``."""

    member: str
    config: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class RemoveMember:
    member: str
    config: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class Publish:
    members: tuple[str, ...]  # in the map's order


@dataclass(frozen=True, slots=True)
class Finish:
    """The heal is complete: delete the intent."""


@dataclass(frozen=True, slots=True)
class Abandon:
    """Delete the intent without finishing; the next health round decides afresh."""

    reason: str


HealAction = Wait | AddMember | RemoveMember | Publish | Finish | Abandon


@dataclass(frozen=True, slots=True)
class HealDecision:
    intent: HealIntent  # to store before acting when it differs from the one given
    action: HealAction


def _add(intent: HealIntent, chosen: frozenset[str], member: str) -> HealDecision:
    step = dataclasses.replace(intent, step=HealStep.ADD)
    return HealDecision(step, AddMember(member, tuple(sorted(chosen | {member}))))


def _remove(
    intent: HealIntent, chosen: frozenset[str], member: str, step: HealStep
) -> HealDecision:
    moved = dataclasses.replace(intent, step=step)
    return HealDecision(moved, RemoveMember(member, tuple(sorted(chosen - {member}))))


def _publish(intent: HealIntent, published: Sequence[str]) -> HealDecision:
    if tuple(published) == intent.members_after:
        return HealDecision(intent, Finish())
    return HealDecision(
        dataclasses.replace(intent, step=HealStep.PUBLISH), Publish(intent.members_after)
    )


def _changed(intent: HealIntent, chosen: frozenset[str]) -> HealDecision:
    return HealDecision(intent, Abandon(f"{intent.group_id} changed to {sorted(chosen)}"))


def _plan_replacement(
    intent: HealIntent, chosen: frozenset[str], usable: Set[str], published: Sequence[str]
) -> HealDecision:
    lost, new = intent.lost, intent.replacement
    if chosen == frozenset(intent.members_after):
        return _publish(intent, published)
    if intent.step is HealStep.ROLL_BACK or node_of(new) not in usable:
        if new in chosen:
            return _remove(intent, chosen, new, HealStep.ROLL_BACK)
        if intent.step is HealStep.ROLL_BACK:
            return HealDecision(intent, Abandon(f"{new} rolled back out of {intent.group_id}"))
        return HealDecision(intent, Abandon(f"replacement {new} died before it was added"))
    strays = chosen - frozenset(intent.members_before) - {new}
    if strays:  # left by an abandoned heal whose change was chosen after all
        return _remove(intent, chosen, min(strays), intent.step)
    survivors = frozenset(intent.members_before) - {lost}
    if chosen == survivors | {lost} or chosen == survivors:
        return _add(intent, chosen, new)
    if chosen == survivors | {lost, new}:
        return _remove(intent, chosen, lost, HealStep.REMOVE)
    return _changed(intent, chosen)


def _plan_rejoin(
    intent: HealIntent, chosen: frozenset[str], usable: Set[str], published: Sequence[str]
) -> HealDecision:
    old, new = intent.lost, intent.replacement
    before = frozenset(intent.members_before)
    if chosen == frozenset(intent.members_after):
        return _publish(intent, published)
    strays = chosen - before - {new}
    if strays:
        return _remove(intent, chosen, min(strays), intent.step)
    if intent.step is HealStep.REMOVE:
        if chosen == before:
            return _remove(intent, chosen, old, HealStep.REMOVE)
        if chosen != before - {old}:
            return _changed(intent, chosen)
        intent = dataclasses.replace(intent, step=HealStep.ADD)
    if chosen == before - {old}:
        if node_of(new) not in usable:
            return HealDecision(intent, Abandon(f"{new} died while rejoining"))
        return _add(intent, chosen, new)
    return _changed(intent, chosen)


def plan_heal(
    intent: HealIntent,
    reported: ReportedConfig | None,
    usable: Set[str],
    published: Sequence[str],
) -> HealDecision:
    """The next action of ``intent`` (see the module docstring for the table)."""
    if reported is None:
        return HealDecision(intent, Wait(f"no member of {intent.group_id} reported"))
    if reported.slot < intent.config_slot_seen:
        return HealDecision(intent, Wait(f"stale report from {intent.group_id}"))
    seen = dataclasses.replace(intent, config_slot_seen=reported.slot)
    if intent.rejoin:
        return _plan_rejoin(seen, reported.members, usable, published)
    return _plan_replacement(seen, reported.members, usable, published)
