"""Rules the commit protocols once had, kept to show that the checks catch them.

:class:`StopsAskingUncertainPeers` is 2PC's participant as it was before issue 11: once a peer
answered "uncertain", it was not asked again, since it had promised to pass the outcome on. The
promise lived in the peer's volatile memory, so a restart forgot it, and its one message could be
lost: the explorer (``CommitModel.stuck_states``) and the commit campaign
(``faults.commit_liveness``) both find the participant that then waits for good next to a live
peer that knows the outcome.
"""

from __future__ import annotations

from zablib.protocols import commit, twopc


class StopsAskingUncertainPeers(twopc.Participant):
    """A 2PC participant that never asks again a peer that answered "uncertain"."""

    answered: tuple = ()

    def key(self):
        return (*super().key(), self.answered)

    def on_message(self, now, src, msg):
        if isinstance(msg, twopc.Uncertain) and self.state == "prepared":
            self.answered = tuple(sorted({*self.answered, src}))
        out = super().on_message(now, src, msg)
        if self.decision is not None:
            self.answered = ()
        return out

    def on_timer(self, now, name):
        out = super().on_timer(now, name)
        out.sends = [(dst, msg) for dst, msg in out.sends if dst not in self.answered]
        return out


def old_rule_factory(votes):
    """``factory_for(votes)``: 2PC nodes with :class:`StopsAskingUncertainPeers` participants."""
    return commit.node_factory_of(twopc.Coordinator, StopsAskingUncertainPeers, votes)


def old_rule_cluster(participants, *, seed=0, votes=None):
    """A 2PC run whose participants follow the old rule (as ``twopc.cluster`` builds one)."""
    return twopc.TwoPCSimulation(old_rule_factory, participants, seed=seed, votes=votes)
