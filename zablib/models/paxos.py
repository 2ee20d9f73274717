"""Lamport's ``Paxos.tla`` (the TLA+ Examples repository, ``specifications/Paxos``) as an
explorable model.

The spec's variables, initial state and four actions, one method each, so that exploring the
model reaches the states TLC reaches: ``maxBal[a]`` (the highest ballot acceptor ``a`` took
part in), ``<<maxVBal[a], maxVal[a]>>`` (its vote with the highest ballot, ``<<-1, None>>``
before any), and ``msgs``, the set of every message ever sent (a message, once sent, may be
received any number of times, in any order, or never). Quorums are the majorities of the
acceptors, ballots ``0 .. max_ballot``.

``Phase1a(b)``
    Send ``[type |-> "1a", bal |-> b]``.
``Phase1b(a)``
    For a 1a message with ``bal > maxBal[a]``: set ``maxBal[a]`` and send a 1b message with
    ``a``'s highest vote.
``Phase2a(b, v)``
    If no 2a message of ballot ``b`` was sent, and the 1b messages of ballot ``b`` from some
    quorum either report no vote or report ``v`` as the value of their highest-numbered vote:
    send ``[type |-> "2a", bal |-> b, val |-> v]``.
``Phase2b(a)``
    For a 2a message with ``bal >= maxBal[a]``: vote for it (set ``maxBal``, ``maxVBal``,
    ``maxVal``) and send a 2b message.

Invariants: ``Inv``, the spec's inductive invariant, with the conjuncts of ``Voting``'s
``Inv`` that it includes through the refinement mapping (``votes[a]`` is the set of ``<<bal,
val>>`` of ``a``'s 2b messages): ``VotesSafe`` and ``OneValuePerBallot``; and ``Consistency``,
at most one value chosen (``chosen`` of ``Voting.tla``).

The published model ``MCPaxos.cfg`` (one acceptor, one value, ballots 0..1) has 25 distinct
states and depth 9 in the repository's ``manifest.json`` (and 82 states generated);
``Paxos(1, 1, 1)`` reaches the same (25 states, depth 9, 81 transitions from the initial state).
With three acceptors: ``Paxos(3, 1, 1)`` 1,681 states (depth 17), ``Paxos(3, 2, 1)`` 3,921 (17),
``Paxos(3, 1, 2)`` 68,921 (25), ``Paxos(3, 2, 2)`` 185,369 (25); Inv and Consistency hold in all.

``Paxos(..., rules=paxos.Rules(...))`` takes ``Phase1b`` and ``Phase2b`` from the acceptor rules
of :mod:`zablib.protocols.paxos` instead (the door exercise 11 uses): acceptor ``a`` receives a
1a or 2a message as a ``Prepare`` or ``Accept`` of slot 1, ballot ``b`` as ``Ballot(b, 1)``, no
ballot as ``ZERO``; the step's state becomes ``maxBal``/``maxVBal``/``maxVal``, and a ``Promise``
or ``Accepted`` reply is the 1b or 2b message sent (a Promise reports the vote it carries for slot
1). Every 1a and 2a message is offered to every acceptor; the guard is the rule's. With
``paxos.LAMPORT`` the model reaches exactly the spec's states.

The broken variant ``"any-value"`` drops the condition on the 1b messages' votes in
``Phase2a`` (a leader that ignores previously accepted values, as
:mod:`zablib.protocols.paxos`'s ``"ignore-accepted"``).

A state is a plain tuple ``(maxBal, maxVBal, maxVal, msgs)``; acceptors are ``0 ..
acceptors-1`` (printed ``a1 ..``), values ``"v1" ..``, ``None`` is the string ``"None"`` and
``msgs`` is a sorted tuple of message tuples: ``("1a", b)``, ``("1b", a, b, mbal, mval)``,
``("2a", b, v)``, ``("2b", a, b, v)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from itertools import combinations

import zablib.protocols.paxos as paxos

#: The spec's ``None``: the value of an acceptor that has not voted.
NONE = "None"
#: ``"correct"``, or the broken ``"any-value"``.
VARIANTS = ("correct", "any-value")
#: The invariants a :class:`Paxos` can check.
INVARIANTS = ("Inv", "Consistency")

def _positive(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _set(items: tuple, k: int, value) -> tuple:
    return items[:k] + (value,) + items[k + 1:]


def _send(msgs: tuple, m: tuple) -> tuple:
    return msgs if m in msgs else tuple(sorted(msgs + (m,)))


@functools.cache
def _ballot(number: int) -> paxos.Ballot:
    """The spec's ballot ``number`` (-1: none) as a protocol ballot."""
    return paxos.ZERO if number < 0 else paxos.Ballot(number, 1)


