"""The simulation kernel: time, determinism, crash and recovery, timers, and its error messages.

Each test tells one story about :class:`zablib.sim.Simulation`. Network behaviour (partitions,
ordering, loss, duplication) is in ``test_network.py``; random fault campaigns are in
``test_properties.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

import zablib.sim
from zablib import (
    InvariantViolation,
    LinkConfig,
    Message,
    Node,
    Output,
    Simulation,
    SimulationError,
    constant,
)
from zablib.invariants import (
    check_agreement,
    check_contains,
    check_no_duplicates,
    check_prefix_order,
    check_single_leader,
)
from zablib.network import Costs
from zablib.protocols import pingpong, primary_backup
from zablib.trace import Event, Trace

# -- a small scriptable node -----------------------------------------------------------------


@dataclass(frozen=True)
class Text(Message):
    """A message carrying a line of text."""

    text: str


class Diary(Node):
    """A node the test drives through client requests.

    Durable: ``pages`` (how many ``write`` requests it took). Volatile: ``scratch`` (everything it
    heard since it last booted). Requests are tuples: ``("write",)``, ``("send", dst, text)``,
    ``("broadcast", text)``, ``("timer", name, delay)``, ``("cancel", name)``,
    ``("persist", key, value)`` and ``("bad-output",)``.
    """

    role = "diarist"

    def __init__(self, node_id: int, peers: tuple[int, ...], storage: Mapping[str, Any]):
        super().__init__(node_id, peers, storage)
        self.pages = storage.get("pages", 0)
        self.scratch: list[str] = []
        self.storage_seen = storage

    def on_client(self, now: float, request: Any) -> Output:
        op, *args = request
        out = Output(reply=op)
        if op == "write":
            self.pages += 1
            self.scratch.append(f"page {self.pages}")
            out.write(pages=self.pages)
        elif op == "send":
            out.send(args[0], Text(args[1]))
        elif op == "broadcast":
            out.broadcast(self.others, Text(args[0]))
        elif op == "timer":
            out.set_timer(args[0], args[1])
        elif op == "cancel":
            out.cancel_timer(args[0])
        elif op == "persist":
            out.write(**{args[0]: args[1]})
        elif op == "bad-output":
            return None  # type: ignore[return-value]
        return out

    def on_message(self, now: float, src: int, msg: Message) -> Output:
        self.scratch.append(f"{msg.text} from {src}")
        return Output().note(f"heard {msg.text!r} from {src}", tag="heard", value=msg.text)

    def on_timer(self, now: float, name: str) -> Output:
        return Output().note(f"timer {name} fired", tag="fired", value=(name, now))


def diary_cluster(n: int = 3, *, seed: int = 0, delay: float = 5.0) -> Simulation:
    """``n`` diarists (ids 1..n) on links with a constant delay, so times are easy to predict."""
    return Simulation(Diary, range(1, n + 1), seed=seed, link=LinkConfig(delay=constant(delay)))


class Ticker(Node):
    """Sets a periodic timer forever: a protocol that is never quiescent."""

    def on_start(self, now: float) -> Output:
        return Output().set_timer("tick", 1.0)

    def on_timer(self, now: float, name: str) -> Output:
        return Output().set_timer("tick", 1.0)


# -- determinism -----------------------------------------------------------------------------


def primary_backup_story(seed: int) -> Simulation:
    """Async primary-backup through loss, duplication, a crash, a partition and a recovery."""
    sim = primary_backup.cluster(3, seed=seed, mode="async")
    sim.set_loss(0.05)
    sim.set_duplication(0.05)
    sim.run(until=60)
    for k in range(5):
        sim.submit(f"w{k}")
        sim.run_for(7)
    sim.crash(1)
    sim.run_for(400)
    sim.submit("after-failover")
    sim.partition({1, 2}, {3})
    sim.run_for(300)
    sim.recover(1)
    sim.heal()
    sim.run_for(400)
    return sim


def pingpong_story(seed: int) -> Simulation:
    sim = pingpong.cluster(6, seed=seed, rounds=30)
    sim.run(until=40)
    sim.crash(3)
    sim.run_for(5)
    sim.recover(3)
    sim.run()
    return sim


@pytest.mark.parametrize("story", [primary_backup_story, pingpong_story])
def test_the_same_seed_gives_the_same_trace_byte_for_byte(story):
    first, second = story(7).trace.describe(), story(7).trace.describe()
    assert first.count("\n") > 80, "the story should be long enough to mean something"
    assert first == second


@pytest.mark.parametrize("story", [primary_backup_story, pingpong_story])
def test_different_seeds_give_different_runs(story):
    assert story(1).trace.describe() != story(2).trace.describe()


# -- crash and recovery ----------------------------------------------------------------------


def test_pingpong_keeps_what_it_persisted_and_forgets_the_rest():
    """``received`` is written to stable storage on every ball; ``last_count`` never is."""
    sim = pingpong.cluster(3, seed=1, rounds=20)
    sim.run(until=30)
    before = sim.nodes[2]
    assert before.received > 0 and before.last_count >= 0
    sim.crash(2)
    sim.recover(2)
    after = sim.nodes[2]
    assert after is not before, "recovery builds a new node object from storage"
    assert after.received == before.received
    assert after.last_count == -1
    assert sim.storage[2] == {"received": before.received}


def test_a_recovered_pingpong_player_does_not_serve_a_second_ball():
    sim = pingpong.cluster(3, seed=1, rounds=20)
    sim.run(until=30)
    sim.crash(2)
    sim.recover(2)
    recovery = [e for e in sim.trace if e.kind == "recover"][0]
    assert not [e for e in sim.trace[recovery.seq:] if e.kind == "send"]


def test_volatile_state_is_lost_and_durable_state_survives_a_crash():
    sim = diary_cluster()
    sim.request(1, ("write",))
    sim.request(1, ("write",))
    sim.request(2, ("send", 1, "hello"))
    sim.run()
    assert sim.nodes[1].scratch == ["page 1", "page 2", "hello from 2"]
    sim.crash(1)
    sim.recover(1)
    assert sim.nodes[1].pages == 2, "pages was persisted"
    assert sim.nodes[1].scratch == [], "scratch was volatile"
    assert sim.nodes[1].status() == "diarist"


def test_a_node_reads_its_storage_but_cannot_write_it_behind_the_simulators_back():
    sim = diary_cluster()
    sim.request(1, ("write",))
    sim.crash(1)
    sim.recover(1)
    with pytest.raises(TypeError):
        sim.nodes[1].storage_seen["pages"] = 99  # a read-only view
    assert sim.storage[1] == {"pages": 1}


def test_a_crashed_node_is_down_until_it_recovers():
    sim = diary_cluster()
    sim.crash(2)
    assert not sim.is_up(2) and sim.crashed == frozenset({2})
    sim.recover(2)
    assert sim.is_up(2) and sim.crashed == frozenset()
    assert [(e.kind, e.node) for e in sim.trace if e.kind in ("crash", "recover")] == [
        ("crash", 2), ("recover", 2)]
    assert sim.crash_intervals == [(2, 0.0, 0.0)]


def test_a_timer_set_before_a_crash_never_fires_but_the_recovered_nodes_timers_do():
    sim = diary_cluster()
    sim.request(1, ("timer", "old", 100.0))
    sim.run(until=50)
    sim.crash(1)
    sim.run(until=60)
    sim.recover(1)
    sim.request(1, ("timer", "new", 100.0))
    sim.run()
    fired = [(e.text, e.time) for e in sim.trace if e.kind == "timer"]
    assert fired == [("new", 160.0)]


def test_a_timer_that_is_reset_fires_once_at_its_new_time_and_a_cancelled_one_never():
    sim = diary_cluster()
    sim.request(1, ("timer", "a", 10.0))
    sim.request(1, ("timer", "b", 10.0))
    sim.run(until=5)
    sim.request(1, ("timer", "a", 10.0))  # reset: now due at 15
    sim.request(1, ("cancel", "b"))
    sim.run()
    assert [(e.text, e.time) for e in sim.trace if e.kind == "timer"] == [("a", 15.0)]


def test_a_message_arriving_at_a_crashed_node_is_dropped_as_down():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("send", 2, "are you there?"))
    sim.run(until=1)
    sim.crash(2)
    sim.run()
    drop = sim.trace.of_kind("drop")[0]
    assert (drop.time, drop.src, drop.dst, drop.text) == (5.0, 1, 2, "node 2 is down")
    assert not sim.trace.of_kind("deliver")


def test_a_message_sent_before_a_crash_is_dropped_even_if_the_node_is_back():
    """The connection it travelled on died with the node's old incarnation."""
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("send", 2, "stale"))
    sim.run(until=1)
    sim.crash(2)
    sim.run(until=2)
    sim.recover(2)
    sim.request(1, ("send", 2, "fresh"))
    sim.run()
    outcomes = [(e.kind, e.message.text, e.text) for e in sim.trace if e.kind in ("deliver", "drop")]
    assert outcomes == [("drop", "stale", "node 2 restarted"), ("deliver", "fresh", "")]
    assert sim.nodes[2].scratch == ["fresh from 1"]


