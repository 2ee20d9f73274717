"""The lock and its fencing token (``zablib.recipes.lock``, ``zablib.recipes.fencing``), on the
simulated ensemble and on a real ZooKeeper, with the same assertions.

Contenders write to a shared ledger in front of a :class:`FencedResource` each time they enter
and leave their critical section. Two things are checked on every run:

* **the lock excludes**: the writes the contenders *attempted* come in runs, one holder at a
  time (:func:`two_inside` finds a holder writing again after another one started), under no
  fault, a crashed holder, the ensemble's leader cut off; and a holder whose session was expired
  under it is the only one that can break in, with a write the fence refuses;
* **the fence holds**: a holder paused past its session timeout comes back believing it holds the
  lock; its write is refused by the fenced resource, and accepted by an unfenced one, where the
  ledger then shows two holders inside at once (the unsafety is real, the check can fail).

Liveness: after a holder crashes, the next contender holds the lock within the session timeout
plus :data:`TAKEOVER_MARGIN` (the servers' expiry tick, the delete's commit, the watch).
"""

from __future__ import annotations

import threading

import pytest
from recipe_backends import SimulatedBackend

from zablib.coord import Ensemble
from zablib.recipes.base import errors_of
from zablib.recipes.fencing import FencedResource, StaleTokenError, accept_token
from zablib.recipes.lock import HerdLock, Lock, watch_predecessor

#: Once a holder's session is gone, the next contender holds the lock within the session timeout
#: plus this (in units of the backend's tick, and its slack for noise): the leader expires
#: sessions on tick boundaries, then commits the deletion, then the watch and a look travel.
TAKEOVER_TICKS = 4


def takeover_bound(backend) -> float:
    return backend.session_timeout + TAKEOVER_TICKS * backend.tick + backend.slack


class Ledger:
    """What the contenders do in their critical sections, in order, in front of two resources:
    one fenced, one not (the same writes go to both)."""

    def __init__(self, backend):
        self.backend = backend
        self.fenced = FencedResource()
        self.unfenced = FencedResource(check=lambda token, highest: True)
        self.attempts: list[tuple[float, str, int, str]] = []
        self.mutex = threading.Lock()  # real programs are threads; simulated ones never contend

    def write(self, who: str, token: int, step: str) -> bool:
        """Record the attempt; write to both resources; return whether the fence accepted."""
        with self.mutex:
            self.attempts.append((self.backend.now(), who, token, step))
            self.unfenced.write(token, (who, step))
            try:
                self.fenced.write(token, (who, step))
            except StaleTokenError:
                return False
            return True

    def holders(self) -> list[tuple[str, int]]:
        """Who wrote, turn by turn: (contender, token) runs of the attempted writes."""
        return runs([(who, token) for _, who, token, _ in self.attempts])


def runs(names: list) -> list:
    """Consecutive repeats merged: ['a', 'a', 'b', 'a'] -> ['a', 'b', 'a']."""
    merged: list = []
    for name in names:
        if not merged or merged[-1] != name:
            merged.append(name)
    return merged


def two_inside(names: list) -> list:
    """The holders seen writing again after another holder had started writing: with a lock
    that excludes, none (each turn's writes form one run). A turn is a (contender, token)."""
    seen, again = set(), []
    merged = runs(names)
    for before, name in zip(merged, merged[1:], strict=False):
        seen.add(before)
        if name in seen and (before, name) not in again:
            again.append((before, name))
    return again


def test_two_inside_bites():
    assert two_inside(["a", "a", "b", "c"]) == []
    assert two_inside(["a", "b", "a"]) == [("b", "a")]


def contend(zk, lock, ledger, who, rounds, hold, alive=lambda: True):
    """A careful lock user: it checks that it still holds the lock (and is alive) before each
    write of its critical section."""
    done = 0
    for _ in range(rounds):
        if not alive():
            return done
        lock.acquire()
        for step in ("in", "out"):
            if not (alive() and lock.is_acquired):
                break
            ledger.write(who, lock.token, step)
            if step == "in":
                zk.handler.sleep_func(hold)
        if not alive():
            return done  # a dead process releases nothing: its session will expire
        lock.release()
        done += 1
    return done


