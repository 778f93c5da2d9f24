"""One member of a partition's Multi-Paxos group, as a deterministic state machine.

Inputs: ``step(message, now)``, ``tick(now)``, ``propose(commands, now)``, ``on_applied(slot)``,
``campaign(now)``, ``transfer_leadership(target, now)``. Output: ``ready()`` drains a ``Ready``
(records to persist, messages to send, slots to apply) that the shell must handle in that order.
``now`` is the replica's local clock in seconds; the core never reads a clock itself, and its only
randomness (election jitter) comes from a generator seeded by the caller.

Roles: follower, candidate (phase 1 in flight), leader (phase 2). The acceptor part answers
whatever the role. Safety rests on the acceptor rules (never answer below ``promised``; persist
before answering) and on a new leader re-proposing every slot a majority reports.

Leases: whenever a replica answers a message of ballot ``b`` from replica ``r`` at local time
``t``, it promises not to help any other replica become leader before ``t + lease_duration_s``
(``grant_holder``/``grant_until``). The leader counts the send times of the messages a majority
answered and serves strong reads until ``quorum_contact_at + leader_lease_s``, which ends before
any promise can (see ``Settings.leader_lease_s``). A restarted replica forgot what it promised, so
it refuses every Prepare for one lease duration after it comes back.

Before an election a follower asks its peers whether they still hear a leader, and only campaigns
when none does and a majority (itself included) agrees (the gray-failure rule).

Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import random

from raydynamo.consensus.elections import ElectionsMixin
from raydynamo.consensus.leadership import Leadership
from raydynamo.consensus.log import PaxosLog
from raydynamo.consensus.membership import (
    UNKNOWN_SLOT,
    Config,
    Membership,
    config_in,
    single_change,
)
from raydynamo.consensus.messages import (
    Accept,
    Accepted,
    CatchUp,
    CatchUpRequest,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    Message,
    Prepare,
    Promise,
    Reject,
)
from raydynamo.consensus.types import (
    ZERO_BALLOT,
    Ballot,
    ChosenThroughRecord,
    CompactedRecord,
    ConfigRecord,
    DurableState,
    Entry,
    EntryRecord,
    PromisedRecord,
    Ready,
    Role,
    Settings,
)

NEVER = float("-inf")


class NotLeader(Exception):
    """A proposal reached a replica that cannot order it; ``leader_hint`` may name who can."""

    def __init__(self, leader_hint: str | None) -> None:
        super().__init__(f"not the leader (hint: {leader_hint})")
        self.leader_hint = leader_hint


class Overloaded(Exception):
    """The leader's queue of unordered commands is full; the caller should back off."""


