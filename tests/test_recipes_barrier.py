"""Barriers (``zablib.recipes.barrier``), on the simulated ensemble and on a real ZooKeeper, with
the same assertions.

A barrier holds its waiters until it is removed. A double barrier (ZooKeeper's recipe): nobody
passes ``enter`` before ``num_clients`` participants have arrived, nobody returns from ``leave``
before every participant has left. :func:`early` checks both from the times each participant
arrived, passed, started leaving and left; a barrier told to wait for one participant too few
lets someone through early, and the check says so.
"""

from __future__ import annotations

import pytest

from zablib.coord import Ensemble
from zablib.recipes.barrier import Barrier, DoubleBarrier


def test_a_barrier_holds_its_waiters_until_it_is_removed(backend):
    path = backend.path("barrier")
    gate = Barrier(backend.client(), path)
    assert gate.wait(timeout=0) is True  # not up yet: nothing to wait for
    gate.create()
    gate.create()  # already up: fine
    waiters = [Barrier(backend.client(), path) for _ in range(3)]
    tasks = [backend.spawn(w.wait, name=f"w{k}") for k, w in enumerate(waiters)]
    start = backend.now()
    assert waiters[0].wait(timeout=0.2) is False
    assert 0.2 <= backend.now() - start <= 0.2 + 2 * backend.tick + backend.slack
    assert not any(t.done for t in tasks)
    removed = backend.now()
    assert gate.remove() is True and gate.remove() is False
    assert [t.result(timeout=10) for t in tasks] == [True] * 3
    assert backend.now() - removed <= 2 * backend.tick + backend.slack


def test_a_barrier_waiter_survives_a_session_expiry(backend):
    # kazoo's Barrier.wait ignores the NONE event its watch gets when the connection drops, and
    # waits forever; this one looks again.
    path = backend.path("barrier")
    gate = Barrier(backend.client(), path)
    gate.create()
    zk = backend.client()
    task = backend.spawn(Barrier(zk, path).wait, name="waiter")
    backend.sleep(backend.tick)
    backend.expire_session(zk)
    backend.sleep(backend.tick)
    assert not task.done
    gate.remove()
    assert task.result(timeout=10 * backend.session_timeout) is True


def early(times: dict[str, dict[str, float]], n: int) -> list[str]:
    """What broke the double barrier's promise, from each participant's times (``arrive``,
    ``enter``, ``leave``, ``left``): someone passed before the n-th arrival, or returned from
    leave before the last one started leaving."""
    arrivals = sorted(t["arrive"] for t in times.values())
    problems = []
    if len(arrivals) >= n:
        nth = arrivals[n - 1]
        problems += [f"{who} passed enter before {n} arrived" for who, t in times.items() if t["enter"] < nth]
    last_leave = max(t["leave"] for t in times.values())
    problems += [f"{who} left before everyone started leaving" for who, t in times.items()
                 if t["left"] < last_leave]
    return problems


def test_early_bites():
    fine = {"a": dict(arrive=0, enter=2, leave=3, left=5), "b": dict(arrive=2, enter=2, leave=5, left=5)}
    assert early(fine, 2) == []
    hasty = {"a": dict(arrive=0, enter=1, leave=3, left=4), "b": dict(arrive=2, enter=2, leave=5, left=5)}
    assert early(hasty, 2) == ["a passed enter before 2 arrived", "a left before everyone started leaving"]


def run_double_barrier(backend, n, configured, work, expire=None, gap=None):
    """``n`` participants arrive one after another, ``gap`` seconds apart (default two ticks),
    work for ``work[who]`` seconds, and leave. ``configured`` is the num_clients they give the
    barrier. With ``expire``, that participant's session is expired soon after it arrived.
    Returns their times."""
    path = backend.path("double")
    times = {f"p{k}": {} for k in range(n)}
    barriers = {who: DoubleBarrier(backend.client(), path, configured, who) for who in times}

    def participant(who, delay):
        zk = barriers[who].client
        zk.handler.sleep_func(delay)
        times[who]["arrive"] = backend.now()
        assert barriers[who].enter(timeout=30)
        times[who]["enter"] = backend.now()
        zk.handler.sleep_func(work[who])
        times[who]["leave"] = backend.now()
        assert barriers[who].leave(timeout=30)
        times[who]["left"] = backend.now()

    gap = 2 * backend.tick if gap is None else gap
    for k, who in enumerate(times):
        backend.spawn(participant, who, k * gap, name=who)
    if expire is not None:
        backend.wait_until(lambda: "arrive" in times[expire], what=f"{expire} arriving")
        backend.sleep(backend.tick)
        backend.expire_session(barriers[expire].client)
    backend.run(timeout=60)
    assert all(not b.participating for b in barriers.values())
    assert barriers["p0"].client.get_children(path) == []  # ready went with the last one
    return times


def test_a_double_barrier_lets_nobody_in_early_and_nobody_out_early(backend):
    work = {"p0": 0.0, "p1": 3 * backend.tick, "p2": backend.tick}
    times = run_double_barrier(backend, 3, 3, work)
    assert early(times, 3) == []
    print(f"{backend.name}: entered {max(t['enter'] for t in times.values()) - times['p2']['arrive']:.3f} s "
          "after the third arrival")


def test_a_double_barrier_set_for_too_few_lets_someone_in_early_and_the_check_sees_it(backend):
    # Arrivals far enough apart that the first two pass before the third comes, and work long
    # enough that the third still finds them inside (so it passes too, and all leave).
    stay = backend.session_timeout
    times = run_double_barrier(backend, 3, 2, {"p0": stay, "p1": stay, "p2": 0.0}, gap=stay / 2)
    assert "p0 passed enter before 3 arrived" in early(times, 3)


def test_a_participant_whose_session_expired_while_entering_arrives_again(backend):
    work = {"p0": 0.0, "p1": backend.tick, "p2": 0.0}
    times = run_double_barrier(backend, 3, 3, work, expire="p0")
    assert early(times, 3) == []


def test_bad_double_barrier_arguments_are_named():
    zk = Ensemble(3, seed=0).client()
    with pytest.raises(ValueError, match="num_clients must be a positive int"):
        DoubleBarrier(zk, "/b", 0)
    with pytest.raises(ValueError, match="absolute znode path"):
        DoubleBarrier(zk, "b", 2)
    with pytest.raises(RuntimeError, match="before enter"):
        DoubleBarrier(zk, "/b", 2).leave()
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        Barrier(zk, "/b").wait(timeout=-1)