# -- the rules, pure --------------------------------------------------------------------------------
def test_a_waiter_watches_the_contender_just_before_it_in_sequence_order_not_in_name_order():
    children = ["z__lock__0000000004", "a__lock__0000000009", "m__lock__0000000001"]
    assert watch_predecessor(children, "a__lock__0000000009") == "z__lock__0000000004"
    assert watch_predecessor(children, "z__lock__0000000004") == "m__lock__0000000001"
    assert watch_predecessor(children, "m__lock__0000000001") is None
    with pytest.raises(ValueError, match="not among the contenders"):
        watch_predecessor(children, "q__lock__0000000002")


def test_the_fence_refuses_an_older_token_and_says_which():
    resource = FencedResource()
    resource.write(3, "a")
    resource.write(3, "a again")
    resource.write(5, "b")
    with pytest.raises(StaleTokenError, match="stale fencing token 3: .* seen token 5"):
        resource.write(3, "a, back from a pause")
    assert resource.accepted == [(3, "a"), (3, "a again"), (5, "b")]
    assert resource.refused == [(3, "a, back from a pause")]
    assert resource.writers() == [3, 5] and resource.highest_seen == 5
    assert accept_token(4, None) and not accept_token(4, 5)
    unfenced = FencedResource(check=lambda token, highest: True)
    unfenced.write(5, "b")
    unfenced.write(3, "a")
    assert unfenced.writers() == [5, 3]
    with pytest.raises(TypeError, match="fencing token is an int"):
        resource.write(None, "a lock that is not held has no token")
    with pytest.raises(TypeError, match="check must be a function"):
        FencedResource(check=3)


def test_bad_arguments_are_named():
    zk = Ensemble(3, seed=0).client()  # not started: nothing is sent
    with pytest.raises(ValueError, match="absolute znode path"):
        Lock(zk, "lock")
    with pytest.raises(TypeError, match="path must be a string"):
        Lock(zk, b"/lock")
    with pytest.raises(ValueError, match="below the root"):
        Lock(zk, "/")
    with pytest.raises(TypeError, match="predecessor must be a function"):
        Lock(zk, "/lock", predecessor="lowest")
    with pytest.raises(TypeError, match="kazoo-compatible client"):
        Lock(object(), "/lock")


# -- mutual exclusion ---------------------------------------------------------------------------------
def test_many_contenders_take_turns_and_tokens_grow(backend):
    path, ledger = backend.path("lock"), Ledger(backend)
    names = [f"c{i}" for i in range(5)]
    locks = {who: Lock(backend.client(), path, who) for who in names}
    tasks = [backend.spawn(contend, lock.client, lock, ledger, who, 2, 0.02, name=who)
             for who, lock in locks.items()]
    backend.run()
    assert [t.result() for t in tasks] == [2] * 5
    assert two_inside(ledger.holders()) == []
    assert len(ledger.holders()) == 10
    tokens = runs([token for _, _, token, _ in ledger.attempts])
    assert tokens == sorted(tokens) and len(set(tokens)) == 10  # every turn a new, larger token
    assert ledger.fenced.refused == []
    assert all(not lock.is_acquired and lock.node is None for lock in locks.values())
    assert locks["c0"].contenders() == []
    backend.check()


def test_a_simulated_run_repeats_exactly_from_its_seed():
    def story(seed):
        backend = SimulatedBackend(seed=seed)
        ledger, path = Ledger(backend), backend.path("lock")
        for who in ("a", "b", "c"):
            lock = Lock(backend.client(), path, who)
            backend.spawn(contend, lock.client, lock, ledger, who, 2, 0.01)
        backend.run()
        return ledger.attempts

    assert story(3) == story(3)
    assert story(3) != story(4)


