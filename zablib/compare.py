"""Protocols compared on one workload under the same faults (chapter 6).

The workload is one transaction: a coordinator (node 0) and ``PARTICIPANTS`` participants that all
vote yes. The faults are :func:`zablib.faults.commit_faults`: each is a short schedule that waits
for a moment defined by what the nodes have written to stable storage (every vote cast, the
coordinator's decision ...) and then crashes nodes or cuts the network. :func:`run` plays one on a
fresh simulation and lets the protocol go on for ``AFTER_MS`` simulated milliseconds, and
:func:`verdict` says in a few words what it did: it *decides*, *blocks* or *splits*.

Everything here is measured by running the real protocols; nothing is copied from a paper.

**All five protocols** (:data:`FIVE`: 2PC, 3PC, Paxos, ZAB, Raft) run the same workload under the
same faults, on five nodes:

* the workload (:func:`workload`): from :data:`START_MS` on, a client offers an operation
  ``("op", n)`` every :data:`GAP_MS` to the leader of the moment (``sim.submit``); an offer with
  no leader to take it is refused. For Paxos, ZAB and Raft an operation is a command of the
  replicated log. 2PC and 3PC decide one transaction per run of the protocol, so here each
  operation is a transaction of its own, begun by the same coordinator (node 0) on the same five
  nodes, a fresh instance of the protocol per transaction
  (:mod:`zablib.protocols.transactions`);
* the faults (:data:`SERVICE_FAULTS`, from :func:`zablib.faults.service_faults`): one list,
  written once as data, whose events name nodes by role (the leader is found at run time) and
  wait for a moment defined by the nodes' state: operation :data:`TRIGGER_OP` is held by enough
  nodes to be decided, the leader not knowing it yet. Each fault ends at :data:`FAULT_UNTIL_MS`;
  the run ends at :data:`END_MS`;
* the answers: :func:`normal_case` (messages and message delays one operation adds, on 1 ms
  links), :func:`latencies` (without faults), :func:`judge` (what a fault run did: decides,
  blocks or splits; operations completed during the fault; the time to recover after it), and
  :func:`measure`, every cell of chapter 6's measured table (:meth:`Measured.markdown`);
* ZooKeeper's reads (:func:`zookeeper_reads`): which server answers a read and how stale the
  answer can be, with and without ``sync``, on the simulated coordination service.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import zablib.faults as faults
import zablib.protocols.paxos as paxos
import zablib.protocols.raft as raft
import zablib.protocols.threepc as threepc
import zablib.protocols.transactions as transactions
import zablib.protocols.twopc as twopc
import zablib.protocols.zab as zab
from zablib.core import NodeId
from zablib.invariants import InvariantViolation
from zablib.network import LinkConfig, constant
from zablib.protocols.commit import CommitSimulation
from zablib.sim import Simulation, SimulationError

PROTOCOLS: dict[str, ModuleType] = {"2PC": twopc, "3PC": threepc}
PARTICIPANTS = 4
SEED = 0
AFTER_MS = 20 * twopc.TIMEOUT_MS  # how long a run goes on after its fault

#: The faults of the comparison table (schedules of :class:`~zablib.faults.FaultEvent`), by the
#: name its columns use.
FAULTS: dict[str, tuple[faults.FaultEvent, ...]] = faults.commit_faults(PARTICIPANTS)


def run(protocol: str, fault: Iterable[tuple] = (), seed: int = SEED) -> CommitSimulation:
    """A fresh cluster of ``protocol`` ("2PC" or "3PC"), the fault (a schedule, e.g. one of
    :data:`FAULTS`; none by default) played on it, then ``AFTER_MS`` more."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    sim = PROTOCOLS[protocol].cluster(PARTICIPANTS, seed=seed)
    faults.play(sim, fault)
    sim.run_for(AFTER_MS)
    return sim


