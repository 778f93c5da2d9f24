"""The healing planner (``metadata.healing``), table-driven: from a stored intent, the group's
chosen configuration as reported, node liveness and the published map, the next action.

The point of the table: whatever the reports, a heal only ever moves forward with the replacement
it stored (never a second one), rolls back cleanly when the replacement dies, and a lost
directory's member leaves the group before it is hosted again.
"""

from __future__ import annotations

import dataclasses

import pytest

from raydynamo.metadata.healing import (
    Abandon,
    AddMember,
    Finish,
    HealIntent,
    HealStep,
    Publish,
    RemoveMember,
    ReportedConfig,
    Wait,
    newest_config,
    plan_heal,
    start_heal,
)

BEFORE = ("sn0", "sn1", "sn2")  # the map's order; sn1 is lost
AFTER = ("sn0", "sn3", "sn2")  # sn3 takes sn1's place
EVERYONE = frozenset({"sn0", "sn1", "sn2", "sn3", "sn4"})


def replacing(step: HealStep = HealStep.ADD, slot_seen: int = -1) -> HealIntent:
    intent = start_heal("t.0", "T", BEFORE, "sn1", "sn3")
    return dataclasses.replace(intent, step=step, config_slot_seen=slot_seen)


NEW_SN1 = "sn1#2"  # sn1 again, as a new member (metadata.member_ids)
REJOINED = ("sn0", NEW_SN1, "sn2")


def rejoining(step: HealStep = HealStep.REMOVE, slot_seen: int = -1) -> HealIntent:
    intent = start_heal("t.0", "T", BEFORE, "sn1", NEW_SN1)
    return dataclasses.replace(intent, step=step, config_slot_seen=slot_seen)


def report(slot: int, *members: str) -> ReportedConfig:
    return ReportedConfig(slot, frozenset(members))


def usable_without(*down: str) -> frozenset[str]:
    return EVERYONE - set(down)


S = sorted  # configurations travel sorted

REPLACEMENT_CASES = [
    # (name, intent, report, usable, published, expected action, expected step)
    ("nobody answered", replacing(), None, EVERYONE, BEFORE, Wait, HealStep.ADD),
    (
        "the group as it was: add the stored replacement",
        replacing(),
        report(0, *BEFORE),
        usable_without("sn1"),
        BEFORE,
        AddMember("sn3", tuple(S([*BEFORE, "sn3"]))),
        HealStep.ADD,
    ),
    (
        "replacement added: remove the lost member",
        replacing(),
        report(7, *BEFORE, "sn3"),
        usable_without("sn1"),
        BEFORE,
        RemoveMember("sn1", ("sn0", "sn2", "sn3")),
        HealStep.REMOVE,
    ),
    (
        "the lost member came back: the heal still finishes",
        replacing(HealStep.REMOVE),
        report(7, *BEFORE, "sn3"),
        EVERYONE,
        BEFORE,
        RemoveMember("sn1", ("sn0", "sn2", "sn3")),
        HealStep.REMOVE,
    ),
    (
        "healed configuration chosen: publish it in the map's order",
        replacing(HealStep.REMOVE),
        report(9, *AFTER),
        usable_without("sn1"),
        BEFORE,
        Publish(AFTER),
        HealStep.PUBLISH,
    ),
    (
        "healed and published: finish",
        replacing(HealStep.PUBLISH),
        report(9, *AFTER),
        usable_without("sn1"),
        AFTER,
        Finish(),
        HealStep.PUBLISH,
    ),
    (
        "healed, though the replacement died since: publish what is chosen",
        replacing(HealStep.REMOVE),
        report(9, *AFTER),
        usable_without("sn1", "sn3"),
        BEFORE,
        Publish(AFTER),
        HealStep.PUBLISH,
    ),
    (
        "replacement died after it was added: roll back",
        replacing(),
        report(7, *BEFORE, "sn3"),
        usable_without("sn3"),
        BEFORE,
        RemoveMember("sn3", BEFORE),
        HealStep.ROLL_BACK,
    ),
    (
        "replacement back while rolling back: the roll-back still finishes",
        replacing(HealStep.ROLL_BACK),
        report(7, *BEFORE, "sn3"),
        EVERYONE,
        BEFORE,
        RemoveMember("sn3", BEFORE),
        HealStep.ROLL_BACK,
    ),
    (
        "rolled back: abandon (the next round picks a new replacement)",
        replacing(HealStep.ROLL_BACK),
        report(8, *BEFORE),
        EVERYONE,
        BEFORE,
        Abandon,
        HealStep.ROLL_BACK,
    ),
    (
        "replacement died before it was added: abandon",
        replacing(),
        report(0, *BEFORE),
        usable_without("sn1", "sn3"),
        BEFORE,
        Abandon,
        HealStep.ADD,
    ),
    (
        "a stray an abandoned heal added: remove it first",
        replacing(),
        report(5, *BEFORE, "sn4"),
        usable_without("sn1", "sn4"),
        BEFORE,
        RemoveMember("sn4", BEFORE),
        HealStep.ADD,
    ),
    (
        "the lost member already out: add the replacement",
        replacing(),
        report(5, "sn0", "sn2"),
        usable_without("sn1"),
        BEFORE,
        AddMember("sn3", ("sn0", "sn2", "sn3")),
        HealStep.ADD,
    ),
    (
        "a survivor went missing: not this heal's business",
        replacing(),
        report(5, "sn1", "sn2"),
        usable_without("sn1"),
        BEFORE,
        Abandon,
        HealStep.ADD,
    ),
]

