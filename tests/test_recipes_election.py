"""Leader election (``zablib.recipes.election``), on the simulated ensemble and on a real
ZooKeeper, with the same assertions.

Candidates run a leader function that acts while ``election.is_leader`` holds and records the
interval it led. Checked: one leader at a time among live sessions (the intervals never
overlap; a leader whose session was ended under it counts until the moment its session was
ended), leadership moving when the leader's session dies, within the session timeout plus a few
ticks, and a step-down waking only the next candidate.
"""

from __future__ import annotations

import threading

import pytest

from zablib.recipes.election import Election

#: Once the leader's session is gone, the next candidate leads within the session timeout plus
#: this many ticks (expiry on a tick boundary, the delete's commit, the watch, a look) and slack.
TAKEOVER_TICKS = 4


class Reign:
    """The leaders' record: (candidate, start, end) for each time one led."""

    def __init__(self, backend):
        self.backend = backend
        self.terms: list[list] = []
        self.mutex = threading.Lock()

    def lead(self, election, who, alive, stop):
        """The leader function: act (here: note the time) while leading, alive and not told to stop."""
        term = [who, self.backend.now(), None]
        with self.mutex:
            self.terms.append(term)
        while election.is_leader and alive() and not stop.is_set():
            term[2] = self.backend.now()
            election.client.handler.sleep_func(self.backend.tick / 2)
        term[2] = self.backend.now() if term[2] is None else term[2]

    def clip(self, who, moment):
        """``who``'s session ended at ``moment``: its belief afterwards does not count."""
        for term in self.terms:
            if term[0] == who and term[1] <= moment:
                term[2] = min(term[2] if term[2] is not None else moment, moment)

    def overlaps(self):
        ordered = sorted(self.terms, key=lambda term: term[1])
        return [(a[0], b[0]) for a, b in zip(ordered, ordered[1:], strict=False) if b[1] < a[2]]

    def first_start_after(self, moment, but):
        return min(term[1] for term in self.terms if term[1] >= moment and term[0] != but)


def test_overlaps_bites():
    reign = Reign(None)
    reign.terms = [["a", 0.0, 1.0], ["b", 1.0, 2.0], ["c", 1.5, 3.0]]
    assert reign.overlaps() == [("b", "c")]


def candidate(election, reign, alive, stop):
    """Stand again after each term, until dead or told to stop."""
    while alive() and not stop.is_set():
        election.run(reign.lead, election, election.lock.identifier, alive, stop)


def start(backend, path, names):
    reign, stop = Reign(backend), backend.event()
    alive = {who: True for who in names}
    elections = {who: Election(backend.client(), path, who) for who in names}
    tasks = {who: backend.spawn(candidate, e, reign, lambda who=who: alive[who], stop, name=who)
             for who, e in elections.items()}
    return reign, stop, alive, elections, tasks


def current_leader(elections):
    leaders = [who for who, e in elections.items() if e.is_leader]
    assert len(leaders) <= 1, f"two leaders at once: {leaders}"
    return leaders[0] if leaders else None


@pytest.mark.parametrize("fault", ["crash", "expire"])
def test_one_leader_at_a_time_and_leadership_moves_when_the_leaders_session_dies(backend, fault):
    path = backend.path("election")
    reign, stop, alive, elections, tasks = start(backend, path, ["a", "b", "c", "d"])
    first = backend.wait_until(lambda: current_leader(elections), what="a first leader")
    backend.wait_until(lambda: len(elections[first].contenders()) == 4, what="four candidates")
    assert elections[first].contenders()[0] == first
    victim = elections[first].client
    moment = backend.now()
    if fault == "crash":
        backend.crash_client(victim)
        alive[first] = False
    else:
        backend.expire_session(victim)
    reign.clip(first, moment)
    second = backend.wait_until(lambda: (lambda w: w not in (None, first) and w)(current_leader(elections)),
                                timeout=10 * backend.session_timeout, what="a new leader")
    moved = reign.first_start_after(moment, but=first) - moment
    print(f"{backend.name}: {fault}: leadership moved from {first} to {second} after {moved:.3f} s")
    bound = TAKEOVER_TICKS * backend.tick + backend.slack
    if fault == "crash":
        assert backend.session_timeout - backend.tick <= moved <= backend.session_timeout + bound
    else:
        assert moved <= bound
    backend.sleep(backend.session_timeout)  # the new leader reigns a while, the victim comes back
    stop.set()
    for who, task in tasks.items():
        if alive[who]:
            task.result(timeout=30)
    assert reign.overlaps() == []
    assert len(reign.terms) >= 2


def test_a_step_down_wakes_only_the_next_candidate_and_cancel_withdraws(backend):
    path = backend.path("election")
    names = ["a", "b", "c", "d"]
    elections = {who: Election(backend.client(), path, who) for who in names}
    step_down = {who: backend.event() for who in names}
    led = []

    def lead(who):
        led.append(who)
        step_down[who].wait()
        return who

    tasks = {}
    for who in names:
        tasks[who] = backend.spawn(elections[who].run, lead, who, name=who)
        backend.wait_until(lambda who=who: who in elections[who].contenders(), what=f"{who} standing")
    assert elections["a"].contenders() == names
    backend.wait_until(lambda: led == ["a"], what="a leading")
    assert elections["a"].is_leader and not elections["b"].is_leader
    assert elections["a"].token < elections["b"].token < elections["c"].token
    backend.wait_until(lambda: all(elections[w].lock.waiting for w in "bcd"), what="b, c, d waiting")
    before = {who: elections[who].lock.wakeups for who in names}
    elections["c"].cancel()  # c withdraws: d now waits for b
    assert tasks["c"].result(timeout=10) is None
    step_down["a"].set()
    assert tasks["a"].result(timeout=10) == "a"
    backend.wait_until(lambda: led == ["a", "b"], what="b leading")
    backend.sleep(2 * backend.tick)
    woke = [who for who in names if elections[who].lock.wakeups > before[who]]
    assert woke == ["b", "d"]  # b by a's step-down; d by c's withdrawal, not by a
    assert elections["b"].contenders() == ["b", "d"]
    step_down["b"].set()
    step_down["d"].set()
    backend.run()
    assert led == ["a", "b", "d"]
    with pytest.raises(ValueError, match="not callable"):
        elections["a"].run("not a function")
