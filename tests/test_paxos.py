"""Paxos as Lamport's "Paxos Made Simple" (2001) states it: single-decree Paxos (§2), and
Multi-Paxos, the state machine of §3 with a distinguished leader. Each story ends with
``sim.check()``, which checks the safety requirements of §2.1 over the whole run: at most one
value chosen per slot, only a proposed value chosen, and learners that agree.
"""

from __future__ import annotations

import pytest

from zablib import InvariantViolation, faults
from zablib.protocols import paxos
from zablib.protocols.paxos import (
    NOOP,
    Accept,
    Ballot,
    Nack,
    PaxosNode,
    Prepare,
    Promise,
    Propose,
)

B = Ballot


def learned_everywhere(sim) -> bool:
    return all(1 in node.learned for node in sim.nodes.values())


# -- §2.2: ballots ---------------------------------------------------------------------------


def test_ballots_are_totally_ordered_by_round_then_proposer_and_unique_per_proposer():
    assert B(1, 2) > B(1, 1) and B(2, 1) > B(1, 3) and B(1, 1) == B(1, 1)
    assert sorted([B(2, 1), B(1, 3), B(1, 1)]) == [B(1, 1), B(1, 3), B(2, 1)]
    assert paxos.ZERO < B(0, 1), "the null ballot is below every proposer's"
    # A proposer never reuses a round, even after a restart: it persists the rounds it uses.
    sim = paxos.cluster(3, multi=False, backoff=False, retry_ms=5.0)
    sim.propose(1, "a")
    sim.crash(1)
    sim.recover(1)
    sim.propose(1, "b")
    ballots = sim.trace.values("prepare", node=1)
    assert ballots == sorted(set(ballots)) and len(ballots) == 2


def test_a_ballot_compared_with_anything_else_is_an_error_that_says_so():
    with pytest.raises(TypeError, match="compares only with a ballot"):
        _ = B(1, 1) < 3
    with pytest.raises(TypeError, match="compares only with a ballot"):
        _ = B(1, 1) > (1, 1)
    with pytest.raises(ValueError, match="round must be an int >= 0"):
        B(-1, 1)
    with pytest.raises(ValueError, match="proposer must be an int"):
        B(1, "x")


# -- §2.2: the acceptor and the proposer, one input at a time ----------------------------------


def test_an_acceptor_persists_its_promise_before_it_answers():
    node = PaxosNode(3, (1, 2, 3), {})
    out = node.on_message(0.0, 1, Prepare(B(1, 1), 1))
    assert out.persist["promised"] == B(1, 1), "written in the same output as the Promise"
    assert out.sends == [(1, Promise(B(1, 1), ()))]
    # A Prepare of a ballot below the promise is refused, with the promise named (§2.4); the
    # same Prepare again (duplicated, or late) was answered already.
    assert node.on_message(1.0, 2, Prepare(B(0, 2), 1)).sends == [(2, Nack(B(0, 2), B(1, 1)))]
    assert node.on_message(1.5, 1, Prepare(B(1, 1), 1)).sends == []
    # Accepting writes the accepted proposal before the Accepted leaves.
    out = node.on_message(2.0, 1, Accept(B(1, 1), 1, "a"))
    assert out.persist["accepted"] == ((1, B(1, 1), "a"),)
    # A lower ballot's Accept is refused once a higher one is promised.
    node.on_message(3.0, 2, Prepare(B(2, 2), 1))
    assert node.on_message(4.0, 1, Accept(B(1, 1), 1, "z")).sends == [(1, Nack(B(1, 1), B(2, 2)))]
    # Restarted from its storage, it remembers both.
    storage = {"promised": B(2, 2), "accepted": ((1, B(1, 1), "a"),)}
    again = PaxosNode(3, (1, 2, 3), storage)
    assert (again.promised, again.accepted) == (B(2, 2), {1: (B(1, 1), "a")})


