"""The simulated network: partitions, FIFO and reordering links, loss, duplication, delays.

The stories use small test nodes that send numbered messages, so each assertion is about the
network alone. Every check reads the trace, the same record the book's pictures are drawn from.
"""

from __future__ import annotations

import random
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from zablib import LinkConfig, Message, Node, Output, Simulation, constant, exponential, uniform
from zablib.network import Costs, DelayDistribution, Network, lognormal


@dataclass(frozen=True)
class Num(Message):
    """The ``k``-th message of its sender."""

    k: int


class Talker(Node):
    """Sends what its client asks: ``("to", dst, count)`` numbered messages, or ``("all", k)``."""

    def __init__(self, node_id, peers, storage):
        super().__init__(node_id, peers, storage)
        self.heard: list[tuple[int, int]] = []

    def on_client(self, now: float, request: Any) -> Output:
        out = Output()
        if request[0] == "to":
            _, dst, count = request
            for k in range(count):
                out.send(dst, Num(k))
        else:
            out.broadcast(self.others, Num(request[1]))
        return out

    def on_message(self, now: float, src: int, msg: Message) -> Output:
        self.heard.append((src, msg.k))
        return Output()


def talkers(n: int = 5, *, seed: int = 0, delay: DelayDistribution | None = None, **link) -> Simulation:
    return Simulation(Talker, range(1, n + 1), seed=seed,
                      link=LinkConfig(delay=delay or constant(5.0), **link))


def outcomes(sim: Simulation) -> dict[int, list]:
    """msg_id -> the deliver/drop events of that message, in order."""
    fate = defaultdict(list)
    for e in sim.trace:
        if e.kind in ("deliver", "drop"):
            fate[e.msg_id].append(e)
    return fate


# -- partitions ------------------------------------------------------------------------------


def test_nothing_crosses_a_partition():
    """During a partition, every send between groups is dropped at once and none is delivered."""
    sim = talkers(5)
    sim.partition({1, 2}, {3, 4, 5})
    side = {1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}
    for i in sim.node_ids:
        sim.request(i, ("all", i))
    sim.run()
    fate = outcomes(sim)
    across = [e for e in sim.trace.of_kind("send") if side[e.src] != side[e.dst]]
    within = [e for e in sim.trace.of_kind("send") if side[e.src] == side[e.dst]]
    assert len(across) == 12 and len(within) == 8
    for send in across:
        [drop] = fate[send.msg_id]
        assert (drop.kind, drop.text, drop.time) == ("drop", "partition", send.time)
    for send in within:
        assert [e.kind for e in fate[send.msg_id]] == ["deliver"]
    assert not [e for e in sim.trace.of_kind("deliver") if side[e.src] != side[e.dst]]


def test_a_message_in_flight_when_the_partition_starts_is_dropped_when_it_arrives():
    sim = talkers(5, delay=constant(10.0))
    sim.request(1, ("to", 4, 1))  # will cross the cut
    sim.request(1, ("to", 2, 1))  # stays inside group {1, 2}
    sim.run(until=3)
    sim.partition({1, 2}, {3, 4, 5})
    sim.run()
    arrivals = [(e.kind, e.dst, e.time, e.text) for e in sim.trace if e.kind in ("deliver", "drop")]
    assert arrivals == [("drop", 4, 10.0, "partition"), ("deliver", 2, 10.0, "")]


def test_heal_restores_delivery_but_does_not_resurrect_dropped_messages():
    sim = talkers(3)
    sim.isolate(3)
    sim.request(1, ("to", 3, 1))
    sim.run()
    sim.heal()
    sim.request(1, ("all", 99))
    sim.run()
    assert sim.nodes[3].heard == [(1, 99)]
    assert sim.nodes[2].heard == [(1, 99)]
    assert not sim.network.partitioned


def test_isolate_cuts_one_node_off_from_all_others():
    sim = talkers(5)
    sim.isolate(3)
    assert sim.network.groups() == (frozenset({1, 2, 4, 5}), frozenset({3}))
    assert sim.trace[-1].describe() == "     0.000  partition {1, 2, 4, 5} | {3}"
    assert not sim.network.connected(3, 1) and not sim.network.connected(1, 3)
    assert sim.network.connected(1, 5)