class Replica(ElectionsMixin):
    def __init__(
        self,
        replica_id: str,
        members: tuple[str, ...],
        settings: Settings,
        *,
        seed: int,
        now: float,
        durable: DurableState | None = None,
        joining: bool = False,
    ) -> None:
        """``members`` is the group as the host was told; a replica ``joining`` a running group
        does not trust it for elections until it learns a chosen configuration from the log."""
        durable = durable or DurableState()
        self.replica_id = replica_id
        start = Config(UNKNOWN_SLOT if joining else 0, tuple(sorted(members)))
        self.membership = Membership(durable.configs or (start,))
        self.settings = settings
        self.rng = random.Random(seed)
        self.log = PaxosLog(durable)
        self.promised = durable.promised
        self.max_round_seen = durable.promised.round
        self.role = Role.FOLLOWER
        self.leadership: Leadership | None = None
        self.leader_id: str | None = None
        self.last_heard_at = now
        # Lease promise. A restarted replica may have promised someone before it crashed.
        self.grant_holder: str | None = None
        restarted = self.promised != ZERO_BALLOT
        self.grant_until = now + settings.lease_duration_s if restarted else NEVER
        self.election_at = now + self._election_delay()
        self.query_nonce = 0
        self.query_started_at: float | None = None
        self.query_replies: dict[str, bool] = {}
        self.catchup_requested_at = NEVER
        self._last_now = now
        self._out = Ready()
        # A crash may have come between choosing a change and recording it: learn it again.
        self._learn_configs(self.membership.current.slot + 1, self.log.chosen_through)

    # --- inputs ---------------------------------------------------------------------------------

    def ready(self) -> Ready:
        """Drain everything produced since the last call (see ``Ready`` for how to handle it)."""
        if self.leadership is not None:
            self.leadership.cut_slots(self.log, self._out, self._last_now)
        self._emit_chosen()
        out, self._out = self._out, Ready()
        return out

    def step(self, msg: Message, now: float) -> None:
        """Handle one message from a peer."""
        self._last_now = now
        handler = getattr(self, "_on_" + type(msg).__name__)
        handler(msg, now)

    def propose(self, commands: list[bytes], now: float) -> None:
        """Queue commands for ordering. Raises ``NotLeader`` or ``Overloaded``."""
        self._last_now = now
        lead = self.leadership
        if self.role is not Role.LEADER or lead is None or lead.handoff_target is not None:
            hint = lead.handoff_target if lead is not None else self.leader_id
            raise NotLeader(hint if hint != self.replica_id else None)
        if not lead.enqueue(commands):
            raise Overloaded()

    def on_applied(self, slot: int) -> None:
        """The shell applied every slot through ``slot`` to the data; compact what is old."""
        assert slot <= self.log.emitted_through
        self.log.applied_through = max(self.log.applied_through, slot)
        retained = self.settings.log_retained_slots
        if self.log.applied_through - self.log.compacted_through >= 2 * retained:
            through = self.log.applied_through - retained
            self.log.compact(through)
            self._out.records.append(CompactedRecord(through))

    @property
    def members(self) -> tuple[str, ...]:
        return self.membership.members

    @property
    def peers(self) -> tuple[str, ...]:
        if self.leadership is not None:
            return self.leadership.peers()
        return tuple(m for m in self.membership.members if m != self.replica_id)

    def campaign(self, now: float) -> None:
        """Start phase 1 with a fresh ballot now (start-up, hand-off, tests). A replica bound by a
        lease it granted (or may have granted before a restart), or that is not a member of a
        configuration it knows, does not campaign."""
        self._last_now = now
        if self._lease_forbids(self.replica_id, now) or not self._may_lead():
            return
        self.max_round_seen = max(self.max_round_seen, self.promised.round)
        ballot = Ballot(self.max_round_seen + 1, self.replica_id)
        self.max_round_seen = ballot.round
        self._step_down(now)
        self._set_promised(ballot)
        self.role = Role.CANDIDATE
        from_slot = self.log.chosen_through + 1
        self.leadership = Leadership(
            self.replica_id, ballot, from_slot, self.membership, self.settings, now
        )
        # No lease for ourselves yet: a candidate serves nothing, so refusing other candidates
        # now would only make elections collide. The leader grants itself at every tick.
        self.query_started_at = None
        for peer in self.peers:
            self._send(peer, Prepare(self.replica_id, ballot, from_slot, now))
        self.election_at = now + self.settings.election_timeout_s + self._election_delay()

    def propose_config(self, members: tuple[str, ...], now: float) -> bool:
        """Ask the leader to change the group to ``members`` (one replica added or removed, the
        leader staying a member). False if this replica cannot do it now; the change is done
        once ``members`` is the chosen configuration."""
        lead = self.leadership
        members = tuple(sorted(members))
        if (
            self.role is not Role.LEADER
            or lead is None
            or lead.config_request is not None
            or lead.config_slot is not None
            or self.replica_id not in members
            or not single_change(self.membership.members, members)
        ):
            return False
        lead.config_request = members
        return True

    def tick(self, now: float) -> None:
        """Advance timers: heartbeats and retransmits as leader, elections otherwise."""
        self._last_now = now
        if self.role is Role.LEADER:
            self._tick_leader(now)
        elif self.role is Role.CANDIDATE:
            self._tick_candidate(now)
        else:
            self._tick_follower(now)

    # --- queries (the shell and the checkers read these) -----------------------------------------

    def holds_lease(self, now: float) -> bool:
        lead = self.leadership
        return (
            self.settings.leases_enabled
            and self.role is Role.LEADER
            and lead is not None
            and now < lead.lease_until()
        )

    def can_serve_strong_read(self, now: float) -> bool:
        """Leader, under lease, with everything a previous leader chose applied here."""
        lead = self.leadership
        return (
            self.holds_lease(now)
            and lead is not None
            and lead.handoff_target is None
            and self.log.applied_through >= lead.recovered_through
        )

    @property
    def ballot(self) -> Ballot | None:
        return self.leadership.ballot if self.leadership is not None else None

    def leader_hint(self) -> str | None:
        if self.role is Role.LEADER:
            return self.replica_id
        return self.leader_id

    # --- acceptor ------------------------------------------------------------------------------

    def _on_Prepare(self, msg: Prepare, now: float) -> None:
        self._see_round(msg.ballot)
        if msg.ballot < self.promised:
            self._reject(msg.sender, msg.ballot, lease_held=False)
            return
        if self._lease_forbids(msg.sender, now):
            self._reject(msg.sender, msg.ballot, lease_held=True)
            return
        if msg.from_slot <= self.log.compacted_through:
            # Promising (and granting a lease to) a candidate that cannot lead would only hold up
            # the replicas that can.
            self._reject(msg.sender, msg.ballot, lease_held=False, behind=True)
            return
        if msg.ballot > self.promised:
            self._step_down(now)
            self._set_promised(msg.ballot)
        self._grant(msg.sender, now)
        self.leader_id = msg.sender
        self.last_heard_at = now
        entries = tuple(self.log.entries_from(msg.from_slot))
        promise = Promise(
            self.replica_id,
            msg.ballot,
            entries,
            self.log.chosen_through,
            self.log.compacted_through,
            msg.sent_at,
        )
        self._send(msg.sender, promise)

    def _on_Accept(self, msg: Accept, now: float) -> None:
        if not self._follow(msg.sender, msg.ballot, now):
            return
        accepted: list[int] = []
        for slot, value in msg.entries:
            accepted.append(slot)
            if slot <= self.log.compacted_through:
                continue
            current = self.log.get(slot)
            if current is not None and current.chosen:
                continue
            if current is not None and current.ballot == msg.ballot:
                continue  # duplicate delivery
            entry = Entry(msg.ballot, value)
            self.log.put(slot, entry)
            self._out.records.append(EntryRecord(slot, entry))
            self._out.sync = True
        self._learn_commit(msg.sender, msg.ballot, msg.commit_through, now)
        reply = Accepted(
            self.replica_id, msg.ballot, tuple(accepted), self.log.chosen_through, msg.sent_at
        )
        self._send(msg.sender, reply)

    def _on_Heartbeat(self, msg: Heartbeat, now: float) -> None:
        if not self._follow(msg.sender, msg.ballot, now):
            return
        self._learn_commit(msg.sender, msg.ballot, msg.commit_through, now)
        ack = HeartbeatAck(self.replica_id, msg.ballot, self.log.chosen_through, msg.sent_at)
        self._send(msg.sender, ack)

    def _follow(self, sender: str, ballot: Ballot, now: float) -> bool:
        """Common acceptor part of Accept and Heartbeat: check the ballot, note the leader."""
        self._see_round(ballot)
        if ballot < self.promised:
            self._reject(sender, ballot, lease_held=False)
            return False
        if ballot > self.promised or self.role is not Role.FOLLOWER:
            if self.ballot != ballot:
                self._step_down(now)
            if ballot > self.promised:
                self._set_promised(ballot)
        self.leader_id = sender
        self.last_heard_at = now
        self._grant(sender, now)
        return True

    def _learn_commit(self, leader: str, ballot: Ballot, commit_through: int, now: float) -> None:
        """Slots through ``commit_through`` are chosen in ``ballot``: an entry accepted in that
        ballot holds the chosen value; any other slot must be fetched."""
        if commit_through <= self.log.chosen_through:
            return
        for slot in range(self.log.chosen_through + 1, min(commit_through, self.log.max_slot) + 1):
            entry = self.log.get(slot)
            if entry is not None and not entry.chosen and entry.ballot == ballot:
                self.log.mark_chosen(slot, entry.value)
        self._advance_chosen()
        if self.log.chosen_through < commit_through:
            self._request_catchup(leader, now)

    def _on_CatchUpRequest(self, msg: CatchUpRequest, now: float) -> None:
        if msg.from_slot <= self.log.compacted_through:
            # Only a member of the current configuration gets a snapshot: one that was removed
            # is about to be dropped, and a snapshot to it would hold a node's transfer slot
            # (found by the node simulation: a removed member's transfer kept a joining one
            # waiting until the stall timeout).
            if msg.sender not in self.membership.members:
                return
            if msg.sender not in self._out.snapshot_requests:
                self._out.snapshot_requests.append(msg.sender)
            return
        last = min(self.log.chosen_through, msg.from_slot + self.settings.catchup_entries_max - 1)
        entries = tuple((s, self.log.entries[s].value) for s in range(msg.from_slot, last + 1))
        self._send(msg.sender, CatchUp(self.replica_id, entries, self.log.chosen_through))

    def _on_CatchUp(self, msg: CatchUp, now: float) -> None:
        before = self.log.chosen_through
        for slot, value in msg.entries:
            if slot <= self.log.compacted_through or self.log.is_chosen(slot):
                continue
            self.log.mark_chosen(slot, value)
            self._out.records.append(EntryRecord(slot, self.log.entries[slot]))
        self._advance_chosen()
        lead = self.leadership
        if lead is not None and lead.leading and self.log.chosen_through >= lead.next_slot:
            # Slots this reign never cut are chosen: a higher ballot leads. Cutting on from
            # ``next_slot`` would overwrite a chosen entry here, so this reign ends.
            self._step_down(now)
        elif lead is not None:
            lead.drop_inflight_through(self.log.chosen_through)
        if self.log.chosen_through < msg.chosen_through:
            if self.log.chosen_through > before:
                # Progress: ask for the next batch at once. A CatchUp that taught nothing (a
                # duplicate, or the answer to an older request) waits for the retransmit
                # interval instead; answering every one at once kept every chain of requests
                # alive and let duplicates multiply them (the simulator found a seed whose
                # in-flight CatchUps grew past 100,000 while one member caught up).
                self.catchup_requested_at = NEVER
            self._request_catchup(msg.sender, now)

    def _on_InstallSnapshot(self, msg: InstallSnapshot, now: float) -> None:
        if msg.last_slot <= self.log.applied_through or self.role is Role.LEADER:
            return
        before = self.log.chosen_through
        self.log.install_snapshot(msg.last_slot)
        self._out.records.append(CompactedRecord(msg.last_slot))
        self._out.records.append(ChosenThroughRecord(self.log.chosen_through))
        self._out.sync = True
        if msg.configs:
            self.membership.install(msg.configs)
            self._out.records.append(ConfigRecord(tuple(self.membership.history)))
        self._learn_configs(max(before, msg.last_slot) + 1, self.log.chosen_through)
        self._out.snapshot_to_install = msg
        self.catchup_requested_at = NEVER
        self._request_catchup(msg.sender, now)

    # --- proposer --------------------------------------------------------------------------------

    def _on_Promise(self, msg: Promise, now: float) -> None:
        lead = self.leadership
        if self.role is not Role.CANDIDATE or lead is None or msg.ballot != lead.ballot:
            return
        if msg.compacted_through >= lead.from_slot:
            # The acceptor dropped slots we never learned: catch up from a snapshot first.
            self._step_down(now)
            self.catchup_requested_at = NEVER
            self._request_catchup(msg.sender, now)
            return
        for peer in lead.note_promise(msg, self.log):
            # A configuration found in the promises: its majority must promise too.
            self._send(peer, Prepare(self.replica_id, lead.ballot, lead.from_slot, now))
        if lead.has_promise_quorum():
            self.role = Role.LEADER
            self.leader_id = self.replica_id
            lead.recover(self.log, self._out, now)
            self._out.became_leader = True
            self._tick_leader(now)

    def _on_Accepted(self, msg: Accepted, now: float) -> None:
        lead = self.leadership
        if lead is None or not lead.leading or msg.ballot != lead.ballot:
            return
        lead.note_ack(msg.sender, msg.sent_at)
        lead.peer_chosen_through[msg.sender] = msg.chosen_through
        if lead.on_accepted(msg.sender, msg.slots, self.log):
            self._advance_chosen()

    def _on_HeartbeatAck(self, msg: HeartbeatAck, now: float) -> None:
        lead = self.leadership
        if lead is None or not lead.leading or msg.ballot != lead.ballot:
            return
        lead.note_ack(msg.sender, msg.sent_at)
        lead.peer_chosen_through[msg.sender] = msg.chosen_through

    def _on_Reject(self, msg: Reject, now: float) -> None:
        self._see_round(msg.promised)
        lead = self.leadership
        if lead is None or msg.ballot != lead.ballot:
            return
        if msg.promised > lead.ballot:
            self.leader_id = msg.leader_hint
            self._step_down(now)
        elif msg.behind and self.role is Role.CANDIDATE:
            self._step_down(now)
            self.catchup_requested_at = NEVER
            self._request_catchup(msg.sender, now)

    # --- timers ----------------------------------------------------------------------------------

    # --- helpers ---------------------------------------------------------------------------------

    def _election_delay(self) -> float:
        return self.rng.uniform(0.0, self.settings.election_jitter_s)

    def _lease_forbids(self, candidate: str, now: float) -> bool:
        if not self.settings.leases_enabled or now >= self.grant_until:
            return False
        return self.grant_holder != candidate

    def _grant(self, holder: str, now: float) -> None:
        until = now + self.settings.lease_duration_s
        if self.grant_holder != holder or until > self.grant_until:
            self.grant_holder = holder
            self.grant_until = until

    def _set_promised(self, ballot: Ballot) -> None:
        assert ballot >= self.promised
        self.promised = ballot
        self._out.records.append(PromisedRecord(ballot))
        self._out.sync = True

    def _see_round(self, ballot: Ballot) -> None:
        if ballot.round > self.max_round_seen:
            self.max_round_seen = ballot.round

    def _step_down(self, now: float) -> None:
        if self.role is Role.LEADER:
            self._out.leadership_lost = True
        if self.role is not Role.FOLLOWER:
            self.election_at = now + self.settings.election_timeout_s + self._election_delay()
        self.role = Role.FOLLOWER
        self.leadership = None
        if self.leader_id == self.replica_id:
            self.leader_id = None

    def _reject(self, to: str, ballot: Ballot, *, lease_held: bool, behind: bool = False) -> None:
        hint = self.leader_hint()
        self._send(to, Reject(self.replica_id, ballot, self.promised, hint, lease_held, behind))

    def _request_catchup(self, source: str, now: float) -> None:
        if source == self.replica_id:
            return
        if now - self.catchup_requested_at < self.settings.retransmit_interval_s:
            return
        self.catchup_requested_at = now
        self._send(source, CatchUpRequest(self.replica_id, self.log.chosen_through + 1))

    def _advance_chosen(self) -> None:
        before = self.log.chosen_through
        if self.log.advance_chosen():
            self._out.records.append(ChosenThroughRecord(self.log.chosen_through))
            self._learn_configs(before + 1, self.log.chosen_through)

    def _learn_configs(self, first: int, last: int) -> None:
        """Adopt the membership changes chosen in slots ``first..last``."""
        learned = False
        for slot in range(max(first, self.log.compacted_through + 1), last + 1):
            entry = self.log.entries.get(slot)
            members = config_in(entry.value) if entry is not None else None
            if members is not None:
                learned = self.membership.learn(slot, members) or learned
        if learned:
            self._out.records.append(ConfigRecord(tuple(self.membership.history)))
            self._out.sync = True
            if self.replica_id not in self.membership.members and self.role is not Role.FOLLOWER:
                self._step_down(self._last_now)

    def _may_lead(self) -> bool:
        return self.membership.known and self.replica_id in self.membership.members

    def snapshot_configs(self, last_slot: int) -> tuple[Config, ...]:
        """The membership history a snapshot of the data applied through ``last_slot`` carries."""
        return self.membership.as_of(last_slot)

    def _emit_chosen(self) -> None:
        if self.log.emitted_through < self.log.chosen_through:
            self._out.to_apply.extend(self.log.take_to_apply())

    def _send(self, to: str, msg: Message) -> None:
        self._out.messages.append((to, msg))
