"""What the exercises run a student's function through: real clusters, the campaign's fault
schedules, and decisions recorded through documented doors (never by patching a class).

Raft (exercises 6-8)
    :func:`raft_rule_trial` plugs rules into ``raft.cluster(rules=...)`` through a
    :class:`~zablib.protocols.raft.RuleRecorder`, runs Raft's seeded fault schedules with them,
    and returns a :class:`RuleTrial`: every decision the runs asked, with Figure 2's answer
    beside the plugged-in one, and what ``sim.check()`` said of each run.
Paxos (exercise 11)
    :func:`paxos_rule_trial` plugs an acceptor's rules into ``paxos.cluster(rules=...)``
    through a :class:`~zablib.protocols.paxos.RuleRecorder`, runs Paxos's seeded fault
    schedules (Multi-Paxos and single decree) with them, and returns a :class:`RuleTrial` of
    every Prepare and Accept decision beside the reference rules' (Paxos Made Simple §2.2).
Zab (exercises 4-5)
    :func:`random_disks` and :func:`restart` restart a whole ensemble from chosen disks (its
    election must pick the best vote); :func:`sync_decisions` records, through
    ``zab.cluster(choose_sync=...)``, every DIFF/TRUNC/SNAP decision leaders take in seeded
    fault schedules (:data:`SYNC_FAULTS`), as the zxid lists an exercise asks about;
    :func:`sync_reference` is :func:`zablib.protocols.zab.choose_sync` asked the same question,
    and :func:`random_histories` draws such questions.
ZooKeeper recipes (exercises 9-10)
    :func:`lock_waiter_trial` plugs a waiter's rule into :class:`~zablib.recipes.lock.Lock`
    (``predecessor=``) and runs seeded lock schedules with crashes, expired sessions and waiters
    who give up on a simulated ensemble; it returns a :class:`LockTrial`: every decision beside
    the right one, and whether the lock stayed exclusive, every live contender got it, and each
    release woke one waiter. :func:`fencing_trial` plugs a fencing check into the resource of
    :func:`zablib.scenarios.lock_pause_run` (a lock holder paused past its session) and returns
    a :class:`FencingTrial`: every write, judged stale or current, and what the resource did.
Observers and membership changes (exercises 12-13)
    :func:`leader_messages_trial` and :func:`commit_trial` ask a prediction about a ZAB
    ensemble with observers (messages the leader sends per write; whether writes still commit
    with some servers down) and run each case; :func:`splits_seen` lists the moments chapter 2's
    runs reached two leaders at once, with the configurations they counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import zablib.membership as membership
import zablib.protocols.paxos as paxos
import zablib.protocols.raft as raft
import zablib.protocols.zab as zab
from zablib.coord import Ensemble, measure
from zablib.core import NodeId
from zablib.faults import (
    RandomFaults,
    paxos_decree_run,
    paxos_decree_stuck,
    paxos_faulty_run,
    paxos_stuck,
    quiesce,
    raft_faulty_run,
    random_run,
    recovers,
)
from zablib.invariants import InvariantViolation
from zablib.recipes.base import errors_of
from zablib.recipes.fencing import FencedResource, StaleTokenError, accept_token
from zablib.recipes.lock import Lock, watch_predecessor
from zablib.scenarios import lock_pause_run

# -- Raft: a rule plugged in, run through the fault campaign -----------------------------------
#: After the faults stop: time to elect, then to commit a new command everywhere.
AFTER_FAULTS_MS, COMMIT_MS = 900.0, 300.0


@dataclass
class RuleTrial:
    """What :func:`raft_rule_trial` saw: every decision, and each run's safety verdict.

    Attributes
    ----------
    seeds : list of int
        The schedules run, in order.
    decisions : list of (int, RuleDecision)
        ``(seed, decision)`` for every decision a server asked of a rule, in order.
    violations : list of (int, InvariantViolation)
        ``(seed, violation)`` for each run that ``sim.check()`` failed.
    reference : str
        Whose rules the answers are compared with, in words ("Figure 2").
    """

    seeds: list[int] = field(default_factory=list)
    decisions: list[tuple[int, raft.RuleDecision | paxos.RuleDecision]] = field(default_factory=list)
    violations: list[tuple[int, InvariantViolation]] = field(default_factory=list)
    reference: str = "Figure 2"

    def count(self, rule: str) -> int:
        """How many decisions of ``rule`` the runs asked."""
        return sum(1 for _, d in self.decisions if d.rule == rule)

    def disagreements(self, rule: str) -> list[tuple[int, raft.RuleDecision | paxos.RuleDecision]]:
        """``(seed, decision)`` where the plugged-in ``rule`` did not answer as the reference."""
        return [(s, d) for s, d in self.decisions if d.rule == rule and not d.agrees]

    def assert_agrees(self, rule: str) -> None:
        """Raise AssertionError describing the first decision of ``rule`` that differs from
        the reference's (and how many did), if any."""
        wrong = self.disagreements(rule)
        if wrong:
            seed, first = wrong[0]
            raise AssertionError(f"{len(wrong)} of {self.count(rule)} decisions in "
                                 f"{len(self.seeds)} schedule(s) differ from {self.reference}'s; the "
                                 f"first, in schedule {seed}: " + explain(first))

    def assert_safe(self) -> None:
        """Raise AssertionError naming the first run whose invariants broke, if any."""
        if self.violations:
            seed, violation = self.violations[0]
            raise AssertionError(f"{len(self.violations)} runs broke an invariant; schedule "
                                 f"{seed}: {violation}")