def test_persisting_happens_before_the_messages_of_the_same_output_leave():
    """Write-ahead: when a node's send is in the trace, what it wrote is already stable."""
    sim = diary_cluster()
    sim.request(1, ("persist", "promise", 3))
    sim.crash(1)
    assert sim.storage[1] == {"promise": 3}


# -- running ---------------------------------------------------------------------------------


def test_run_without_limits_on_a_never_quiescent_protocol_raises_instead_of_hanging(monkeypatch):
    monkeypatch.setattr(zablib.sim, "DEFAULT_EVENT_LIMIT", 2_000)
    sim = Simulation(Ticker, [1, 2])
    with pytest.raises(SimulationError, match="never be quiescent.*until="):
        sim.run()
    assert len(sim.trace.of_kind("timer")) == 2_000


def test_primary_backup_with_its_heartbeats_is_never_quiescent():
    """The real limit, on a real protocol: periodic heartbeats never stop."""
    with pytest.raises(SimulationError, match="still busy after 100000 events"):
        primary_backup.cluster(2).run()


def test_run_until_advances_the_clock_to_until_even_when_nothing_happens():
    sim = pingpong.cluster(3, rounds=3)
    sim.run(until=1_000)
    assert sim.pending() == 0
    assert sim.now == 1_000


def test_run_until_stops_at_until_and_leaves_later_events_pending():
    sim = primary_backup.cluster(3)
    sim.run(until=123.5)
    assert sim.now == 123.5
    assert sim.pending() > 0
    assert max(e.time for e in sim.trace) <= 123.5


