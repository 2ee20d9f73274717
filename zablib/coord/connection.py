"""A client's connection machinery as a pure state machine: kazoo's ConnectionHandler, simulated.

kazoo runs a thread that connects to one server after another, sends the program's requests,
pings when idle, reads responses and watch events, and reconnects when a connection dies. Here
the same logic is a :class:`~zablib.core.Node` of the simulation (:class:`ClientNode`): the
simulator hands it the server's messages and its timers, and the program's calls as client
requests; what it *produces for the program* (an answer to a call, a state change for the
listeners, a watch event) it appends to ``ClientNode.completions``, which the driver
(``zablib.coord.driver``) hands on to the waiting program. The node itself never runs program
code.

kazoo 2.11.0's behaviour, kept here:

* ``start()`` goes through the servers in a shuffled order (``randomize_hosts``); a connection
  attempt waits ``session timeout / number of servers`` for the server's answer; after a full
  round without success the client sleeps (retry delay, doubling, with jitter) and starts a new
  round. A new session is asked for with session id 0; an existing one is brought along with its
  password and the newest zxid the client has seen.
* Connected, the client pings when it has sent nothing for a third of the session timeout
  (``read_timeout / 2`` with ``read_timeout = 2/3 * timeout``); a ping still unanswered at the next
  ping time means the connection is dead.
* Losing the connection fails every request sent or queued with ``ConnectionLoss``, tells the
  listeners ``SUSPENDED``, hands every registered watch function a ``NONE`` event and forgets it
  (kazoo does not re-register watches), and tries the next server. If the server answers that
  the session has expired: pending requests fail with ``SessionExpiredError``, listeners hear
  ``LOST``, and the client goes on with a *new* session (``CONNECTED`` again).
* Watch functions are registered on the client only when the read succeeds (``exists`` on a
  missing znode counts as success) and are popped by the event: a ``DELETED`` event takes the
  path's data and child watchers, ``CREATED``/``CHANGED`` its data watchers, ``CHILD`` its child
  watchers.

The connection is a TCP connection in kazoo: nothing is lost unless it breaks. The simulator's
links may lose a message (a partition drops what is in flight), so the messages of a connection
are numbered: a gap breaks the connection here too, a duplicate is dropped (see
``zablib.coord.messages``).

Deliberate differences, all for a simulation that must end: a call waits at most its
``call_timeout`` (then :class:`KazooTimeoutError`, what kazoo's ``get(timeout=...)`` raises; kazoo
waits forever while disconnected), the reconnection delay is capped at ``max_retry_delay``
(kazoo: one hour), and there is no jitter on pings. A GC-like pause (:class:`Pause`) freezes the
node: what arrives meanwhile is handled, late, when it resumes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import zablib.coord.errors as errors
import zablib.coord.messages as messages
from zablib.coord.states import EventType, KazooState, KeeperState, WatchedEvent
from zablib.coord.txn import MultiRequest, SyncRequest
from zablib.core import Message, Node, NodeId, Output

CLOSED_STATES = (KeeperState.EXPIRED_SESSION, KeeperState.AUTH_FAILED, KeeperState.CLOSED)
NO_PASSWORD = b"\x00" * 16


class KazooTimeoutError(Exception):
    """No answer in time (kazoo's ``kazoo.handlers.threading.KazooTimeoutError``): ``start()``
    did not connect within its timeout, or a call got no answer within the client's
    ``call_timeout``."""


# -- what the program hands the node ----------------------------------------------------------------
class Call:
    """One call of the program on its way: the request, and once ``done``, its outcome.

    Parameters
    ----------
    op : object
        The request (a read of ``zablib.coord.messages`` or a request of ``zablib.coord.txn``).
    watch : callable, optional
        The watch function to register if the read succeeds.
    include_stat : bool
        For a create: answer ``(path, stat)``.
    timeout_ms : float, optional
        Give up after this long (:class:`KazooTimeoutError`).
    """

    __slots__ = ("op", "watch", "include_stat", "timeout_ms", "number", "done", "value", "error",
                 "waiter")

    def __init__(self, op: Any, watch: Callable | None = None, include_stat: bool = False,
                 timeout_ms: float | None = None):
        self.op = op
        self.watch = watch
        self.include_stat = include_stat
        self.timeout_ms = timeout_ms
        self.number = 0
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiter: Any = None  # whoever waits for it (the driver's business)

    def __repr__(self) -> str:
        return f"Call({messages.describe_op(self.op)})"

    def finish(self, value: Any = None, error: BaseException | None = None) -> None:
        """Record the outcome."""
        self.done, self.value, self.error = True, value, error


@dataclass(frozen=True)
class Configure:
    """Set the client up (before ``start``): its servers, session timeout and retry policy."""

    servers: tuple[NodeId, ...]
    timeout_ms: int
    randomize_hosts: bool = True
    seed: int = 0
    retry_delay_ms: float = 100.0
    retry_backoff: float = 2.0
    retry_jitter: float = 0.4
    max_retry_delay_ms: float = 1000.0
    client_id: tuple[int, bytes] | None = None


@dataclass(frozen=True)
class Start:
    """Connect (kazoo's ``start()``), unless connected already."""


@dataclass(frozen=True)
class Stop:
    """Close the session and stop (kazoo's ``stop()``)."""


@dataclass(frozen=True)
class Sleep:
    """Hand ``token`` back (a ``("wake", token)`` completion) after ``ms`` milliseconds."""

    token: Any
    ms: float

    def __repr__(self) -> str:
        return f"Sleep({self.ms:g} ms)"


@dataclass(frozen=True)
class Pause:
    """Freeze for ``ms`` milliseconds, as a long garbage-collection pause would."""

    ms: float


class ClientNode(Node):
    """A client's connection to the ensemble (see the module docstring).

    Attributes
    ----------
    completions : list
        What the program must be told, in order, drained by the driver: ``("call", call)``,
        ``("keeper", KeeperState value)``, ``("state", KazooState value)``,
        ``("watch", function, WatchedEvent)``, ``("wake", token)``.
    keeper : str
        The :class:`~zablib.coord.states.KeeperState` (kazoo's ``client_state``).
    state : str
        The :class:`~zablib.coord.states.KazooState` (kazoo's ``client.state``).
    live : bool
        Connected (kazoo's ``connected``).
    session_id : int or None
        The session, once one was granted.
    acked : list of (zxid, session id, xid)
        The writes this client was told succeeded (for the durability check).
    out_of_order : list of (session id, conn, expected xid, received xid)
        Responses that arrived out of request order (must stay empty).
    """

    role = "client"

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any]):
        super().__init__(node_id, peers, storage)
        self.completions: list[tuple] = []
        self.config: Configure | None = None
        self.rng = random.Random(0)
        self.keeper = KeeperState.CLOSED
        self.state = KazooState.LOST
        self.live = False
        self.stopped = True
        self.session_id: int | None = None
        self.passwd = NO_PASSWORD
        self.last_zxid = 0
        self.timeout_ms = 10_000
        self.read_timeout = 0.0
        # the current connection attempt
        self.conn = 0
        self.server: NodeId | None = None
        self.handshaking = False
        self.round: list[NodeId] = []
        self.next_host = 0
        self.cur_delay = 100.0
        self.ping_outstanding = False
        self.xid = 0
        self.sent = 0  # messages sent on the current connection (the ConnectRequest is 0)
        self.received = -1  # and received (the ConnectResponse is 0)
        # requests
        self.queue: deque[Call] = deque()
        self.pending: dict[int, Call] = {}
        self.calls = 0
        self.timed: dict[int, Call] = {}
        self.data_watchers: dict[str, dict[Callable, None]] = {}
        self.child_watchers: dict[str, dict[Callable, None]] = {}
        self.sleepers: dict[int, Any] = {}
        # pause
        self.paused = False
        self.backlog: list[tuple] = []
        # checks
        self.acked: list[tuple[int, int, int]] = []
        self.out_of_order: list[tuple[int, int, int, int]] = []

    def status(self) -> str:
        session = f" session {self.session_id:#x}" if self.session_id else ""
        via = f" via {self.server}" if self.live else ""
        return f"client {self.keeper}{session}{via}" + (" (paused)" if self.paused else "")

    # -- inputs ------------------------------------------------------------------------------------
    def on_client(self, now: float, request: Any) -> Output:
        out = Output()
        if self.paused and not isinstance(request, Pause):
            self.backlog.append(("client", request))
            return out
        self._client(now, out, request)
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        out = Output()
        if self.paused:
            self.backlog.append(("message", src, msg))
            return out
        self._message(now, out, src, msg)
        return out

    def on_timer(self, now: float, name: str) -> Output:
        out = Output()
        if name == "resume":
            return self._resume(now, out)
        if self.paused:
            self.backlog.append(("timer", name))
            return out
        self._timer(now, out, name)
        return out

    def _client(self, now: float, out: Output, request: Any) -> None:
        if isinstance(request, Call):
            self._submit(now, out, request)
        elif isinstance(request, Sleep):
            self.calls += 1
            self.sleepers[self.calls] = request.token
            out.set_timer(f"sleep{self.calls}", request.ms)
        elif isinstance(request, Start):
            self._start(now, out)
        elif isinstance(request, Stop):
            self._stop(now, out)
        elif isinstance(request, Pause):
            self.paused = True
            out.set_timer("resume", request.ms)
        elif isinstance(request, Configure):
            self.config = request
            self.timeout_ms = request.timeout_ms
            self.rng = random.Random(request.seed)
            self.cur_delay = request.retry_delay_ms
            if request.client_id:
                self.session_id, self.passwd = request.client_id
        else:
            raise TypeError(f"client {self.id} takes Call, Start, Stop, Sleep, Pause and "
                            f"Configure, got {request!r}")

    def _message(self, now: float, out: Output, src: NodeId, msg: Message) -> None:
        if getattr(msg, "conn", None) != self.conn or src != self.server \
                or not (self.live or self.handshaking):
            return  # an earlier connection's, or another server's
        if isinstance(msg, messages.Disconnect):
            self._dropped(now, out)
            return
        if msg.seq <= self.received:
            return  # a duplicate (TCP drops them)
        if msg.seq != self.received + 1:  # a message was lost: TCP would have broken the connection
            self._dropped(now, out)
            return
        self.received += 1
        if isinstance(msg, messages.Response):
            self._on_response(now, out, msg)
        elif isinstance(msg, messages.WatchNotice):
            self._on_watch(msg)
        elif isinstance(msg, messages.ClientPong):
            self.ping_outstanding = False
        elif isinstance(msg, messages.ConnectResponse):
            self._on_connected(now, out, msg)

    def _timer(self, now: float, out: Output, name: str) -> None:
        if name == "ping":
            if not self.live:
                return
            if self.ping_outstanding:  # kazoo: "outstanding heartbeat ping not received"
                self._dropped(now, out)
                return
            self.ping_outstanding = True
            self.sent += 1
            out.send(self.server, messages.ClientPing(self.conn, self.sent))
            out.set_timer("ping", self.read_timeout / 2)
        elif name == "connect":
            if self.handshaking:
                self._dropped(now, out)
        elif name == "retry":
            if not self.stopped and not self.live and not self.handshaking:
                self._begin_round(now, out)
        elif name.startswith("call"):
            call = self.timed.pop(int(name[4:]), None)
            if call is not None and not call.done:
                if call in self.queue:
                    self.queue.remove(call)
                self.pending = {x: c for x, c in self.pending.items() if c is not call}
                self._finish(call, error=KazooTimeoutError(
                    f"no answer to {call!r} within {call.timeout_ms:g} ms"))
        elif name.startswith("sleep"):
            self.completions.append(("wake", self.sleepers.pop(int(name[5:]))))

    def _resume(self, now: float, out: Output) -> Output:
        self.paused = False
        backlog, self.backlog = self.backlog, []
        rearmed: set[str] = set()
        for position, item in enumerate(backlog):
            if item[0] == "client":
                self._client(now, out, item[1])
            elif item[0] == "message":
                self._message(now, out, item[1], item[2])
            elif item[1] not in rearmed:  # a timer that fired during the pause, not set since
                self._timer(now, out, item[1])
            rearmed.update(out.timers)
            if self.paused:  # paused again by a call in the backlog
                self.backlog.extend(backlog[position + 1:])
                break
        return out

    # -- connecting ----------------------------------------------------------------------------------
    def _start(self, now: float, out: Output) -> None:
        if self.config is None:
            raise ValueError(f"client {self.id} is not configured")
        if self.live or self.handshaking or not self.stopped:
            return
        self.stopped = False
        self._begin_round(now, out)

    def _begin_round(self, now: float, out: Output) -> None:
        hosts = list(self.config.servers)
        if self.config.randomize_hosts:
            self.rng.shuffle(hosts)
        self.round, self.next_host = hosts, 0
        self._attempt(now, out)

    def _attempt(self, now: float, out: Output) -> None:
        """kazoo's ``_connect_loop``: the next server of the round, or a pause before the next
        round."""
        if self.stopped:
            self._session_callback(out, KeeperState.CLOSED)
            return
        if self.next_host >= len(self.round):
            config = self.config
            jitter = self.rng.uniform(1.0 - config.retry_jitter, 1.0 + config.retry_jitter)
            delay = self.cur_delay * jitter
            self.cur_delay = min(delay * config.retry_backoff, config.max_retry_delay_ms)
            out.set_timer("retry", delay)
            return
        server = self.round[self.next_host]
        self.next_host += 1
        if self.keeper != KeeperState.CONNECTING:
            self._session_callback(out, KeeperState.CONNECTING)
        self.conn += 1
        self.server = server
        self.handshaking = True
        self.xid = 0
        self.sent, self.received = 0, -1
        self.ping_outstanding = False
        out.send(server, messages.ConnectRequest(self.conn, self.last_zxid, self.timeout_ms,
                                        self.session_id or 0, self.passwd))
        out.set_timer("connect", self.timeout_ms / len(self.config.servers))

    def _on_connected(self, now: float, out: Output, msg: messages.ConnectResponse) -> None:
        if not self.handshaking:
            return
        self.handshaking = False
        out.cancel_timer("connect")
        if msg.timeout_ms <= 0:
            self.cur_delay = self.config.retry_delay_ms
            self._session_callback(out, KeeperState.EXPIRED_SESSION)
            self._attempt(now, out)
            return
        if msg.zxid:
            self.last_zxid = msg.zxid
        self.session_id, self.passwd = msg.session_id, msg.passwd
        self.read_timeout = msg.timeout_ms * 2.0 / 3.0
        self._session_callback(out, KeeperState.CONNECTED)
        self.cur_delay = self.config.retry_delay_ms
        out.set_timer("ping", self.read_timeout / 2)
        self._flush(out)

    def _dropped(self, now: float, out: Output) -> None:
        """The connection (or the attempt) died: kazoo's ``ConnectionDropped``."""
        self.live = self.handshaking = False
        out.cancel_timer("ping").cancel_timer("connect")
        if self.keeper != KeeperState.CONNECTING:
            self._session_callback(out, KeeperState.CONNECTING)
        self._attempt(now, out)

    def _stop(self, now: float, out: Output) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.live:
            self.queue.append(Call(messages.CloseSession()))
            self._flush(out)
            return
        self.handshaking = False
        out.cancel_timer("connect").cancel_timer("retry")
        self._session_callback(out, KeeperState.CLOSED)

    # -- kazoo's KazooClient._session_callback and its helpers ---------------------------------------
    def _session_callback(self, out: Output, state: str) -> None:
        if state == self.keeper:
            return
        closed_state = self.keeper in CLOSED_STATES
        self.keeper = state
        self.completions.append(("keeper", state))
        if closed_state and state == KeeperState.CONNECTING:
            return
        if state in (KeeperState.CONNECTED, KeeperState.CONNECTED_RO):
            self.live = True
            self._state_change(KazooState.CONNECTED)
        elif state in CLOSED_STATES:
            self.live = False
            out.cancel_timer("ping")
            self._state_change(KazooState.LOST)
            self._notify_pending(state)
            self._reset()
        else:
            self.live = False
            self._notify_pending(state)
            self._state_change(KazooState.SUSPENDED)
            self._reset_watchers()

    def _state_change(self, state: str) -> None:
        if self.state == state:
            return
        self.state = state
        self.completions.append(("state", state))

    def _notify_pending(self, state: str) -> None:
        if state == KeeperState.EXPIRED_SESSION:
            error: type[Exception] = errors.SessionExpiredError
        else:
            error = errors.ConnectionLoss
        calls = list(self.pending.values()) + list(self.queue)
        self.pending, self.queue = {}, deque()
        for call in calls:
            self._finish(call, error=error())

    def _reset(self) -> None:
        self.queue, self.pending = deque(), {}
        self._reset_watchers()
        self.session_id, self.passwd = None, NO_PASSWORD
        self.last_zxid = 0

    def _reset_watchers(self) -> None:
        watchers = [w for table in self.child_watchers.values() for w in table]
        watchers += [w for table in self.data_watchers.values() for w in table]
        self.child_watchers, self.data_watchers = {}, {}
        event = WatchedEvent(EventType.NONE, self.keeper, None)
        for watch in watchers:
            self.completions.append(("watch", watch, event))

    # -- requests ----------------------------------------------------------------------------------
    def _submit(self, now: float, out: Output, call: Call) -> None:
        self.calls += 1
        call.number = self.calls
        if self.keeper == KeeperState.AUTH_FAILED:
            self._finish(call, error=errors.AuthFailedError())
            return
        if self.keeper == KeeperState.CLOSED:
            self._finish(call, error=errors.ConnectionClosedError("Connection has been closed"))
            return
        if self.keeper == KeeperState.EXPIRED_SESSION:
            self._finish(call, error=errors.SessionExpiredError())
            return
        self.queue.append(call)
        if call.timeout_ms is not None:
            self.timed[call.number] = call
            out.set_timer(f"call{call.number}", call.timeout_ms)
        if self.live:
            self._flush(out)

    def _flush(self, out: Output) -> None:
        """Send every queued request (a request counts as a ping: the ping timer restarts)."""
        if not self.queue:
            return
        while self.queue:
            call = self.queue.popleft()
            self.xid += 1
            self.sent += 1
            self.pending[self.xid] = call
            out.send(self.server,
                     messages.Request(self.conn, self.xid, call.op, call.include_stat, self.sent))
        out.set_timer("ping", self.read_timeout / 2)

    def _finish(self, call: Call, value: Any = None, error: BaseException | None = None) -> None:
        call.finish(value, error)
        self.timed.pop(call.number, None)
        if call.number:  # not the client's own close request
            self.completions.append(("call", call))

    def _on_response(self, now: float, out: Output, msg: messages.Response) -> None:
        if not self.live:
            return
        if msg.xid not in self.pending:
            return  # the answer to a call that timed out
        first = next(iter(self.pending))
        if first != msg.xid:
            self.out_of_order.append((self.session_id or 0, self.conn, first, msg.xid))
        call = self.pending.pop(msg.xid)
        if msg.zxid > 0:
            self.last_zxid = msg.zxid
        op = call.op
        if isinstance(op, messages.CloseSession):  # kazoo's CLOSE_RESPONSE: the connection ends
            self.live = False
            out.cancel_timer("ping")
            self._session_callback(out, KeeperState.CLOSED)
            return
        result = msg.result
        if isinstance(result, BaseException):
            self._finish(call, error=result)
            return
        if isinstance(op, messages.GetChildren):
            result = (list(result[0]), result[1]) if op.include_data else list(result)
        elif isinstance(op, MultiRequest):
            result = list(result)
        if not isinstance(op, messages.READS + (SyncRequest,)):
            self.acked.append((msg.zxid, self.session_id or 0, msg.xid))
        self._finish(call, result)
        if call.watch is not None and not self.stopped:
            table = self.child_watchers if isinstance(op, messages.GetChildren) else self.data_watchers
            table.setdefault(op.path, {})[call.watch] = None

    def _on_watch(self, msg: messages.WatchNotice) -> None:
        path, kind = msg.path, msg.kind
        if kind in (EventType.CREATED, EventType.CHANGED):
            watchers = list(self.data_watchers.pop(path, ()))
        elif kind == EventType.DELETED:
            watchers = list(self.data_watchers.pop(path, ()))
            watchers += list(self.child_watchers.pop(path, ()))  # kazoo: both, no dedup
        else:
            watchers = list(self.child_watchers.pop(path, ()))
        if self.stopped:
            return
        event = WatchedEvent(kind, self.keeper, path)
        for watch in watchers:
            self.completions.append(("watch", watch, event))
