"""Lamport's ``TCommit`` and ``TwoPhase`` specifications as explorable models.

Each model has the TLA+ spec's variables, initial state and actions, one method per action, so
that exploring it reaches exactly the states TLC reaches. For three resource managers TLC
reports 34 distinct states (depth 7) for ``TCommit`` and 288 (depth 11) for ``TwoPhase``;
the comment at the end of ``TwoPhase.tla`` gives 50,816 reachable states for six.

A state is a plain tuple; resource managers are numbered ``0 .. rms - 1``. Sets of the specs
(``tmPrepared``, ``msgs``) are sorted tuples here, so that a state prints the same in every
process (a frozenset of strings would not: string hashing is randomised per process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

WORKING, PREPARED, COMMITTED, ABORTED = "working", "prepared", "committed", "aborted"

RMStates = tuple[str, ...]


def _check_rms(rms: int) -> int:
    if isinstance(rms, bool) or not isinstance(rms, int) or rms < 1:
        raise ValueError(f"rms (the number of resource managers) must be a positive int, got {rms!r}")
    return rms


def _set(states: RMStates, rm: int, value: str) -> RMStates:
    return states[:rm] + (value,) + states[rm + 1:]


def _add(items: tuple, item) -> tuple:
    """The set ``items`` (a sorted tuple) with ``item`` added."""
    return items if item in items else tuple(sorted(items + (item,)))


def consistent(rm_state: RMStates) -> bool:
    """TCConsistent: no resource manager has aborted while another has committed."""
    return not (ABORTED in rm_state and COMMITTED in rm_state)


class TCommit:
    """``TCommit.tla``: the transaction commit *problem*, with no messages at all.

    State: ``rmState`` as a tuple of strings. Actions: ``Prepare(rm)`` and ``Decide(rm)``.
    """

    def __init__(self, rms: int = 3):
        self.rms = _check_rms(rms)

    def init_states(self) -> list[RMStates]:
        return [(WORKING,) * self.rms]

    def actions(self, state: RMStates) -> Iterator[tuple[str, RMStates]]:
        can_commit = all(s in (PREPARED, COMMITTED) for s in state)
        not_committed = all(s != COMMITTED for s in state)
        for rm in range(self.rms):
            if state[rm] == WORKING:
                yield f"Prepare({rm})", _set(state, rm, PREPARED)
            if state[rm] == PREPARED and can_commit:
                yield f"Decide({rm})", _set(state, rm, COMMITTED)
            if state[rm] in (WORKING, PREPARED) and not_committed:
                yield f"Decide({rm})", _set(state, rm, ABORTED)

    def invariants(self) -> Mapping[str, Callable[[RMStates], bool]]:
        return {"TCConsistent": consistent}


# TwoPhase messages: ("Prepared", rm), ("Commit",), ("Abort",)
TPState = tuple[RMStates, str, tuple, tuple]


class TwoPhase:
    """``TwoPhase.tla``: two-phase commit with a transaction manager (TM).

    State: ``(rmState, tmState, tmPrepared, msgs)``; ``msgs`` only grows (a message, once sent,
    may be received any number of times). Actions: ``TMRcvPrepared(rm)``, ``TMCommit``,
    ``TMAbort``, ``RMPrepare(rm)``, ``RMChooseToAbort(rm)``, ``RMRcvCommitMsg(rm)``,
    ``RMRcvAbortMsg(rm)``.
    """

    def __init__(self, rms: int = 3):
        self.rms = _check_rms(rms)
        self._all = tuple(range(self.rms))

    def init_states(self) -> list[TPState]:
        return [((WORKING,) * self.rms, "init", (), ())]

    def actions(self, state: TPState) -> Iterator[tuple[str, TPState]]:
        rm_state, tm_state, tm_prepared, msgs = state
        if tm_state == "init" and tm_prepared == self._all:
            yield "TMCommit", (rm_state, "committed", tm_prepared, _add(msgs, ("Commit",)))
        if tm_state == "init":
            yield "TMAbort", (rm_state, "aborted", tm_prepared, _add(msgs, ("Abort",)))
        commit_sent, abort_sent = ("Commit",) in msgs, ("Abort",) in msgs
        for rm in range(self.rms):
            if tm_state == "init" and ("Prepared", rm) in msgs:
                yield f"TMRcvPrepared({rm})", (rm_state, tm_state, _add(tm_prepared, rm), msgs)
            if rm_state[rm] == WORKING:
                yield (f"RMPrepare({rm})",
                       (_set(rm_state, rm, PREPARED), tm_state, tm_prepared, _add(msgs, ("Prepared", rm))))
                yield f"RMChooseToAbort({rm})", (_set(rm_state, rm, ABORTED), tm_state, tm_prepared, msgs)
            if commit_sent:
                yield f"RMRcvCommitMsg({rm})", (_set(rm_state, rm, COMMITTED), tm_state, tm_prepared, msgs)
            if abort_sent:
                yield f"RMRcvAbortMsg({rm})", (_set(rm_state, rm, ABORTED), tm_state, tm_prepared, msgs)

    def invariants(self) -> Mapping[str, Callable[[TPState], bool]]:
        return {"TCConsistent": lambda s: consistent(s[0])}

    @staticmethod
    def waiting_for_tm(state: TPState) -> bool:
        """Some RM is prepared and the TM has not decided: that RM can only wait for the TM.

        These are the states in which a crash of the TM leaves a prepared RM blocked.
        """
        rm_state, tm_state, _, _ = state
        return tm_state == "init" and PREPARED in rm_state