def test_run_until_includes_events_due_exactly_at_until():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("send", 2, "on time"))
    assert sim.run(until=5.0) == 1
    assert sim.trace.values("heard") == ["on time"]


def test_run_for_and_max_events_count_what_they_process():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("broadcast", "x"))
    sim.request(1, ("timer", "t", 3.0))
    assert sim.run(max_events=1) == 1
    assert sim.trace.values("fired") == [("t", 3.0)] and sim.now == 3.0
    assert sim.run_for(10) == 2
    assert sim.now == 13.0


def test_step_returns_the_event_it_processed_and_none_when_nothing_is_pending():
    sim = diary_cluster(delay=5.0)
    assert sim.step() is None
    sim.request(1, ("send", 3, "one"))
    event = sim.step()
    assert (event.kind, event.src, event.dst, event.time) == ("deliver", 1, 3, 5.0)
    assert sim.now == 5.0
    assert sim.step() is None


def test_stale_timers_are_not_events():
    sim = diary_cluster()
    sim.request(1, ("timer", "t", 10.0))
    sim.request(1, ("cancel", "t"))
    assert sim.pending() == 1, "the cancelled timer is still in the heap"
    assert sim.step() is None
    assert sim.run() == 0


def test_simultaneous_events_happen_in_the_order_they_were_scheduled():
    """Ties in time are broken by a sequence number, never by kind, node id or dict order."""
    sim = diary_cluster(4, delay=5.0)
    sim.request(4, ("send", 1, "first"))
    sim.request(1, ("broadcast", "second"))  # to 2, 3, 4 in this order
    sim.request(3, ("timer", "third", 5.0))
    sim.request(2, ("send", 1, "fourth"))
    sim.run()
    at_five = [(e.kind, e.node, e.peer) for e in sim.trace if e.time == 5.0 and e.kind != "note"]
    assert at_five == [("deliver", 1, 4), ("deliver", 2, 1), ("deliver", 3, 1), ("deliver", 4, 1),
                       ("timer", 3, None), ("deliver", 1, 2)]
    assert [e.seq for e in sim.trace] == list(range(len(sim.trace)))


# -- client requests and outputs -------------------------------------------------------------


def test_a_client_request_gets_the_nodes_reply_and_is_traced():
    sim = diary_cluster()
    assert sim.request(2, ("write",)) == "write"
    assert sim.trace[-1].describe() == "     0.000  client    2  ('write',)"


def test_notes_carry_machine_readable_values():
    sim = diary_cluster()
    sim.request(1, ("broadcast", "hi"))
    sim.run()
    assert sim.trace.values("heard") == ["hi", "hi"]
    assert sim.trace.values("heard", node=3) == ["hi"]
    assert sim.trace.notes(2) == ["heard 'hi' from 1"]


# -- bad input is named, never ignored -------------------------------------------------------


@pytest.fixture
def five():
    return pingpong.cluster(5, rounds=2)


