"""Random faults on a simulated ZooKeeper ensemble, and the writes that show it is live again.

Shared by the liveness campaigns of tests/test_coord_faults.py and tests/test_coord_observers.py.
"""

from __future__ import annotations

import random


def random_faults(ens, rng: random.Random, clients: list, fault_ms: float, *,
                  bounds: dict[str, float], max_cut: int) -> float:
    """Play ``fault_ms`` of random faults, one every 50-300 ms: server crashes (at most two down
    at once) and recoveries, partitions cutting 1..``max_cut`` servers away, healing, client
    isolations and, if ``bounds`` has ``"pause"``, client pauses of 50-600 ms. Each step draws
    ``fault = rng.random()`` and takes the first of crash, recover, partition, heal, isolate,
    pause whose bound in ``bounds`` is above it and that can happen now (a crash needs fewer than
    two servers down, a recovery a crashed server); past the last bound a client is healed. Then
    heal everything and recover every crashed server; return the time the faults stopped."""
    end, crashed = ens.now + fault_ms, set()
    while ens.now < end:
        ens.run_for(rng.uniform(50, 300))
        fault = rng.random()
        if fault < bounds["crash"] and len(crashed) < 2:
            victim = rng.choice([s for s in ens.servers if s not in crashed])
            ens.crash(victim)
            crashed.add(victim)
        elif fault < bounds["recover"] and crashed:
            back = rng.choice(sorted(crashed))
            ens.recover(back)
            crashed.discard(back)
        elif fault < bounds["partition"]:
            order = list(ens.servers)
            rng.shuffle(order)
            cut = rng.randint(1, max_cut)
            ens.partition(set(order[:cut]), set(order[cut:]))
        elif fault < bounds["heal"]:
            ens.heal()
        elif fault < bounds["isolate"]:
            ens.isolate_client(rng.choice(clients))
        elif fault < bounds.get("pause", 0.0):
            ens.pause_client(rng.choice(clients), rng.uniform(50, 600))
        else:
            ens.heal_client(rng.choice(clients))
    ens.heal()
    for back in sorted(crashed):
        ens.recover(back)
    return ens.now


def next_writes(ens, clients: list, quiet: float) -> dict:
    """Each client writes "/" once more (retrying); how long after ``quiet`` each write took,
    by the client's index."""
    took = {}

    def probe(zk, k):
        zk.retry(zk.set, "/", b"%d" % k)
        took[k] = ens.now - quiet

    for k, zk in enumerate(clients):
        ens.spawn(probe, zk, k)
    ens.run(limit=20_000)
    return took