def test_a_new_partition_replaces_the_old_one():
    sim = talkers(3)
    sim.partition({1}, {2, 3})
    sim.run_for(10)
    sim.partition({1, 2}, {3})
    assert sim.network.connected(1, 2) and not sim.network.connected(2, 3)
    sim.run_for(5)
    sim.heal()
    groups = [tuple(sorted(map(sorted, g))) for g, _, _ in sim.partition_intervals]
    times = [(start, end) for _, start, end in sim.partition_intervals]
    assert groups == [([1], [2, 3]), ([1, 2], [3])]
    assert times == [(0.0, 10.0), (10.0, 15.0)]


def test_healing_a_healthy_network_says_so():
    sim = talkers(3)
    sim.heal()
    assert sim.trace[-1].describe() == "     0.000  heal      (no partition or cut link was in force)"
    assert sim.network.groups() == (frozenset({1, 2, 3}),)


@pytest.mark.parametrize("groups, match", [
    (({1, 2}, {2, 3, 4, 5}), "node 2 is in partition groups 1 and 2; groups must not overlap"),
    (({1, 2}, {3, 4}), r"node\(s\) \[5\] are in no partition group"),
    (({1, 2, 3, 4, 5}, set()), "partition group 2 is empty"),
    (({1, 2, 3, 4, 5},), "at least two groups"),
    (({1, 2, 3}, {4, 5, 6}), r"unknown node 6; nodes are 1\.\.5"),
])
def test_a_partition_must_split_every_node_into_disjoint_nonempty_groups(groups, match):
    sim = talkers(5)
    with pytest.raises(ValueError, match=match):
        sim.partition(*groups)
    assert not sim.network.partitioned, "a rejected partition changes nothing"


def test_the_only_node_of_a_cluster_cannot_be_isolated():
    with pytest.raises(ValueError, match="cannot isolate the only node"):
        talkers(1).isolate(1)


# -- ordering --------------------------------------------------------------------------------


def delivery_order(sim: Simulation, src: int, dst: int) -> list[int]:
    return [e.msg_id for e in sim.trace.of_kind("deliver") if (e.src, e.dst) == (src, dst)]


def send_order(sim: Simulation, src: int, dst: int) -> list[int]:
    return [e.msg_id for e in sim.trace.of_kind("send") if (e.src, e.dst) == (src, dst)]


def overtakings(order: list[int]) -> int:
    return sum(1 for a, b in zip(order, order[1:], strict=False) if b < a)


def test_a_fifo_link_delivers_in_send_order_even_with_wildly_different_delays():
    """ZAB's assumption (TCP): a later message never overtakes an earlier one on the same link."""
    sim = talkers(3, delay=uniform(1.0, 200.0))
    for _ in range(20):
        sim.request(1, ("to", 2, 10))
        sim.request(3, ("to", 2, 10))
        sim.run_for(3)
    sim.run()
    for src in (1, 3):
        assert len(delivery_order(sim, src, 2)) == 200
        assert delivery_order(sim, src, 2) == send_order(sim, src, 2)


def test_a_non_fifo_link_lets_later_messages_overtake_earlier_ones():
    """Raft's weaker assumption: each message has its own delay, so order is not kept."""
    sim = talkers(3, delay=uniform(1.0, 200.0))
    sim.configure_links(fifo=False)
    sim.request(1, ("to", 2, 200))
    sim.run()
    order = delivery_order(sim, 1, 2)
    assert sorted(order) == send_order(sim, 1, 2)
    assert overtakings(order) > 20


def test_fifo_can_be_switched_off_on_one_link_only():
    sim = talkers(3, delay=uniform(1.0, 200.0))
    sim.configure_links(1, 2, fifo=False)
    sim.request(1, ("to", 2, 100))
    sim.request(1, ("to", 3, 100))
    sim.run()
    assert overtakings(delivery_order(sim, 1, 2)) > 0
    assert delivery_order(sim, 1, 3) == send_order(sim, 1, 3)


# -- loss and duplication --------------------------------------------------------------------


def test_each_message_is_lost_with_probability_p():
    """2000 messages at p = 0.3: a binomial count, so 0.3 +- 0.035 is about three sigma."""
    sim = talkers(2, seed=11)
    sim.set_loss(0.3)
    sim.request(1, ("to", 2, 2000))
    sim.run()
    lost = [e for e in sim.trace.of_kind("drop") if e.text == "lost"]
    assert len(lost) + len(sim.trace.of_kind("deliver")) == 2000
    assert abs(len(lost) / 2000 - 0.3) < 0.035
    assert sim.trace.of_kind("network")[0].describe() == "     0.000  network   loss=0.3 on all links"