def test_a_prepare_overtaken_by_its_own_accept_does_not_pre_empt_its_leader():
    """Links reorder: the Accept of ballot 7.1 can arrive before its Prepare. The acceptor has
    then promised 7.1 already (by accepting); the late Prepare gets no answer, where a Nack
    would have made leader 1 step down for its own ballot (found by the fault campaign: five
    schedules in 10,000 whose leaders kept deposing themselves)."""
    node = PaxosNode(3, (1, 2, 3), {})
    assert node.on_message(0.0, 1, Accept(B(7, 1), 3, "x")).sends
    assert node.on_message(1.0, 1, Prepare(B(7, 1), 3)).sends == []
    leader = PaxosNode(1, (1, 2, 3), {})
    leader.on_client(0.0, paxos.Campaign())
    leader.on_message(1.0, 2, Promise(leader.ballot, ()))
    assert leader.role == "leader"
    leader.on_message(2.0, 3, Nack(leader.ballot, leader.ballot))
    assert leader.role == "leader", "a Nack that names its own ballot pre-empts nothing"


def test_the_forgetful_acceptor_does_not_persist_its_promise():
    node = PaxosNode(3, (1, 2, 3), {}, variant="forgetful-acceptor")
    out = node.on_message(0.0, 1, Prepare(B(1, 1), 1))
    assert "promised" not in out.persist and out.sends == [(1, Promise(B(1, 1), ()))]


@pytest.mark.parametrize("variant, proposed", [("correct", "q"), ("ignore-accepted", "mine")])
def test_a_proposer_adopts_the_value_of_the_highest_numbered_accepted_proposal(variant, proposed):
    """P2c: among the promises of a majority, the proposal with the highest ballot decides."""
    node = PaxosNode(1, (1, 2, 3, 4, 5), {}, variant=variant, multi=False)
    node.on_client(0.0, Propose("mine"))
    ballot = node.ballot
    node.on_message(1.0, 2, Promise(ballot, ((1, B(1, 2), "p"),)))
    out = node.on_message(2.0, 3, Promise(ballot, ((1, B(1, 3), "q"),)))
    # Three of five promised (1 itself, 2 and 3): phase 2 with the value of ballot 1.3.
    accepts = {msg for _, msg in out.sends if isinstance(msg, Accept)}
    assert accepts == {Accept(ballot, 1, proposed)}


# -- §2: single decree -----------------------------------------------------------------------


def test_one_proposer_gets_its_value_chosen_and_every_learner_learns_it():
    sim = paxos.cluster(3, seed=1, multi=False)
    assert sim.propose(2, "v")
    sim.run(until=500)
    assert sim.chosen() == {1: "v"}
    assert [sim.committed(i) for i in sim.node_ids] == [["v"]] * 3
    # Two message delays for phase 1, two for phase 2: four messages each way per acceptor.
    assert [type(e.message).__name__ for e in sim.trace if e.kind == "send"][:2] == ["Prepare"] * 2
    assert sim.propose(3, "w") is False, "a learner that knows the value proposes nothing"
    sim.check()


def test_the_forgetful_acceptor_is_caught_by_a_scripted_crash():
    """An acceptor that forgets its promise after a crash lets two values be chosen."""
    safe = paxos.scenario_forgotten_promise("correct")
    safe.check()
    assert safe.chosen() == {1: "b"}
    broken = paxos.scenario_forgotten_promise("forgetful-acceptor")
    with pytest.raises(InvariantViolation, match="slot 1 has 2 values chosen"):
        broken.check()


def test_the_proposer_that_ignores_accepted_values_is_caught():
    safe = paxos.scenario_ignored_value("correct")
    safe.check()
    assert safe.chosen() == {1: "a"}, "proposer 2 proposed the value acceptor 3 reported"
    assert [safe.committed(i) for i in safe.node_ids] == [["a"]] * 3
    broken = paxos.scenario_ignored_value("ignore-accepted")
    with pytest.raises(InvariantViolation, match="slot 1 has 2 values chosen"):
        broken.check()


def test_duelling_proposers_choose_nothing_for_ever_but_stay_safe():
    """§2.4: "two proposers each keep issuing a sequence of proposals with increasing numbers,
    none of which are ever chosen". No fault: the network only picks the order."""
    sim = paxos.scenario_duel(prepares=40)
    assert sim.chosen() == {}
    ballots = sim.trace.values("prepare")
    assert len(ballots) == 40 and ballots == sorted(ballots)
    assert {b.proposer for b in ballots} == {1, 2}
    # Each ballot got one vote, its own proposer's: never a majority.
    votes = sim.trace.values("accept")
    assert len({ballot for _, ballot, _ in votes}) == len(votes)
    assert not any(sim.nodes[i].learned for i in sim.node_ids)
    assert sim.crashed == frozenset() and not any(e.kind == "drop" for e in sim.trace)
    sim.check()
    with pytest.raises(ValueError, match="prepares must be an int >= 2"):
        paxos.scenario_duel(1)