def _number(ballot: paxos.Ballot) -> int:
    """A protocol ballot as the spec's ballot number (its round; -1 for ``ZERO``)."""
    return -1 if ballot == paxos.ZERO else ballot.round


class Paxos:
    """``Paxos.tla`` with ``acceptors`` acceptors, ``values`` values and ballots
    ``0..max_ballot``; majority quorums.

    Parameters
    ----------
    acceptors, values : int
        At least 1 each.
    max_ballot : int
        The highest ballot, at least 0.
    variant : str
        ``"correct"`` or ``"any-value"`` (module docstring).
    invariants : tuple of str
        Which of :data:`INVARIANTS` to check (both by default).
    rules : ~zablib.protocols.paxos.Rules, optional
        Take the acceptors' actions from these rules (module docstring).
    """

    def __init__(self, acceptors: int = 3, values: int = 2, max_ballot: int = 1, *,
                 variant: str = "correct", invariants: tuple[str, ...] = INVARIANTS,
                 rules: paxos.Rules | None = None):
        if rules is not None and not isinstance(rules, paxos.Rules):
            raise ValueError(f"rules must be a paxos.Rules, got {rules!r}")
        self.rules = rules
        self.acceptors = _positive("acceptors", acceptors, 1)
        self.values = tuple(f"v{k}" for k in range(1, _positive("values", values, 1) + 1))
        self.ballots = tuple(range(_positive("max_ballot", max_ballot, 0) + 1))
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
        unknown = [name for name in invariants if name not in INVARIANTS]
        if unknown or not invariants:
            raise ValueError(f"invariants must name some of {INVARIANTS}, got {invariants!r}")
        self.variant = variant
        self.checked = tuple(invariants)
        ids = range(self.acceptors)
        self.quorums = tuple(q for size in range(self.acceptors // 2 + 1, self.acceptors + 1)
                             for q in combinations(ids, size))

    def init_states(self) -> list[tuple]:
        n = self.acceptors
        return [((-1,) * n, (-1,) * n, (NONE,) * n, ())]

    # -- the actions ------------------------------------------------------------------------
    def actions(self, state: tuple) -> Iterator[tuple[str, tuple]]:
        max_bal, max_vbal, max_val, msgs = state
        for b in self.ballots:
            yield f"Phase1a({b})", (max_bal, max_vbal, max_val, _send(msgs, ("1a", b)))
            for v in self.values:
                if self._phase2a_enabled(msgs, b, v):
                    yield f"Phase2a({b}, {v})", (max_bal, max_vbal, max_val,
                                                 _send(msgs, ("2a", b, v)))
        if self.rules is not None:
            yield from self._rule_actions(state)
            return
        for a in range(self.acceptors):
            for m in msgs:
                if m[0] == "1a" and m[1] > max_bal[a]:
                    yield f"Phase1b(a{a + 1}, {m[1]})", (
                        _set(max_bal, a, m[1]), max_vbal, max_val,
                        _send(msgs, ("1b", a, m[1], max_vbal[a], max_val[a])))
            for m in msgs:
                if m[0] == "2a" and m[1] >= max_bal[a]:
                    yield f"Phase2b(a{a + 1}, {m[1]}, {m[2]})", (
                        _set(max_bal, a, m[1]), _set(max_vbal, a, m[1]), _set(max_val, a, m[2]),
                        _send(msgs, ("2b", a, m[1], m[2])))

    def _rule_actions(self, state: tuple) -> Iterator[tuple[str, tuple]]:
        """Phase1b and Phase2b as the rules decide them."""
        max_bal, max_vbal, max_val, msgs = state
        for a in range(self.acceptors):
            accepted = () if max_vbal[a] < 0 else ((1, _ballot(max_vbal[a]), max_val[a]),)
            mine = paxos.AcceptorState(_ballot(max_bal[a]), accepted)
            for m in msgs:
                if m[0] == "1a":
                    name = "on_prepare"
                    step = paxos.as_step(self.rules.on_prepare(mine, paxos.Prepare(_ballot(m[1]), 1)),
                                         name)
                elif m[0] == "2a":
                    name = "on_accept"
                    step = paxos.as_step(self.rules.on_accept(
                        mine, paxos.Accept(_ballot(m[1]), 1, m[2])), name)
                else:
                    continue
                vote = [(b, v) for slot, b, v in step.state.accepted if slot == 1]
                vbal, val = (_number(vote[0][0]), vote[0][1]) if vote else (-1, NONE)
                after = (_set(max_bal, a, _number(step.state.promised)), _set(max_vbal, a, vbal),
                         _set(max_val, a, val))
                reply, sent = step.reply, msgs
                if isinstance(reply, paxos.Promise):
                    report = [(b, v) for slot, b, v in reply.accepted if slot == 1]
                    mbal, mval = (_number(report[0][0]), report[0][1]) if report else (-1, NONE)
                    sent = _send(msgs, ("1b", a, _number(reply.ballot), mbal, mval))
                elif isinstance(reply, paxos.Accepted):
                    sent = _send(msgs, ("2b", a, _number(reply.ballot), m[2]))
                if after != (max_bal, max_vbal, max_val) or sent != msgs:
                    label = "Phase1b" if name == "on_prepare" else "Phase2b"
                    args = f"a{a + 1}, {m[1]}" + (f", {m[2]}" if m[0] == "2a" else "")
                    yield f"{label}({args})", (*after, sent)

    def _phase2a_enabled(self, msgs: tuple, b: int, v: str) -> bool:
        if any(m[0] == "2a" and m[1] == b for m in msgs):
            return False
        reports = {(m[1], m[3], m[4]) for m in msgs if m[0] == "1b" and m[2] == b}
        for q in self.quorums:
            q1b = [(mbal, mval) for a, mbal, mval in reports if a in q]
            if {a for a, _, _ in reports if a in q} != set(q):
                continue
            if self.variant == "any-value":
                return True
            voted = [(mbal, mval) for mbal, mval in q1b if mbal >= 0]
            if not voted:
                return True
            top = max(mbal for mbal, _ in voted)
            if any(mval == v and mbal == top for mbal, mval in voted):
                return True
        return False

    # -- the invariants ---------------------------------------------------------------------
    def invariants(self) -> Mapping[str, Callable[[tuple], bool]]:
        named = {"Inv": self.inv, "Consistency": self.consistency}
        return {name: named[name] for name in self.checked}

    @staticmethod
    def votes(state: tuple) -> set[tuple[int, int, str]]:
        """The refinement mapping's ``votes``, flattened: ``(acceptor, ballot, value)``."""
        return {(m[1], m[2], m[3]) for m in state[3] if m[0] == "2b"}

    def chosen(self, state: tuple) -> set[str]:
        """``Voting``'s ``chosen``: the values a quorum voted for in one ballot."""
        votes = self.votes(state)
        return {v for v in self.values for b in self.ballots
                if any(all((a, b, v) in votes for a in q) for q in self.quorums)}

    def consistency(self, state: tuple) -> bool:
        """At most one value is chosen."""
        return len(self.chosen(state)) <= 1

    def _shows_safe_at(self, state: tuple, votes: set, q: tuple, b: int, v: str) -> bool:
        """``Voting``'s ``ShowsSafeAt(Q, b, v)``."""
        max_bal = state[0]
        if not all(max_bal[a] >= b for a in q):
            return False
        for c in range(-1, b):
            if c != -1 and not any((a, c, v) in votes for a in q):
                continue
            if all(not any((a, d, w) in votes for w in self.values)
                   for d in range(c + 1, b) for a in q):
                return True
        return False

    def _safe_at(self, state: tuple, votes: set, b: int, v: str) -> bool:
        """``Voting``'s ``SafeAt(b, v)``: no other value is choosable in a ballot below ``b``."""
        max_bal = state[0]

        def cannot_vote_at(a: int, c: int) -> bool:
            return max_bal[a] > c and not any((a, c, w) in votes for w in self.values)

        return all(any(all((a, c, v) in votes or cannot_vote_at(a, c) for a in q)
                       for q in self.quorums) for c in range(b))

    def inv(self, state: tuple) -> bool:
        """``Inv`` of ``Paxos.tla`` (its ``TypeOK`` holds by construction), with ``V!Inv``."""
        max_bal, max_vbal, max_val, msgs = state
        votes = self.votes(state)
        for a in range(self.acceptors):
            if max_vbal[a] == -1:
                if max_val[a] != NONE:
                    return False
            elif (a, max_vbal[a], max_val[a]) not in votes:
                return False
        for m in msgs:
            if m[0] == "1b":
                _, a, b, mbal, mval = m
                if max_bal[a] < b or (mbal >= 0 and (a, mbal, mval) not in votes):
                    return False
            elif m[0] == "2a":
                _, b, v = m
                if not any(self._shows_safe_at(state, votes, q, b, v) for q in self.quorums):
                    return False
                if any(mm[0] == "2a" and mm[1] == b and mm[2] != v for mm in msgs):
                    return False
            elif m[0] == "2b":
                _, a, b, v = m
                if max_vbal[a] < b or ("2a", b, v) not in msgs:
                    return False
        # Voting's Inv: VotesSafe and OneValuePerBallot
        if not all(self._safe_at(state, votes, b, v) for _, b, v in votes):
            return False
        per_ballot: dict[int, str] = {}
        return all(per_ballot.setdefault(b, v) == v for _, b, v in sorted(votes))