def test_loss_can_be_set_on_one_link_and_switched_off_again():
    sim = talkers(3, seed=3)
    sim.set_loss(0.5, src=1, dst=2)
    sim.request(1, ("to", 2, 200))
    sim.request(1, ("to", 3, 200))
    sim.run()
    lost = {(e.src, e.dst) for e in sim.trace.of_kind("drop")}
    assert lost == {(1, 2)}
    sim.set_loss(0)
    sim.request(1, ("to", 2, 200))
    before = len(sim.trace.of_kind("drop"))
    sim.run()
    assert len(sim.trace.of_kind("drop")) == before


@pytest.mark.parametrize("p", [1.0, -0.1, "x", True, 1.5])
def test_a_loss_probability_outside_zero_to_one_is_rejected(p):
    sim = talkers(3)
    with pytest.raises(ValueError, match=r"loss probability must be a number with 0 <= p < 1"):
        sim.set_loss(p)
    assert sim.network.default.loss == 0.0
    assert not sim.trace.of_kind("network"), "a rejected change is not recorded"


def test_duplication_delivers_a_message_twice_and_marks_the_copy():
    sim = talkers(2, seed=5, delay=uniform(1.0, 10.0))
    sim.set_duplication(0.5)
    sim.request(1, ("to", 2, 400))
    sim.run()
    fate = outcomes(sim)
    twice = [m for m, events in fate.items() if len(events) == 2]
    assert all(1 <= len(events) <= 2 for events in fate.values())
    assert abs(len(twice) / 400 - 0.5) < 0.08
    for m in twice:
        first, copy = fate[m]
        assert (first.kind, first.text) == ("deliver", "")
        assert (copy.kind, copy.text) == ("deliver", "duplicate")
        assert copy.time >= first.time
    assert len(sim.nodes[2].heard) == 400 + len(twice), "the node handles the copy too"


@pytest.mark.parametrize("p", [1.0, -0.5, "often"])
def test_a_duplication_probability_outside_zero_to_one_is_rejected(p):
    with pytest.raises(ValueError, match="duplicate probability must be a number with 0 <= p < 1"):
        talkers(3).set_duplication(p)


# -- delays ----------------------------------------------------------------------------------


def arrival_delays(sim: Simulation, src: int = 1, dst: int = 2) -> list[float]:
    sent = {e.msg_id: e.time for e in sim.trace.of_kind("send")}
    return [e.time - sent[e.msg_id] for e in sim.trace.of_kind("deliver") if (e.src, e.dst) == (src, dst)]


def test_a_constant_delay_is_exactly_that():
    sim = talkers(2, delay=constant(7.5))
    sim.request(1, ("to", 2, 10))
    sim.run()
    assert arrival_delays(sim) == [7.5] * 10


def test_uniform_and_exponential_delays_have_the_promised_range_and_mean():
    sim = talkers(3, seed=2, delay=uniform(2.0, 4.0), fifo=False)
    sim.configure_links(1, 3, delay=exponential(1.0, 5.0))
    sim.request(1, ("to", 2, 2000))
    sim.request(1, ("to", 3, 2000))
    sim.run()
    flat = arrival_delays(sim, 1, 2)
    assert 2.0 <= min(flat) and max(flat) <= 4.0
    assert abs(statistics.mean(flat) - 3.0) < 0.1
    tail = arrival_delays(sim, 1, 3)
    assert min(tail) >= 1.0
    assert abs(statistics.mean(tail) - 6.0) < 0.4


def test_a_slow_link_is_slow_in_one_direction_only():
    sim = talkers(3)
    sim.configure_links(1, 2, delay=constant(50.0))
    sim.request(1, ("to", 2, 1))
    sim.request(2, ("to", 1, 1))
    sim.request(1, ("to", 3, 1))
    sim.run()
    assert arrival_delays(sim, 1, 2) == [50.0]
    assert arrival_delays(sim, 2, 1) == [5.0]
    assert arrival_delays(sim, 1, 3) == [5.0]
    assert sim.trace.of_kind("network")[0].text == "delay=DelayDistribution(kind='constant', " \
        "low=50.0, high=50.0) on links 1 -> 2"


def test_settings_of_all_links_leaving_a_node():
    sim = talkers(3)
    sim.configure_links(src=3, loss=0.5)
    assert sim.network.link(3, 1).loss == sim.network.link(3, 2).loss == 0.5
    assert sim.network.link(1, 3).loss == 0.0
    assert sim.trace[-1].text == "loss=0.5 on links 3 -> *"


