"""The explorer on the real 2PC and 3PC nodes (zablib.models.CommitModel): the claims of Skeen
1981 ("Nonblocking Commit Protocols") checked exhaustively for two participants.

* two-phase commit never decides inconsistently, but some crashes leave a live participant that
  can never decide: it blocks (Skeen §2; Gray 1978 §5.8.3.3);
* three-phase commit, with crashes only and a perfect failure detector in a synchronous network
  (Skeen's model), neither decides inconsistently nor blocks (Skeen §4, the nonblocking theorem);
* with a partition, the failure detector takes cut-off nodes for crashed ones and 3PC splits its
  decision: the explorer returns the shortest run that does it;
* the variant whose coordinator aborts after pre-committing splits its decision with two crashes
  and no partition: its pre-commit state is adjacent to both commit and abort;
* with crash-recovery (nodes restart from stable storage, with messages in flight) both keep
  agreement, and neither gets stuck: whenever a live node knows the outcome, or every node is
  up, every live node can still learn it without any further fault.

The state counts are asserted exactly: a change in them is a change in the protocols' behaviour,
to be understood before the numbers are updated (they are also quoted in the chapter).
"""

from __future__ import annotations

import pytest
from commit_rules import old_rule_factory

from zablib import InvariantViolation
from zablib.explore import explore
from zablib.models.commit_impl import CommitModel, CommitState
from zablib.protocols import threepc, twopc
from zablib.protocols.commit import node_factory_of
from zablib.protocols.threepc import PreCommit
from zablib.sim import SimulationError


def run(model):
    return explore(model, keep_graph=True, progress=False)


def labels(result) -> list[str]:
    return [label for successors in result.graph.values() for label, _ in successors]


# -- two-phase commit -----------------------------------------------------------------------------


def test_2pc_without_crashes_decides_everywhere_and_needs_no_timeout():
    model = CommitModel(twopc, 2)
    result = run(model)
    assert (result.distinct_states, result.depth, result.violation) == (96, 7, None)
    assert not any(label.startswith("timeout") for label in labels(result)), \
        "a perfect failure detector never suspects a live node"
    assert model.blocked_states(result) == []
    for state in result.terminal:
        assert None not in model.outcome(state).values()


@pytest.mark.parametrize("crashes, states, blocked", [(1, 567, 72), (2, 923, 160)])
def test_2pc_never_disagrees_but_a_coordinator_crash_blocks_prepared_participants(crashes, states,
                                                                                  blocked):
    model = CommitModel(twopc, 2, crashes=crashes)
    result = run(model)
    assert result.violation is None
    assert result.distinct_states == states
    stuck = model.blocked_states(result)
    assert len(stuck) == blocked
    for state in stuck:
        # Who is stuck: a live participant that has voted yes (or will: its Prepare is the only
        # thing left to happen) and knows nothing ...
        assert any(i != 0 and (dict(state.storage[i]).get("vote") == "yes"
                               or (0, i, twopc.Prepare()) in state.in_flight)
                   for i in model.undecided(state))
        # ... while every node that knows the outcome is down.
        assert all(i in state.crashed or state.decisions()[i] is None for i in model.ids)
    # A blocked state the chapter can print: the coordinator died before deciding, and both
    # participants have asked each other in vain.
    simplest = next(s for s in stuck if s.crashed == (0,) and not s.in_flight
                    and model.describe_state(s).count("participant prepared, blocked") == 2)
    assert simplest.decisions() == {0: None, 1: None, 2: None}
    assert model.is_blocked(simplest, result)
    # Nothing is left to do but ask each other again, in vain (or crash).
    assert sorted(label for label, _ in result.graph[simplest]
                  if not label.startswith("crash")) == ["timeout 1 decision", "timeout 2 decision"]


def test_2pc_timeouts_fire_only_after_what_the_dead_peer_sent_has_arrived():
    result = run(CommitModel(twopc, 2, crashes=1))
    for state, successors in result.graph.items():
        for label, _ in successors:
            if label.startswith("timeout"):
                waiter = int(label.split()[1])
                assert 0 in state.crashed or waiter == 0
                assert not any(src == 0 and dst == waiter for src, dst, _ in state.in_flight)


# -- crash-recovery: nodes restart from what they persisted ----------------------------------------