@pytest.mark.parametrize("call", ["crash", "recover", "isolate", "is_up"])
def test_an_unknown_node_is_named_with_the_valid_ids(five, call):
    with pytest.raises(ValueError, match=r"unknown node 7; nodes are 1\.\.5"):
        getattr(five, call)(7)


def test_non_contiguous_node_ids_are_listed():
    sim = Simulation(Diary, [2, 4, 9])
    with pytest.raises(ValueError, match="unknown node 3; nodes are 2, 4, 9"):
        sim.crash(3)


def test_crashing_a_crashed_node_and_recovering_a_live_one_are_errors(five):
    with pytest.raises(ValueError, match="node 1 is not crashed"):
        five.recover(1)
    five.crash(1)
    with pytest.raises(ValueError, match="node 1 is already crashed"):
        five.crash(1)


def test_run_until_a_time_in_the_past_is_an_error(five):
    five.run(until=50)
    with pytest.raises(ValueError, match="until=10 is in the past"):
        five.run(until=10)
    with pytest.raises(ValueError, match="max_events must be a non-negative int"):
        five.run(max_events=-1)
    with pytest.raises(ValueError, match="duration must be >= 0"):
        five.run_for(-1)


def test_persisting_a_mutable_value_is_a_type_error():
    sim = diary_cluster()
    with pytest.raises(TypeError, match="persisted 'log' as a mutable list"):
        sim.request(1, ("persist", "log", [1, 2]))
    assert sim.storage[1] == {}


@pytest.mark.parametrize("dst, match", [(9, r"node 1 sent to unknown node 9; nodes are 1\.\.3"),
                                        (1, "node 1 sent a message to itself")])
def test_sending_to_an_unknown_node_or_to_oneself_is_an_error(dst, match):
    sim = diary_cluster()
    with pytest.raises(ValueError, match=match):
        sim.request(1, ("send", dst, "x"))


def test_a_node_must_answer_with_an_output():
    sim = diary_cluster()
    with pytest.raises(TypeError, match=r"node 1 \(Diary\) returned NoneType, not an Output"):
        sim.request(1, ("bad-output",))


def test_timers_with_negative_or_inverted_delays_are_errors():
    sim = diary_cluster()
    with pytest.raises(ValueError, match="delay must be >= 0"):
        sim.request(1, ("timer", "t", -1.0))
    with pytest.raises(ValueError, match="0 <= low <= high"):
        sim.request(1, ("timer", "t", (5.0, 1.0)))


def test_a_crashed_node_takes_no_client_requests_and_a_plain_node_takes_none_at_all():
    sim = diary_cluster()
    sim.crash(1)
    with pytest.raises(ValueError, match="node 1 is crashed"):
        sim.request(1, ("write",))
    with pytest.raises(ValueError, match="takes no client requests"):
        Simulation(Ticker, [1, 2]).request(1, "hello")


@pytest.mark.parametrize("kwargs, match", [
    ({"node_ids": []}, "at least one node"),
    ({"node_ids": [1, 1, 2]}, "must be distinct"),
    ({"node_ids": [1, 2], "seed": "x"}, "seed must be an int"),
])
def test_a_simulation_is_built_from_distinct_nodes_and_an_int_seed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Simulation(Diary, **kwargs)


@pytest.mark.parametrize("n", [1, "3"])
def test_pingpong_needs_two_players(n):
    with pytest.raises(ValueError, match="at least 2 nodes"):
        pingpong.cluster(n)


# -- invariants ------------------------------------------------------------------------------


def test_agreement_ignores_undecided_nodes_and_names_the_disagreeing_ones():
    check_agreement({1: "commit", 2: None, 3: "commit"})
    with pytest.raises(InvariantViolation) as broken:
        check_agreement({1: "commit", 2: None, 3: "abort"})
    assert broken.value.invariant == "agreement"
    assert "node 1" in broken.value.detail and "node 3" in broken.value.detail


def test_prefix_order_allows_lagging_but_not_disagreeing():
    check_prefix_order({1: ["a", "b", "c"], 2: ["a", "b"], 3: []})
    with pytest.raises(InvariantViolation) as broken:
        check_prefix_order({1: ["a", "b"], 2: ["a", "c", "d"]})
    assert broken.value.invariant == "prefix order"
    assert "position 2" in str(broken.value)


def test_no_duplicates_catches_an_item_delivered_twice():
    check_no_duplicates({1: ["a", "b"], 2: ["b", "a"]})
    with pytest.raises(InvariantViolation) as broken:
        check_no_duplicates({1: ["a"], 2: ["b", "c", "b"]})
    assert broken.value.invariant == "integrity"
    assert "node 2" in broken.value.detail and "'b'" in broken.value.detail