def test_node_zero_is_named_in_the_trace_of_a_link_change():
    """2PC's coordinator is node 0: a falsy id must not read as "every node"."""
    sim = Simulation(Talker, [0, 1, 2], link=LinkConfig(delay=constant(1.0)))
    sim.configure_links(0, 1, loss=0.5)
    assert sim.trace[-1].text == "loss=0.5 on links 0 -> 1"


def test_lognormal_delays_have_the_promised_median_and_mean_and_a_heavy_tail():
    sim = talkers(2, seed=3, delay=lognormal(30.0, 40.0), fifo=False)
    sim.request(1, ("to", 2, 4000))
    sim.run()
    delays = sorted(arrival_delays(sim))
    assert abs(statistics.median(delays) - 30.0) < 1.5
    assert abs(statistics.mean(delays) - 40.0) < 2.0
    assert delays[-40] > 150.0  # one in a hundred beyond five times the median


def test_an_unknown_link_setting_is_named():
    sim = talkers(3)
    with pytest.raises(ValueError, match=r"unknown link setting\(s\) \['latency'\]"):
        sim.configure_links(latency=3)
    with pytest.raises(ValueError, match=r"unknown node 4; nodes are 1\.\.3"):
        sim.configure_links(4, 1, loss=0.1)


@pytest.mark.parametrize("make, error, match", [
    (lambda: DelayDistribution("gaussian", 1, 2), ValueError, "unknown delay kind 'gaussian'"),
    (lambda: uniform(5.0, 1.0), ValueError, "0 <= low <= high"),
    (lambda: constant(-1.0), ValueError, "0 <= low <= high"),
    (lambda: LinkConfig(delay=5.0), TypeError, "delay must be a DelayDistribution"),
    (lambda: LinkConfig(fifo="yes"), TypeError, "fifo must be True or False"),
])
def test_bad_delay_and_link_settings_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_the_network_draws_only_from_the_generator_it_is_given():
    """Same generator state, same fates: the network has no randomness of its own."""
    net = Network([1, 2], LinkConfig(delay=uniform(1, 10), loss=0.2, duplicate=0.2))
    runs = []
    for _ in range(2):
        rng = random.Random(42)
        runs.append([tuple(net.transit(rng, 1, 2, float(t))) for t in range(50)])
        net.reset_link_order(1)
    assert runs[0] == runs[1]
    assert any(len(fate) == 0 for fate in runs[0]) and any(len(fate) == 2 for fate in runs[0])


def test_trace_lines_name_the_message_and_its_fate():
    sim = talkers(2)
    sim.isolate(2)
    sim.request(1, ("to", 2, 1))
    lines = sim.trace.describe(kinds=("send", "drop")).splitlines()
    assert lines == ["     0.000  send      1 -> 2  #1 Num(k=0)",
                     "     0.000  drop      1 -> 2  #1 Num(k=0)  (partition)"]
    assert re.fullmatch(r" +0\.000  drop .*", sim.trace.describe(last=1))



@dataclass(frozen=True)
class Word(Message):
    text: str


class Shouter(Node):
    """Sends ``Word(text)`` to ``dst`` when a client asks: ``sim.request(i, (dst, text))``."""

    def on_client(self, now: float, request: Any) -> Output:
        dst, text = request
        return Output().send(dst, Word(text))


def test_a_cut_link_loses_what_is_sent_on_it_and_only_in_that_direction() -> None:
    """cut_link models a sender whose next message never gets out: what is sent on 1 -> 2 while
    it is cut is lost ("link cut"); 2 -> 1 still works; a message already in flight when the cut
    happens still arrives; restore_link and heal undo it."""
    sim = Simulation(Shouter, [1, 2], seed=1, link=LinkConfig(delay=constant(5.0)))
    sim.request(1, (2, "in flight"))
    sim.cut_link(1, 2)
    sim.request(1, (2, "cut"))
    sim.request(2, (1, "other way"))
    sim.run()
    delivered = [e.message.text for e in sim.trace.of_kind("deliver")]
    dropped = [(e.src, e.dst, e.message.text, e.text) for e in sim.trace.of_kind("drop")]
    assert delivered == ["in flight", "other way"]
    assert dropped == [(1, 2, "cut", "link cut")]
    sim.restore_link(1, 2)
    sim.request(1, (2, "restored"))
    sim.cut_link(2, 1)
    sim.heal()
    assert sim.network.cut_links == frozenset()
    sim.request(2, (1, "healed"))
    sim.run()
    assert [e.message.text for e in sim.trace.of_kind("deliver")][-2:] == ["restored", "healed"]
    with pytest.raises(ValueError, match="not cut"):
        sim.restore_link(2, 1)
    with pytest.raises(ValueError, match="unknown node 9"):
        sim.cut_link(1, 9)
    with pytest.raises(ValueError, match="itself"):
        sim.cut_link(1, 1)