def test_2pc_with_crash_recovery_never_disagrees_and_whoever_knows_the_outcome_passes_it_on():
    """Two crashes, each node free to restart from stable storage while messages are in flight:
    no violation, and no live participant is ever stuck while a live node knows the outcome."""
    model = CommitModel(twopc, 2, crashes=2, recovery=True)
    result = run(model)
    assert result.violation is None
    assert (result.distinct_states, result.depth) == (23714, 20)
    assert model.stuck_states(result) == []
    # Restarts undo blocking: someone who knows can always come back.
    assert model.blocked_states(result) == []
    assert any(label.startswith("recover 0") for label in labels(result))
    twice = [s for s in result.graph if s.crash_count == 2 and s.restarted == (0,) and 0 in s.crashed]
    assert twice, "the coordinator can crash, restart and crash again"


def test_without_asking_again_a_participant_is_stuck_next_to_a_peer_that_knows():
    """Why a blocked 2PC participant asks everyone again and again: with the rule it had before,
    the explorer finds live participants that never learn an outcome a live peer knows."""
    model = CommitModel(twopc, 2, crashes=2, recovery=True, factory_for=old_rule_factory)
    result = run(model)
    assert result.violation is None
    stuck = model.stuck_states(result)
    assert len(stuck) == 4
    for state in stuck:
        # The coordinator is down with its decision; one participant has restarted and knows it;
        # the other is prepared, asks only the dead coordinator, and will never hear it.
        decided = state.decisions()
        assert state.crashed == (0,) and decided[0] is not None
        knows = [i for i in (1, 2) if decided[i] is not None]
        assert len(knows) == 1 and knows[0] in state.restarted
        assert model.undecided(state) == [3 - knows[0]]
    assert model.blocked_states(result) == [], "a restart of the coordinator would still save it"


def test_3pc_with_crash_recovery_never_disagrees_and_never_gets_stuck():
    """Outside Skeen's crash-stop model: a restarted node only asks, and never takes over."""
    model = CommitModel(threepc, 2, crashes=1, recovery=True)
    result = run(model)
    assert result.violation is None
    assert (result.distinct_states, result.depth) == (4032, 20)
    assert model.stuck_states(result) == []
    assert any(label == "recover 1" for label in labels(result))


def test_a_run_with_a_restart_replays_on_the_simulator():
    model = CommitModel(twopc, 2, crashes=1, recovery=True)
    run_ = ["deliver 0->1 Prepare", "deliver 0->2 Prepare", "deliver 1->0 Vote(yes)",
            "crash 1", "recover 1", "deliver 2->0 Vote(yes)"]
    states = model.walk(run_)
    assert states[-1].restarted == (1,) and "1: participant prepared, blocked (restarted)" \
        in model.describe_state(states[-1])
    sim = model.replay(run_)
    assert [e.kind for e in sim.trace if e.kind in ("crash", "recover")] == ["crash", "recover"]
    assert sim.outcome() == model.outcome(states[-1]) == {0: "commit", 1: None, 2: None}
    assert sim.status(1).extra["state"] == "prepared"


# -- three-phase commit, crashes only ------------------------------------------------------------


@pytest.mark.parametrize("crashes, states", [(0, 104), (1, 585), (2, 1077), (3, 1142)])
def test_3pc_with_crashes_only_never_disagrees_and_never_blocks(crashes, states):
    model = CommitModel(threepc, 2, crashes=crashes)
    result = run(model)
    assert result.violation is None
    assert result.distinct_states == states
    assert model.blocked_states(result) == []
    for state in result.terminal:  # every run ends with every live node decided
        assert model.undecided(state) == []


def test_3pc_termination_protocol_runs_when_the_coordinator_dies():
    result = run(CommitModel(threepc, 2, crashes=1))
    assert "timeout 1 decision" in labels(result)
    assert any("crash 0 losing" in label for label in labels(result)), \
        "the coordinator may die half-way through a broadcast"


def test_removing_the_deposed_coordinator_rule_lets_the_explorer_find_a_split():
    """Why a participant ignores PreCommit from a coordinator it has given up on: without the
    rule, a PreCommit that was still in flight changes a state already reported to the new
    coordinator, which then aborts while the reporting participant goes on to commit."""

    class TrustsEveryPreCommit(threepc.Participant):
        def on_message(self, now, src, msg):
            if isinstance(msg, PreCommit) and msg.coord < self.coord:
                self.coord = msg.coord  # forget the new coordinator: follow the old one again
            return super().on_message(now, src, msg)

    model = CommitModel(threepc, 2, crashes=2, factory_for=lambda votes: node_factory_of(
        threepc.Coordinator, TrustsEveryPreCommit, votes))
    result = explore(model, progress=False)
    assert result.violation is not None
    assert result.violation.invariant == "agreement"
    assert any(label.startswith("deliver 0->") and "PreCommit" in label
               for label in result.violation.actions)