def names(nodes: Iterable[int]) -> str:
    """``[2, 3, 4]`` as "2, 3 and 4"."""
    items = [str(i) for i in nodes]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def verdict(sim: CommitSimulation) -> str:
    """What a run did, in a few words: it splits, blocks or decides."""
    outcome = sim.outcome()
    try:
        sim.check()
    except InvariantViolation:
        side = {d: names(i for i in outcome if outcome[i] == d) for d in ("commit", "abort")}
        return f"splits: {side['commit']} commit, {side['abort']} abort"
    live = [i for i in sim.participants if sim.is_up(i)]
    waiting = [i for i in live if outcome[i] is None]
    if waiting:
        how = "blocks" if set(waiting) <= set(sim.blocked()) else "undecided"
        return f"{how}: {names(waiting)} wait"
    return "decides " + " / ".join(sorted({outcome[i] for i in live}))


def messages(protocol: str, participants: int, seed: int = SEED) -> int:
    """Messages sent by a failure-free run in which everyone votes yes."""
    sim = PROTOCOLS[protocol].cluster(participants, seed=seed)
    sim.run()
    if set(sim.outcome().values()) != {"commit"}:
        raise AssertionError(f"{protocol} did not commit a failure-free all-yes run")
    return sim.trace.count("send")


def delays_until_all_decide(protocol: str, participants: int = PARTICIPANTS) -> int:
    """Message delays until every participant has decided, with every link taking 1 ms."""
    sim = PROTOCOLS[protocol].cluster(participants, seed=SEED,
                                      link=LinkConfig(delay=constant(1.0)))
    sim.run()
    return int(max(e.time for e in sim.trace if e.tag == "decision" and e.node != 0))


# -- all five protocols: one workload, one fault list ----------------------------------------------

#: The protocols of the measured table, in its column order.
FIVE = ("2PC", "3PC", "Paxos", "ZAB", "Raft")
NODES = 5
START_MS = 500.0
"""When the client starts offering operations; every protocol has a leader by then."""
GAP_MS = 10.0
"""The client offers one operation every ``GAP_MS``."""
TRIGGER_OP = ("op", 20)
"""The operation whose moment (held by enough nodes to be decided, the leader unaware) starts
every fault: offered 200 ms after the client starts."""
FAULT_UNTIL_MS = 1700.0
"""When every fault ends: crashed nodes recover, the network heals (about one second of fault)."""
LAST_OFFER_MS = 2400.0
"""The client's last offer ..."""
END_MS = 2700.0
"""... and the end of the run, so that every operation offered has 300 ms to be decided."""
#: The fault list of the measured table: one schedule per fault, the same for every protocol.
SERVICE_FAULTS: dict[str, tuple[faults.FaultEvent, ...]] = faults.service_faults(
    TRIGGER_OP, FAULT_UNTIL_MS)
JUST_BEFORE_MS = 1e-6  # when the blocked participants are counted: just before the fault ends
#: How long :func:`normal_case` counts after its one operation (on 1 ms links: longer than any
#: protocol's chain of messages).
NORMAL_WINDOW_MS = 10.0


def cluster(protocol: str, *, seed: int = SEED, variant: str = "correct",
            link: LinkConfig | None = None) -> Simulation:
    """Five nodes of ``protocol`` (one of :data:`FIVE`), each protocol on its own default links
    (uniform 1-10 ms; FIFO for 2PC, 3PC and ZAB, which assume it, reordering for Paxos and Raft)
    unless ``link`` is given. ``variant`` picks a broken variant of 3PC, Paxos, ZAB or Raft."""
    if protocol not in FIVE:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(FIVE)}")
    if protocol == "2PC":
        if variant != "correct":
            raise ValueError(f"2PC has no variant {variant!r}; it has only 'correct'")
        return transactions.cluster(twopc.node_factory, NODES - 1, seed=seed, link=link)
    if protocol == "3PC":
        variant = threepc.check_variant(variant)
        return transactions.cluster(
            lambda votes: threepc.node_factory(votes, variant, threepc.termination_rule),
            NODES - 1, seed=seed, link=link)
    module = {"Paxos": paxos, "ZAB": zab, "Raft": raft}[protocol]
    return module.cluster(NODES, seed=seed, variant=variant, link=link)


