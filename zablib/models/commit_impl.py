"""Implementation-level models: the real 2PC and 3PC node classes, explored exhaustively.

:class:`CommitModel` does not re-implement a protocol. It is given the protocol module
(:mod:`zablib.protocols.twopc` or :mod:`zablib.protocols.threepc`), its states hold that
module's nodes (as their ``key()`` snapshots), and its successors are made by the simulator
itself: the model sets up a state on a :class:`~zablib.sim.Simulation`
(:meth:`~zablib.sim.Simulation.set_state`), imposes one event
(:meth:`~zablib.sim.Simulation.deliver_now`, :meth:`~zablib.sim.Simulation.fire_now`) and reads
back what the node wrote, which timers it left pending and what it sent. So the very
``on_message`` / ``on_timer`` run, and their ``Output`` is carried out by the one interpreter of
``Output`` there is. Each of these is a choice of the explorer:

``deliver 0->1 Prepare``
    one message in flight reaches its destination (in any order: links do not keep FIFO);
``timeout 2 decision``
    a node's pending timer fires (when it may, see below);
``crash 1``, ``crash 0 losing 0->2 Decision(abort)``
    a live node stops, while fewer than ``crashes`` crashes have happened. Messages on their way
    to it are lost. Of the messages it has sent that are still in flight, any subset may be lost
    too (one choice per subset): a node can die in the middle of a broadcast, having sent its
    decision to some nodes and not to others (Skeen 1981's failure model, and the source note's
    scenario). Without ``recovery`` the crash is for good (crash-stop);
``recover 1``
    with ``recovery=True``: a crashed node restarts from its stable storage, as
    :meth:`~zablib.sim.Simulation.recover` restarts it (a fresh node built from what it
    persisted, then ``on_start``), while the messages sent before stay in flight. It may crash
    again while the crash budget lasts;
``partition {0, 1} | {2}``
    with ``partitions=True``, once: the nodes split into two groups; messages between the
    groups, in flight or sent later, are lost.

**When a timeout may fire.** A node's timer waits for particular peers (``node.awaiting(name)``).
Without partitions the timer fires only when every peer it waits for has really crashed, and
everything that peer sent to the waiting node before crashing has arrived: a *perfect failure
detector* in a synchronous network (timeouts longer than any message delay), which is the
setting in which Skeen proved three-phase commit non-blocking. With ``partitions=True`` it also
fires when those peers are on the other side of the split: the failure detector cannot tell a
cut-off node from a crashed one. With ``recovery=True`` it also fires when the peer, or the
waiting node itself, has restarted since the run began: a crash at either end may have lost what
the node waits for (a request, or the answer to it), and a restarted node no longer answers as
before. (The rule does not remember *when* the restart happened, so it allows a few more
timeouts than a synchronous network would: more runs for the invariants to hold in.)

**State.** A :class:`CommitState`: every node's ``key()`` (None while crashed), its stable
storage, its pending timers, the messages in flight (as a sorted tuple), which nodes are down,
the partition, which nodes have restarted and how many crashes have happened. In-flight
messages form a *set*: a second copy of a message already in flight adds no behaviour, since
each node answers a repeated message exactly as the first. This is also what keeps a blocked
participant, which asks again and again, from growing the state space forever.

**Invariants** (checked by :func:`zablib.explore.explore` in every state): *agreement* (no two
nodes' durable decisions differ) and *validity* (commit only if every participant durably voted
yes). **Blocking** and **liveness** are not state invariants but properties of the state graph
(explore with ``keep_graph=True`` to use them):

* :meth:`CommitModel.blocked_states`: some live node is undecided and no continuation at all
  lets it decide (2PC's blocking, when every node that knows the outcome is down for good);
* :meth:`CommitModel.stuck_states`: some live node is undecided although it should decide
  (a live node on its side of the network knows the outcome, or every node is up and the
  network whole), and no continuation *without further faults* lets it decide. A correct
  protocol has none: that is "whenever a live, reachable node knows the outcome, every live
  participant eventually learns it", checked over every interleaving.

Findings (``explore(model, keep_graph=True)``; every combination of votes; "states" are distinct
states, or those found when the search stopped at its first violation):

=======================================================  =======  =====  =====================================
model                                                     states  depth  finding
=======================================================  =======  =====  =====================================
``CommitModel(twopc, 2)``                                     96      7  no violation, nothing blocks
``CommitModel(twopc, 2, crashes=1)``                         567     14  no violation; 72 blocked states
``CommitModel(twopc, 2, crashes=2)``                         923     14  no violation; 160 blocked states
``CommitModel(threepc, 2, crashes=1)``                       585     15  no violation, nothing blocks
``CommitModel(threepc, 2, crashes=2)``                     1,077     16  no violation, nothing blocks
``CommitModel(threepc, 3, crashes=3)``                    35,540     26  no violation, nothing blocks
``CommitModel(threepc, 2, partitions=True)``                 715     10  agreement broken in 9 steps
``CommitModel(threepc, 3, partitions=True)``              22,012     14  agreement broken in 13 steps
``CommitModel(threepc, 2, crashes=1, variant="wrong")``      585     15  no violation: one crash is not enough
``CommitModel(threepc, 2, crashes=2, variant="wrong")``      997     12  agreement broken in 11 steps
``CommitModel(twopc, 3, crashes=1)``                      99,263     26  no violation; 35,152 blocked
``CommitModel(twopc, 2, crashes=2, recovery=True)``       23,714     20  no violation, nothing stuck
``CommitModel(twopc, 2, crashes=3, recovery=True)``       61,893     21  no violation, nothing stuck
``CommitModel(threepc, 2, crashes=1, recovery=True)``      4,032     20  no violation, nothing stuck
``CommitModel(threepc, 2, crashes=2, recovery=True)``     81,296     29  no violation, nothing stuck
``CommitModel(threepc, 2, crashes=3, recovery=True)``    763,815     39  no violation, nothing stuck
=======================================================  =======  =====  =====================================

Blocked 2PC states are many because uncertain participants keep questioning each other; with
three participants that chatter makes 2PC's state space larger than 3PC's. With restarts nothing
blocks (a node that knows can always come back), and nothing is stuck: 2PC's participant asks
everyone again until it knows, and the rule it had before (stop asking a peer that answered
"uncertain") leaves 4 stuck states in ``CommitModel(twopc, 2, crashes=2, recovery=True)``. The
tests (``tests/test_commit_models.py``) assert the two-participant rows up to 23,714 states;
``benchmarks/bench_explore.py`` measures the crash-recovery models up to 81,296 states (the
last row takes minutes).

:func:`replay` turns a run found by the explorer into a real simulation whose trace (and so
space-time diagram) shows exactly that run.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from zablib.core import Message, Node, NodeId
from zablib.explore import Result, Violation
from zablib.invariants import InvariantViolation
from zablib.protocols.commit import VOTES, CommitSimulation, check_participants, check_validity, parse_votes
from zablib.sim import InFlight, NodeFactory


@dataclass(frozen=True)
class CommitState:
    """One state of a :class:`CommitModel` (plain, hashable data).

    Attributes
    ----------
    nodes : tuple
        ``nodes[i]`` is node ``i``'s ``key()``, or None once it has crashed.
    storage : tuple
        ``storage[i]`` is node ``i``'s stable storage as sorted ``(name, value)`` pairs.
    timers : tuple
        ``timers[i]`` is the sorted tuple of node ``i``'s pending timer names.
    in_flight : tuple
        The messages on their way, ``(src, dst, message)``, sorted, without repeats.
    crashed : tuple of int
        The crashed nodes, ascending.
    groups : tuple or None
        The partition, two sorted tuples of node ids, or None.
    restarted : tuple of int
        The nodes that have crashed and restarted (at least once), ascending.
    crash_count : int
        How many crashes have happened so far (a node that crashes twice counts twice).
    """

    nodes: tuple
    storage: tuple
    timers: tuple
    in_flight: tuple
    crashed: tuple
    groups: tuple | None
    restarted: tuple = ()
    crash_count: int = 0

    def decisions(self) -> dict[NodeId, str | None]:
        """Every node's durable decision, ``"commit"``, ``"abort"`` or None."""
        return {i: dict(s).get("decision") for i, s in enumerate(self.storage)}

    def __str__(self) -> str:
        parts = []
        for i, s in enumerate(self.storage):
            if i in self.crashed:
                decided = dict(s).get("decision")
                parts.append(f"{i}:crashed" + (f"({decided})" if decided else ""))
            else:
                restarted = "(restarted)" if i in self.restarted else ""
                parts.append(f"{i}:{_state_of(self.nodes[i])}{restarted}")
        text = " ".join(parts)
        if self.in_flight:
            text += " | in flight: " + ", ".join(
                f"{a}->{b} {m.describe()}" for a, b, m in self.in_flight)
        if self.groups:
            text += " | split " + " / ".join("{" + ", ".join(map(str, g)) + "}" for g in self.groups)
        return text

    __repr__ = __str__