# -- three-phase commit, partitions: the shortest split ------------------------------------------


def test_3pc_with_a_partition_splits_and_the_explorer_returns_the_shortest_run():
    model = CommitModel(threepc, 2, partitions=True)
    result = explore(model, progress=False)
    violation = result.violation
    assert violation is not None and violation.invariant == "agreement"
    assert result.distinct_states == 715
    assert list(violation.actions) == [
        "deliver 0->1 CanCommit",
        "deliver 0->2 CanCommit",
        "deliver 1->0 Vote(yes)",
        "deliver 2->0 Vote(yes)",
        "partition {0} | {1, 2}",
        "timeout 0 acks",
        "timeout 1 decision",
        "deliver 1->2 StateRequest(by 1)",
        "deliver 2->1 StateReply(uncertain)",
    ]
    assert model.outcome(violation.states[-1]) == {0: "commit", 1: "abort", 2: None}
    text = violation.describe()
    assert text.splitlines()[-1] == "violates agreement"
    assert "split {0} / {1, 2}" in text


def test_no_violation_is_shorter_than_the_one_returned():
    """Checked independently of the explorer: every run of 8 steps or fewer keeps agreement."""
    model = CommitModel(threepc, 2, partitions=True)
    frontier = set(model.init_states())
    seen = set(frontier)
    for _ in range(8):
        frontier = {nxt for state in frontier for _, nxt in model.actions(state)} - seen
        seen |= frontier
        assert all(CommitModel.agreement(state) for state in frontier)
    assert any(not CommitModel.agreement(nxt) for state in frontier for _, nxt in model.actions(state))


def test_the_shortest_split_replays_on_the_simulator_as_a_space_time_diagram():
    from zablib import viz

    model = CommitModel(threepc, 2, partitions=True)
    violation = explore(model, progress=False).violation
    sim = model.replay(violation)
    assert sim.outcome() == model.outcome(violation.states[-1])
    assert sim.partition_intervals and sim.partition_intervals[0][0] == (frozenset({0}),
                                                                          frozenset({1, 2}))
    with pytest.raises(InvariantViolation, match="agreement"):
        sim.check()
    layout = viz.spacetime_layout(sim)
    # Two CanCommit, two votes, StateRequest, StateReply (1's Abort to 2 is still on its way).
    assert [a.label for a in layout.arrows] == ["CanCommit", "CanCommit", "Vote", "Vote",
                                                "StateRequest", "StateReply"]
    assert {d.label for d in layout.drops} == {"PreCommit", "DoCommit", "Abort"}
    with pytest.raises(SimulationError, match="cannot be continued"):
        sim.run()


# -- the wrong variant: crashes suffice ------------------------------------------------------------


def test_wrong_variant_needs_two_crashes_to_split():
    result = run(CommitModel(threepc, 2, crashes=1, variant="wrong"))
    assert result.violation is None and result.distinct_states == 585


def test_wrong_variant_splits_with_crashes_alone():
    model = CommitModel(threepc, 2, crashes=2, variant="abort-after-precommit")
    result = explore(model, progress=False)
    violation = result.violation
    assert violation is not None and violation.invariant == "agreement"
    assert len(violation.actions) == 11
    assert not any(label.startswith("partition") for label in violation.actions)
    crashes = [label for label in violation.actions if label.startswith("crash")]
    assert crashes == ["crash 2", "crash 0 losing 0->1 Abort(by 0)"]
    assert "timeout 0 acks" in violation.actions
    sim = model.replay(violation)
    assert sim.outcome() == {0: "abort", 1: "commit", 2: None}
    assert "no Ack from 2 in time: abort (WRONG)" in sim.trace.notes(0)
    with pytest.raises(InvariantViolation):
        sim.check()


# -- the model is the implementation ---------------------------------------------------------------


def test_model_states_are_the_real_nodes_snapshots():
    state = CommitModel(threepc, 2, votes={2: "no"}).init_states()[0]
    assert isinstance(state, CommitState)
    peers = (0, 1, 2)
    coordinator = threepc.Coordinator(0, peers, {})
    coordinator.on_start(0.0)
    assert state.nodes[0] == coordinator.key()
    assert state.nodes[2] == threepc.Participant(2, peers, {}, "no").key()
    assert state.storage[0] == (("began", True),)
    assert state.timers == (("votes",), ("vote",), ("vote",))


def test_every_vote_combination_is_an_initial_state():
    assert len(CommitModel(twopc, 2).init_states()) == 4
    assert len(CommitModel(twopc, 2, votes={1: "no"}).init_states()) == 1