def test_randomised_back_off_ends_the_duel():
    """Three proposers at once: with the randomised exponential back-off every run chooses
    one value, quickly (measured over these 60 seeds: at most 5 ballots, within 83 ms)."""
    for seed in range(60):
        sim = paxos.cluster(3, seed=seed, multi=False, retry_ms=(20.0, 40.0))
        for i, value in zip(sim.node_ids, "abc", strict=True):
            sim.propose(i, value)
        sim.run_until(learned_everywhere, what="a value learned everywhere")
        assert sim.now < 100.0 and len(sim.trace.values("prepare")) <= 5
        assert len({tuple(sim.committed(i)) for i in sim.node_ids}) == 1
        sim.check()


# -- §3: Multi-Paxos -------------------------------------------------------------------------


def test_a_leader_runs_phase_1_once_then_phase_2_per_command():
    sim = paxos.cluster(5, seed=3)
    sim.run_until(lambda s: s.leader() is not None, what="a leader")
    leader = sim.leader()
    sim.run_for(100)
    assert sim.leader() == leader
    phase1 = len(sim.trace.values("prepare"))
    for k in range(10):
        assert sim.submit(("c", k))
    sim.run_for(200)
    expected = [("c", k) for k in range(10)]
    assert [sim.committed(i) for i in sim.node_ids] == [expected] * 5
    assert len(sim.trace.values("prepare")) == phase1, "no phase 1 for the ten commands"
    accepts = [e for e in sim.trace if e.kind == "send" and isinstance(e.message, Accept)]
    assert len(accepts) >= 10 * 4, "phase 2 only: one Accept per command to each of 4 others"
    assert sim.chosen() == {k + 1: ("c", k) for k in range(10)}
    assert sim.request(leader % 5 + 1, "x") is False, "a follower refuses commands"
    sim.check()


def test_a_new_leader_fills_the_gap_with_a_noop_and_applies_in_slot_order():
    sim = paxos.scenario_gap()
    assert sim.chosen() == {1: NOOP, 2: "y"}
    assert sim.committed(2) == sim.committed(3) == ["y"]
    assert [row.kind for row in sim.status(2).log] == ["noop", "command"]
    # The crashed leader still knows what it applied before the crash: nothing.
    assert sim.committed(1) == []
    sim.recover(1)
    sim.run_until(lambda s: s.committed(1) == ["y"], what="node 1 catching up")
    sim.check()
    # Node 1 had accepted 'x' in slot 1 (ballot round 1) and learns the no-op: its log shows the
    # no-op without a round, since it never accepted it; the others show the round they did.
    assert sim.status(1).log[0].kind == "noop" and sim.status(1).log[0].term is None
    assert sim.status(2).log[0].term == sim.status(3).log[0].term == 2


def test_simultaneous_candidates_are_sorted_out_by_randomised_election_timeouts():
    """Three candidates at once duel as proposers do; one of them is pre-empted last, and the
    randomised election timeouts (not the network) let one finish. A command it accepted may be
    lost with a pre-empted leader: the client asks again, as :func:`faults.paxos_stuck` does."""
    for seed in range(20):
        sim = paxos.cluster(3, seed=seed)
        for i in sim.node_ids:
            sim.campaign(i)
        assert faults.paxos_stuck(sim) is None


def test_learned_values_survive_a_crash():
    sim = paxos.cluster(3, seed=2)
    sim.run_until(lambda s: s.leader() is not None, what="a leader")
    sim.submit("a")
    sim.run_for(100)
    follower = next(i for i in sim.node_ids if i != sim.leader())
    sim.crash(follower)
    sim.recover(follower)
    assert sim.committed(follower) == ["a"]
    sim.check()


def test_the_same_seed_gives_the_same_run():
    def run(seed):
        sim = faults.paxos_faulty_run(seed)
        return sim.trace.describe()

    assert run(7) == run(7) and run(7) != run(8)


# -- the checkers bite on hand-made records ---------------------------------------------------


def test_one_value_per_slot_bites_only_on_two_majorities():
    votes = [(1, 1, B(1, 1), "a"), (2, 1, B(1, 1), "a"), (3, 1, B(2, 3), "b")]
    paxos.check_one_value(votes, (1, 2, 3))  # "b" has one vote of three: not chosen
    with pytest.raises(InvariantViolation, match="slot 1 has 2 values chosen"):
        paxos.check_one_value(votes + [(2, 1, B(2, 3), "b")], (1, 2, 3))
    # The same value chosen in two ballots is one value.
    paxos.check_one_value(votes + [(2, 1, B(2, 3), "a"), (3, 1, B(2, 3), "a")], (1, 2, 3))