def _state_of(key: tuple) -> str:
    return str(key[0])  # every node's key() starts with its protocol state


def _check_crashes(crashes: int, nodes: int | None) -> int:
    """``crashes`` if it is a non-negative int, at most ``nodes`` (when a node crashes once)."""
    if isinstance(crashes, bool) or not isinstance(crashes, int) or crashes < 0:
        raise ValueError(f"crashes must be a non-negative int, got {crashes!r}")
    if nodes is not None and crashes > nodes:
        raise ValueError(f"crashes={crashes} but there are only {nodes} nodes (0..{nodes - 1})")
    return crashes


class CommitModel:
    """The real 2PC/3PC nodes as an explorable model (see the module docstring).

    Parameters
    ----------
    protocol : module
        The protocol whose nodes to explore: :mod:`zablib.protocols.twopc` or
        :mod:`zablib.protocols.threepc` (any module with ``node_factory(votes, **options)`` and
        ``cluster(participants, *, seed, votes, **options)`` in their manner).
    participants : int
        Number of participants (node 0 is the coordinator); keep it at 2 or 3, the state space
        grows fast.
    crashes : int
        At most this many crashes happen.
    recovery : bool
        Crash-recovery: a crashed node may restart from its stable storage (``recover i``), as
        often as the crash budget allows. Without it a crash is for good (crash-stop).
    partitions : bool
        Let the network split once into two groups; timeouts then also fire on cut-off peers.
    votes : mapping, optional
        Fixed votes ``{participant: "yes" | "no"}`` (others vote yes); by default every
        combination of votes is an initial state.
    factory_for : callable, optional
        ``factory_for(votes) -> factory(node_id, peers, storage)``: build the nodes with this
        instead of the protocol's own ``node_factory``, e.g. to explore a modified participant
        class (a rule removed to see why it is there). Nodes must offer ``key()``,
        ``awaiting(timer)`` and ``vote`` (participants) as the protocol's nodes do.
    **options
        The protocol's own options, passed to its ``node_factory`` and ``cluster``: for 3PC
        ``variant=`` and ``termination_rule=``.

    Examples
    --------
    >>> from zablib.protocols import threepc
    >>> CommitModel(threepc, 2, partitions=True)
    CommitModel(threepc, 2, crashes=0, partitions=True)
    """

    def __init__(self, protocol: ModuleType, participants: int = 2, *, crashes: int = 0,
                 recovery: bool = False, partitions: bool = False,
                 votes: Mapping[int, str] | None = None,
                 factory_for: Callable[[dict[NodeId, str]], NodeFactory] | None = None,
                 **options: Any):
        if not (isinstance(protocol, ModuleType) and callable(getattr(protocol, "node_factory", None))
                and callable(getattr(protocol, "cluster", None))):
            raise ValueError(f"protocol must be a commit protocol module (zablib.protocols.twopc or "
                             f"threepc), got {protocol!r}")
        check_participants(participants)
        if not isinstance(recovery, bool):
            raise ValueError(f"recovery must be True or False, got {recovery!r}")
        # With restarts a node may crash more than once: the budget has no upper bound.
        _check_crashes(crashes, None if recovery else participants + 1)
        if not isinstance(partitions, bool):
            raise ValueError(f"partitions must be True or False, got {partitions!r}")
        if votes is not None and not isinstance(votes, Mapping):
            raise ValueError(f"votes must be a mapping or None, got {votes!r}")
        self.protocol = protocol
        self.name = protocol.__name__.rpartition(".")[2]
        accepted = [k for k in inspect.signature(protocol.node_factory).parameters if k != "votes"]
        for option in options:
            if option not in accepted:
                raise ValueError(f"{self.name} has no option {option!r}; "
                                 f"its options are {', '.join(accepted) or 'none'}")
        self.options = options
        self.participants = participants
        self.crashes = crashes
        self.recovery = recovery
        self.partitions = partitions
        self.ids: tuple[NodeId, ...] = tuple(range(participants + 1))
        if votes is None:
            self.vote_choices = [dict(zip(self.ids[1:], combo, strict=True)) for combo in
                                 itertools.product(VOTES, repeat=participants)]
        else:
            self.vote_choices = [parse_votes(votes, participants)]
        if factory_for is not None and not callable(factory_for):
            raise ValueError(f"factory_for must be callable, got {factory_for!r}")
        protocol.node_factory(self.vote_choices[0], **options)  # bad option values fail here
        self.custom_nodes = factory_for is not None
        self.factory_for = factory_for or (lambda votes: protocol.node_factory(votes, **options))
        self._nodes: dict[tuple[NodeId, tuple], Node] = {}  # (id, key) -> a node in that state
        self._sort_keys: dict[Message, str] = {}
        # (node, key, storage, timers, message, timer) -> what the node became: see _read_back.
        self._local_steps: dict[tuple, tuple] = {}
        self._splits = self._all_splits() if partitions else []
        # The simulator on which every transition is made: set up a state, impose one event.
        self._bench = self._simulation(self.vote_choices[0])
        self._bench.freeze("it is the explorer's workbench: events are imposed, not scheduled")

    def __repr__(self) -> str:
        options = "".join(f", {k}={getattr(v, '__name__', v)!s}" if callable(v) else f", {k}={v!r}"
                          for k, v in self.options.items())
        recovery = ", recovery=True" if self.recovery else ""
        return (f"CommitModel({self.name}, {self.participants}, crashes={self.crashes}{recovery}, "
                f"partitions={self.partitions}{options})")

    def _simulation(self, votes: Mapping[int, str], seed: int = 0) -> CommitSimulation:
        """A fresh run of the protocol with these votes, built from the model's nodes."""
        if self.custom_nodes:
            return CommitSimulation(self.factory_for, self.participants, seed=seed, votes=dict(votes))
        return self.protocol.cluster(self.participants, seed=seed, votes=dict(votes), **self.options)

    # -- the Model protocol of zablib.explore ---------------------------------------------
    def init_states(self) -> list[CommitState]:
        """One initial state per choice of votes: every node booted (``on_start`` done)."""
        return [self._boot(votes) for votes in self.vote_choices]

    def actions(self, state: CommitState) -> Iterator[tuple[str, CommitState]]:
        """Every delivery, enabled timeout, crash, recovery and (once) partition, in a fixed
        order."""
        for k, (src, dst, msg) in enumerate(state.in_flight):
            rest = state.in_flight[:k] + state.in_flight[k + 1:]
            nxt = self._step(state, dst, rest, message=(src, msg))
            if nxt != state:
                yield f"deliver {src}->{dst} {msg.describe()}", nxt
        for i in self.ids:
            if i in state.crashed:
                continue
            for name in state.timers[i]:
                if self._may_fire(state, i, name):
                    nxt = self._step(state, i, state.in_flight, timer=name)
                    if nxt != state:
                        yield f"timeout {i} {name}", nxt
        if state.crash_count < self.crashes:
            for i in self.ids:
                if i in state.crashed:
                    continue
                outgoing = [m for m in state.in_flight if m[0] == i]
                for size in range(len(outgoing) + 1):
                    for lost in itertools.combinations(outgoing, size):
                        label = f"crash {i}"
                        if lost:
                            label += " losing " + "; ".join(f"{a}->{b} {m.describe()}"
                                                            for a, b, m in lost)
                        yield label, self._crash(state, i, lost)
        if self.recovery:
            for i in state.crashed:
                yield f"recover {i}", self._recover(state, i)
        if state.groups is None:
            for groups in self._splits:
                yield "partition " + " | ".join(_group_text(g) for g in groups), \
                    self._split(state, groups)

    def invariants(self) -> Mapping[str, Callable[[CommitState], bool]]:
        """``agreement`` and ``validity`` (see the module docstring)."""
        return {"agreement": self.agreement, "validity": self.validity}

    # -- properties ------------------------------------------------------------------------
    @staticmethod
    def agreement(state: CommitState) -> bool:
        """No two nodes' durable decisions differ."""
        decided = {d for d in state.decisions().values() if d is not None}
        return len(decided) <= 1

    @staticmethod
    def validity(state: CommitState) -> bool:
        """Commit only if every participant durably voted yes."""
        try:
            check_validity({i: dict(s) for i, s in enumerate(state.storage)})
        except InvariantViolation:
            return False
        return True

    def outcome(self, state: CommitState) -> dict[NodeId, str | None]:
        """``{node: "commit" | "abort" | None}`` in ``state``, as ``sim.outcome()`` gives it."""
        return state.decisions()

    def undecided(self, state: CommitState) -> list[NodeId]:
        """The live nodes without a decision in ``state``."""
        return [i for i, d in state.decisions().items() if d is None and i not in state.crashed]

    def blocked_states(self, result: Result) -> list[CommitState]:
        """The states in which some live node is undecided and can never decide.

        A node can never decide in a state when no state reachable from it (by any choices of
        the explorer) has that node decided. Terminal states with an undecided live node are
        among them, and so are states from which only futile exchanges remain (a blocked 2PC
        participant asking an uncertain peer, again and again).

        Parameters
        ----------
        result : Result
            What ``explore(model, keep_graph=True)`` returned for this model.
        """
        graph = self._complete_graph(result, "blocked_states")
        states, _, never = _never_deciding(graph, self.ids, lambda label: True)
        return [s for s, nodes in zip(states, never, strict=True) if nodes]

    def stuck_states(self, result: Result) -> list[CommitState]:
        """The states in which a live node is undecided and will not decide unless more faults
        happen, although it should: a liveness failure.

        "Should" is one of two things: some live node on its side of any partition has decided
        (whoever knows the outcome and is reachable should pass it on), or every node is up and
        the network is whole (the faults have stopped and everyone is back). "Will not decide"
        means that no run made of deliveries and timeouts alone, with no crash, recovery or
        partition, takes it to a decision; so crashed nodes stay down, and every state such a
        run passes through must have a way out as well. In a finite state graph this makes
        every fair fault-free run end with the node decided.

        Unlike :meth:`blocked_states`, this is empty for a correct protocol: 2PC blocks only
        while everyone who knows the outcome is down, and then it is not stuck.

        Parameters
        ----------
        result : Result
            What ``explore(model, keep_graph=True)`` returned for this model.
        """
        graph = self._complete_graph(result, "stuck_states")
        states, decided, never = _never_deciding(
            graph, self.ids, lambda label: label.startswith(("deliver ", "timeout ")))
        return [s for s, d, nodes in zip(states, decided, never, strict=True)
                if any(_should_decide(s, d, i) for i in nodes)]

    def _complete_graph(self, result: Result, what: str) -> dict:
        if result.graph is None:
            raise ValueError(f"{what} needs the state graph: explore(model, keep_graph=True)")
        if result.violation is not None:
            raise ValueError("the exploration stopped at a violation, so its state graph is "
                             "incomplete; blocking is only defined for a complete exploration")
        return result.graph

    def is_blocked(self, state: CommitState, result: Result) -> bool:
        """Whether ``state`` is one of :meth:`blocked_states` of ``result``."""
        return state in set(self.blocked_states(result))

    def describe_state(self, state: CommitState) -> str:
        """One line per node (its ``status()``), then the messages in flight."""
        lines = []
        for i in self.ids:
            if i in state.crashed:
                decided = state.decisions()[i]
                lines.append(f"{i}: crashed" + (f" ({decided} on disk)" if decided else ""))
            else:
                node = self._nodes[(i, state.nodes[i])]
                timers = ", ".join(state.timers[i])
                restarted = " (restarted)" if i in state.restarted else ""
                lines.append(f"{i}: {node.status()}{restarted}"
                             + (f"  [timers: {timers}]" if timers else ""))
        for src, dst, msg in state.in_flight:
            lines.append(f"in flight {src}->{dst} {msg.describe()}")
        if state.groups:
            lines.append("partition " + " | ".join(_group_text(g) for g in state.groups))
        return "\n".join(lines)

    def walk(self, labels: Iterable[str], votes: Mapping[int, str] | None = None) -> list[CommitState]:
        """Follow ``labels`` through :meth:`actions` from an initial state; return the states.

        Checks that a run is possible in this model: every label must be an action enabled in
        the state reached so far (a live peer for a timeout, the crash budget, a message really
        in flight ...). With ``votes`` the run starts from those votes' initial state; without,
        from the first initial state along which the whole run is possible.

        Raises
        ------
        ValueError
            Naming the first step that is not possible.
        """
        labels = list(labels)
        starts = self.init_states()
        if votes is not None:
            wanted = {i: dict(votes).get(i, "yes") for i in range(1, self.participants + 1)}
            starts = [s for s in starts if self.votes_of(s) == wanted]
            if not starts:
                raise ValueError(f"votes {dict(votes)!r} are not an initial state of this model")
        furthest = (-1, "the model has no initial state")
        for start in starts:
            states = [start]
            for k, label in enumerate(labels, 1):
                successors = dict(self.actions(states[-1]))
                if label not in successors:
                    furthest = max(furthest, (k, f"step {k} ({label!r}) is not possible there"))
                    break
                states.append(successors[label])
            else:
                return states
        raise ValueError(furthest[1])

    def votes_of(self, initial: CommitState) -> dict[NodeId, str]:
        """The votes that lead to the initial state ``initial``."""
        for votes in self.vote_choices:
            if self._boot(votes) == initial:
                return dict(votes)
        raise ValueError("not an initial state of this model")

    # -- transitions -------------------------------------------------------------------------
    def _boot(self, votes: dict[NodeId, str]) -> CommitState:
        """The state after every node has booted: a fresh simulation, read back."""
        sim = self._simulation(votes)
        return CommitState(
            tuple(self._intern(i, sim.nodes[i]) for i in self.ids),
            tuple(tuple(sorted(sim.storage[i].items())) for i in self.ids),
            tuple(sim.pending_timers(i) for i in self.ids),
            self._sorted({(m.src, m.dst, m.message) for m in sim.in_flight()}), (), None)

    def _step(self, state: CommitState, i: NodeId, in_flight: tuple,
              message: tuple[NodeId, Message] | None = None, timer: str | None = None) -> CommitState:
        """Node ``i`` handles ``message`` (from, message) or its ``timer``, on the simulator."""
        local = (i, state.nodes[i], state.storage[i], state.timers[i], message, timer)
        after = self._local_steps.get(local)
        if after is None:
            node = copy.copy(self._nodes[(i, state.nodes[i])])
            bench = self._bench
            ids = bench.set_state({i: node}, storage={i: state.storage[i]},
                                  timers={i: state.timers[i]},
                                  in_flight=() if message is None else ((message[0], i, message[1]),))
            if message is None:
                bench.fire_now(i, timer)
            else:
                bench.deliver_now(ids[0])
            after = self._local_steps[local] = self._read_back(i, node)
        key, written, pending, sent = after
        nodes = state.nodes[:i] + (key,) + state.nodes[i + 1:]
        storage = state.storage
        if written != storage[i]:
            storage = storage[:i] + (written,) + storage[i + 1:]
        timers = state.timers
        if pending != timers[i]:
            timers = timers[:i] + (pending,) + timers[i + 1:]
        if sent:
            in_flight = self._send(state, i, set(in_flight), sent, state.crashed)
        return CommitState(nodes, storage, timers, in_flight, state.crashed, state.groups,
                           state.restarted, state.crash_count)

    def _read_back(self, i: NodeId, node: Node) -> tuple:
        """What node ``i`` became on the bench: its key, storage, pending timers and sends.

        A node's step depends on nothing but its key, storage and timers (``key()`` holds all
        that decides its future), so each of these is computed on the bench once and reused.
        """
        bench = self._bench
        sent = tuple((m.dst, m.message) for m in bench.in_flight())  # only what i just sent
        return (self._intern(i, node), tuple(sorted(bench.storage[i].items())),
                bench.pending_timers(i), sent)

    def _send(self, state: CommitState, i: NodeId, flight: set, sent: tuple,
              crashed: tuple) -> tuple:
        for dst, msg in sent:
            if dst in crashed or (state.groups is not None and not _together(state.groups, i, dst)):
                continue  # lost: the destination is down, or on the other side of the split
            flight.add((i, dst, msg))
        return self._sorted(flight)

    def _crash(self, state: CommitState, i: NodeId, lost: tuple = ()) -> CommitState:
        keys = list(state.nodes)
        keys[i] = None
        timers = list(state.timers)
        timers[i] = ()
        flight = tuple(m for m in state.in_flight if m[1] != i and m not in lost)
        crashed = tuple(sorted(state.crashed + (i,)))
        return CommitState(tuple(keys), state.storage, tuple(timers), flight, crashed, state.groups,
                           state.restarted, state.crash_count + 1)

    def _recover(self, state: CommitState, i: NodeId) -> CommitState:
        """Node ``i`` restarts from its stable storage (``on_start``), on the simulator."""
        local = (i, state.storage[i])
        after = self._local_steps.get(local)
        if after is None:
            bench = self._bench
            # Clear the bench (nothing in flight, no timers of i), then restart i there.
            bench.set_state({}, storage={i: state.storage[i]}, timers={i: ()})
            bench.crash(i)
            bench.recover(i)
            bench.crash_intervals.clear()  # the bench keeps no history
            after = self._local_steps[local] = self._read_back(i, bench.nodes[i])
        key, written, pending, sent = after
        crashed = tuple(c for c in state.crashed if c != i)
        flight = self._send(state, i, set(state.in_flight), sent, crashed)
        return CommitState(_put(state.nodes, i, key), _put(state.storage, i, written),
                           _put(state.timers, i, pending), flight, crashed, state.groups,
                           tuple(sorted({*state.restarted, i})), state.crash_count)

    def _split(self, state: CommitState, groups: tuple) -> CommitState:
        flight = tuple(m for m in state.in_flight if _together(groups, m[0], m[1]))
        return CommitState(state.nodes, state.storage, state.timers, flight, state.crashed, groups,
                           state.restarted, state.crash_count)

    def _may_fire(self, state: CommitState, i: NodeId, name: str) -> bool:
        node = self._nodes[(i, state.nodes[i])]
        for peer in node.awaiting(name):
            # A crash at either end of the exchange may have lost what i waits for: the peer is
            # down, or one of the two has restarted (and so forgot, or never got, a message).
            if peer in state.crashed or peer in state.restarted or i in state.restarted:
                if any(m[0] == peer and m[1] == i for m in state.in_flight):
                    return False  # synchrony: what the peer sent arrives before the timeout
                continue
            if state.groups is not None and not _together(state.groups, i, peer):
                continue
            return False  # a live, reachable peer may still answer: no timeout yet
        return True

    def _sorted(self, flight: set) -> tuple:
        sort_key = self._sort_key
        return tuple(sorted(flight, key=lambda m: (m[0], m[1], sort_key(m[2]))))

    def _sort_key(self, msg: Message) -> str:
        key = self._sort_keys.get(msg)
        if key is None:
            key = self._sort_keys[msg] = f"{type(msg).__name__}:{msg!r}"
        return key

    def _intern(self, i: NodeId, node: Node) -> tuple:
        key = node.key()
        self._nodes.setdefault((i, key), node)
        return key

    def _all_splits(self) -> list[tuple[tuple[NodeId, ...], tuple[NodeId, ...]]]:
        rest = self.ids[1:]
        splits = []
        for size in range(0, len(rest)):
            for with_zero in itertools.combinations(rest, size):
                left = (0,) + with_zero
                right = tuple(i for i in rest if i not in with_zero)
                splits.append((left, right))
        return splits

    # -- back to a simulation ----------------------------------------------------------------
    def replay_simulation(self, votes: Mapping[int, str], seed: int = 0) -> CommitSimulation:
        """A fresh simulation of this model's protocol and nodes with ``votes`` (others yes)."""
        return self._simulation(parse_votes(votes, self.participants), seed)

    def replay(self, run: Violation | list[str] | tuple[str, ...], seed: int = 0,
               votes: Mapping[int, str] | None = None) -> CommitSimulation:
        """The run as a real simulation: see :func:`replay`."""
        return replay(self, run, seed=seed, votes=votes)


