"""An atomic commit protocol run once per operation: many transactions on the same nodes.

:mod:`~zablib.protocols.twopc` and :mod:`~zablib.protocols.threepc` decide *one* transaction per
cluster. A database runs its commit protocol for every transaction, on the same machines, with
the same coordinator. :func:`cluster` does that: node 0 is the coordinator and nodes
``1..participants`` the participants, as in one commit run, and every operation a client hands
the coordinator (:meth:`TransactionSimulation.submit`) is a transaction of its own, named by the
operation, decided by a fresh instance of the protocol:

* each node hosts one protocol node (coordinator or participant) per transaction, with its own
  volatile state, timers (named ``"<txn>:<timer>"``) and records on stable storage (the key
  ``"t:<txn>"``);
* every message carries its transaction (:class:`Tagged`), so instances never mix;
* a participant's instance starts when the first message of its transaction arrives; the
  coordinator's when the client submits;
* a crash stops every instance on the node, a recovery restarts each from what it wrote (so the
  protocol's own recovery rules apply, transaction by transaction), a partition cuts them all.

Nothing in the protocols changes: the instances are the protocol modules' own node classes,
built by the factory given to :func:`cluster`. The invariants are the single-transaction ones,
checked for every transaction: agreement and validity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import zablib.protocols.commit as commit
from zablib.core import LogRow, Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import check_agreement
from zablib.network import LinkConfig, uniform
from zablib.sim import Simulation

#: ``factory(votes) -> node factory``: a protocol's ``node_factory`` (e.g. ``twopc.node_factory``).
ProtocolFactory = Callable[[dict[NodeId, str]], Callable[..., Node]]


@dataclass(frozen=True)
class Tagged(Message):
    """A message of transaction ``txn``: the protocol's own message ``inner``."""

    txn: Any
    inner: Message

    def describe(self) -> str:
        return f"{self.txn!r}: {self.inner.describe()}"


def _key(txn: Any) -> str:
    return f"t:{txn!r}"


class Host(Node):
    """One machine running one instance of a commit protocol per transaction.

    Parameters
    ----------
    node_id, peers, storage
        As for :class:`~zablib.core.Node`; ``storage`` holds one record per transaction this
        node has written anything for.
    factory : callable
        ``factory(node_id, peers, storage) -> Node``: builds the protocol's coordinator (node 0)
        or participant for one transaction.
    """

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 factory: Callable[..., Node]):
        super().__init__(node_id, peers, storage)
        self.role = "coordinator" if node_id == commit.COORDINATOR else "participant"
        self.factory = factory
        self.records: dict[Any, dict[str, Any]] = {}
        self.instances: dict[Any, Node] = {}
        self.names: dict[str, Any] = {}  # repr(txn) -> txn, to read timer names back
        for key, (txn, items) in storage.items():
            if key.startswith("t:"):
                self.records[txn] = dict(items)
                self.instances[txn] = factory(node_id, peers, MappingProxyType(dict(items)))
                self.names[repr(txn)] = txn

    # -- the host's plumbing: a protocol node's Output, tagged with its transaction ---------------
    def _wrap(self, txn: Any, inner: Output, out: Output) -> Any:
        for dst, msg in inner.sends:
            out.send(dst, Tagged(txn, msg))
        for name in inner.cancel:
            out.cancel_timer(f"{txn!r}:{name}")
        for name, delay in inner.timers.items():
            out.set_timer(f"{txn!r}:{name}", delay)
        if inner.persist:
            record = self.records.setdefault(txn, {})
            newly_decided = "decision" in inner.persist and "decision" not in record
            record.update(inner.persist)
            out.write(**{_key(txn): (txn, tuple(sorted(record.items())))})
            if newly_decided:
                out.note(f"{txn!r} decided {record['decision']}", tag="decided",
                         value=(txn, record["decision"]))
        for text, tag, value in inner.notes:
            out.note(f"{txn!r}: {text}", tag=tag, value=(txn, value))
        return inner.reply

    def _start(self, txn: Any, now: float, out: Output) -> Node:
        node = self.factory(self.id, self.peers, MappingProxyType({}))
        self.instances[txn] = node
        self.names[repr(txn)] = txn
        self._wrap(txn, node.on_start(now), out)
        return node

    # -- inputs -----------------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        out = Output()
        for txn, node in self.instances.items():  # recovery: each instance from its own record
            self._wrap(txn, node.on_start(now), out)
        return out

    def on_client(self, now: float, request: Any) -> Output:
        out = Output()
        if self.id != commit.COORDINATOR:
            raise ValueError(f"node {self.id} is a participant; transactions begin at the "
                             f"coordinator, node {commit.COORDINATOR}")
        if request in self.instances:
            out.reply = False  # a transaction is begun once
            return out
        self._start(request, now, out)
        out.reply = True
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if not isinstance(msg, Tagged):
            return out
        node = self.instances.get(msg.txn)
        if node is None:
            if self.id == commit.COORDINATOR:
                return out  # the coordinator begins a transaction only when a client asks
            node = self._start(msg.txn, now, out)
        self._wrap(msg.txn, node.on_message(now, src, msg.inner), out)
        return out

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        label, _, inner = name.rpartition(":")  # the protocols' timer names have no colon
        txn = self.names.get(label)
        if txn is not None:
            self._wrap(txn, self.instances[txn].on_timer(now, inner), out)
        return out

    # -- reading ----------------------------------------------------------------------------------
    def outcomes(self) -> dict[Any, str | None]:
        """``{txn: "commit" | "abort" | None}`` for every transaction this node has a record of."""
        return {txn: record.get("decision") for txn, record in self.records.items()}

    def blocked(self) -> list[Any]:
        """The transactions whose instance here waits in vain for an outcome."""
        return [txn for txn, node in self.instances.items() if getattr(node, "blocked", False)]

    def status(self) -> str:
        decided = sum(1 for d in self.outcomes().values() if d is not None)
        return f"{self.role}: {len(self.instances)} transactions, {decided} decided"

    def report(self) -> NodeStatus:
        """Log rows: the transactions this node has a record of, in the order it first wrote them
        (``command`` the transaction; ``kind`` "command"); ``commit``: how many rows, from the
        first, it knows decided. ``extra["outcomes"]``: :meth:`outcomes`."""
        outcomes = self.outcomes()
        rows = tuple(LogRow(k, None, txn) for k, txn in enumerate(outcomes, 1))
        prefix = 0
        while prefix < len(rows) and outcomes[rows[prefix].command] is not None:
            prefix += 1
        return NodeStatus(self.id, True, self.role, leader=commit.COORDINATOR, log=rows,
                          commit=prefix, text=self.status(), extra={"outcomes": outcomes})