def test_only_proposed_values_bites_on_a_value_nobody_proposed():
    votes = [(1, 4, B(1, 1), "zz"), (2, 4, B(1, 1), "zz")]
    with pytest.raises(InvariantViolation, match="slot 4 chose 'zz'"):
        paxos.check_only_proposed(votes, (1, 2, 3), ["a"])
    paxos.check_only_proposed(votes, (1, 2, 3), ["zz"])
    paxos.check_only_proposed([(1, 1, B(1, 1), NOOP), (2, 1, B(1, 1), NOOP)], (1, 2, 3), [])


def test_learners_agree_bites_on_disagreement_and_on_a_value_not_chosen():
    with pytest.raises(InvariantViolation, match="node 1 learned 'a' for slot 2 but node 3"):
        paxos.check_learners_agree({1: {2: "a"}, 2: {}, 3: {2: "b"}})
    with pytest.raises(InvariantViolation, match="which was not chosen"):
        paxos.check_learners_agree({1: {1: "a"}}, chosen={1: {"b"}})
    paxos.check_learners_agree({1: {1: "a"}, 2: {1: "a"}}, chosen={1: {"a"}})


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        paxos.cluster(0)
    with pytest.raises(ValueError, match="unknown variant 'sloppy'"):
        paxos.cluster(3, variant="sloppy")
    with pytest.raises(ValueError, match="retry_ms must be > 0"):
        paxos.cluster(3, multi=False, retry_ms=-1.0)
    with pytest.raises(ValueError, match="takes Propose\\(value\\), not a bare command"):
        paxos.cluster(3, multi=False).request(1, "x")
    with pytest.raises(ValueError, match="propose\\(\\) is single-decree"):
        paxos.cluster(3).propose(1, "x")
    with pytest.raises(ValueError, match="unknown node 9"):
        paxos.cluster(3, multi=False).propose(9, "x")


# -- the fault campaign ------------------------------------------------------------------------

CAMPAIGN = 1000


def test_a_thousand_fault_schedules_break_nothing_and_a_command_is_applied_after_them():
    """Raft's schedules on Multi-Paxos: crashes, restarts, partitions, loss, duplication. Once
    the faults stop, a leader finishes phase 1 and a new command is applied everywhere within
    the bound of :func:`zablib.faults.paxos_stuck`."""
    stuck = []
    for seed in range(CAMPAIGN):
        sim = faults.paxos_faulty_run(seed)
        sim.check()
        faults.quiesce(sim)
        why = faults.paxos_stuck(sim)
        if why:
            stuck.append((seed, why))
    assert stuck == []


@pytest.mark.parametrize("variant, within", [("forgetful-acceptor", 200),
                                             ("ignore-accepted", 20)])
def test_the_campaign_catches_each_broken_variant(variant, within):
    caught = []
    for seed in range(within):
        try:
            sim = faults.paxos_faulty_run(seed, variant=variant)
            sim.check()
            faults.quiesce(sim)
            faults.paxos_stuck(sim)
        except InvariantViolation as violation:
            caught.append((seed, violation.args))
    assert caught, f"{variant} survived {within} schedules"


def test_single_decree_under_faults_chooses_one_value_that_every_node_learns_afterwards():
    """The same schedules on single-decree proposers (each round hands a value to a live node
    that has learned none): safe throughout, and once the faults stop a fresh proposal gets a
    value, maybe an earlier one, learned everywhere (measured over 10,000 schedules: at worst
    130 ms after the faults stopped)."""
    for seed in range(500):
        sim = faults.paxos_decree_run(seed)
        sim.check()
        faults.quiesce(sim)
        assert faults.paxos_decree_stuck(sim) is None
        assert len({tuple(sim.committed(i)) for i in sim.node_ids}) == 1
    with pytest.raises(InvariantViolation, match="values chosen"):
        for seed in range(20):
            faults.paxos_decree_run(seed, variant="ignore-accepted").check()


# -- the acceptor's rules: a door for other rules (exercise 11) ---------------------------------
S = paxos.AcceptorState