def explain(decision: raft.RuleDecision | paxos.RuleDecision) -> str:
    """One decision in words, with both answers."""
    args, answer, expected = decision.args, decision.answer, decision.expected
    if isinstance(decision, paxos.RuleDecision):
        return explain_acceptor(decision)
    if decision.rule == "grant_vote":
        voter, request = args
        said = {True: "grants the vote", False: "refuses the vote"}
        return (f"{voter}, {request}: Figure 2 {said[expected]}, your rule answered "
                f"{answer!r}")
    if decision.rule == "append_entries":
        log, prev_index, prev_term, entries = args

        def outcome(log_after: Sequence[raft.Entry] | None) -> str:
            return ("rejects it" if log_after is None
                    else f"ends with {raft.describe_entries(log_after)}")

        return (f"log {raft.describe_entries(log)}, AppendEntries(prev=({prev_index}, "
                f"{prev_term}), entries={raft.describe_entries(entries)}): the follower "
                f"{outcome(expected)} by Figure 2, by your rule it {outcome(answer)}")
    if decision.rule == "advance_commit":
        term, log_terms, match_index, commit_index, voters = args
        return (f"leader of term {term}, log terms {list(log_terms)}, matchIndex "
                f"{dict(sorted(match_index.items()))}, commitIndex {commit_index}, voters "
                f"{list(voters)}: Figure 2 moves the commit index to {expected}, your rule "
                f"to {answer!r}")
    return f"{decision.rule}{args}: Figure 2 answers {expected!r}, your rule {answer!r}"


def explain_acceptor(decision: paxos.RuleDecision) -> str:
    """A Paxos acceptor's decision in words: the reference's answer and the rule's."""
    state, message = decision.args

    def outcome(step: paxos.AcceptorStep) -> str:
        kept = "keeps its state" if step.state == state else f"changes its state to {step.state}"
        wrote = "writes it to disk" if step.write else "writes nothing"
        return f"{kept}, {wrote}, answers {paxos.describe_reply(step.reply)}"

    problem = ""
    if decision.answer.state != state and not decision.answer.write and \
            (decision.answer.state, decision.answer.reply) == (decision.expected.state,
                                                               decision.expected.reply):
        problem = " (its new state must be on disk before it answers)"
    return (f"an acceptor with {state} receives {message.describe()}: by the "
            f"reference rule it {outcome(decision.expected)}; by your rule it "
            f"{outcome(decision.answer)}{problem}")


def paxos_rule_trial(rules: paxos.Rules, seeds: Iterable[int] = range(30)) -> RuleTrial:
    """Run Paxos's fault schedules with ``rules`` in every acceptor, recording each decision.

    Even seeds are :func:`zablib.faults.paxos_faulty_run` (Multi-Paxos), odd seeds
    :func:`zablib.faults.paxos_decree_run` (single decree): crashes, restarts, partitions, loss,
    duplication and reordering while clients propose. Then the faults stop
    (:func:`~zablib.faults.quiesce`), a client asks for one more value
    (:func:`~zablib.faults.paxos_stuck`, :func:`~zablib.faults.paxos_decree_stuck`; liveness is
    not judged) and ``sim.check()`` runs Paxos's invariants over the whole run (one value per
    slot, only proposed values, learners agree). The acceptors act on the answers of ``rules``;
    the reference rules' answer to each question (:data:`zablib.protocols.paxos.LAMPORT`) is
    recorded beside them. The trial stops after the first schedule with a decision that
    differs.
    """
    def run(seed: int, recorded: paxos.Rules) -> None:
        if seed % 2 == 0:
            sim = paxos_faulty_run(seed, rules=recorded)
            quiesce(sim)
            paxos_stuck(sim)
        else:
            sim = paxos_decree_run(seed, rules=recorded)
            quiesce(sim)
            paxos_decree_stuck(sim)
        sim.check()

    return _rule_trial(RuleTrial(reference="Paxos Made Simple"), seeds,
                       lambda: paxos.RuleRecorder(rules), run)


def _rule_trial(trial: RuleTrial, seeds: Iterable[int], recorder: Callable[[], Any],
                run: Callable[[int, Any], None]) -> RuleTrial:
    """Fill ``trial``: ``run(seed, recorder().rules)`` per seed, keeping each run's decisions
    and its invariant violation; stop after the first schedule with a wrong decision."""
    for seed in seeds:
        trial.seeds.append(seed)
        recording = recorder()
        try:
            run(seed, recording.rules)
        except InvariantViolation as violation:
            trial.violations.append((seed, violation))
        trial.decisions.extend((seed, d) for d in recording.decisions)
        if recording.disagreements():
            break
    return trial


