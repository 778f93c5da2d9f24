"""One reign of a replica: its ballot's phase 1 (as candidate) and phase 2 (as leader).

A ``Leadership`` exists while this replica campaigns or leads with ``ballot``; it is dropped the
moment the replica steps down, and with it everything that was only pending. It owns:
- the promises collected in phase 1, the configurations whose majorities they must cover, and
  the recovery of every unchosen slot from them,
- the bounded window of slots in flight (``slots_in_flight_max``), each with the configuration
  whose majority decides it, and the queue of proposed commands not yet cut into a slot
  (``pending_commands_max``); everything queued while the window is full goes out together in
  the next slot (group commit),
- at most one membership change in flight: after its slot nothing is cut until it is chosen,
- the acknowledgements that make the leader's lease.

Writes to the log and the outbox go through the ``PaxosLog`` and ``Ready`` passed in, so the
replica stays the one owner of its state. Pure: no ray, no rocksdict, no clock, no randomness.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from raydynamo.consensus.log import PaxosLog
from raydynamo.consensus.membership import (
    Membership,
    config_command,
    config_in,
    has_majority,
    majority,
)
from raydynamo.consensus.messages import Accept, Promise
from raydynamo.consensus.types import (
    NOOP,
    Ballot,
    Entry,
    EntryRecord,
    Ready,
    Settings,
    Value,
)
from raydynamo.limits import ACCEPT_SLOTS_PER_MESSAGE_MAX


@dataclass(slots=True)
class InflightSlot:
    value: Value
    acks: set[str]
    sent_at: float
    members: tuple[str, ...]  # the configuration whose majority decides this slot


class Leadership:
    def __init__(
        self,
        replica_id: str,
        ballot: Ballot,
        from_slot: int,
        membership: Membership,
        settings: Settings,
        now: float,
    ) -> None:
        self.replica_id = replica_id
        self.ballot = ballot
        self.from_slot = from_slot
        self.membership = membership
        self.settings = settings
        self.leading = False
        self.started_at = now
        self.prepare_sent_at = now
        self.promises: dict[str, Promise] = {}
        self.required: list[tuple[str, ...]] = [membership.members]
        self.next_slot = 0
        self.recovered_through = 0
        self.inflight: dict[int, InflightSlot] = {}
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.config_request: tuple[str, ...] | None = None
        self.config_slot: int | None = None  # a change in flight: nothing is cut after it
        self.config_members: tuple[str, ...] | None = None
        self.acked_sent_at: dict[str, float] = {}
        self.peer_chosen_through: dict[str, int] = {}
        self.last_heartbeat_at = float("-inf")
        self.handoff_target: str | None = None
        self.handoff_started_at = 0.0

    # --- who we talk to --------------------------------------------------------------------------

    def configurations(self) -> list[tuple[str, ...]]:
        """The configurations whose majorities matter now: the chosen one and a change in flight."""
        configs = [self.membership.members]
        if self.config_members is not None and self.config_members not in configs:
            configs.append(self.config_members)
        return configs

    def peers(self) -> tuple[str, ...]:
        everyone: set[str] = set()
        for members in [*self.configurations(), *self.required]:
            everyone.update(members)
        everyone.discard(self.replica_id)
        return tuple(sorted(everyone))

    # --- lease ---------------------------------------------------------------------------------

    def note_ack(self, peer: str, sent_at: float) -> None:
        """``peer`` answered a message of this ballot that we sent at ``sent_at`` (our clock)."""
        if sent_at > self.acked_sent_at.get(peer, float("-inf")):
            self.acked_sent_at[peer] = sent_at

    def quorum_contact_at(self) -> float:
        """The latest send time such that a majority of every configuration that matters (us
        included) acknowledged a message we sent at or after it; -inf if none ever did."""
        contact = float("inf")
        for members in self.configurations():
            times = sorted(
                (self.acked_sent_at.get(m, float("-inf")) for m in members if m != self.replica_id),
                reverse=True,
            )
            needed = majority(members) - (1 if self.replica_id in members else 0)
            if needed > len(times):
                return float("-inf")
            if needed > 0:
                contact = min(contact, times[needed - 1])
        return contact

    def lease_until(self) -> float:
        return self.quorum_contact_at() + self.settings.leader_lease_s

    # --- phase 1 -------------------------------------------------------------------------------

    def note_promise(self, promise: Promise, log: PaxosLog) -> list[str]:
        """Record a promise; return replicas newly required to be asked (a configuration found
        in the reported entries whose majority must promise too)."""
        self.promises[promise.sender] = promise
        self.note_ack(promise.sender, promise.sent_at)
        asked = set(self.peers())
        for _, entries in self._own_and_promised(log):
            for slot, entry in entries:
                members = config_in(entry.value)
                if slot >= self.from_slot and members is not None and members not in self.required:
                    self.required.append(members)
        return sorted(set(self.peers()) - asked)

    def has_promise_quorum(self) -> bool:
        voters = {*self.promises, self.replica_id}
        return all(has_majority(voters, members) for members in self.required)

    def recover(self, log: PaxosLog, out: Ready, now: float) -> None:
        """Phase 1 done: re-propose, in our ballot, every slot any promise reported, choosing for
        each the chosen value if anyone knows it, else the value of the highest ballot, else a
        no-op. Reads wait until all of them are applied (``recovered_through``); a membership
        change among them stalls new slots until it is chosen."""
        reports: dict[int, list[Entry]] = {}
        for _, entry_list in self._own_and_promised(log):
            for slot, entry in entry_list:
                if slot >= self.from_slot:
                    reports.setdefault(slot, []).append(entry)
        top = max(reports, default=self.from_slot - 1)
        top = max(top, log.chosen_through)
        deciding = self.membership.for_slot(max(self.from_slot, log.compacted_through + 1))
        for slot in range(max(self.from_slot, log.compacted_through + 1), top + 1):
            if log.is_chosen(slot):
                # Already known chosen here: re-send it anyway so every follower learns it.
                value = log.entries[slot].value
            else:
                value = self._recovered_value(reports.get(slot, []))
                log.put(slot, Entry(self.ballot, value))
                out.records.append(EntryRecord(slot, Entry(self.ballot, value)))
                out.sync = True
            self.inflight[slot] = InflightSlot(value, {self.replica_id}, now, deciding)
            changed = config_in(value)
            if changed is not None:
                deciding = changed
                if slot > log.chosen_through:  # not learned yet: stall until it is
                    self.config_slot, self.config_members = slot, changed
        self.next_slot = top + 1
        self.recovered_through = top
        self.leading = True
        self._send_accepts(sorted(self.inflight), log, out, now)

    def _own_and_promised(self, log: PaxosLog) -> list[tuple[str, list[tuple[int, Entry]]]]:
        own = list(log.entries_from(self.from_slot))
        return [(self.replica_id, own)] + [
            (peer, list(p.entries)) for peer, p in self.promises.items()
        ]

    @staticmethod
    def _recovered_value(entries: list[Entry]) -> Value:
        for entry in entries:
            if entry.chosen:
                return entry.value
        if not entries:
            return NOOP
        return max(entries, key=lambda e: e.ballot).value

    # --- phase 2 -------------------------------------------------------------------------------

    def enqueue(self, commands: list[bytes]) -> bool:
        """Queue commands for the next slot; False if the queue is full (back-pressure)."""
        if len(self.pending) + len(commands) > self.settings.pending_commands_max:
            return False
        self.pending.extend(commands)
        self.pending_bytes += sum(len(c) for c in commands)
        return True

    def stalled(self, log: PaxosLog) -> bool:
        """True while a membership change is in flight (nothing may be cut after it)."""
        if self.config_slot is None:
            return False
        if log.chosen_through >= self.config_slot:
            self.config_slot = self.config_members = None
            return False
        return True

    def cut_slots(self, log: PaxosLog, out: Ready, now: float) -> None:
        """Move pending commands (or a requested membership change) into new slots while the
        window has room and no change is in flight."""
        if not self.leading or self.handoff_target is not None:
            return
        new_slots: list[int] = []
        while len(self.inflight) < self.settings.slots_in_flight_max and not self.stalled(log):
            if self.config_request is not None and not new_slots and self.recovered(log):
                self._cut(log, out, now, (config_command(self.config_request),))
                self.config_slot, self.config_members = self.next_slot - 1, self.config_request
                self.config_request = None
                new_slots.append(self.next_slot - 1)
                break
            if not self.pending:
                break
            new_slots.append(self._cut(log, out, now, self._take_batch()))
        if new_slots:
            self._send_accepts(new_slots, log, out, now)

    def recovered(self, log: PaxosLog) -> bool:
        return log.chosen_through >= self.recovered_through

    def _cut(self, log: PaxosLog, out: Ready, now: float, value: Value) -> int:
        slot = self.next_slot
        assert not log.is_chosen(slot), "a leader never cuts a slot already chosen"
        self.next_slot += 1
        log.put(slot, Entry(self.ballot, value))
        out.records.append(EntryRecord(slot, Entry(self.ballot, value)))
        out.sync = True
        self.inflight[slot] = InflightSlot(value, {self.replica_id}, now, self.membership.members)
        return slot

    def _take_batch(self) -> Value:
        commands: list[bytes] = []
        size = 0
        limit_n = self.settings.batch_commands_max
        limit_b = self.settings.batch_bytes_max
        while self.pending and len(commands) < limit_n:
            command = self.pending[0]
            if commands and size + len(command) > limit_b:
                break
            self.pending.popleft()
            commands.append(command)
            size += len(command)
        self.pending_bytes -= size
        return tuple(commands)

    def _send_accepts(
        self,
        slots: list[int],
        log: PaxosLog,
        out: Ready,
        now: float,
        to: tuple[str, ...] | None = None,
    ) -> None:
        targets = to if to is not None else self.peers()
        for i in range(0, len(slots), ACCEPT_SLOTS_PER_MESSAGE_MAX):
            chunk = slots[i : i + ACCEPT_SLOTS_PER_MESSAGE_MAX]
            entries = tuple((s, self.inflight[s].value) for s in chunk)
            msg = Accept(self.replica_id, self.ballot, entries, log.chosen_through, now)
            for peer in targets:
                out.messages.append((peer, msg))

    def on_accepted(self, peer: str, slots: tuple[int, ...], log: PaxosLog) -> list[int]:
        """Count ``peer``'s votes; return the slots that just reached their majority."""
        newly_chosen: list[int] = []
        for slot in slots:
            flight = self.inflight.get(slot)
            if flight is None:
                continue
            flight.acks.add(peer)
            if has_majority(flight.acks, flight.members):
                del self.inflight[slot]
                if log.mark_chosen(slot, flight.value):
                    newly_chosen.append(slot)
        return newly_chosen

    def retransmit(self, log: PaxosLog, out: Ready, now: float) -> None:
        """Re-send Accepts that a peer has not answered within the retransmit interval."""
        late = [
            s
            for s, f in self.inflight.items()
            if now - f.sent_at >= self.settings.retransmit_interval_s
        ]
        if not late:
            return
        late.sort()
        for peer in self.peers():
            missing = [s for s in late if peer not in self.inflight[s].acks]
            if missing:
                self._send_accepts(missing, log, out, now, to=(peer,))
        for s in late:
            self.inflight[s].sent_at = now

    def drop_inflight_through(self, slot: int) -> None:
        """Slots up to ``slot`` are known chosen by other means (catch-up, snapshot)."""
        for s in [s for s in self.inflight if s <= slot]:
            del self.inflight[s]

    def last_proposed_slot(self) -> int:
        return self.next_slot - 1