def test_a_wrong_predecessor_rule_lets_two_in_and_the_check_sees_it(backend):
    # "None means I hold it": a rule that always answers None makes every contender a holder.
    path, ledger = backend.path("lock"), Ledger(backend)
    locks = [Lock(backend.client(), path, who, predecessor=lambda children, mine: None)
             for who in ("a", "b", "c")]
    for lock in locks:
        backend.spawn(contend, lock.client, lock, ledger, lock.identifier, 1, 0.2)
    backend.run()
    assert two_inside(ledger.holders()) != []


@pytest.mark.parametrize("kind, woken", [(Lock, "one"), (HerdLock, "all")])
def test_a_release_wakes_one_waiter_not_the_herd(backend, kind, woken):
    """ZooKeeper recipes, "Locks": each waiter watches its predecessor, so a release notifies
    only the next waiter; watching the parent's children notifies every one of them."""
    path, n = backend.path("lock"), 4
    holder = kind(backend.client(), path, "holder")
    assert holder.acquire()
    waiters = [kind(backend.client(), path, f"w{i}") for i in range(n)]
    finish = backend.event()

    def wait_then_hold(lock):
        lock.acquire()
        finish.wait()
        lock.release()

    for lock in waiters:
        backend.spawn(wait_then_hold, lock, name=lock.identifier)
    backend.wait_until(lambda: all(w.waiting for w in waiters) and len(holder.contenders()) == n + 1,
                       what="every waiter waiting")
    backend.sleep(2 * backend.tick)  # the herd's notifications of each other's arrivals settle
    before = [w.wakeups for w in waiters]
    holder.release()
    backend.wait_until(lambda: sum(w.is_acquired for w in waiters) == 1, what="the next holder")
    backend.sleep(2 * backend.tick)  # any further notification would arrive meanwhile
    woke = [w.identifier for w, b in zip(waiters, before, strict=True) if w.wakeups > b]
    assert sum(w.wakeups - b for w, b in zip(waiters, before, strict=True)) == len(woke)
    successor = next(w.identifier for w in waiters if w.is_acquired)
    assert woke == ([successor] if woken == "one" else [w.identifier for w in waiters])
    finish.set()
    backend.run()


# -- faults -------------------------------------------------------------------------------------------
def start_contenders(backend, path, ledger, names, rounds, hold):
    alive = {who: True for who in names}
    locks = {who: Lock(backend.client(), path, who) for who in names}
    tasks = {who: backend.spawn(contend, lock.client, lock, ledger, who, rounds, hold,
                                lambda who=who: alive[who], name=who)
             for who, lock in locks.items()}
    return locks, tasks, alive


def first_write_after(ledger, moment, but=None):
    """When a contender other than ``but`` first entered after ``moment`` (None: not yet)."""
    return next((t for t, who, _, step in ledger.attempts
                 if t >= moment and step == "in" and who != but), None)


def test_a_crashed_holder_loses_the_lock_when_its_session_expires(backend):
    path, ledger = backend.path("lock"), Ledger(backend)
    hold = backend.session_timeout / 4
    locks, tasks, alive = start_contenders(backend, path, ledger, ["a", "b", "c"], 1, hold)
    victim = backend.wait_until(lambda: next((w for w, lock in locks.items() if lock.is_acquired), None),
                                what="a first holder")
    backend.crash_client(locks[victim].client)
    alive[victim] = False  # the process is dead: it writes nothing more
    crashed = backend.now()
    for who, task in tasks.items():
        if who != victim:
            assert task.result(timeout=30) == 1
    taken = first_write_after(ledger, crashed, but=victim) - crashed
    print(f"{backend.name}: the lock passed {taken:.2f} s after the holder crashed "
          f"(session timeout {backend.session_timeout} s)")
    assert backend.session_timeout - backend.tick <= taken <= takeover_bound(backend)
    assert two_inside(ledger.holders()) == [] and ledger.fenced.refused == []