def raft_rule_trial(rules: raft.Rules, seeds: Iterable[int] = range(40)) -> RuleTrial:
    """Run Raft's fault schedules with ``rules`` in every server, recording each decision.

    Schedule ``seed`` is :func:`zablib.faults.raft_faulty_run` (crashes, recoveries,
    partitions, loss, duplication, reordering while a client submits), odd seeds with one entry
    per AppendEntries (logs diverge and are repaired entry by entry) and every third seed with
    servers added and removed; then the faults stop (:func:`~zablib.faults.quiesce`) and the
    cluster must elect a leader and commit one more command (:func:`~zablib.faults.recovers`),
    after which ``sim.check()`` runs every Raft invariant over the whole run. The servers act
    on the answers of ``rules``; Figure 2's answer to each question is recorded beside them.

    The trial stops after the first schedule in which a decision differs from Figure 2's: the
    rule is wrong, and the runs that follow a wrong answer can take many times longer (a follower
    that drops entries it should keep is sent them again and again).
    """
    def run(seed: int, recorded: raft.Rules) -> None:
        sim = raft_faulty_run(seed, rules=recorded, membership=seed % 3 == 0,
                              max_batch=1 if seed % 2 else raft.MAX_BATCH)
        quiesce(sim)
        # Liveness is not judged: a wrong rule shows in its decisions, and safety below.
        recovers(sim, after_ms=AFTER_FAULTS_MS, commit_ms=COMMIT_MS, command=("final", seed))
        sim.check()

    return _rule_trial(RuleTrial(), seeds, lambda: raft.RuleRecorder(rules), run)


# -- Zab: an ensemble restarted from chosen disks -----------------------------------------------
@dataclass(frozen=True)
class Disk:
    """What a Zab server finds on stable storage: its current epoch and its history."""

    current_epoch: int
    history: tuple[tuple[zab.Zxid, Any], ...]

    @property
    def last_zxid(self) -> zab.Zxid:
        """The zxid of the last proposal in the history; ``(0, 0)`` for an empty one."""
        return self.history[-1][0] if self.history else zab.ZERO


def random_disks(seed: int) -> dict[NodeId, Disk]:
    """The disks of 3 or 5 servers after a power cut, drawn from ``seed``: each server has a
    current epoch of 1-3 and a history of 0-3 proposals of one epoch not above it (a server that
    followed a leader who proposed nothing has a current epoch above its last zxid's)."""
    rng = random.Random(seed)
    disks = {}
    for i in range(1, rng.choice((3, 5)) + 1):
        epoch = rng.randint(1, 3)
        zxid_epoch = rng.randint(0, epoch)
        count = rng.randint(1, 3) if zxid_epoch else 0
        disks[i] = Disk(epoch, tuple(((zxid_epoch, k), f"t{k}") for k in range(1, count + 1)))
    return disks


def restart(disks: dict[NodeId, Disk], seed: int, limit: int = 20_000) -> NodeId:
    """Start every server of a Zab ensemble at once from ``disks``; return the leader it settles
    on (established, every other server synchronised with it).

    Raises
    ------
    SimulationError
        If the ensemble has not settled within ``limit`` events.
    """
    sim = zab.cluster(len(disks), seed=seed, disks={
        i: {"accepted_epoch": d.current_epoch, "current_epoch": d.current_epoch,
            "history": d.history} for i, d in disks.items()})

    def settled(s: zab.ZabSimulation) -> bool:
        leader = s.leader()
        return leader is not None and all(s.status(i).extra["phase"] == "synced"
                                          for i in s.node_ids if i != leader)

    sim.run_until(settled, limit=limit, what=f"a settled leader for {disks}")
    return sim.leader()


# -- Zab: the leader's synchronisation decisions -------------------------------------------------
@dataclass(frozen=True)
class SyncDecision:
    """A leader's decision for one follower, as zxid lists: both histories, oldest first, the
    mode it chose and the last zxid the two share."""

    leader: tuple[zab.Zxid, ...]
    follower: tuple[zab.Zxid, ...]
    mode: str
    point: zab.Zxid


def zxids_of(epochs: Sequence[tuple[int, int]]) -> tuple[zab.Zxid, ...]:
    """A history's zxids from its proposal count per epoch (``zab.epoch_counts``): within an
    epoch a history holds a prefix ``(e, 1) .. (e, c)`` of that epoch's proposals."""
    return tuple((epoch, k) for epoch, count in epochs for k in range(1, count + 1))


#: Crash-heavy schedules with long pauses: leaders die with proposals in flight (the survivors
#: then TRUNC them) and followers stay down while many transactions commit (SNAP).
SYNC_FAULTS = RandomFaults(
    sizes=(3, 5), rounds=8, writes=(0, 4), pause_ms=(20.0, 300.0),
    mix=(("crash", 0.3), ("recover", 0.3), ("partition", 0.15), ("heal", 0.25)))


def sync_decisions(seeds: Iterable[int], diff_limit: int = 2) -> list[SyncDecision]:
    """Every synchronisation decision leaders took in schedules ``seeds`` of
    :data:`SYNC_FAULTS` on ``zab.cluster(diff_limit=diff_limit)`` (then the faults stop and a new
    transaction must commit everywhere), recorded through ``zab.cluster(choose_sync=...)``.

    Raises
    ------
    InvariantViolation
        If a run breaks one of Zab's invariants (it does not: the rule recorded is zablib's).
    """
    found: list[SyncDecision] = []

    def recording(history: tuple, follower_last: zab.Zxid,
                  follower_epochs: tuple[tuple[int, int], ...],
                  limit: int) -> tuple[str, zab.Zxid, tuple]:
        mode, point, entries = zab.choose_sync(history, follower_last, follower_epochs, limit)
        found.append(SyncDecision(tuple(z for z, _ in history), zxids_of(follower_epochs),
                                  mode, point))
        return mode, point, entries

    def ensemble(n: int, **options: Any) -> zab.ZabSimulation:
        return zab.cluster(n, diff_limit=diff_limit, choose_sync=recording, **options)

    for seed in seeds:
        sim, _ = random_run(ensemble, seed, SYNC_FAULTS)
        sim.check()
        quiesce(sim)
        recovers(sim, after_ms=1000.0, commit_ms=300.0)
    return found