def decisions(sim: Simulation) -> list[tuple[float, NodeId, Any, str]]:
    """Every ``(time, node, operation, outcome)`` at which a node first knew an operation
    decided, in order: a transaction's durable decision ("commit" or "abort"), a Raft entry
    applied, a ZAB proposal delivered, a Paxos value learned ("commit"); no-ops left out."""
    seen: set[tuple[NodeId, Any]] = set()
    out = []
    for e in sim.trace.of_kind("note"):
        if e.tag == "decided":
            op, outcome = e.value
        elif e.tag == "apply" and isinstance(sim, raft.RaftSimulation) and e.value[1].kind == "command":
            op, outcome = e.value[1].command, "commit"
        elif e.tag == "deliver" and isinstance(sim, zab.ZabSimulation):
            op, outcome = e.value[1], "commit"
        elif (e.tag == "learn" and isinstance(sim, paxos.PaxosSimulation)
              and not isinstance(e.value[1], paxos.NoOp)):
            op, outcome = e.value[1], "commit"
        else:
            continue
        if (e.node, op) not in seen:
            seen.add((e.node, op))
            out.append((e.time, e.node, op, outcome))
    return out


@dataclass
class WorkloadRun:
    """One run of :func:`workload`: the simulation and what the client saw."""

    protocol: str
    fault: str
    sim: Simulation
    offered: dict[Any, float] = field(default_factory=dict)
    """Operation -> when it was offered."""
    accepted: dict[Any, float] = field(default_factory=dict)
    """Operation -> when a leader took it (the others were refused: no leader)."""
    window: tuple[float, float] | None = None
    """When the fault began and ended (None without a fault)."""
    picked: dict[str, tuple[NodeId, ...]] = field(default_factory=dict)
    """The nodes each role of the fault stood for in this run, e.g. ``{"the leader": (3,)}``."""
    ended: bool = True
    """Whether the fault ended before the run did (a ``recover`` or ``heal`` at a fixed time)."""
    blocked: dict[Any, list[NodeId]] = field(default_factory=dict)
    """2PC and 3PC: ``{transaction: [live participants blocked on it]}`` just before the fault
    ended (the protocol's own notion: voted yes, asked everyone, nobody knew)."""

    def first_decisions(self) -> dict[Any, tuple[float, str]]:
        """Operation -> (when some node first knew it decided, the outcome)."""
        first: dict[Any, tuple[float, str]] = {}
        for time, _, op, outcome in decisions(self.sim):
            first.setdefault(op, (time, outcome))
        return first


def workload(protocol: str, fault: str | Iterable[tuple] | None = None, *, seed: int = SEED,
             variant: str = "correct") -> WorkloadRun:
    """Run the workload on a fresh cluster of ``protocol`` under ``fault`` until :data:`END_MS`.

    ``fault`` is a name of :data:`SERVICE_FAULTS`, a schedule of your own (fault events, e.g.
    one of those without its last event), or None. The fault begins at its first crash or
    partition and ends at its last ``recover`` or ``heal`` at a fixed time; a schedule without
    one lasts to the end of the run.
    """
    if isinstance(fault, str) and fault not in SERVICE_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(SERVICE_FAULTS)}")
    events = [faults.FaultEvent(*e) for e in
              (SERVICE_FAULTS[fault] if isinstance(fault, str) else fault or ())]
    if events and not any(e.kind in ("crash", "partition") for e in events):
        raise ValueError("a fault of the comparison crashes nodes or cuts the network; "
                         f"this schedule does neither: {[e.describe() for e in events]}")
    ends = [e.at for e in events
            if e.kind in ("recover", "heal") and not isinstance(e.at, faults.Moment)]
    fault_end = max(ends) if ends else END_MS
    sim = cluster(protocol, seed=seed, variant=variant)
    schedule = faults.ScheduleRun(sim, events)
    name = fault if isinstance(fault, str) else "a schedule of your own" if events else "none"
    run = WorkloadRun(protocol, name, sim, ended=bool(ends))
    schedule.run_to(START_MS)
    if sim.leader() is None:  # type: ignore[attr-defined]
        raise SimulationError(f"{protocol}: no leader by {START_MS:.0f} ms, when the client starts")
    snapped = False

    def run_to(time: float) -> None:
        nonlocal snapped
        if events and not snapped and fault_end <= time:
            snapped = True  # the participants blocked on something, just before the fault ends
            schedule.run_to(max(sim.now, fault_end - JUST_BEFORE_MS))
            if isinstance(sim, transactions.TransactionSimulation):
                run.blocked = sim.blocked()
        schedule.run_to(time)

    n, t = 0, START_MS
    while t <= LAST_OFFER_MS:
        op = ("op", n)
        run.offered[op] = sim.now
        if sim.submit(op):  # type: ignore[attr-defined]
            run.accepted[op] = sim.now
        n, t = n + 1, t + GAP_MS
        run_to(t)
    run_to(END_MS)
    if not schedule.done:
        raise SimulationError(f"{protocol}, {name}: the fault's moment never came by {END_MS:.0f} ms")
    if events:
        began = [e.time for e in sim.trace.of_kind("crash", "partition")]
        run.window = (began[0], fault_end)
        run.picked = {str(pick): nodes for pick, nodes in schedule.picked.items()}
    return run