def test_a_holder_whose_session_expires_under_it_is_fenced_off(backend):
    path, ledger = backend.path("lock"), Ledger(backend)
    victim = Lock(backend.client(), path, "victim")
    assert victim.acquire()
    assert ledger.write("victim", victim.token, "in")
    others = [Lock(backend.client(), path, who) for who in ("b", "c")]
    tasks = [backend.spawn(contend, lock.client, lock, ledger, lock.identifier, 1, 0.05)
             for lock in others]
    backend.wait_until(lambda: len(victim.contenders()) == 3, what="two waiters")
    expired = backend.now()
    backend.expire_session(victim.client)  # returns once the victim heard LOST
    assert not victim.is_acquired and victim.release() is False
    # A careless holder writes anyway, with its old token: the fence refuses it if b or c wrote.
    accepted = ledger.write("victim", 0 if victim.token is None else victim.token, "out")
    for task in tasks:
        assert task.result(timeout=30) == 1
    taken = first_write_after(ledger, expired, but="victim") - expired
    assert taken <= backend.session_timeout + backend.slack
    print(f"{backend.name}: lock passed {taken:.3f} s after the expiry; stale write accepted={accepted}")
    assert ledger.fenced.writers() == sorted(ledger.fenced.writers())
    assert [who for who, _ in [v for _, v in ledger.fenced.refused]] in ([], ["victim"])


def test_a_waiter_whose_session_expired_queues_up_again(backend):
    path = backend.path("lock")
    holder = Lock(backend.client(), path, "holder")
    assert holder.acquire()
    waiter = Lock(backend.client(), path, "waiter")
    task = backend.spawn(waiter.acquire, name="waiter")
    backend.wait_until(lambda: waiter.waiting, what="the waiter waiting")
    first_token = waiter.token
    backend.expire_session(waiter.client)
    backend.wait_until(lambda: waiter.waiting and waiter.token != first_token,
                       timeout=10 * backend.session_timeout, what="the waiter queued up again")
    assert holder.contenders() == ["holder", "waiter"] and waiter.token > first_token
    holder.release()
    assert task.result(timeout=10) is True and waiter.is_acquired
    waiter.release()


def test_the_lock_survives_the_ensembles_leader_being_cut_off(backend):
    path, ledger = backend.path("lock"), Ledger(backend)
    locks, tasks, _ = start_contenders(backend, path, ledger, ["a", "b", "c"], 2, backend.session_timeout / 4)
    backend.wait_until(lambda: len(ledger.attempts) >= 2, what="the contenders at work")
    backend.isolate_leader()
    cut = backend.now()
    backend.wait_until(lambda: first_write_after(ledger, cut) is not None,
                       timeout=2 * backend.session_timeout + 10 * backend.tick + backend.slack,
                       what="a holder writing again after the leader was cut off")
    for task in tasks.values():
        assert task.result(timeout=60) == 2
    backend.heal()
    assert two_inside(ledger.holders()) == [] and ledger.fenced.refused == []
    assert len(ledger.holders()) == 6


def test_a_holder_paused_past_its_session_is_refused_by_the_fence_and_not_without_it(backend):
    """Kleppmann's scenario: the holder checks that it holds the lock, then pauses (GC) for
    longer than its session; meanwhile the lock goes to b, who writes. The old holder wakes and
    writes: the fenced resource refuses its older token; the unfenced one takes the write, and
    the ledger shows both inside."""
    path, ledger = backend.path("lock"), Ledger(backend)
    pause = 2 * backend.session_timeout
    a, b = Lock(backend.client(), path, "a"), Lock(backend.client(), path, "b")
    assert a.acquire()
    ledger.write("a", a.token, "in")
    b_inside, tokens = backend.event(), {"a": a.token}

    def b_takes_over():
        assert b.acquire()
        tokens["b"] = b.token
        ledger.write("b", b.token, "in")
        b_inside.set()
        b.client.handler.sleep_func(pause)  # still inside when a comes back
        ledger.write("b", b.token, "out")
        b.release()

    backend.spawn(b_takes_over, name="b")
    assert a.is_acquired  # a checked...
    backend.pause_client(a.client, pause)  # ...then froze
    backend.sleep(pause + backend.tick)  # the program is frozen as long as its client
    assert b_inside.is_set(), "b should hold the lock by the time a wakes up"
    fenced_accepted = ledger.write("a", a.token, "out")  # a does not check again: too late anyway
    backend.run()

    assert not fenced_accepted
    ta, tb = tokens["a"], tokens["b"]
    assert ledger.fenced.refused == [(ta, ("a", "out"))]
    assert ta < tb
    assert two_inside(ledger.holders()) == [(("b", tb), ("a", ta)), (("a", ta), ("b", tb))]  # both inside
    assert ledger.unfenced.writers() == [ta, tb, ta, tb]  # and the unfenced resource let them
    assert ledger.fenced.writers() == [ta, tb]
    backend.wait_until(lambda: not a.is_acquired, timeout=10 * backend.session_timeout,
                       what="a hearing that its session expired")