def test_single_leader_allows_one_leader_per_term():
    check_single_leader([(1, 1), (1, 1), (2, 3), (3, 1)])
    with pytest.raises(InvariantViolation) as broken:
        check_single_leader([(1, 1), (2, 3), (2, 2)], term_name="epoch")
    assert broken.value.invariant == "single leader"
    assert broken.value.detail == "nodes 2 and 3 both became leader of epoch 2"


def test_contains_names_the_promised_item_that_is_missing():
    check_contains(["x", "y"], {1: ["y", "x", "z"]})
    with pytest.raises(InvariantViolation) as broken:
        check_contains(["x", "y"], {1: ["x", "y"], 2: ["x"]})
    assert broken.value.invariant == "durability"
    assert broken.value.detail == "'y' was acknowledged but node 2 does not have it"


def test_an_invariant_violation_is_an_assertion_error():
    """So a plain ``assert``-based test runner reports it as a failure, not an error."""
    assert issubclass(InvariantViolation, AssertionError)


def test_check_runs_every_invariant_of_the_simulation():
    calls = []

    def fine(sim):
        calls.append("fine")

    def broken(sim):
        raise InvariantViolation("demo", f"at t={sim.now}")

    sim = Simulation(Diary, [1, 2], invariants=[fine])
    sim.check()
    sim.invariants.append(broken)
    with pytest.raises(InvariantViolation, match="demo violated: at t=0.0"):
        sim.check()
    assert calls == ["fine", "fine"]


def test_a_message_sent_while_the_node_is_down_is_not_delivered_after_it_recovers():
    """There was no connection to a dead node; the recovered node never hears of it."""
    sim = diary_cluster(delay=5.0)
    sim.crash(2)
    sim.request(1, ("send", 2, "into the void"))
    sim.run(until=1)
    sim.recover(2)
    sim.run()
    drop = sim.trace.of_kind("drop")[0]
    assert (drop.time, drop.text) == (5.0, "node 2 restarted")
    assert sim.nodes[2].scratch == []


# -- run_until: one meaning, in events ------------------------------------------------------------


def test_run_until_stops_at_the_event_that_makes_the_predicate_true():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("broadcast", "hello"))  # arrives at 2, then at 3, both at t=5
    done = sim.run_until(lambda s: "hello from 1" in s.nodes[2].scratch, what="2 hearing hello")
    assert done == 1 and sim.now == 5.0
    assert sim.nodes[3].scratch == [], "3's copy is still pending: the run stopped at once"
    assert sim.run_until(lambda s: True) == 0, "a predicate that already holds runs nothing"


def test_run_until_names_what_never_happened_when_its_event_limit_is_reached():
    sim = Simulation(Ticker, [1])
    with pytest.raises(SimulationError, match=r"a second tick did not happen within 3 events"):
        sim.run_until(lambda s: False, limit=3, what="a second tick")
    assert len(sim.trace.of_kind("timer")) == 3


def test_run_until_says_so_when_nothing_is_left_to_happen():
    sim = diary_cluster()
    with pytest.raises(SimulationError, match="the reply did not happen: nothing left to happen"):
        sim.run_until(lambda s: False, what="the reply")
    with pytest.raises(ValueError, match="limit must be a non-negative int"):
        sim.run_until(lambda s: True, limit=1.5)


# -- the trace is stored compactly and read as Event objects -------------------------------------


def test_trace_events_are_built_on_demand_and_equal_to_directly_made_events():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("send", 2, "one"))
    sim.run()
    send, deliver, note = sim.trace[-3:]
    assert send == Event(0.0, 4, "send", 1, 2, 1, "", Text("one"))  # after 3 starts, 1 request
    assert deliver == Event(5.0, 5, "deliver", 2, 1, 1, "", Text("one"))
    assert note == Event(5.0, 6, "note", 2, text="heard 'one' from 1", tag="heard", value="one")
    assert sim.trace[-1] is sim.trace[6], "an event is built once and then kept"
    assert list(sim.trace)[4:] == [send, deliver, note]
    assert sim.trace.count("send", "deliver") == 2 and sim.trace.count("crash") == 0
    with pytest.raises(IndexError):
        sim.trace[7]


def test_an_event_appended_by_hand_reads_back_like_a_recorded_one():
    trace = Trace()
    event = trace.append(1.5, "note", 2, text="decided", tag="decision", value="commit")
    assert event == Event(1.5, 0, "note", 2, text="decided", tag="decision", value="commit")
    assert trace.values("decision") == ["commit"] and len(trace) == 1