@dataclass(frozen=True)
class Verdict:
    """What one fault run did, read from its trace: see :func:`judge`."""

    during: str
    """While the fault lasts, for the operations offered during it: "decides", "decides abort"
    (every transaction aborts), "blocks" (none decided) or "splits" (two nodes decided one
    operation differently, at any time in the run)."""
    committed: int
    """Operations offered during the fault and decided commit before it ended."""
    aborted: int
    """Transactions offered during the fault and decided abort before it ended."""
    first_ms: float | None
    """From the fault's start to the first of those decided commit, if any."""
    waiting: int
    """Operations offered during the fault, taken by a leader, and undecided when it ended."""
    completed: int
    """Operations decided commit while the fault lasted, offered before it or during it."""
    in_flight: dict[str, int]
    """The operations taken before the fault and undecided when it began, by fate when it
    ended: ``{"commit": k, "abort": k, "in doubt": k}`` (zeros left out)."""
    recover_ms: float | None
    """From the fault's end until every node knows the outcome of every operation it holds that
    was decided so far, and an operation offered after the end is decided; None if that never
    happens in the run (blocked, or split, for good)."""
    lost: int
    """Operations a leader took that were never decided (the client must offer them again)."""
    blocked: int
    """2PC and 3PC: transactions some live participant was blocked on when the fault ended."""
    ended: bool
    """Whether the fault ended before the run did."""
    split: str | None
    """The broken invariant, for a run that splits."""

    def cell(self) -> str:
        """The verdict in a few words for the table."""
        if self.split:
            return "**splits**"
        if self.during == "decides":
            text = f"decides {self.committed} new ops, the first after {self.first_ms:.0f} ms"
        elif self.during == "decides abort":
            text = f"decides abort: all {self.aborted} new transactions"
        elif self.waiting:
            text = f"**blocks**: no new op decided, {self.waiting} taken and waiting"
        else:
            text = "**blocks**: no new op decided, every offer refused"
        if self.in_flight:
            fates = ", ".join(f"{k} {fate}" for fate, k in self.in_flight.items())
            text += f"; in flight: {fates}"
        if self.blocked:
            text += f"; participants blocked on {self.blocked}"
        return text.replace("in doubt", "**in doubt**").replace("blocked on", "**blocked** on")

    def after(self) -> str:
        """What happens once the fault ends, in a few words."""
        if self.split:
            return "**stays split**"
        if not self.ended:
            return "the fault lasts to the end of the run"
        if self.recover_ms is None:
            return "**stays blocked**"
        return f"recovers in {self.recover_ms:.0f} ms"