def _records(storage: Mapping[str, Any]) -> dict[Any, dict[str, Any]]:
    return {value[0]: dict(value[1]) for key, value in storage.items() if key.startswith("t:")}


def agreement(sim: TransactionSimulation) -> None:
    """Per transaction: no two nodes decide differently (durable decisions)."""
    for txn, storages in sim.transactions().items():
        check_agreement(commit.decisions(storages), f"decided for {txn!r}")


def validity(sim: TransactionSimulation) -> None:
    """Per transaction: commit only if every participant durably voted yes."""
    for storages in sim.transactions().values():
        commit.check_validity(storages)


class TransactionSimulation(Simulation):
    """Many transactions of one commit protocol on the same nodes: see :func:`cluster`."""

    protocol: str = "commit"

    @property
    def participants(self) -> tuple[NodeId, ...]:
        """The participant ids, ``1..n``."""
        return self.node_ids[1:]

    def leader(self) -> NodeId | None:
        """The coordinator, while it is up: the only node that begins transactions."""
        return commit.COORDINATOR if self.is_up(commit.COORDINATOR) else None

    def submit(self, txn: Any) -> bool:
        """Begin transaction ``txn`` (any hashable name, used once) at the coordinator; False if
        the coordinator is down or ``txn`` was begun before."""
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, txn))

    def outcomes(self, node: NodeId) -> dict[Any, str | None]:
        """``{txn: "commit" | "abort" | None}`` from ``node``'s stable storage (so also while it
        is down), for every transaction it has a record of."""
        return {txn: record.get("decision") for txn, record in _records(self.storage[node]).items()}

    def prepared(self, node: NodeId, txn: Any) -> bool:
        """Whether ``node`` has ``txn`` on stable storage in a way that counts towards deciding
        it: a participant's yes vote, or the coordinator's begin record."""
        record = _records(self.storage[node]).get(txn, {})
        return bool(record.get("began")) if node == commit.COORDINATOR else record.get("vote") == "yes"

    def committed(self, node: NodeId) -> list[Any]:
        """The transactions ``node`` has durably decided to commit, in the order it wrote them."""
        return [txn for txn, d in self.outcomes(node).items() if d == commit.COMMIT]

    def blocked(self) -> dict[Any, list[NodeId]]:
        """``{txn: [live participants blocked on it]}`` for every transaction someone is blocked on."""
        out: dict[Any, list[NodeId]] = {}
        for i in self.participants:
            if self.is_up(i):
                host = self.nodes[i]
                assert isinstance(host, Host)
                for txn in host.blocked():
                    out.setdefault(txn, []).append(i)
        return out

    def transactions(self) -> dict[Any, dict[NodeId, dict[str, Any]]]:
        """``{txn: {node: its record of txn (empty if none)}}``, from stable storage: the shape
        the single-transaction checkers of :mod:`~zablib.protocols.commit` read."""
        records = {i: _records(self.storage[i]) for i in self.node_ids}
        txns = dict.fromkeys(txn for i in self.node_ids for txn in records[i])
        return {txn: {i: records[i].get(txn, {}) for i in self.node_ids} for txn in txns}


def cluster(node_factory: ProtocolFactory, participants: int = 4, *, seed: int = 0,
            link: LinkConfig | None = None) -> TransactionSimulation:
    """Coordinator 0 and participants ``1..participants`` that decide one transaction per
    operation, each with a fresh instance of the protocol that ``node_factory`` builds.

    Parameters
    ----------
    node_factory : callable
        The protocol's ``node_factory(votes)``: ``twopc.node_factory``, or for 3PC e.g.
        ``lambda votes: threepc.node_factory(votes, "correct", threepc.termination_rule)``.
        Every participant votes yes.
    participants : int
        Number of participants, at least 1.
    seed : int
        Seed of the run.
    link : LinkConfig, optional
        Default: uniform 1-10 ms, FIFO, no loss (the commit protocols' links).
    """
    commit.check_participants(participants)
    factory = node_factory(commit.parse_votes(None, participants))
    sim = TransactionSimulation(lambda i, peers, storage: Host(i, peers, storage, factory),
                                range(participants + 1), seed=seed,
                                link=link or LinkConfig(delay=uniform(1.0, 10.0)),
                                invariants=[agreement, validity])
    return sim
