"""Timers, elections and hand-offs of a ``Replica`` (a mixin: these methods live on Replica).

A leader ticks heartbeats and retransmits, gives up when no majority answered for too long, and
hands leadership over when asked: it stops proposing, waits until the target has everything,
revokes its lease and tells the target to campaign at once. A candidate retransmits its Prepare
and gives up after an election timeout. A follower that has not heard a leader for an election
timeout first asks its peers whether they still hear one (the paper's gray-failure rule) and
campaigns only when none does and a majority of its configuration agrees.
Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raydynamo.consensus.leadership import Leadership
from raydynamo.consensus.membership import majority
from raydynamo.consensus.messages import (
    Heartbeat,
    LeaderQuery,
    LeaderQueryReply,
    LeaseRevoke,
    Prepare,
    TimeoutNow,
)
from raydynamo.consensus.types import Role

if TYPE_CHECKING:
    from raydynamo.consensus.replica import Replica

NEVER = float("-inf")


class ElectionsMixin:
    def _tick_leader(self: Replica, now: float) -> None:
        lead = self.leadership
        assert lead is not None
        self._grant(self.replica_id, now)
        if now - lead.last_heartbeat_at >= self.settings.heartbeat_interval_s:
            lead.last_heartbeat_at = now
            beat = Heartbeat(self.replica_id, lead.ballot, self.log.chosen_through, now)
            for peer in self.peers:
                self._send(peer, beat)
        lead.retransmit(self.log, self._out, now)
        if lead.handoff_target is not None:
            self._tick_handoff(lead, now)
            return
        # Check quorum: a leader no majority has answered for an election timeout steps down, so
        # that clients stop waiting on it.
        silent_since = max(lead.quorum_contact_at(), lead.started_at)
        if now - silent_since > self.settings.election_timeout_s + self.settings.lease_duration_s:
            self._step_down(now)

    def _tick_handoff(self: Replica, lead: Leadership, now: float) -> None:
        target = lead.handoff_target
        assert target is not None
        caught_up = lead.peer_chosen_through.get(target, 0) >= lead.last_proposed_slot()
        if caught_up and not lead.inflight:
            ballot = lead.ballot
            self._step_down(now)
            self.grant_until = NEVER
            self.leader_id = target
            for peer in self.peers:
                self._send(peer, LeaseRevoke(self.replica_id, ballot))
            self._send(target, TimeoutNow(self.replica_id, ballot))
        elif now - lead.handoff_started_at > self.settings.handoff_timeout_s:
            lead.handoff_target = None

    def _tick_candidate(self: Replica, now: float) -> None:
        lead = self.leadership
        assert lead is not None
        if now >= self.election_at:
            self._step_down(now)
            return
        if now - lead.prepare_sent_at >= self.settings.retransmit_interval_s:
            lead.prepare_sent_at = now
            for peer in self.peers:
                if peer not in lead.promises:
                    self._send(peer, Prepare(self.replica_id, lead.ballot, lead.from_slot, now))

    def _tick_follower(self: Replica, now: float) -> None:
        if not self._may_lead():
            return  # joining, or removed: votes when asked, never starts an election
        if self.query_started_at is not None:
            if now - self.query_started_at >= 2 * self.settings.retransmit_interval_s:
                self.query_started_at = None
                self.election_at = now + self._election_delay()
            return
        if now < self.election_at:
            return
        if now - self.last_heard_at < self.settings.election_timeout_s:
            self.election_at = self.last_heard_at + self.settings.election_timeout_s
            self.election_at += self._election_delay()
            return
        self.query_nonce += 1
        self.query_started_at = now
        self.query_replies = {}
        for peer in self.peers:
            self._send(peer, LeaderQuery(self.replica_id, self.query_nonce))

    def _decide_election(self: Replica, now: float) -> None:
        if any(self.query_replies.values()):
            self.query_started_at = None
            self.election_at = now + self.settings.election_timeout_s + self._election_delay()
            return
        voters = {self.replica_id, *self.query_replies}
        if len(voters & set(self.members)) >= majority(self.members):
            self.query_started_at = None
            self.campaign(now)

    def _on_LeaderQuery(self: Replica, msg: LeaderQuery, now: float) -> None:
        hears = self.role is Role.LEADER or (
            self.leader_id not in (None, msg.sender)
            and now - self.last_heard_at < self.settings.lease_duration_s
        )
        reply = LeaderQueryReply(self.replica_id, msg.nonce, hears, self.promised)
        self._send(msg.sender, reply)

    def _on_LeaderQueryReply(self: Replica, msg: LeaderQueryReply, now: float) -> None:
        if self.query_started_at is None or msg.nonce != self.query_nonce:
            return
        self.query_replies[msg.sender] = msg.hears_leader
        self._see_round(msg.leader_ballot)
        self._decide_election(now)

    def _on_LeaseRevoke(self: Replica, msg: LeaseRevoke, now: float) -> None:
        if self.grant_holder == msg.sender and msg.ballot >= self.promised:
            self.grant_until = NEVER
            self.leader_id = None
            self.last_heard_at = NEVER

    def _on_TimeoutNow(self: Replica, msg: TimeoutNow, now: float) -> None:
        if msg.ballot == self.promised and self.role is Role.FOLLOWER:
            self._on_LeaseRevoke(LeaseRevoke(msg.sender, msg.ballot), now)
            self.campaign(now)

    def transfer_leadership(self: Replica, target: str, now: float) -> bool:
        """Hand leadership to ``target`` once it has caught up; False if we cannot."""
        lead = self.leadership
        if self.role is not Role.LEADER or lead is None or target not in self.peers:
            return False
        lead.handoff_target = target
        lead.handoff_started_at = now
        return True