# -- costs: message sizes and the resource model's settings ---------------------------------------


def sizes_of_messages_carrying(factory, value, kinds: tuple[str, ...]) -> list[int]:
    """Run ``factory()`` until it elects a leader, submit ``value``, and return the sizes of the
    messages of the named types that carried it."""
    sim = factory()
    sim.run_until(lambda s: s.leader() is not None, what="a leader")
    sim.run_for(50)
    start = len(sim.trace)
    assert sim.submit(value)
    sim.run_for(100)
    return [e.message.size for e in list(sim.trace)[start:]
            if e.kind == "send" and type(e.message).__name__ in kinds]


@pytest.mark.parametrize("protocol, kinds", [("zab", ("Proposal",)), ("raft", ("AppendEntries",)),
                                             ("paxos", ("Accept",))])
def test_a_megabyte_value_makes_the_messages_that_carry_it_a_megabyte_longer(protocol, kinds):
    import importlib

    module = importlib.import_module(f"zablib.protocols.{protocol}")
    big = sizes_of_messages_carrying(lambda: module.cluster(3, seed=2), b"v" * 1_000_000, kinds)
    small = sizes_of_messages_carrying(lambda: module.cluster(3, seed=2), b"v" * 10, kinds)
    assert max(small) < 100  # heartbeats and the like carry no value at all
    assert max(big) - max(small) == 1_000_000 - 10  # the value's bytes, counted once


def test_a_coordination_write_counts_its_data_in_every_message_that_carries_it():
    from zablib.coord import Ensemble

    sizes = {}
    for label, data in (("big", b"d" * 200_000), ("small", b"d" * 10)):
        ens = Ensemble(3, seed=1)
        zk = ens.client(hosts=2)  # a follower: the write is forwarded to the leader
        zk.start()
        zk.create("/k", b"")
        start = len(ens.sim.trace)
        zk.set("/k", data)
        sizes[label] = {type(e.message).__name__: e.message.size for e in list(ens.sim.trace)[start:]
                        if e.kind == "send"}
    for kind in ("Request", "Proposal"):
        assert sizes["big"][kind] - sizes["small"][kind] == 200_000 - 10, kind
    assert sizes["big"]["Ack"] == sizes["small"]["Ack"]  # an acknowledgement carries no data


def test_a_message_size_is_a_header_plus_its_encoded_fields():
    from zablib.core import HEADER_BYTES, encoded_size

    assert Num(7).size == HEADER_BYTES + 8
    assert encoded_size("héllo") == 4 + 6 and encoded_size(b"abc") == 4 + 3
    assert encoded_size((1, "a", None)) == 4 + 8 + 5 + 1
    assert encoded_size({"k": 1.5}) == 4 + 5 + 8


@dataclass(frozen=True)
class Sized(Message):
    """A message type that says its own length."""

    payload: str

    @property
    def size(self) -> int:
        return 1_000


def test_a_message_type_may_say_its_own_size():
    assert Sized("x").size == 1_000
    assert Costs(per_byte_ms=0.01).handling_ms(1, Sized("x")) == pytest.approx(10.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"per_message_ms": -1}, "per_message_ms must be a finite number of milliseconds >= 0"),
    ({"per_byte_ms": -0.001}, "per_byte_ms must be a finite number"),
    ({"per_message_ms": float("inf")}, "per_message_ms must be a finite"),
    ({"per_message_ms": float("nan")}, "per_message_ms must be a finite"),
    ({"per_message_ms": "1"}, "per_message_ms must be a finite"),
    ({"per_message_ms": True}, "per_message_ms must be a finite"),
    ({"bandwidth": 0}, "bandwidth must be a positive finite number of bytes per ms"),
    ({"bandwidth": -5}, "bandwidth must be a positive"),
    ({"bandwidth": float("inf")}, "bandwidth must be a positive"),
])
def test_bad_costs_are_refused_with_the_setting_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Costs(**kwargs)


def test_costs_nodes_must_be_an_iterable_of_ids():
    with pytest.raises(TypeError, match="nodes must be an iterable of node ids"):
        Costs(per_message_ms=1, nodes=3)
    assert Costs(per_message_ms=1, nodes=[2, 1]).nodes == frozenset({1, 2})