def random_histories(rng: random.Random) -> tuple[list[zab.Zxid], list[zab.Zxid]]:
    """A leader's and a follower's zxids, Zab-shaped, drawn from ``rng``: the follower shares a
    prefix with the leader, then may hold proposals of the prefix's last epoch that the leader
    does not have, and proposals of an epoch the leader did not see."""
    leader: list[zab.Zxid] = []
    epoch = 0
    for _ in range(rng.randint(0, 4)):
        epoch += rng.randint(1, 2)
        leader += [(epoch, k) for k in range(1, rng.randint(1, 4) + 1)]
    shared = rng.randint(0, len(leader))
    follower = leader[:shared]
    if rng.random() < 0.6:
        last = follower[-1] if follower else zab.ZERO
        ends_its_epoch = shared == len(leader) or leader[shared][0] != last[0]
        if last != zab.ZERO and ends_its_epoch and rng.random() < 0.5:
            follower += [(last[0], last[1] + k) for k in range(1, rng.randint(1, 3))]
        taken = {e for e, _ in leader}
        new = [e for e in range(last[0] + 1, epoch + 3) if e not in taken]
        if new and rng.random() < 0.7:
            other = rng.choice(new)
            follower += [(other, k) for k in range(1, rng.randint(1, 3) + 1)]
    return leader, follower


def sync_reference(leader: Sequence[zab.Zxid], follower: Sequence[zab.Zxid],
                   diff_limit: int) -> tuple[str, zab.Zxid]:
    """``(mode, point)`` that :func:`zablib.protocols.zab.choose_sync` decides for a leader and
    a follower with these zxids (the transactions do not matter)."""
    history = tuple((zxid, None) for zxid in leader)
    last = follower[-1] if follower else zab.ZERO
    counts = zab.epoch_counts(tuple((zxid, None) for zxid in follower))
    mode, point, _ = zab.choose_sync(history, last, counts, diff_limit)
    return mode, point


# -- ZooKeeper recipes: which node a lock waiter watches (exercise 9) -----------------------------
#: The lock every contender of :func:`lock_waiter_trial` competes for.
LOCK_PATH = "/lock"
#: Contenders per schedule.
LOCK_CONTENDERS = 7
#: The faults a schedule draws two of.
LOCK_FAULTS = ("holder crashes", "waiter crashes", "waiter's session expires", "waiter gives up")
#: Every contender still alive must have held the lock within this many simulated ms of the
#: start. Measured with ``watch_predecessor``: the last contender got it after at most 1.07 s
#: over 40 schedules (the sessions open after ~0.25 s; a crashed holder's session takes up to
#: 0.4 s and a tick to expire; seven holds of 10-40 ms).
LOCK_PROGRESS_MS = 3_000.0


@dataclass(frozen=True)
class PredecessorDecision:
    """One question a waiter asked the rule: the lock's children (in the server's order) and its
    own node; the rule's ``answer`` (or the ``error`` it raised) and the right one, ``expected``."""

    children: tuple[str, ...]
    mine: str
    answer: Any
    expected: str | None
    error: str | None = None

    @property
    def agrees(self) -> bool:
        """The rule answered as :func:`zablib.recipes.lock.watch_predecessor` does."""
        return self.error is None and self.answer == self.expected

    def explain(self) -> str:
        """The decision in words, with both answers."""
        said = f"raised {self.error}" if self.error else f"answered {self.answer!r}"
        return (f"predecessor({list(self.children)}, {self.mine!r}): the right answer is "
                f"{self.expected!r}, your rule {said}")


