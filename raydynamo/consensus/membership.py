"""Group membership: which replicas form the group, and how it changes through the log.

A configuration is a set of replicas and the slot at which it was chosen: it governs every slot
after that one. A change is an ordinary slot whose value is one config command, and changes go
one at a time, each adding or removing ONE replica, so the majorities of two consecutive
configurations always intersect (no two disjoint majorities can ever exist).

The leader that proposes a change stalls: it cuts no slot after the change until the change is
chosen, so every slot after it is decided by the new configuration only. A candidate collects
promises from a majority of its latest chosen configuration and of every configuration it finds
in the promises for slots it will re-propose; a chosen change is always found (a majority of the
previous configuration accepted it, and that majority intersects the candidate's).

A replica that joins a running group starts with its configuration unknown (slot -1): it votes
when asked but never campaigns until it learned, from the log or a snapshot, a chosen
configuration that includes it.
Pure: no ray, no rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from raydynamo.consensus.types import Value

CONFIG_PREFIX = b"\x00raydynamo-config\x00"
HISTORY_MAX = 16
UNKNOWN_SLOT = -1


@dataclass(frozen=True, slots=True, order=True)
class Config:
    """``members`` govern every slot after ``slot`` (the slot the change was chosen in)."""

    slot: int
    members: tuple[str, ...]


def config_command(members: Iterable[str]) -> bytes:
    """The command of a slot that changes the configuration to ``members``."""
    return CONFIG_PREFIX + ",".join(sorted(members)).encode()


def config_in(value: Value) -> tuple[str, ...] | None:
    """The members a slot's value changes the configuration to, or None for other values."""
    if len(value) == 1 and value[0].startswith(CONFIG_PREFIX):
        return tuple(value[0][len(CONFIG_PREFIX) :].decode().split(","))
    return None


def is_config_command(command: bytes) -> bool:
    return command.startswith(CONFIG_PREFIX)


def majority(members: tuple[str, ...]) -> int:
    return len(members) // 2 + 1


def has_majority(voters: Iterable[str], members: tuple[str, ...]) -> bool:
    return len(set(voters) & set(members)) >= majority(members)


def single_change(old: tuple[str, ...], new: tuple[str, ...]) -> bool:
    """True when ``new`` adds or removes exactly one replica of ``old``."""
    a, b = set(old), set(new)
    return len(a ^ b) == 1


class Membership:
    """The configurations a replica knows, newest last (a bounded history, for snapshots)."""

    def __init__(self, history: Iterable[Config]) -> None:
        self.history = sorted(history)
        assert self.history, "a replica always knows some configuration"

    @property
    def current(self) -> Config:
        return self.history[-1]

    @property
    def members(self) -> tuple[str, ...]:
        return self.current.members

    @property
    def known(self) -> bool:
        return self.current.slot != UNKNOWN_SLOT

    def for_slot(self, slot: int) -> tuple[str, ...]:
        """The members that decide ``slot`` (the newest configuration chosen before it)."""
        for config in reversed(self.history):
            if config.slot < slot:
                return config.members
        return self.history[0].members

    def learn(self, slot: int, members: tuple[str, ...]) -> bool:
        """A change chosen at ``slot``; True if it is news."""
        if any(c.slot == slot for c in self.history) or slot <= self.current.slot:
            return False
        self.history = [c for c in self.history if c.slot != UNKNOWN_SLOT]
        self.history.append(Config(slot, tuple(sorted(members))))
        self.history = self.history[-HISTORY_MAX:]
        return True

    def as_of(self, slot: int) -> tuple[Config, ...]:
        """The history a snapshot taken after applying ``slot`` carries."""
        return tuple(c for c in self.history if c.slot <= slot and c.slot != UNKNOWN_SLOT)

    def install(self, configs: Iterable[Config]) -> None:
        """Adopt a snapshot's history, keeping what we know beyond it."""
        incoming = list(configs)
        if not incoming:
            return
        newest = max(c.slot for c in incoming)
        kept = [c for c in self.history if c.slot > newest]
        self.history = sorted(incoming + kept)[-HISTORY_MAX:]