# -- ConnectionLoss, cancel, timeout --------------------------------------------------------------------
def lossy_create(client, *, applied: bool):
    """Make ``client``'s next ``create`` raise ConnectionLoss, after (``applied``) or instead of
    sending it: the two cases a lost answer cannot tell apart."""
    real_create = client.create
    lost = []

    def create(*args, **kwargs):
        if not lost:
            lost.append(args[0])
            if applied:
                real_create(*args, **kwargs)
            raise errors_of(client).ConnectionLoss("the answer was lost")
        return real_create(*args, **kwargs)

    client.create = create
    return lost


@pytest.mark.parametrize("applied", [True, False], ids=["create-happened", "create-lost"])
def test_a_create_answered_by_connection_loss_leaves_one_node(backend, applied):
    path = backend.path("lock")
    other = Lock(backend.client(), path, "other")
    assert other.acquire()
    zk = backend.client()
    lost = lossy_create(zk, applied=applied)
    lock = Lock(zk, path, "me")
    assert lock.acquire(blocking=False) is False  # other holds it; mine is deleted again
    assert lost and other.contenders() == ["other"]
    task = backend.spawn(lock.acquire, name="me")
    backend.wait_until(lambda: lock.waiting, what="me waiting")
    assert other.contenders() == ["other", "me"]  # one node for me, whatever the loss hid
    other.release()
    assert task.result(timeout=10) is True
    assert lock.contenders() == ["me"]
    lock.release()


def test_lost_create_is_adopted_not_duplicated(backend):
    path = backend.path("lock")
    zk = backend.client()
    lossy_create(zk, applied=True)
    lock = Lock(zk, path, "me")
    assert lock.acquire()
    assert lock.contenders() == ["me"]  # the node the lost create made, adopted by its prefix
    lock.release()
    assert lock.contenders() == []


def test_timeout_nonblocking_and_cancel(backend):
    path = backend.path("lock")
    holder = Lock(backend.client(), path, "holder")
    assert holder.acquire()
    with pytest.raises(RuntimeError, match="not re-entrant"):
        holder.acquire()
    late = Lock(backend.client(), path, "late")
    start = backend.now()
    assert late.acquire(timeout=0.2) is False
    assert 0.2 <= backend.now() - start <= 0.2 + 2 * backend.tick + backend.slack
    assert late.acquire(blocking=False) is False
    assert holder.contenders() == ["holder"]  # the losers' nodes are gone

    task = backend.spawn(late.acquire, name="late")
    backend.wait_until(lambda: late.waiting, what="late waiting")
    late.cancel()
    with pytest.raises(backend.errors.CancelledError):
        task.result(timeout=10)
    assert holder.contenders() == ["holder"] and not late.is_acquired
    assert holder.release() is True and holder.release() is False
    with Lock(backend.client(), path, "ctx") as lock:
        assert lock.is_acquired and lock.token is not None and lock.contenders() == ["ctx"]
    assert not lock.is_acquired and lock.contenders() == []