def _never_deciding(graph: Mapping[CommitState, list[tuple[str, CommitState]]],
                    ids: tuple[NodeId, ...], allowed: Callable[[str], bool],
                    ) -> tuple[list[CommitState], list[dict[NodeId, str | None]], list[list[NodeId]]]:
    """For every state of ``graph`` (in its order), its decisions and the live nodes that no path
    of ``allowed`` steps takes to a decision.

    States are numbered once, so that the backward searches compare ints, not states.
    """
    states = list(graph)
    number = {s: k for k, s in enumerate(states)}
    reverse: list[list[int]] = [[] for _ in states]
    for k, s in enumerate(states):
        for label, t in graph[s]:
            if allowed(label):
                reverse[number[t]].append(k)
    decided = [s.decisions() for s in states]
    never: list[list[NodeId]] = [[] for _ in states]
    for i in ids:
        can = bytearray(len(states))
        queue = deque(k for k, d in enumerate(decided) if d[i] is not None)
        for k in queue:
            can[k] = 1
        while queue:
            for prev in reverse[queue.popleft()]:
                if not can[prev]:
                    can[prev] = 1
                    queue.append(prev)
        for k, s in enumerate(states):
            if not can[k] and i not in s.crashed:
                never[k].append(i)
    return states, decided, never