@dataclass
class LockTrial:
    """What :func:`lock_waiter_trial` saw.

    Attributes
    ----------
    seeds : list of int
        The schedules run, in order.
    decisions : list of (int, PredecessorDecision)
        ``(seed, decision)`` for every time a contender asked the rule, in order.
    overlaps : list of (int, str)
        ``(seed, what)``: two live contenders held the lock at once, or the fenced resource
        refused a holder's write (it had seen a later holder's token).
    starved : list of (int, str)
        ``(seed, what)``: a live contender that had not held the lock by
        :data:`LOCK_PROGRESS_MS`.
    herds : list of (int, str)
        ``(seed, what)``: a schedule whose waiters were woken more often than lock nodes went
        away (a release woke more than one waiter).
    holds, wakeups, departures : int
        Over all schedules: times a contender held the lock, watch notifications waiters
        received, lock nodes that went away (released, given up, or their session ended).
    """

    seeds: list[int] = field(default_factory=list)
    decisions: list[tuple[int, PredecessorDecision]] = field(default_factory=list)
    overlaps: list[tuple[int, str]] = field(default_factory=list)
    starved: list[tuple[int, str]] = field(default_factory=list)
    herds: list[tuple[int, str]] = field(default_factory=list)
    holds: int = 0
    wakeups: int = 0
    departures: int = 0

    def summary(self) -> str:
        """One line: what the runs did."""
        return (f"{len(self.seeds)} schedules: {self.holds} holds, {len(self.decisions)} "
                f"decisions, {self.departures} lock nodes gone, {self.wakeups} wake-ups")

    def disagreements(self) -> list[tuple[int, PredecessorDecision]]:
        """``(seed, decision)`` where the rule did not answer as it should."""
        return [(s, d) for s, d in self.decisions if not d.agrees]

    def assert_exclusive(self) -> None:
        """Raise AssertionError describing the first moment two contenders held the lock."""
        _first(self.overlaps, "breach(es) of mutual exclusion")

    def assert_progress(self) -> None:
        """Raise AssertionError naming the first live contender that never got the lock."""
        _first(self.starved, "contender(s) never got the lock")

    def assert_no_herd(self) -> None:
        """Raise AssertionError naming the first schedule with a herd."""
        _first(self.herds, "schedule(s) woke more waiters than lock nodes went away")

    def assert_agrees(self) -> None:
        """Raise AssertionError describing the first wrong decision, if any."""
        wrong = self.disagreements()
        if wrong:
            seed, first = wrong[0]
            raise AssertionError(f"{len(wrong)} of {len(self.decisions)} decisions were wrong; "
                                 f"the first, in schedule {seed}: {first.explain()}")


def _first(found: list[tuple[int, str]], what: str) -> None:
    if found:
        seed, text = found[0]
        raise AssertionError(f"{len(found)} {what}; the first, in schedule {seed}: {text}")


@dataclass
class LockContender:
    """One contender of a :func:`lock_schedule`, as the harness follows it."""

    name: str
    client: Any
    delay_s: float
    hold_s: float
    lock: Any = None
    held_at: float | None = None
    dead: bool = False
    gave_up: bool = False
    expired: bool = False
    done: bool = False
    error: str | None = None

    @property
    def waiting(self) -> bool:
        """It has a lock node and waits for its turn."""
        return self.lock is not None and self.lock.node is not None and self.held_at is None


def lock_waiter_trial(predecessor: Callable[[list[str], str], str | None],
                      seeds: Iterable[int] = range(30)) -> LockTrial:
    """Run :func:`lock_schedule` ``seeds`` with ``predecessor`` as the waiters' rule.

    The trial stops after the first schedule that went wrong (a wrong decision, two holders,
    a contender left without the lock, or a herd).
    """
    trial = LockTrial()
    for seed in seeds:
        trial.seeds.append(seed)
        found = (len(trial.overlaps), len(trial.starved), len(trial.herds), len(trial.disagreements()))
        lock_schedule(predecessor, seed, trial)
        if (len(trial.overlaps), len(trial.starved), len(trial.herds), len(trial.disagreements())) != found:
            break
    return trial