def judge(run: WorkloadRun) -> Verdict:
    """What ``run`` did during its fault and after it (see :class:`Verdict`)."""
    if run.window is None:
        raise ValueError("judge() reads a run with a fault; this one had none")
    start, end = run.window
    sim = run.sim
    try:
        sim.check()
        split = None
    except InvariantViolation as violation:
        split = str(violation)
    first = run.first_decisions()
    new = [first[op] for op, t in run.offered.items() if start <= t < end and op in first]
    committed = sorted(t for t, outcome in new if outcome == "commit" and t < end)
    aborted = sum(1 for t, outcome in new if outcome == "abort" and t < end)
    waiting = sum(1 for op, t in run.accepted.items()
                  if start <= t < end and first.get(op, (end,))[0] >= end)
    completed = sum(1 for t, outcome in first.values() if start <= t < end and outcome == "commit")
    fates: dict[str, int] = {}
    for op, t in run.accepted.items():
        decided = first.get(op)
        if t < start and (decided is None or decided[0] >= start):
            fate = "in doubt" if decided is None or decided[0] >= end else decided[1]
            fates[fate] = fates.get(fate, 0) + 1
    if split:
        kind = "splits"
    elif committed:
        kind = "decides"
    elif aborted:
        kind = "decides abort"
    else:
        kind = "blocks"
    return Verdict(kind, len(committed), aborted, committed[0] - start if committed else None,
                   waiting, completed, dict(sorted(fates.items())),
                   None if split or not run.ended else _recovery(run, first, end),
                   sum(1 for op in run.accepted if op not in first), len(run.blocked), run.ended,
                   split)


def _recovery(run: WorkloadRun, first: dict[Any, tuple[float, str]], end: float) -> float | None:
    """From ``end`` until every node knows the outcome of every operation decided before ``end``
    that it must know (every operation, for a replicated log; for a transaction, the nodes that
    hold a record of it), and some operation offered after ``end`` is decided; None if either
    never happens in the run."""
    sim = run.sim
    known = {(node, op): time for time, node, op, _ in decisions(sim)}
    before = [op for op, (t, _) in first.items() if t < end]
    times = []
    for node in sim.node_ids:
        held = (sim.outcomes(node) if isinstance(sim, transactions.TransactionSimulation)
                else before)
        for op in before:
            if op in held:
                if (node, op) not in known:
                    return None
                times.append(known[node, op])
    later = [t for op, (t, outcome) in first.items() if run.offered.get(op, 0.0) >= end]
    if not later:
        return None
    return max([min(later), *times]) - end


def latencies(run: WorkloadRun) -> list[float]:
    """Per operation decided commit: from its offer until some node (the leader) knew it
    decided, in ms."""
    return [t - run.offered[op] for op, (t, outcome) in run.first_decisions().items()
            if outcome == "commit" and op in run.offered]


@dataclass(frozen=True)
class Cost:
    """What one operation adds to a quiet cluster with a leader, on links of exactly 1 ms."""

    messages: int
    """Messages sent because of the operation."""
    to_decide: int
    """Message delays until the leader (coordinator) knows it decided."""
    to_all: float
    """Milliseconds until every node knows it decided (message delays, plus any wait for a
    timer: Raft's followers learn the commit with the next heartbeat)."""


def normal_case(protocol: str, *, seed: int = SEED) -> Cost:
    """Two runs with the same seed on 1 ms links, identical until :data:`START_MS`; then one gets
    an operation and the other none. The difference in messages sent over the next
    :data:`NORMAL_WINDOW_MS` is what the operation costs."""
    link = LinkConfig(delay=constant(1.0))
    sims = [cluster(protocol, seed=seed, link=link) for _ in range(2)]
    for sim in sims:
        sim.run(until=START_MS)
    busy, idle = sims
    before = [sim.trace.count("send") for sim in sims]
    op = ("op", 0)
    if not busy.submit(op):  # type: ignore[attr-defined]
        raise SimulationError(f"{protocol}: no leader by {START_MS:.0f} ms on 1 ms links")
    for sim in sims:
        sim.run(until=START_MS + NORMAL_WINDOW_MS)
    added = (busy.trace.count("send") - before[0]) - (idle.trace.count("send") - before[1])
    busy.run(until=START_MS + 100.0)
    times = [t - START_MS for t, _, o, _ in decisions(busy) if o == op]
    if len(times) != NODES:
        raise SimulationError(f"{protocol}: the operation reached {len(times)} of {NODES} nodes")
    return Cost(added, round(min(times)), max(times))