def _should_decide(state: CommitState, decided: Mapping[NodeId, str | None], i: NodeId) -> bool:
    """Whether live node ``i`` ought to learn the outcome in ``state``: every node is up and the
    network whole, or a live node on its side of any partition knows it."""
    if not state.crashed and state.groups is None:
        return True
    return any(d is not None and j not in state.crashed
               and (state.groups is None or _together(state.groups, i, j))
               for j, d in decided.items())


def _put(values: tuple, i: int, value: Any) -> tuple:
    """``values`` with item ``i`` replaced by ``value``."""
    return values[:i] + (value,) + values[i + 1:]


def _together(groups: tuple, a: NodeId, b: NodeId) -> bool:
    return (a in groups[0]) == (b in groups[0])


def _group_text(group: tuple[NodeId, ...]) -> str:
    return "{" + ", ".join(map(str, group)) + "}"


# -- replaying a run on the simulator ---------------------------------------------------------

STEP_MS = 10.0
"""Simulated time between two steps of a replayed run (so that diagrams have room)."""

_DELIVER = re.compile(r"deliver (\d+)->(\d+) (.+)")
_TIMEOUT = re.compile(r"timeout (\d+) (\S+)")
_CRASH = re.compile(r"crash (\d+)(?: losing (.+))?")
_RECOVER = re.compile(r"recover (\d+)")
_PARTITION = re.compile(r"partition (\{[\d, ]+\}) \| (\{[\d, ]+\})")