# -- Output: the parts nobody fills are shared, empty and read-only ---------------------------------


def test_an_empty_output_part_reads_as_empty_and_refuses_changes_behind_the_methods():
    out = Output()
    assert out.sends == [] and out.timers == {} and out.persist == {} and out.notes == []
    with pytest.raises(TypeError, match="add to it through the Output's methods"):
        out.sends.append((2, Text("x")))
    assert Output().sends == [], "the refused change left the shared placeholder empty"
    out.send(2, Text("x")).write(pages=1).set_timer("t", 1.0).cancel_timer("t")
    assert out == Output(sends=[(2, Text("x"))], persist={"pages": 1}, cancel=["t"])
    assert repr(Output(reply=True)) == (
        "Output(sends=[], timers={}, cancel=[], persist={}, notes=[], reply=True)")


# -- imposing events: what explorers and replays use ---------------------------------------------


def test_a_chosen_message_is_delivered_now_whatever_its_schedule():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("broadcast", "a"))  # #1 to 2, #2 to 3
    assert [(m.src, m.dst, m.message, m.msg_id, m.due) for m in sim.in_flight()] == [
        (1, 2, Text("a"), 1, 5.0), (1, 3, Text("a"), 2, 5.0)]
    sim.freeze("the test imposes the order")
    sim.advance_to(2.0)
    event = sim.deliver_now(2)
    assert (event.kind, event.node, event.peer, event.msg_id, event.time) == ("deliver", 3, 1, 2, 2.0)
    assert sim.nodes[3].scratch == ["a from 1"]
    assert [m.msg_id for m in sim.in_flight()] == [1], "the delivered message is off the schedule"
    with pytest.raises(ValueError, match="message #2 is not on its way"):
        sim.deliver_now(2)
    with pytest.raises(SimulationError, match="cannot be continued: the test imposes the order"):
        sim.run()


def test_a_chosen_timer_fires_now_and_a_chosen_loss_is_recorded():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("timer", "t", 50.0))
    sim.request(1, ("send", 2, "lost"))
    assert sim.pending_timers(1) == ("t",)
    fired = sim.fire_now(1, "t")
    assert (fired.kind, fired.node, fired.text, fired.time) == ("timer", 1, "t", 0.0)
    assert sim.pending_timers(1) == () and sim.trace.values("fired") == [("t", 0.0)]
    with pytest.raises(ValueError, match="node 1 has no pending timer 't' \\(pending: none\\)"):
        sim.fire_now(1, "t")
    drop = sim.drop_now(1, "the explorer says so")
    assert drop.describe() == "     0.000  drop      1 -> 2  #1 Text(text='lost')  (the explorer says so)"
    assert sim.in_flight() == [] and sim.run() == 0


def test_the_clock_moves_on_only_past_events_that_have_happened():
    sim = diary_cluster(delay=5.0)
    sim.advance_to(3.0)
    assert sim.now == 3.0
    sim.request(1, ("send", 2, "x"))  # due at 8
    with pytest.raises(SimulationError, match="an event is due at t=8.000 ms, before 9"):
        sim.advance_to(9)
    with pytest.raises(ValueError, match="cannot go back in time"):
        sim.advance_to(1.0)
    sim.freeze("replayed")
    sim.advance_to(9.0)
    assert sim.now == 9.0


def test_a_state_set_up_by_hand_goes_on_from_there():
    """What an explorer does in each state: put nodes, storage, timers and messages in place,
    impose one event, and read what it did."""
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("write",))
    fresh = Diary(2, sim.node_ids, {"pages": 7})
    ids = sim.set_state({2: fresh}, storage={2: {"pages": 7}}, timers={2: ["wake"]},
                        in_flight=[(3, 2, Text("hi")), (2, 1, Text("back"))])
    assert len(sim.trace) == 0, "the trace starts afresh"
    assert sim.nodes[2] is fresh and sim.storage[2] == {"pages": 7}
    assert sim.pending_timers(2) == ("wake",)
    assert [(m.src, m.dst, m.msg_id) for m in sim.in_flight()] == [(3, 2, ids[0]), (2, 1, ids[1])]
    sim.deliver_now(ids[0])
    assert fresh.scratch == ["hi from 3"] and sim.trace.notes(2) == ["heard 'hi' from 3"]
    with pytest.raises(ValueError, match="node 3 is crashed; recover\\(\\) it"):
        sim.crash(3)
        sim.set_state({3: Diary(3, sim.node_ids, {})})


