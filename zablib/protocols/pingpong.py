"""Ping-pong: the smallest protocol, used to exercise and benchmark the kernel.

Every node starts by sending ``Ping(0)`` to its right-hand neighbour; whoever receives a ball with
count ``k`` sends it on with count ``k + 1`` until ``rounds`` hops are done. The same workload is
written for SimPy in ``benchmarks/bench_kernel.py``, so the two kernels can be compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zablib.core import Message, Node, NodeId, NodeStatus, Output
from zablib.network import LinkConfig, uniform
from zablib.sim import Simulation


@dataclass(frozen=True)
class Ping(Message):
    """A ball that has been passed ``count`` times."""

    count: int


class PingPongNode(Node):
    """Passes each ball on to a neighbour; persists how many balls it has seen."""

    role = "player"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 rounds: int = 10):
        super().__init__(node_id, peers, storage)
        self.rounds = rounds
        self.received = storage.get("received", 0)  # durable
        self.last_count = -1  # volatile: lost in a crash
        self.right = peers[(peers.index(node_id) + 1) % len(peers)]  # the neighbour to pass to

    def on_start(self, now: float) -> Output:
        out = Output()
        if len(self.peers) > 1 and self.received == 0:
            out.send(self.right, Ping(0))
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if isinstance(msg, Ping):
            self.received += 1
            self.last_count = msg.count
            out.write(received=self.received)
            if msg.count + 1 < self.rounds:
                out.send(self.right, Ping(msg.count + 1))
        return out

    def status(self) -> str:
        return f"received {self.received}"

    def report(self) -> NodeStatus:
        """A player: no term, no leader, no log. ``extra``: ``received`` (balls seen, durable)
        and ``last_count`` (the count of the last ball, -1 before any)."""
        return NodeStatus(self.id, True, self.role, text=self.status(),
                          extra={"received": self.received, "last_count": self.last_count})


def cluster(n: int, *, seed: int = 0, rounds: int = 10, link: LinkConfig | None = None) -> Simulation:
    """``n`` players passing ``n`` balls around a ring, each for ``rounds`` hops.

    Parameters
    ----------
    n : int
        Number of nodes (ids 1..n), at least 2.
    seed : int
        Seed of the run.
    rounds : int
        Hops per ball.
    link : LinkConfig, optional
        Link settings; default uniform 1-10 ms delay, FIFO, no loss.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"ping-pong needs at least 2 nodes, got {n!r}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    return Simulation(
        lambda i, peers, storage: PingPongNode(i, peers, storage, rounds),
        range(1, n + 1),
        seed=seed,
        link=link or LinkConfig(delay=uniform(1.0, 10.0)),
    )
