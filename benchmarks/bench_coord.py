"""The simulated ZooKeeper's client operations per CPU second, beside the kernel's own speed.

* **Service**: ``zablib.coord.Ensemble(3, seed=SEED)`` (three servers on zablib's ZAB, 1-10 ms
  FIFO links, no faults) and ``CLIENTS`` kazoo-style client programs, each a greenlet
  (``ens.spawn``). Not timed: the election, the clients' sessions, and one znode per client.
  Timed: the load phase, in which every program makes ``OPERATIONS_PER_CLIENT`` blocking calls
  on its own znode, alternately ``set`` (a write: forwarded to the leader, proposed, acknowledged
  by a quorum, committed, applied on all three servers, answered) and ``get`` (a read, answered
  by the client's own server); the count is the calls that returned. Everything the simulation
  does meanwhile is in it: the clients' pings, the servers' session reports, ZAB's heartbeats,
  the greenlet switches, the trace.
* **Kernel**: the ping-pong ring of ``bench_kernel.py`` (8 nodes, 50,000 message deliveries);
  its count is message deliveries.

Both run ``REPEATS`` times, alternating (``protocol_bench.throughput``, as for Zab and Raft), and
the median CPU time (``time.process_time``) of each is reported, with the ratio *kernel events
per client operation*, the price of one call in the kernel's cheapest events (it does not depend
on the machine). After each load (not timed) the run is checked with every invariant of
``zablib.coord.checks``.

Run it with ``python benchmarks/bench_coord.py [repeats]``; the last line holds the three figures.
"""

from __future__ import annotations

import sys

from protocol_bench import throughput

from zablib.coord import Ensemble

SEED, REPEATS = 1, 5
CLIENTS, OPERATIONS_PER_CLIENT = 8, 250


def ready_ensemble() -> Ensemble:
    """An ensemble with ``CLIENTS`` connected clients, each owning the znode ``/c<k>``."""
    ens = Ensemble(3, seed=SEED)
    clients = [ens.client() for _ in range(CLIENTS)]

    def prepare(zk, k: int) -> None:
        zk.start()
        zk.create(f"/c{k}", b"0")

    for k, zk in enumerate(clients):
        ens.spawn(prepare, zk, k)
    ens.run()
    return ens


def load(ens: Ensemble) -> tuple[int, int]:
    """The timed phase; returns ``(client operations that returned, kernel events it took)``."""
    returned = [0]

    def work(zk, k: int) -> None:
        path = f"/c{k}"
        for i in range(OPERATIONS_PER_CLIENT):
            if i % 2:
                zk.get(path)
            else:
                zk.set(path, b"%d" % i)
            returned[0] += 1

    events = ens.sim.trace.count("deliver", "timer")
    for k, zk in enumerate(ens.clients.values()):
        ens.spawn(work, zk, k)
    ens.run()
    return returned[0], ens.sim.trace.count("deliver", "timer") - events


def main(repeats: int = REPEATS) -> float:
    operations = CLIENTS * OPERATIONS_PER_CLIENT
    header = (f"coord: Ensemble(3, seed={SEED}), {CLIENTS} client programs x {OPERATIONS_PER_CLIENT} "
              f"calls (set and get alternately) = {operations:,} client operations, uniform 1-10 ms "
              "FIFO links")
    return throughput("coord", "client op", "client operations", "FIFO", ready_ensemble, load,
                      repeats, check=True, header=header, expected=operations, done="returned")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)