def test_iterating_a_trace_also_yields_what_is_recorded_meanwhile():
    sim = diary_cluster(delay=5.0)
    sim.request(1, ("send", 2, "ping"))
    kinds = []
    for event in sim.trace:
        kinds.append(event.kind)
        if event.kind == "send":
            sim.step()  # the delivery and its note are recorded while the loop runs
    assert kinds[-3:] == ["send", "deliver", "note"]


# -- costs: when handling and sending a message take time ----------------------------------------


class Echo(Diary):
    """A diarist that answers every message it hears with ``re: <text>`` (and answers no answer)."""

    def on_message(self, now: float, src: int, msg: Message) -> Output:
        out = super().on_message(now, src, msg)
        if not msg.text.startswith("re: "):
            out.send(src, Text("re: " + msg.text))
        return out


def echo_cluster(costs: Costs | None, *, delay: float = 5.0, seed: int = 0) -> Simulation:
    return Simulation(Echo, (1, 2, 3), seed=seed, link=LinkConfig(delay=constant(delay)), costs=costs)


def times(sim: Simulation, kind: str, node: int) -> list[float]:
    return [e.time for e in sim.trace if e.kind == kind and e.node == node]


def test_a_busy_node_queues_what_arrives_and_acts_when_it_has_finished():
    # Two messages reach node 2 together at t=5; handling each takes 2 ms, one at a time.
    sim = echo_cluster(Costs(per_message_ms=2.0))
    sim.request(1, ("send", 2, "a"))
    sim.request(1, ("send", 2, "b"))
    sim.run()
    assert times(sim, "deliver", 2) == [7.0, 9.0]  # t + p and t + 2p
    # Its answers leave when each handling ends, and node 1 pays for hearing them too.
    assert times(sim, "send", 2) == [7.0, 9.0]
    assert times(sim, "deliver", 1) == [14.0, 16.0]
    assert [e.message.text for e in sim.trace if e.kind == "deliver" and e.node == 2] == ["a", "b"]


def test_without_costs_the_same_messages_are_handled_the_instant_they_arrive():
    sim = echo_cluster(None)
    sim.request(1, ("send", 2, "a"))
    sim.request(1, ("send", 2, "b"))
    sim.run()
    assert times(sim, "deliver", 2) == [5.0, 5.0]
    assert sim.costs is None


def test_handling_time_grows_with_the_bytes_of_the_message():
    costs = Costs(per_message_ms=1.0, per_byte_ms=0.01)
    sim = echo_cluster(costs)
    big, small = Text("x" * 1000), Text("y")
    assert big.size - small.size == 999
    sim.request(1, ("send", 2, "x" * 1000))
    sim.run()
    assert times(sim, "deliver", 2) == [pytest.approx(5.0 + 1.0 + 0.01 * big.size)]
    assert costs.handling_ms(2, big) > costs.handling_ms(2, small) + 9


def test_a_link_transmits_one_message_at_a_time_at_its_bandwidth():
    # 100 bytes per ms: each message takes size/100 ms to leave, then 5 ms in flight.
    sim = Simulation(Diary, (1, 2, 3), link=LinkConfig(delay=constant(5.0)), costs=Costs(bandwidth=100))
    tx = Text("z" * 480).size / 100
    sim.request(1, ("send", 2, "z" * 480))
    sim.request(1, ("send", 2, "z" * 480))
    sim.request(1, ("send", 3, "z" * 480))  # another link: not behind the two others
    sim.run()
    assert times(sim, "deliver", 2) == [pytest.approx(tx + 5.0), pytest.approx(2 * tx + 5.0)]
    assert times(sim, "deliver", 3) == [pytest.approx(tx + 5.0)]


def test_only_the_nodes_named_in_costs_pay_for_handling():
    sim = echo_cluster(Costs(per_message_ms=2.0, nodes={2}))
    sim.request(1, ("send", 2, "a"))
    sim.run()
    assert times(sim, "deliver", 2) == [7.0]
    assert times(sim, "deliver", 1) == [12.0]  # node 1 hears the answer as it arrives


def test_a_run_until_stops_at_until_while_messages_wait_in_a_queue():
    sim = echo_cluster(Costs(per_message_ms=2.0))
    for text in "abc":
        sim.request(1, ("send", 2, text))
    sim.run(until=8.0)
    assert sim.now == 8.0 and times(sim, "deliver", 2) == [7.0]
    assert [m.message.text for m in sim.in_flight()] == ["b", "c", "re: a"]  # b and c wait
    sim.run(until=11.0)
    assert times(sim, "deliver", 2) == [7.0, 9.0, 11.0]