def lock_schedule(predecessor: Callable[[list[str], str], str | None], seed: int,
                  trial: LockTrial) -> list[LockContender]:
    """One seeded lock schedule whose waiters choose the node to watch with ``predecessor``;
    what it saw is added to ``trial``, and its contenders are returned.

    :data:`LOCK_CONTENDERS` clients of a simulated ensemble (:class:`~zablib.coord.ensemble.Ensemble`)
    arrive within 60 ms and queue for one :class:`~zablib.recipes.lock.Lock` built with
    ``predecessor=`` (the recipe's door for the rule). Each holder writes to a
    :class:`~zablib.recipes.fencing.FencedResource` with its token as it enters and as it
    leaves, holds the lock for 10-40 ms and releases it. After the first one to three holds,
    with at least two contenders waiting, two faults of :data:`LOCK_FAULTS` strike at once: the
    holder crashes (it is cut off for good: its session expires and its node goes), a waiter
    crashes, a waiter's session is ended by the ensemble (it queues again with a new node), or
    a waiter gives up (``Lock.cancel()``: it deletes its node). Each time a contender looks at
    the queue the rule is asked, and the right answer
    (:func:`~zablib.recipes.lock.watch_predecessor`) is recorded beside it.
    """
    rng = random.Random(seed)
    ens = Ensemble(3, seed=seed)
    resource = FencedResource()
    faults = rng.sample(LOCK_FAULTS, 2)
    strike_after = rng.randint(1, 3)
    contenders = [LockContender(f"c{k}", ens.client(), rng.uniform(0.0, 0.06), rng.uniform(0.01, 0.04))
                  for k in range(LOCK_CONTENDERS)]
    holding: list[LockContender] = []

    def asked(children: list[str], mine: str) -> str | None:
        expected = watch_predecessor(list(children), mine)
        try:
            answer = predecessor(list(children), mine)
        except Exception as exc:
            trial.decisions.append((seed, PredecessorDecision(tuple(children), mine, None, expected,
                                                              f"{type(exc).__name__}: {exc}")))
            raise
        trial.decisions.append((seed, PredecessorDecision(tuple(children), mine, answer, expected)))
        return answer

    def write(c: LockContender, what: str) -> None:
        try:
            resource.write(c.lock.token, f"{c.name} {what}")
        except StaleTokenError as exc:
            trial.overlaps.append((seed, f"the fenced resource refused {c.name}'s write as it "
                                         f"{what} at {ens.now:.1f} ms ({exc})"))

    def contend(c: LockContender) -> None:
        zk = c.client
        try:
            zk.start()
            zk.handler.sleep_func(c.delay_s)
            c.lock = Lock(zk, LOCK_PATH, c.name, predecessor=asked)
            c.lock.acquire()
            if c.dead:
                return
            for other in holding:
                trial.overlaps.append((seed, f"{c.name} (token {c.lock.token}) got the lock at "
                                             f"{ens.now:.1f} ms while {other.name} (token "
                                             f"{other.lock.token}) still held it"))
            holding.append(c)
            c.held_at = ens.now
            trial.holds += 1
            write(c, "enters")
            zk.handler.sleep_func(c.hold_s)
            if c.dead:
                return
            write(c, "leaves")
            holding.remove(c)
            c.lock.release()
        except Exception as exc:
            if c.gave_up and isinstance(exc, errors_of(zk).CancelledError):
                return
            if not c.dead:
                c.error = f"{type(exc).__name__}: {exc}"
        finally:
            c.done = True

    def waiting() -> list[LockContender]:
        return [c for c in contenders if c.waiting and not (c.dead or c.gave_up or c.done)]

    for c in contenders:
        ens.spawn(contend, c, name=c.name)
    ready = ens.driver.run(
        until=LOCK_PROGRESS_MS, what="the moment of the faults",
        done=lambda: (bool(holding) and len(waiting()) >= 2
                      and sum(c.held_at is not None for c in contenders) >= strike_after))
    expired = 0
    # Expiring a session takes a twin client's round trips: the other faults strike first.
    for fault in sorted(faults, key=lambda f: f == "waiter's session expires") if ready else ():
        if fault == "holder crashes":
            victim = holding.pop()
        else:
            victim = rng.choice(waiting())
        if fault == "waiter's session expires":
            expired += 1
            victim.expired = True
            twin = ens.client(client_id=victim.client.client_id)
            twin.start()
            twin.stop()
        elif fault == "waiter gives up":
            victim.gave_up = True
            victim.lock.cancel()
        else:
            victim.dead = True
            ens.isolate_client(victim.client)
    live = [c for c in contenders if not (c.dead or c.gave_up)]
    ens.driver.run(until=LOCK_PROGRESS_MS, done=lambda: all(c.done for c in live), what="the contenders")

    for c in live:
        if c.held_at is None:
            why = f": {c.error}" if c.error else ""
            trial.starved.append((seed, f"{c.name} had not held the lock after "
                                        f"{LOCK_PROGRESS_MS:g} ms{why}"))
    tree = ens.tree(ens.leader() or ens.servers[0])
    gone = tree.sequence_counter(LOCK_PATH) - len(tree.children(LOCK_PATH))
    woken = sum(c.lock.wakeups for c in contenders if c.lock is not None)
    trial.wakeups += woken
    trial.departures += gone
    # One wake-up per node gone, and one per ended session: kazoo tells a session's pending
    # watches that it ended (an event of type NONE), and an expired waiter had one.
    if woken > gone + expired:
        told = f" (and {expired} waiter's session ended)" if expired else ""
        trial.herds.append((seed, f"{gone} lock nodes went away{told}, but waiters were woken "
                                  f"{woken} times: a release woke more than one waiter"))
    return contenders


# -- ZooKeeper recipes: the fenced resource's check (exercise 10) ---------------------------------
#: The runs of :func:`fencing_trial`: ``(seed, pause_ms, hold_ms)``. A's session is granted
#: 400 ms: it survives the pauses of 0 and 250 ms (its second write is fresh) and loses the lock
#: in the longer ones (its second write is stale: B holds, or held, the lock).
FENCING_RUNS = tuple((seed, pause, hold) for pause in (0.0, 250.0, 450.0, 700.0, 1000.0)
                     for hold in (100.0, 300.0) for seed in range(3))


@dataclass(frozen=True)
class FencingDecision:
    """One question the resource asked the check: ``check(token, highest_seen)``, its
    ``answer`` (or the ``error`` it raised) and :func:`~zablib.recipes.fencing.accept_token`'s."""

    token: int
    highest_seen: int | None
    answer: Any
    expected: bool
    error: str | None = None

    @property
    def agrees(self) -> bool:
        """The check answered as ``accept_token`` does (read as the resource reads it: true or
        false)."""
        return self.error is None and bool(self.answer) == self.expected


@dataclass(frozen=True)
class FencedWrite:
    """One write of a :func:`~zablib.scenarios.lock_pause_run`, judged.

    ``stale`` means that a client with a newer token had already tried to write: the lock had
    passed on, so this writer no longer held it."""

    run: tuple[int, float, float]
    time: float
    client: str
    token: int
    value: str
    accepted: bool
    stale: bool

    def describe(self) -> str:
        """The write in words, with the run it belongs to."""
        seed, pause, hold = self.run
        outcome = "accepted" if self.accepted else "refused"
        return (f"run seed={seed}, A paused {pause:g} ms, B holding {hold:g} ms: {self.client} "
                f"wrote {self.value} with token {self.token} at {self.time:.1f} ms "
                f"({'a stale' if self.stale else 'a current'} holder), and the resource {outcome} it")