REJOIN_CASES = [
    (
        "lost its directory: remove it first",
        rejoining(),
        report(0, *BEFORE),
        EVERYONE,
        BEFORE,
        RemoveMember("sn1", ("sn0", "sn2")),
        HealStep.REMOVE,
    ),
    (
        "removal chosen: host it joining under a new member id and add it",
        rejoining(),
        report(4, "sn0", "sn2"),
        EVERYONE,
        BEFORE,
        AddMember(NEW_SN1, tuple(S(REJOINED))),
        HealStep.ADD,
    ),
    (
        "added back: publish the new member",
        rejoining(HealStep.ADD),
        report(6, *REJOINED),
        EVERYONE,
        BEFORE,
        Publish(REJOINED),
        HealStep.PUBLISH,
    ),
    (
        "published: finish",
        rejoining(HealStep.PUBLISH),
        report(6, *REJOINED),
        EVERYONE,
        REJOINED,
        Finish(),
        HealStep.PUBLISH,
    ),
    (
        "died while out of the group: abandon (a replacement heal follows)",
        rejoining(HealStep.ADD),
        report(4, "sn0", "sn2"),
        usable_without("sn1"),
        BEFORE,
        Abandon,
        HealStep.ADD,
    ),
    (
        "a stale report of the group as it was: never taken for progress (the slot guard)",
        rejoining(HealStep.ADD, slot_seen=4),
        report(0, *BEFORE),
        EVERYONE,
        BEFORE,
        Wait,
        HealStep.ADD,
    ),
    (
        "the old member id is never added back",
        rejoining(HealStep.ADD),
        report(5, "sn0", "sn1", "sn2"),
        EVERYONE,
        BEFORE,
        Abandon,
        HealStep.ADD,
    ),
]


@pytest.mark.parametrize(
    ("intent", "reported", "usable", "published", "action", "step"),
    [case[1:] for case in REPLACEMENT_CASES + REJOIN_CASES],
    ids=[case[0] for case in REPLACEMENT_CASES + REJOIN_CASES],
)
def test_plan_heal(
    intent: HealIntent,
    reported: ReportedConfig | None,
    usable: frozenset[str],
    published: tuple[str, ...],
    action: object,
    step: HealStep,
) -> None:
    decision = plan_heal(intent, reported, usable, published)
    if isinstance(action, type):
        assert isinstance(decision.action, action)
    else:
        assert decision.action == action
    assert decision.intent.step is step
    assert decision.intent.replacement == intent.replacement  # never another replacement


def test_a_stale_report_is_not_acted_on() -> None:
    intent = replacing(HealStep.REMOVE, slot_seen=7)
    decision = plan_heal(intent, report(3, *BEFORE), usable_without("sn1"), BEFORE)
    assert isinstance(decision.action, Wait)
    assert decision.intent == intent


def test_the_slot_seen_moves_forward() -> None:
    decision = plan_heal(replacing(), report(7, *BEFORE, "sn3"), usable_without("sn1"), BEFORE)
    assert decision.intent.config_slot_seen == 7


def test_newest_config_wins_and_joining_guesses_do_not_count() -> None:
    reports = [report(3, *BEFORE), None, report(7, *BEFORE, "sn3"), report(-1, "sn3")]
    assert newest_config(reports) == report(7, *BEFORE, "sn3")
    assert newest_config([report(-1, "sn3"), None]) is None


def test_a_heal_replays_to_the_end_whatever_the_interruptions() -> None:
    """Walk a replacement heal through a simulated group, restarting the planner (the stored
    intent is all that survives) before every step: it always ends healed and published."""
    intent = replacing()
    config = report(0, *BEFORE)
    published = BEFORE
    usable = usable_without("sn1")
    for _ in range(10):
        decision = plan_heal(HealIntent.from_wire(intent.to_wire()), config, usable, published)
        intent = decision.intent
        action = decision.action
        if isinstance(action, AddMember | RemoveMember):
            config = report(config.slot + 1, *action.config)
        elif isinstance(action, Publish):
            published = action.members
        elif isinstance(action, Finish):
            break
    assert isinstance(action, Finish)
    assert config.members == frozenset(AFTER) and published == AFTER


def test_intents_round_trip_their_wire_form() -> None:
    for intent in (replacing(HealStep.ROLL_BACK, 5), rejoining()):
        assert HealIntent.from_wire(intent.to_wire()) == intent
    system = start_heal("__system", None, BEFORE, "sn2", "sn4")
    assert HealIntent.from_wire(system.to_wire()) == system
    assert system.members_after == ("sn0", "sn1", "sn4")
    assert system.involved == ("sn0", "sn1", "sn2", "sn4")