def test_a_node_counts_the_time_it_spent_handling_messages():
    sim = echo_cluster(Costs(per_message_ms=2.0))
    sim.request(1, ("send", 2, "a"))
    sim.request(1, ("send", 2, "b"))
    sim.run(until=8.0)  # a handled from 5 to 7, b from 7 to 9
    assert sim.work_ms(2) == 3.0 and sim.work_ms(1) == 0.0
    sim.run()
    assert sim.work_ms(2) == 4.0 and sim.work_ms(1) == 4.0  # node 1 heard two answers
    assert echo_cluster(None).work_ms(2) == 0.0


def test_a_crash_loses_the_queue_and_the_recovered_node_starts_idle():
    sim = echo_cluster(Costs(per_message_ms=2.0))
    for text in "abc":
        sim.request(1, ("send", 2, text))
    sim.run(until=8.0)  # a handled at 7; b due at 9, c at 11
    sim.crash(2)
    sim.recover(2)
    sim.request(1, ("send", 2, "d"))  # arrives at 13 to an idle node
    sim.run()
    drops = [(e.time, e.message.text, e.text) for e in sim.trace if e.kind == "drop"]
    assert drops == [(9.0, "b", "node 2 restarted"), (11.0, "c", "node 2 restarted")]
    assert times(sim, "deliver", 2) == [7.0, 15.0]
    assert sim.work_ms(2) == 2.0 + 1.0 + 2.0  # a, the half of b done before the crash, d


def test_a_message_in_the_queue_is_past_the_network_a_partition_no_longer_stops_it():
    sim = echo_cluster(Costs(per_message_ms=2.0))
    sim.request(1, ("send", 2, "a"))
    sim.request(1, ("send", 2, "b"))
    sim.run(until=6.0)  # both arrived at 5 and wait for node 2
    sim.partition({1}, {2, 3})
    sim.run()
    assert times(sim, "deliver", 2) == [7.0, 9.0]
    assert [e.text for e in sim.trace if e.kind == "drop"] == ["partition", "partition"]  # the answers


def test_costs_set_after_the_boot_apply_to_messages_still_on_their_way():
    sim = pingpong.cluster(3, seed=1, rounds=2, link=LinkConfig(delay=constant(4.0)))
    sim.set_costs(Costs(per_message_ms=1.0))
    sim.run()
    first = [e for e in sim.trace if e.kind == "deliver"][:3]
    assert [e.time for e in first] == [5.0, 5.0, 5.0]
    assert [e.text for e in sim.trace if e.kind == "network"] == [
        "costs: 1 ms per message, 0 ms per byte, infinite bandwidth"]


def test_costs_keep_a_run_deterministic_for_its_seed():
    from zablib.protocols import zab

    def story(seed: int) -> str:
        sim = zab.cluster(5, seed=seed)
        sim.set_costs(Costs(per_message_ms=0.3, per_byte_ms=0.001, bandwidth=50))
        sim.run(until=300)
        for k in range(20):
            sim.submit(f"w{k}")
            sim.run_for(3)
        sim.run_for(200)
        return "\n".join(e.describe() for e in sim.trace)

    assert story(4) == story(4)
    assert story(4) != story(5)


def test_the_default_run_is_unchanged_and_switching_costs_off_is_silent():
    plain = pingpong_story(3)
    sim = pingpong.cluster(6, seed=3, rounds=30)
    sim.set_costs(None)  # already off: no event, no change
    sim.run(until=40)
    sim.crash(3)
    sim.run_for(5)
    sim.recover(3)
    sim.run()
    assert [e.describe() for e in sim.trace] == [e.describe() for e in plain.trace]


def test_switching_costs_off_again_handles_what_waits_in_the_queues():
    sim = echo_cluster(Costs(per_message_ms=2.0))
    sim.request(1, ("send", 2, "a"))
    sim.request(1, ("send", 2, "b"))
    sim.run(until=6.0)
    sim.set_costs(None)
    sim.run()
    assert times(sim, "deliver", 2) == [7.0, 9.0]  # already queued: handled as planned
    assert times(sim, "deliver", 1) == [12.0, 14.0]  # the answers arrive at a free node
    assert [e.text for e in sim.trace if e.kind == "network"][-1] == "costs: none"


@pytest.mark.parametrize("costs", ["fast", 0.5, {"per_message_ms": 1}])
def test_costs_must_be_a_costs_object(costs):
    with pytest.raises(TypeError, match="costs must be a zablib.network.Costs or None"):
        echo_cluster(costs)