@dataclass
class FencingTrial:
    """What :func:`fencing_trial` saw.

    Attributes
    ----------
    runs : list of (int, float, float)
        The runs, ``(seed, pause_ms, hold_ms)``, in order.
    decisions : list of FencingDecision
        Every question the resource asked the check, in order.
    writes : list of FencedWrite
        Every write of every run, judged.
    errors : list of str
        The runs that did not finish, and why (the check raised).
    """

    runs: list[tuple[int, float, float]] = field(default_factory=list)
    decisions: list[FencingDecision] = field(default_factory=list)
    writes: list[FencedWrite] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what the runs did."""
        stale = sum(w.stale for w in self.writes)
        return (f"{len(self.runs)} runs: {len(self.writes)} writes, {stale} of them by a holder "
                f"whose lock had passed on")

    def stale_accepted(self) -> list[FencedWrite]:
        """Writes of a holder whose lock had passed on, which the resource accepted."""
        return [w for w in self.writes if w.stale and w.accepted]

    def fresh_refused(self) -> list[FencedWrite]:
        """Writes of the current holder, which the resource refused."""
        return [w for w in self.writes if not w.stale and not w.accepted]

    def assert_refuses_stale(self) -> None:
        """Raise AssertionError describing the first stale write accepted (or failed run)."""
        self._assert_ran()
        _first_write(self.stale_accepted(), "write(s) of a stale holder accepted")

    def assert_accepts_fresh(self) -> None:
        """Raise AssertionError describing the first current holder's write refused."""
        self._assert_ran()
        _first_write(self.fresh_refused(), "write(s) of the current holder refused")

    def assert_agrees(self) -> None:
        """Raise AssertionError describing the first answer that differs from ``accept_token``."""
        wrong = [d for d in self.decisions if not d.agrees]
        if wrong:
            d = wrong[0]
            said = f"raised {d.error}" if d.error else f"answered {d.answer!r}"
            raise AssertionError(f"{len(wrong)} of {len(self.decisions)} answers were wrong; the "
                                 f"first: check({d.token}, {d.highest_seen}) should be "
                                 f"{d.expected}, your check {said}")

    def _assert_ran(self) -> None:
        if self.errors:
            raise AssertionError(f"{len(self.errors)} run(s) failed; the first: {self.errors[0]}")


def _first_write(found: list[FencedWrite], what: str) -> None:
    if found:
        raise AssertionError(f"{len(found)} {what}; the first: {found[0].describe()}")


def fencing_trial(check: Callable[[int, int | None], bool],
                  runs: Iterable[tuple[int, float, float]] = FENCING_RUNS) -> FencingTrial:
    """Run :func:`zablib.scenarios.lock_pause_run` with ``check`` as the fenced resource's rule.

    In each run client A takes a :class:`~zablib.recipes.lock.Lock`, writes ``A1`` with its
    token, and is frozen for ``pause_ms`` (a long GC pause) before it writes ``A2``; B waits
    for the lock, then writes ``B1``, works ``hold_ms`` and writes ``B2``. The resource is a
    :class:`~zablib.recipes.fencing.FencedResource` built with ``check=``. A write is *stale*
    when a newer token has already been written (or refused): its writer's lock had passed on.
    Every question the resource asked is recorded beside
    :func:`~zablib.recipes.fencing.accept_token`'s answer.
    """
    trial = FencingTrial()

    def asked(token: int, highest_seen: int | None) -> bool:
        expected = accept_token(token, highest_seen)
        try:
            answer = check(token, highest_seen)
        except Exception as exc:
            trial.decisions.append(FencingDecision(token, highest_seen, None, expected,
                                                   f"{type(exc).__name__}: {exc}"))
            raise
        trial.decisions.append(FencingDecision(token, highest_seen, answer, expected))
        return answer

    for seed, pause, hold in runs:
        trial.runs.append((seed, pause, hold))
        try:
            run = lock_pause_run(pause, hold_ms=hold, seed=seed, check=asked)
        except Exception as exc:
            trial.errors.append(f"seed={seed}, A paused {pause:g} ms: {type(exc).__name__}: {exc}")
            continue
        newest = -1
        for time, client, token, value, accepted in run.writes:
            trial.writes.append(FencedWrite((seed, pause, hold), time, client, token, value,
                                            accepted, stale=token < newest))
            newest = max(newest, token)
    return trial


# -- Observers and membership changes (exercises 12-13) ------------------------------------------
#: (voters, observers) ensembles whose leader's messages per write exercise 12 counts in runs.
LEADER_MESSAGE_CASES = ((1, 0), (3, 0), (5, 0), (7, 0), (1, 1), (3, 1), (3, 4), (5, 2))
#: (voters, observers, crashed servers) cases exercise 12 runs: ids 1..voters vote, the next
#: ``observers`` ids observe.
COMMIT_CASES = ((3, 0, (1,)), (3, 0, (1, 2)), (3, 2, (1, 2)), (3, 2, (4, 5)), (3, 2, (2, 4, 5)),
                (5, 2, (1, 2)), (5, 2, (1, 2, 3)), (4, 0, (1,)), (4, 0, (1, 2)), (1, 2, (2, 3)),
                (3, 4, (1, 4, 5, 6, 7)), (5, 4, (1, 2, 6, 7, 8, 9)), (5, 4, (3, 4, 5, 6)))