def replay(model: CommitModel, run: Violation | list[str] | tuple[str, ...], seed: int = 0,
           votes: Mapping[int, str] | None = None) -> CommitSimulation:
    """Replay a run the explorer found on a real simulation of the same protocol.

    The simulation is built from the model's own nodes (as ``cluster(...)`` of its protocol
    would), and then driven step by step in exactly the explorer's order: step ``k`` happens at
    ``k * STEP_MS`` ms. Its trace, ``outcome()`` and ``check()`` are those of the run, and
    :func:`zablib.viz.spacetime` draws it. The result is frozen: it cannot be run further.

    Parameters
    ----------
    model : CommitModel
        The model the run comes from.
    run : Violation or list of str
        A violation (its initial state gives the votes) or a list of action labels.
    seed : int
        Seed of the simulation (it does not influence the replayed order).
    votes : mapping, optional
        The votes, when ``run`` is a bare list of labels (default: everyone yes).

    Returns
    -------
    CommitSimulation
    """
    if isinstance(run, Violation):
        labels = list(run.actions)
        votes = model.votes_of(run.states[0])
    else:
        labels = list(run)
    model.walk(labels, votes or {})  # refuse a run the model does not allow, naming the step
    sim = model.replay_simulation(votes or {}, seed)
    sim.freeze("it was replayed from an explorer run (events were imposed, not scheduled)")
    for k, label in enumerate(labels, 1):
        sim.advance_to(k * STEP_MS)
        if m := _DELIVER.fullmatch(label):
            sim.deliver_now(_find(sim, f"{m[1]}->{m[2]} {m[3]}", k, label).msg_id)
        elif m := _TIMEOUT.fullmatch(label):
            sim.fire_now(int(m[1]), m[2])
        elif m := _CRASH.fullmatch(label):
            node = int(m[1])
            for text in m[2].split("; ") if m[2] else ():
                sim.drop_now(_find(sim, text, k, label).msg_id, f"node {node} crashed before sending it")
            sim.crash(node)
            for lost in [f for f in sim.in_flight() if f.dst == node]:
                sim.drop_now(lost.msg_id, f"node {node} is down")
        elif m := _RECOVER.fullmatch(label):
            sim.recover(int(m[1]))
        elif m := _PARTITION.fullmatch(label):
            left, right = (set(map(int, re.findall(r"\d+", g))) for g in (m[1], m[2]))
            sim.partition(left, right)
            for cut in [f for f in sim.in_flight() if (f.src in left) != (f.dst in left)]:
                sim.drop_now(cut.msg_id, "partition")
        else:
            raise ValueError(f"step {k}: cannot replay {label!r}")
        _drop_sent_to_the_dead(sim)
    return sim


def _find(sim: CommitSimulation, text: str, step: int, label: str) -> InFlight:
    """The oldest message on its way written ``src->dst Description``."""
    for f in sim.in_flight():
        if f"{f.src}->{f.dst} {f.message.describe()}" == text:
            return f
    raise ValueError(f"step {step}: {label!r}: no message {text!r} in flight")


def _drop_sent_to_the_dead(sim: CommitSimulation) -> None:
    """In the model a message sent to a crashed node is lost at once (the simulator would drop
    it on arrival): drop what the last step sent to a node that is down."""
    for f in sim.in_flight():
        if not sim.is_up(f.dst):
            sim.drop_now(f.msg_id, f"node {f.dst} is down")