def test_the_reference_rules_are_the_acceptor_of_section_2_2():
    promise = paxos.on_prepare(S(B(1, 1), ((1, B(1, 1), "a"), (2, B(1, 1), "b"))), Prepare(B(2, 2), 2))
    assert promise == (S(B(2, 2), ((1, B(1, 1), "a"), (2, B(1, 1), "b"))), True,
                       Promise(B(2, 2), ((2, B(1, 1), "b"),))), "reports slots >= first only"
    assert paxos.on_prepare(S(B(2, 2)), Prepare(B(2, 2), 1)) == (S(B(2, 2)), False, None)
    assert paxos.on_prepare(S(B(2, 2)), Prepare(B(2, 1), 1)).reply == Nack(B(2, 1), B(2, 2))
    accepted = paxos.on_accept(S(B(1, 1), ((3, B(1, 1), "c"),)), Accept(B(2, 1), 2, "x"))
    assert accepted.state == S(B(2, 1), ((2, B(2, 1), "x"), (3, B(1, 1), "c"))) and accepted.write
    assert paxos.on_accept(S(B(2, 2)), Accept(B(2, 1), 1, "x")) == (S(B(2, 2)), False,
                                                                  Nack(B(2, 1), B(2, 2)))


def test_a_rule_may_answer_in_plain_data_and_a_malformed_answer_is_named():
    step = paxos.as_step((S(B(1, 1)), True, ("promise", B(1, 1), [[1, B(0, 1), "a"]])), "mine")
    assert step.reply == Promise(B(1, 1), ((1, B(0, 1), "a"),))
    assert paxos.as_reply(("nack", B(1, 1), B(2, 2))) == Nack(B(1, 1), B(2, 2))
    with pytest.raises(TypeError, match="mine must return \\(state, write, reply\\)"):
        paxos.as_step(None, "mine")
    with pytest.raises(TypeError, match="must return an AcceptorState"):
        paxos.as_step(((B(1, 1), ()), True, None), "mine")
    with pytest.raises(TypeError, match="True or False as write"):
        paxos.as_step((S(), "yes", None), "mine")
    with pytest.raises(TypeError, match="mine's reply must be None or one of"):
        paxos.as_step((S(), False, ("promised", B(1, 1), ())), "mine")
    with pytest.raises(TypeError, match="must be \\('accepted', ballot, slot\\)"):
        paxos.as_step((S(), False, ("accepted", B(1, 1))), "mine")
    with pytest.raises(ValueError, match="rules must be a paxos.Rules"):
        paxos.cluster(3, rules=paxos.on_prepare)


def test_the_reference_rules_plugged_in_change_nothing_and_agree_with_themselves():
    """The door costs nothing: the same seed gives the same trace through a recorder, and every
    decision of a faulty run agrees with the reference."""
    recorder = paxos.RuleRecorder(paxos.Rules(on_prepare=lambda s, m: paxos.on_prepare(s, m),
                                              on_accept=lambda s, m: paxos.on_accept(s, m)))
    plain = faults.paxos_faulty_run(11)
    plugged = faults.paxos_faulty_run(11, rules=recorder.rules)
    assert plain.trace.describe() == plugged.trace.describe()
    assert {d.rule for d in recorder.decisions} == {"on_prepare", "on_accept"}
    assert recorder.disagreements() == []


def test_an_acceptor_that_does_not_write_its_promise_is_the_forgetful_acceptor():
    """Plugged in through the door, a promise kept in memory only breaks safety exactly as the
    variant "forgetful-acceptor" does, on the scripted crash and in the decisions."""
    def promise_in_memory(state, prepare):
        step = paxos.on_prepare(state, prepare)
        return step._replace(write=False) if isinstance(step.reply, Promise) else step

    recorder = paxos.RuleRecorder(paxos.Rules(on_prepare=promise_in_memory))
    sim = paxos.cluster(3, multi=False, retry_ms=3000.0, link=paxos.SCRIPT_LINK, rules=recorder.rules)
    sim.propose(2, "b")
    sim.deliver_now(next(m.msg_id for m in sim.in_flight() if m.dst == 3))
    sim.crash(3)
    sim.recover(3)
    assert sim.nodes[3].promised == paxos.ZERO, "the promise of 1.2 was lost in the crash"
    wrong = recorder.disagreements("on_prepare")
    assert wrong and not wrong[0].answer.write and wrong[0].answer.state == wrong[0].expected.state