#: Short names of the faults, for cells that list all four.
SHORT = {"the leader crashes": "leader crash", "a minority crashes": "minority crash",
         "a majority crashes": "majority crash",
         "the leader is cut off with a minority": "leader cut off"}


@dataclass
class Measured:
    """Everything the measured table shows, for one seed: see :func:`measure`."""

    seed: int
    costs: dict[str, Cost] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    """(protocol, fault) -> verdict."""

    def rows(self) -> dict[str, dict[str, str]]:
        """The table: row label -> protocol -> cell text (Markdown)."""
        rows: dict[str, dict[str, str]] = {}

        def row(label: str, cell: Any) -> None:
            rows[label] = {p: cell(p) for p in FIVE}

        def delays(p: str) -> str:
            cost = self.costs[p]
            if cost.to_all == int(cost.to_all):
                return f"{cost.to_decide} (every node: {cost.to_all:.0f})"
            return f"{cost.to_decide} (every node: after {cost.to_all:.1f} ms, at a timer)"

        def after(p: str) -> str:
            parts = [(SHORT[f], self.verdicts[p, f]) for f in SERVICE_FAULTS]
            fine = [f"{v.recover_ms:.0f}" for _, v in parts if v.recover_ms is not None]
            text = f"recovers in {' / '.join(fine)} ms" if len(fine) == len(parts) else ""
            if len(fine) != len(parts):
                text = "; ".join(f"{name}: {v.after()}" for name, v in parts)
            return text

        def lost(p: str) -> str:
            parts = [f"{v.lost} ({SHORT[f]})" for f in SERVICE_FAULTS
                     if (v := self.verdicts[p, f]).lost]
            return ", ".join(parts) or "none"

        row("messages per operation", lambda p: str(self.costs[p].messages))
        row("message delays until the leader knows it decided", delays)
        row("latency without faults, median / worst",
            lambda p: f"{statistics.median(self.latency[p]):.1f} / {max(self.latency[p]):.1f} ms")
        for fault in SERVICE_FAULTS:
            row(fault, lambda p, f=fault: self.verdicts[p, f].cell())
        row("after the faults stop (" + " / ".join(SHORT.values()) + ")", after)
        row("operations completed while the leader is down",
            lambda p: str(self.verdicts[p, "the leader crashes"].completed))
        row("operations a leader took and lost", lost)
        return rows

    def markdown(self) -> str:
        """The table in Markdown: one row per question, one column per protocol."""
        lines = ["| | " + " | ".join(FIVE) + " |", "|---" * (len(FIVE) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(cells[p] for p in FIVE) + " |"
                  for label, cells in self.rows().items()]
        return "\n".join(lines)


def measure(seed: int = SEED, protocols: Iterable[str] = FIVE) -> Measured:
    """Run everything the table needs for ``seed``: per protocol the normal case, the workload
    without faults and under each fault of :data:`SERVICE_FAULTS`."""
    out = Measured(seed)
    for p in protocols:
        out.costs[p] = normal_case(p, seed=seed)
        out.latency[p] = latencies(workload(p, seed=seed))
        for fault in SERVICE_FAULTS:
            out.verdicts[p, fault] = judge(workload(p, fault, seed=seed))
    return out


# -- ZooKeeper's reads, measured on the simulated coordination service -------------------------------

@dataclass(frozen=True)
class ReadStats:
    """What one reader saw: every read through one server, by one way of reading."""

    server: NodeId
    role: str
    """The server's role: "leader", "follower" or "slow follower" (commits reach it late)."""
    how: str
    """"get" (a plain read) or "sync + get"."""
    reads: int
    served_by: tuple[NodeId, ...]
    """The servers that received this reader's read requests (its own server, if reads are
    served locally)."""
    stale: int
    """Reads that missed a write that had completed (returned to the writer) before the read
    was called."""
    worst_missed: int
    """The most completed writes one read missed."""
    worst_age_ms: float
    """The longest time since a newer value had been acknowledged to the writer, at a read's
    call: how old an answer can be."""
    linearizable: bool
    """Whether the writer's and this reader's operations together are linearizable."""


def zookeeper_reads(*, seed: int = SEED, lag_ms: float = 60.0, writes: int = 20,
                    write_ms: float = 20.0, read_ms: float = 7.0) -> list[ReadStats]:
    """ZooKeeper's row of the systems table, measured: who serves a read and how stale it is.

    A five-server :class:`~zablib.coord.ensemble.Ensemble`; a writer, connected to a follower, sets
    ``/x`` to ``1 .. writes``, one every ``write_ms``; for every server, two readers connected
    only to it read ``/x`` every ``read_ms`` for as long, one with plain ``get``, one with
    ``sync`` then ``get``. One follower's link from the leader is slowed to ``lag_ms`` (a
    follower that lags, as one within ZooKeeper's ``syncLimit`` still serves). Every call is
    recorded (:class:`~zablib.recipes.recording.RecordingClient`) and each reader's history,
    with the writer's, is checked for linearizability.
    """
    from zablib.coord import Ensemble
    from zablib.coord.messages import GetData, Request
    from zablib.linearizability import History, KVModel, check
    from zablib.recipes.recording import RecordingClient

    if lag_ms < 0 or writes < 1 or write_ms <= 0 or read_ms <= 0:
        raise ValueError("need lag_ms >= 0, writes >= 1, write_ms > 0 and read_ms > 0")
    ens = Ensemble(NODES, seed=seed, max_clients=2 * NODES + 2)
    setup = ens.client()
    setup.start()
    setup.create("/x", b"0")
    leader, followers = ens.leader(), ens.followers()
    slow = followers[-1]
    ens.sim.configure_links(leader, slow, delay=constant(lag_ms))
    history = History(clock=lambda: ens.now)
    writer = RecordingClient(ens.client(hosts=followers[0]), history, "writer")
    readers = {(s, how): RecordingClient(ens.client(hosts=s), history, (s, how))
               for s in ens.servers for how in ("get", "sync_get")}
    for client in (writer, *readers.values()):
        client.start()

    def write() -> None:
        for value in range(1, writes + 1):
            writer.set("/x", b"%d" % value)
            writer.handler.sleep_func(write_ms / 1000)

    def read(client: Any, how: str, until: float) -> None:
        while ens.now < until:
            getattr(client, how)("/x")
            client.handler.sleep_func(read_ms / 1000)

    until = ens.now + writes * write_ms + 4 * lag_ms
    ens.spawn(write, name="writer")
    for (server, how), client in readers.items():
        ens.spawn(read, client, how, until, name=f"{how}@{server}")
    ens.run()
    ens.check()
    operations = history.operations()
    done = sorted((op.return_, int(op.input[2])) for op in operations if op.client == "writer")
    node_of = {key: client.node_id for key, client in readers.items()}
    asked: dict[NodeId, set[NodeId]] = {}
    for e in ens.sim.trace.of_kind("deliver"):
        if isinstance(e.message, Request) and isinstance(e.message.op, GetData):
            asked.setdefault(e.peer, set()).add(e.node)
    out = []
    for (server, how), node in node_of.items():
        mine = [op for op in operations if op.client == (server, how) and not op.unknown]
        missed, ages = [], []
        for op in mine:
            value = int(op.output)
            newer = [t for t, v in done if t < op.call and v > value]
            missed.append(len(newer))
            ages.append(op.call - newer[0] if newer else 0.0)
        ours = [op for op in operations if op.client in ("writer", (server, how))]
        role = "leader" if server == leader else "slow follower" if server == slow else "follower"
        out.append(ReadStats(server, role, "get" if how == "get" else "sync + get", len(mine),
                             tuple(sorted(asked.get(node, ()))),
                             sum(1 for k in missed if k), max(missed, default=0),
                             max(ages, default=0.0),
                             check(ours, KVModel({"/x": b"0"})).ok))
    return out