def test_same_model_same_findings():
    a = explore(CommitModel(threepc, 2, partitions=True), progress=False).violation.describe()
    b = explore(CommitModel(threepc, 2, partitions=True), progress=False).violation.describe()
    assert a == b


def test_replay_rejects_a_step_that_cannot_happen():
    model = CommitModel(twopc, 2)
    with pytest.raises(ValueError, match=r"step 1 \('deliver 1->0 Vote\(yes\)'\) is not possible"):
        model.replay(["deliver 1->0 Vote(yes)"])
    with pytest.raises(ValueError, match=r"step 1 \('dance'\) is not possible"):
        model.replay(["dance"])


def test_blocked_states_needs_a_complete_graph():
    model = CommitModel(twopc, 2)
    with pytest.raises(ValueError, match="keep_graph=True"):
        model.blocked_states(explore(model, progress=False))
    split = CommitModel(threepc, 2, partitions=True)
    with pytest.raises(ValueError, match="stopped at a violation"):
        split.blocked_states(explore(split, keep_graph=True, progress=False))


@pytest.mark.parametrize("make, message", [
    (lambda: CommitModel(twopc, 0), "participants must be a positive int"),
    (lambda: CommitModel(twopc, 2, crashes=-1), "crashes must be a non-negative int"),
    (lambda: CommitModel(twopc, 2, crashes=4), "crashes=4 but there are only 3 nodes"),
    (lambda: CommitModel(twopc, 2, partitions="yes"), "partitions must be True or False"),
    (lambda: CommitModel(twopc, 2, recovery=1), "recovery must be True or False"),
    (lambda: CommitModel(twopc, 2, votes={9: "yes"}), "unknown node 9; participants are 1..2"),
    (lambda: CommitModel(threepc, 2, variant="hopeful"), "unknown 3PC variant 'hopeful'"),
    (lambda: CommitModel("3pc", 2), "protocol must be a commit protocol module"),
    (lambda: CommitModel(twopc, 2, variant="wrong"), "twopc has no option 'variant'; its options are none"),
    (lambda: CommitModel(threepc, 2, termination_rule="skeen"), "termination_rule must be a function"),
])
def test_bad_model_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_walk_accepts_the_found_run_and_names_the_first_impossible_step() -> None:
    """A run is only evidence if the model allows it: walk() re-follows the labels through
    actions(), and replay() refuses a run with a step the model does not allow."""
    model = CommitModel(threepc, 2, partitions=True)
    violation = explore(model).violation
    states = model.walk(violation.actions, model.votes_of(violation.states[0]))
    assert states[-1] == violation.states[-1]
    bad = [*violation.actions[:3], "crash 0"]  # no crash budget in this model
    with pytest.raises(ValueError, match=r"step 4 \('crash 0'\) is not possible"):
        model.walk(bad)
    with pytest.raises(ValueError, match="not possible"):
        model.replay(bad)


def test_a_termination_rule_handed_to_the_model_runs_inside_the_real_nodes():
    """3PC's documented door for another rule (an exercise's answer, an experiment): the nodes
    call it, and the explorer judges what it does."""
    asked = []

    def skeen_noting_its_input(states):
        asked.append(tuple(states))
        return threepc.termination_rule(states)

    model = CommitModel(threepc, 2, crashes=2, termination_rule=skeen_noting_its_input)
    assert explore(model, progress=False).distinct_states == 1077, "same rule, same state space"
    assert ("precommitted",) in asked, "a participant left alone applied it to its own state"

    def commits_when_nobody_aborted(states):  # forgets that a crashed peer may have voted no
        return "abort" if {"aborted", "working"} & set(states) else "commit"

    bad = explore(CommitModel(threepc, 2, crashes=2, termination_rule=commits_when_nobody_aborted),
                  progress=False).violation
    assert bad is not None and bad.invariant in ("agreement", "validity")
    assert repr(CommitModel(threepc, 2, termination_rule=commits_when_nobody_aborted)) == (
        "CommitModel(threepc, 2, crashes=0, partitions=False, "
        "termination_rule=commits_when_nobody_aborted)")


def test_the_models_transitions_are_made_by_the_simulator():
    """One interpreter of a node's Output: what the kernel refuses, the model refuses too."""

    class KeepsAList(twopc.Participant):
        def on_message(self, now, src, msg):
            return super().on_message(now, src, msg).write(heard_from=[src])

    model = CommitModel(twopc, 2, factory_for=lambda votes: node_factory_of(
        twopc.Coordinator, KeepsAList, votes))
    with pytest.raises(TypeError, match="persisted 'heard_from' as a mutable list"):
        explore(model, progress=False)