@dataclass(frozen=True)
class CountCheck:
    """One question asked of a student's function and of a run: what the function said and
    what the run measured."""

    case: tuple
    predicted: Any
    measured: Any

    @property
    def right(self) -> bool:
        return self.predicted == self.measured


@dataclass
class CountTrial:
    """The questions :func:`leader_messages_trial` or :func:`commit_trial` asked, each with the
    function's answer beside the run's."""

    what: str
    checks: list[CountCheck] = field(default_factory=list)

    def wrong(self) -> list[CountCheck]:
        """The checks whose prediction is not what the run measured."""
        return [c for c in self.checks if not c.right]

    def assert_matches(self) -> None:
        """Raise AssertionError naming the first case the function got wrong."""
        wrong = self.wrong()
        if wrong:
            first = wrong[0]
            raise AssertionError(f"{len(wrong)} of {len(self.checks)} wrong; the first: "
                                 f"{self.what}{first.case}: you said {first.predicted!r}, the "
                                 f"run measured {first.measured!r}")


def leader_messages_trial(predict: Callable[[int, int], Any],
                          cases: Iterable[tuple[int, int]] = LEADER_MESSAGE_CASES,
                          writes: int = 5) -> CountTrial:
    """Ask ``predict(voters, observers)`` for the messages a ZAB leader sends per write, and
    count them in a run of each ensemble (:func:`zablib.coord.measure.leader_messages_per_write`:
    every message the leader sends that carries one of ``writes`` writes' zxids)."""
    trial = CountTrial("leader_messages")
    for voters, observers in cases:
        measured = measure.leader_messages_per_write(voters, observers, writes=writes)
        trial.checks.append(CountCheck((voters, observers), predict(voters, observers),
                                       int(measured) if measured == int(measured) else measured))
    return trial


def commits_after_crashes(voters: int, observers: int, crashed: Iterable[NodeId], *,
                          seed: int = 0) -> bool:
    """Whether a ZAB ensemble of ``voters`` and ``observers`` still commits a write once the
    servers ``crashed`` are down: it elects a leader (1 s), the servers crash, the others have
    3 s to elect again, then a write goes to the leader and must be delivered by a live server
    within 1 s."""
    sim = zab.cluster(voters, observers=observers, seed=seed)
    sim.run(until=1000)
    for node in crashed:
        sim.crash(node)
    sim.run_for(3000)
    accepted = sim.submit("probe")
    sim.run_for(1000)
    return accepted and any("probe" in sim.committed(i) for i in sim.node_ids if sim.is_up(i))


def commit_trial(can_commit: Callable[[int, int, set[NodeId]], Any],
                 cases: Iterable[tuple[int, int, tuple[NodeId, ...]]] = COMMIT_CASES,
                 seed: int = 0) -> CountTrial:
    """Ask ``can_commit(voters, observers, crashed)`` whether a ZAB ensemble still commits
    writes with the servers ``crashed`` down, and run each case
    (:func:`commits_after_crashes`)."""
    trial = CountTrial("can_commit")
    for voters, observers, crashed in cases:
        measured = commits_after_crashes(voters, observers, crashed, seed=seed)
        trial.checks.append(CountCheck((voters, observers, set(crashed)),
                                       can_commit(voters, observers, set(crashed)), measured))
    return trial


@dataclass(frozen=True)
class SplitSeen:
    """Two leaders established at once in a run: the configurations they count (``old``, the
    first leader's, and ``new``) and the servers running with the new one (``switched``)."""

    run: str
    old: frozenset[NodeId]
    new: frozenset[NodeId]
    switched: frozenset[NodeId]


def splits_seen(seeds: Iterable[int] = range(2)) -> list[SplitSeen]:
    """The two-leader moments of chapter 2's runs: the ZAB rolling restarts from 1..3 to 1..5
    that :func:`zablib.membership.search` finds (every order, ``seeds``), and Raft's direct
    switch from {1, 2, 3} to {3, 4, 5} (:func:`zablib.protocols.raft.scenario_direct_switch`;
    there ``switched`` holds the servers whose log holds C_new)."""
    seen = []
    found = membership.search("zab-static", seeds=seeds)
    for k, f in enumerate(found.found):
        run = found.replay(k, until_two=True)
        switched = frozenset(node for _, node in run.steps)
        configs = sorted(frozenset(run.sim.nodes[leader].voters) for leader, _ in f.leaders)
        old, new = sorted(configs, key=len)
        seen.append(SplitSeen(f"ZAB, restart order {f.order}, seed {f.seed}", old, new,
                              switched))
    sim = raft.scenario_direct_switch()
    leaders = membership.raft_established_leaders(sim)
    configs = [frozenset(sim.nodes[leader].config) for leader, _ in leaders]
    old, new = frozenset({1, 2, 3}), frozenset({3, 4, 5})
    if sorted(configs, key=sorted) != sorted([old, new], key=sorted):  # pragma: no cover
        raise AssertionError(f"scenario_direct_switch's leaders count {configs}")
    switched = frozenset(i for i in sim.node_ids if sim.nodes[i].config == (3, 4, 5))
    seen.append(SplitSeen("Raft's direct switch", old, new, switched))
    return seen
