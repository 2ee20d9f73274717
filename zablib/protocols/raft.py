"""Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm", extended
version, 2014), exactly as its Figure 2 states it, with single-server membership changes from
Ongaro's thesis (§4.1), joint consensus as an option (paper §6, thesis §4.3) and ReadIndex
reads (thesis §6.4).

State (Figure 2)
    Persistent, written with ``Output.write`` before the node answers (the simulator applies
    writes before it sends): ``term`` (currentTerm), ``voted_for`` (votedFor) and ``log``, a tuple
    of :class:`Entry` (index 1 is ``log[0]``). Volatile: ``commit_index``, ``last_applied``; on a
    leader, ``next_index`` and ``match_index``.
RequestVote (§5.2, §5.4.1)
    A candidate increments its term, votes for itself and asks every voter. A server grants at
    most one vote per term, and only to a candidate whose log is at least as up to date as its own
    (last term, then last index).
AppendEntries (§5.3)
    The consistency check on ``(prev_index, prev_term)``, truncation of conflicting entries, and
    the fast back-off of §5.3 (the reply carries ``conflict_term`` and ``conflict_index`` so the
    leader skips a whole term per round trip). Empty AppendEntries are the heartbeats.
Commit rule (§5.4.2, Figure 8)
    A leader advances ``commit_index`` to N only if ``log[N].term == term`` and a majority of the
    configuration has ``match_index >= N``. A leader appends a no-op entry when it takes office
    (§8) so that entries of earlier terms commit with it.
Membership (thesis §4.1)
    A configuration is a log entry (``kind="config"``, ``command`` = the sorted member ids) and a
    server uses the latest configuration in its log, committed or not. A leader accepts a change
    only when the previous one is committed and it has committed an entry of its own term (the
    thesis's fix of the single-server algorithm). A new server is first caught up as a non-voting
    learner, in rounds (thesis §4.2.1): each round replicates what the leader's log held when it
    began, and the entry that adds the server is appended once a round took less than the
    minimum election timeout (or the learner already holds the whole log). After
    ``CATCH_UP_ROUNDS`` slower rounds, or an election timeout without an answer from the learner,
    the leader gives up. A leader that
    removes itself manages the cluster without counting itself, and steps down once the entry is
    committed. A server outside its latest configuration campaigns too, without counting its own
    vote, as long as it was in the previous one and does not know the latest committed (thesis
    §4.2.2): the entry that removes it may be on it alone, and then only it can win (it refuses
    its vote to shorter logs); it commits the entry and steps down. Servers never in a
    configuration (spares, learners) never start elections.

Joint consensus (paper §6, thesis §4.3), with ``cluster(n, membership="joint")``
    :meth:`RaftSimulation.change_membership` changes C_old to any C_new in one go, e.g.
    ``{1, 2, 3}`` to ``{3, 4, 5}``. The leader catches the new servers up as non-voting learners
    (until they hold what its log held when the change began; it gives up on one silent for an
    election timeout), then appends C_old,new, a ``"config"`` entry whose command is a
    :class:`JointConfig`. While that is the latest configuration in a server's log, committed
    or not, elections (votes and PreVotes), commitment, CheckQuorum and ReadIndex need a
    majority of C_old and, separately, a majority of C_new; RequestVote and AppendEntries go to
    the servers of both. Once C_old,new is committed the leader appends C_new (a new leader
    that finds C_old,new in its log does so once its no-op commits it); a leader that is not in
    C_new manages the cluster without counting itself and steps down once C_new is committed,
    as after a single-server removal. One change at a time, and only once the leader has
    committed an entry of its term. ``add_server``/``remove_server`` go through C_old,new too.
    The default, ``membership="single"``, is the thesis's single-server changes above, and a
    run without a change is the same in both.

Disruptive servers (thesis §4.2.3)
    A server that leads, or has heard from a current leader within the minimum election
    timeout, ignores a RequestVote of a higher term: it neither adopts the term nor grants its
    vote. So a removed server that was never told keeps campaigning in vain instead of deposing
    leaders. An election started on purpose (:class:`Campaign`, like the leadership transfer of
    §3.10) carries a flag that overrides the rule.

Linearizable reads without the log (thesis §6.4, as etcd-io/raft's ``read_only.go``)
    :meth:`RaftSimulation.read` asks a server for a read; nothing is appended. ReadIndex: the
    leader records its commit index as the read index, but only once it has committed an entry
    of its term (its no-op; until then the read waits), then confirms that it still leads: the
    AppendEntries it sends from then on carry the round number ``read``, followers echo it in
    their replies, and once a majority of the configuration (the leader included) has echoed
    the round in the leader's term, the read is served: by the leader at once (it has applied
    its commit index), or, for a read a follower forwarded (:class:`ReadIndexRequest`), by
    that follower once it has applied the index the leader answers (:class:`ReadIndexReply`).
    A leader that steps down drops its unconfirmed reads (note ``read-dropped``); a server
    that knows no leader refuses the read. ``read(..., linearizable=False)`` is etcd's
    serializable read: served at once from what the server has applied, possibly stale.
    Notes: ``read-wait`` (waiting for the no-op), ``read-index`` (``(read_id, index)``),
    ``read-forward`` and ``read`` (served: ``(read_id, index, applied, log)``).

Options beyond Figure 2, off by default: ``check_quorum`` (a leader that has not heard from a
majority within an election timeout steps down, thesis §6.2) and ``pre_vote`` (a server first asks
whether it could win, without touching anyone's term; thesis §9.6), which also keeps a server
that comes back from a partition from deposing the leader with its inflated term. Both are what
production deployments run (etcd turns them on); the default is live without them (the fault
campaigns check it both ways), and leaving them off keeps the runs Figure 2's.
Snapshots and InstallSnapshot are not implemented: logs grow without bound.

The simulator cannot add nodes after it is built, so ``cluster(n, spares=k)`` pre-creates ids
``n+1 .. n+k``: they run, are outside the configuration, and stay idle until added.

Links default to ``LinkConfig(fifo=False)``: Raft tolerates reordering, loss and duplication;
stale and duplicated messages are recognised by term and index.

Decisions as pure functions
    :func:`grant_vote` (RequestVote), :func:`append_entries` and :func:`backoff_hint` (the
    follower's side of AppendEntries) and :func:`advance_commit` (the leader's commit rule) are
    module-level functions of plain values, which :class:`RaftServer` calls through a
    :class:`Rules`. ``cluster(n, rules=Rules(grant_vote=...))`` replaces any of them, and a
    :class:`RuleRecorder` records every decision a run asks next to Figure 2's answer (the
    exercises plug a student's rule in this way).

Broken variants (``cluster(n, variant=...)``), each caught by a checker in the tests (the first
two are broken rules, :data:`VARIANT_RULES`):

``"commit-previous-term"``
    A leader commits entries of earlier terms by counting replicas (Figure 8's mistake).
``"no-up-to-date-check"``
    RequestVote grants a vote whatever the candidate's log.
``"volatile-vote"``
    ``voted_for`` is not persisted, so a restarted server can vote twice in one term.
``"unconfirmed-read"``
    A leader serves a ReadIndex read without the heartbeat round (a local read on the leader
    with no lease): a deposed leader cut off with a minority serves stale values.
``"direct-switch"`` (with ``membership="joint"``)
    A change appends C_new at once, without C_old,new: for a change of more than one server, a
    majority of C_old and a majority of C_new can elect two leaders of one term
    (:func:`scenario_direct_switch`, against :func:`scenario_joint`; paper Figure 10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

import zablib.quorum as quorum
from zablib.core import LogRow, Message, Node, NodeId, NodeStatus, Output
from zablib.invariants import InvariantViolation, check_prefix_order, check_single_leader
from zablib.network import LinkConfig, uniform
from zablib.sim import Simulation, SimulationError

VARIANTS = ("correct", "commit-previous-term", "no-up-to-date-check", "volatile-vote",
            "unconfirmed-read", "direct-switch")
#: How membership changes: one server at a time (thesis §4.1), or any change through a joint
#: configuration (paper §6, thesis §4.3).
MEMBERSHIPS = ("single", "joint")
LEADER, CANDIDATE, FOLLOWER = "leader", "candidate", "follower"

HEARTBEAT_MS = 20.0
ELECTION_MS = (100.0, 200.0)
MAX_BATCH = 64  # entries per AppendEntries
CATCH_UP_ROUNDS = 10  # catch-up rounds a learner gets before the leader gives up (thesis §4.2.1)


# -- log entries, messages and client requests ----------------------------------------------
@dataclass(frozen=True)
class JointConfig:
    """The joint configuration C_old,new of a change from ``old`` to ``new`` (paper §6, thesis
    §4.3): elections and commitment need a majority of ``old`` and, separately, a majority of
    ``new``. Iterating it gives :attr:`members`, every server of either."""

    old: tuple[NodeId, ...]
    new: tuple[NodeId, ...]

    @property
    def members(self) -> tuple[NodeId, ...]:
        """The servers of either configuration, sorted."""
        return tuple(sorted(set(self.old) | set(self.new)))

    def __iter__(self):
        return iter(self.members)

    def describe(self) -> str:
        return f"{list(self.old)},{list(self.new)}"


@dataclass(frozen=True)
class Entry:
    """A log entry: the leader's term when it was created and its command.

    ``kind`` is ``"command"`` (a client command), ``"noop"`` (a new leader's first entry) or
    ``"config"`` (``command`` is the sorted tuple of member ids, or a :class:`JointConfig`).
    """

    term: int
    command: Any
    kind: str = "command"

    def describe(self) -> str:
        if self.kind == "command":
            return f"{self.term}:{self.command!r}"
        if self.kind == "noop":
            return f"{self.term}:noop"
        if isinstance(self.command, JointConfig):
            return f"{self.term}:config{self.command.describe()}"
        return f"{self.term}:config{list(self.command)}"


def describe_entries(entries: Sequence[Entry]) -> str:
    """A log or a batch of entries in one line: ``[1:noop, 1:'x', 2:config[1, 2, 3]]``."""
    return "[" + ", ".join(e.describe() for e in entries) + "]"


def _common_prefix(a: tuple[Entry, ...], b: tuple[Entry, ...]) -> int:
    """How many entries ``a`` and ``b`` share from the start."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    k = 0
    while a[k] == b[k]:
        k += 1
    return k


@dataclass(frozen=True)
class RequestVote(Message):
    """Candidate -> voter: vote for me in ``term``; my log ends at ``(last_term, last_index)``.

    ``transfer`` marks an election started on purpose (:class:`Campaign`, like the thesis's
    leadership transfer, §3.10): voters answer it even if they heard from a leader recently
    (§4.2.3).
    """

    term: int
    last_index: int
    last_term: int
    transfer: bool = False

    def describe(self) -> str:
        flag = ", transfer=True" if self.transfer else ""
        return (f"RequestVote(term={self.term}, last_index={self.last_index}, "
                f"last_term={self.last_term}{flag})")


@dataclass(frozen=True)
class VoteReply(Message):
    """The answer to a :class:`RequestVote`: ``granted`` or not, in the voter's ``term``."""

    term: int
    granted: bool


@dataclass(frozen=True)
class PreVote(Message):
    """Thesis §9.6: would you vote for me in ``term`` (my term + 1)? Changes no one's term."""

    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True)
class PreVoteReply(Message):
    """``term`` is the asked term if granted, else the voter's own term."""

    term: int
    granted: bool


@dataclass(frozen=True)
class AppendEntries(Message):
    """``read`` is the leader's latest ReadIndex round (thesis §6.4; 0 before any read): the
    follower echoes it, and an echo from a majority confirms the reads of that round."""

    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    read: int = 0

    def describe(self) -> str:
        read = f", read={self.read}" if self.read else ""
        return (f"AppendEntries(term={self.term}, prev=({self.prev_index}, {self.prev_term}), "
                f"entries={describe_entries(self.entries)}, commit={self.commit}{read})")


@dataclass(frozen=True)
class AppendReply(Message):
    """``match`` is the index up to which the follower now matches (on success); on failure
    ``conflict_term``/``conflict_index`` is the back-off hint (``conflict_term`` 0 = none).
    ``read`` echoes the request's ReadIndex round."""

    term: int
    success: bool
    match: int
    conflict_term: int = 0
    conflict_index: int = 0
    read: int = 0

    def describe(self) -> str:
        # The text of the dataclass's repr, which traces printed before reads existed.
        read = f", read={self.read}" if self.read else ""
        return (f"AppendReply(term={self.term}, success={self.success}, match={self.match}, "
                f"conflict_term={self.conflict_term}, conflict_index={self.conflict_index}{read})")


@dataclass(frozen=True)
class ReadIndexRequest(Message):
    """Follower -> leader (thesis §6.4): give me a read index for read ``read_id``."""

    term: int
    read_id: int


@dataclass(frozen=True)
class ReadIndexReply(Message):
    """Leader -> follower: read ``read_id`` may be served once ``index`` is applied."""

    term: int
    read_id: int
    index: int


@dataclass(frozen=True)
class Campaign:
    """Client request: start an election now (used to script runs).

    As in the thesis's leadership transfer (§3.10), the election skips PreVote and its
    RequestVote carries ``transfer=True``, so voters that heard from a leader within the minimum
    election timeout answer it all the same (§4.2.3): a script need not wait for that to pass.
    """


@dataclass(frozen=True)
class ReadIndex:
    """Client request: the linearizable read ``read_id`` (thesis §6.4), served without a log
    entry. A leader takes its commit index as the read index once it has committed an entry of
    its term, confirms by a heartbeat round that a majority still follows it, and serves the
    read; a follower forwards the request to its leader and serves the read once it has applied
    the index the leader answers. The server notes ``read`` when it serves it."""

    read_id: int


@dataclass(frozen=True)
class LocalRead:
    """Client request: the serializable read ``read_id``, served at once from what this server
    has applied (etcd's ``serializable`` read): no round trip, and possibly stale."""

    read_id: int


@dataclass(frozen=True)
class AddServer:
    """Client request to the leader: catch ``node`` up as a learner, then add it."""

    node: NodeId


@dataclass(frozen=True)
class RemoveServer:
    """Client request to the leader: remove ``node`` from the configuration."""

    node: NodeId


@dataclass(frozen=True)
class ChangeMembership:
    """Client request to the leader (``membership="joint"``): change the configuration to
    ``members``, any change, through C_old,new (paper §6)."""

    members: tuple[NodeId, ...]


# -- Figure 2's decisions, as pure functions ----------------------------------------------------
@dataclass(frozen=True)
class Voter:
    """What a server holds when a RequestVote arrives, before it looks at the request's term:
    ``currentTerm``, ``votedFor`` (None if it has not voted in that term) and its last log
    entry's term and index (0 and 0 for an empty log)."""

    term: int
    voted_for: NodeId | None
    last_log_term: int
    last_log_index: int


@dataclass(frozen=True)
class VoteRequest:
    """A RequestVote as the voter sees it: the candidate's term, id and last log entry."""

    term: int
    candidate: NodeId
    last_log_term: int
    last_log_index: int


def up_to_date(last_term: int, last_index: int, than_term: int, than_index: int) -> bool:
    """§5.4.1: a log ending at ``(last_term, last_index)`` is at least as up to date as one
    ending at ``(than_term, than_index)``: the later last term wins, then the longer log."""
    return (last_term, last_index) >= (than_term, than_index)


def grant_vote(voter: Voter, request: VoteRequest) -> bool:
    """Whether ``voter`` grants its vote (Figure 2, RequestVote; §5.2, §5.4.1).

    A request of an older term is refused; a newer term clears the vote (the voter adopts the
    term first); at most one candidate per term gets the vote (asking twice gets the same
    answer); and the candidate's log must be at least as :func:`up_to_date` as the voter's.
    """
    if request.term < voter.term:
        return False
    voted_for = voter.voted_for if request.term == voter.term else None
    if voted_for not in (None, request.candidate):
        return False
    return up_to_date(request.last_log_term, request.last_log_index,
                      voter.last_log_term, voter.last_log_index)


def grant_vote_ignoring_logs(voter: Voter, request: VoteRequest) -> bool:
    """The broken rule of variant ``"no-up-to-date-check"``: :func:`grant_vote` without §5.4.1,
    so a candidate that lacks committed entries can win."""
    if request.term < voter.term:
        return False
    voted_for = voter.voted_for if request.term == voter.term else None
    return voted_for in (None, request.candidate)


def append_entries(log: Sequence[Entry], prev_index: int, prev_term: int,
                   entries: Sequence[Entry]) -> Sequence[Entry] | None:
    """The follower's log after an AppendEntries of its own term (Figure 2; §5.3), or None.

    None if the consistency check fails: the log has no entry at ``prev_index`` of term
    ``prev_term`` (index 0, the empty prefix, always matches). Otherwise an entry that conflicts
    with a new one (same index, other term) is deleted with all that follow it, and the new
    entries not yet in the log are appended. Entries that match stay, so an older, shorter
    request arriving late (reordered or duplicated) never shortens the log. Index 1 is
    ``log[0]``; ``log`` itself is returned when nothing changes.
    """
    if prev_index > len(log):
        return None
    if prev_index > 0 and log[prev_index - 1].term != prev_term:
        return None
    for k, entry in enumerate(entries):
        index = prev_index + 1 + k
        if index <= len(log) and log[index - 1].term == entry.term:
            continue  # already there: a duplicate, or an older request
        return tuple(log[: index - 1]) + tuple(entries[k:])  # the first conflict, or the end
    return log


def backoff_hint(log: Sequence[Entry], prev_index: int) -> tuple[int, int]:
    """The fast back-off hint of §5.3 that a rejection carries: ``(conflict_term,
    conflict_index)``, the term of the follower's entry at ``prev_index`` and the first index of
    that term in its log, so the leader skips a whole term per round trip; ``(0, len(log) + 1)``
    when the log is shorter than ``prev_index``."""
    if prev_index > len(log):
        return 0, len(log) + 1
    conflict = log[prev_index - 1].term if prev_index > 0 else 0
    first = prev_index
    while first > 1 and log[first - 2].term == conflict:
        first -= 1
    return conflict, first


def advance_commit(term: int, log_terms: Sequence[int], match_index: Mapping[NodeId, int],
                   commit_index: int, voters: Sequence[NodeId]) -> int:
    """A leader's commit index after Figure 2's rule (§5.3, §5.4.2).

    The largest N that a majority of ``voters`` holds (``match_index``, the leader's own last
    index included; servers that are not voters do not count), provided ``log_terms[N - 1]``
    (index 1 is ``log_terms[0]``) is the leader's ``term``: an earlier term's entry is never
    committed by counting replicas (Figure 8), only with a later entry of the leader's term. The
    commit index never goes down.
    """
    n = quorum.committed_index(match_index, voters)
    if commit_index < n <= len(log_terms) and log_terms[n - 1] == term:
        return n
    return commit_index


def advance_commit_counting_replicas(term: int, log_terms: Sequence[int],
                                     match_index: Mapping[NodeId, int], commit_index: int,
                                     voters: Sequence[NodeId]) -> int:
    """The broken rule of variant ``"commit-previous-term"``: Figure 8's mistake, committing
    whatever a majority holds, whatever its term."""
    n = min(quorum.committed_index(match_index, voters), len(log_terms))
    return max(commit_index, n)


@dataclass(frozen=True)
class Rules:
    """The decisions a :class:`RaftServer` takes through pure functions, which
    ``cluster(rules=...)`` can replace (exercises plug a student's function in here).

    Each field defaults to Figure 2's rule; replace any of them with a function of the same
    signature: ``Rules(grant_vote=mine)``.
    """

    grant_vote: Callable[[Voter, VoteRequest], bool] = grant_vote
    append_entries: Callable[[Sequence[Entry], int, int, Sequence[Entry]],
                             Sequence[Entry] | None] = append_entries
    backoff_hint: Callable[[Sequence[Entry], int], tuple[int, int]] = backoff_hint
    advance_commit: Callable[[int, Sequence[int], Mapping[NodeId, int], int, Sequence[NodeId]],
                             int] = advance_commit


#: Figure 2's rules.
FIGURE2 = Rules()
#: The broken variants that are a broken rule (the others break persistence).
VARIANT_RULES: dict[str, dict[str, Callable[..., Any]]] = {
    "no-up-to-date-check": {"grant_vote": grant_vote_ignoring_logs},
    "commit-previous-term": {"advance_commit": advance_commit_counting_replicas},
}


def rules_for(variant: str, rules: Rules | None = None) -> Rules:
    """The rules a server of ``variant`` follows: ``rules`` (default :data:`FIGURE2`) with the
    variant's broken rule in place. Raises ValueError if ``rules`` replaces that rule too."""
    rules = FIGURE2 if rules is None else rules
    broken = VARIANT_RULES.get(variant, {})
    for name, rule in broken.items():
        if getattr(rules, name) not in (getattr(FIGURE2, name), rule):
            raise ValueError(f"variant {variant!r} replaces the rule {name}, and so does rules=; "
                             "pass one or the other")
    return replace(rules, **broken) if broken else rules


def as_log(answer: Sequence[Entry] | None) -> tuple[Entry, ...] | None:
    """An ``append_entries`` answer as the server keeps it: None, or a tuple."""
    return None if answer is None else tuple(answer)


@dataclass(frozen=True)
class RuleDecision:
    """One decision a server asked of a rule during a run (see :class:`RuleRecorder`).

    ``answer`` is what the plugged-in rule answered, which the server acted on; ``expected``
    is what Figure 2's rule answers to the same ``args``.
    """

    rule: str
    args: tuple
    answer: Any
    expected: Any

    @property
    def agrees(self) -> bool:
        """The plugged-in rule answered as Figure 2's: the same value, of the same type."""
        return type(self.answer) is type(self.expected) and self.answer == self.expected


class RuleRecorder:
    """Rules that answer as ``rules`` do and record each decision with Figure 2's answer.

    The documented way to watch a cluster's decisions: build the cluster with
    ``rules=recorder.rules``; every call a server makes to a rule is kept, in order, in its
    list ``decisions`` of :class:`RuleDecision`.

    >>> recorder = RuleRecorder(Rules(grant_vote=grant_vote_ignoring_logs))
    >>> sim = cluster(3, seed=1, rules=recorder.rules)
    >>> _ = sim.run(until=400)
    >>> {d.rule for d in recorder.decisions} >= {"grant_vote", "append_entries", "advance_commit"}
    True
    >>> recorder.disagreements("grant_vote")  # every log was empty: the check never mattered
    []

    Parameters
    ----------
    rules : Rules, optional
        The rules the servers follow; default Figure 2's.
    reference : Rules, optional
        The rules each answer is compared with; default Figure 2's.
    """

    def __init__(self, rules: Rules | None = None, reference: Rules | None = None):
        self.decisions: list[RuleDecision] = []
        self.reference = FIGURE2 if reference is None else reference
        chosen = FIGURE2 if rules is None else rules
        self.rules = Rules(**{f.name: self._recording(f.name, getattr(chosen, f.name))
                              for f in fields(Rules)})

    def _recording(self, name: str, rule: Callable[..., Any]) -> Callable[..., Any]:
        reference = getattr(self.reference, name)
        keep = as_log if name == "append_entries" else (lambda answer: answer)

        def recorded(*args: Any) -> Any:
            expected = keep(reference(*args))
            answer = expected if rule is reference else keep(rule(*args))
            self.decisions.append(RuleDecision(name, args, answer, expected))
            return answer

        recorded.__name__ = recorded.__qualname__ = f"recorded_{name}"
        return recorded

    def disagreements(self, rule: str | None = None) -> list[RuleDecision]:
        """The decisions (of ``rule``, or of every rule) on which the answer was not Figure 2's."""
        return [d for d in self.decisions if (rule is None or d.rule == rule) and not d.agrees]


# -- the server ----------------------------------------------------------------------------
class RaftServer(Node):
    """One Raft server (Figure 2), a pure state machine.

    Parameters
    ----------
    node_id, peers, storage
        As for :class:`~zablib.core.Node`.
    initial : tuple of int
        The bootstrap configuration, used while the log holds no configuration entry.
    variant : str
        ``"correct"`` or a broken variant (module docstring).
    election_ms : (float, float)
        Range of the randomised election timeout.
    heartbeat_ms : float
        Leader heartbeat period.
    max_batch : int
        At most this many entries per AppendEntries.
    check_quorum : bool
        A leader steps down when it has not heard from a majority within an election timeout.
    pre_vote : bool
        Run a PreVote round (thesis §9.6) before incrementing the term.
    rules : Rules, optional
        The decisions taken through pure functions; default Figure 2's (with the broken rule of
        ``variant``, if it is one), see :func:`rules_for`.
    membership : str
        ``"single"`` (single-server changes, thesis §4.1) or ``"joint"`` (any change, through
        a joint configuration, paper §6).
    """

    def __init__(self, node_id: NodeId, peers: tuple[NodeId, ...], storage: Mapping[str, Any],
                 initial: tuple[NodeId, ...] = (), variant: str = "correct",
                 election_ms: tuple[float, float] = ELECTION_MS,
                 heartbeat_ms: float = HEARTBEAT_MS, max_batch: int = MAX_BATCH,
                 check_quorum: bool = False, pre_vote: bool = False,
                 rules: Rules | None = None, membership: str = "single"):
        super().__init__(node_id, peers, storage)
        self.membership = membership
        self.rules = rules_for(variant, rules)
        self.pre_vote = pre_vote
        self.prevoting = False
        self.leader_heard = float("-inf")  # when a follower last heard from its leader
        self.check_quorum = check_quorum
        self.now = 0.0
        self.elected_at = 0.0
        self.variant = variant
        self.initial = tuple(initial) or tuple(peers)
        self.election_ms = election_ms
        self.heartbeat_ms = heartbeat_ms
        self.max_batch = max_batch
        self.term: int = storage.get("term", 0)
        self.voted_for: NodeId | None = storage.get("voted_for")
        self.log: tuple[Entry, ...] = storage.get("log", ())
        self.commit_index = 0
        self.last_applied = 0
        self.role = FOLLOWER
        self.leader_id: NodeId | None = None
        self.votes: dict[NodeId, bool] = {}  # candidate: who answered, and whether it granted
        self.next_index: dict[NodeId, int] = {}
        self.match_index: dict[NodeId, int] = {}
        self.learner: NodeId | None = None
        self.learner_since = 0.0  # when the leader began catching the learner up
        self.learner_round = 0  # thesis §4.2.1: the catch-up round, its start and its goal index
        self.round_start = 0.0
        self.round_goal = 0
        self.term_start = 0  # index of this leader's no-op
        self.heard: dict[NodeId, float] = {}  # leader: when each peer last answered (CheckQuorum)
        # ReadIndex (thesis §6.4). Leader: reads not yet served, each [read_id, origin, read
        # index (None until the no-op commits), round]; the latest round and, per peer, the
        # latest round it echoed. Any server: reads forwarded to the leader, and reads that
        # wait for their index to be applied (read_id -> index).
        self.reads: list[list[Any]] = []
        self.read_round = 0
        self.read_acks: dict[NodeId, int] = {}
        self.forwarded: set[int] = set()
        self.awaiting: dict[int, int] = {}
        # Joint consensus: the new servers a change waits for, the index they must reach, since
        # when, and the configuration asked for.
        self.catching: tuple[NodeId, ...] = ()
        self.catch_goal = 0
        self.catch_since = 0.0
        self.change_to: tuple[NodeId, ...] = ()
        self._terms: tuple[tuple[Entry, ...], tuple[int, ...]] = ((), ())
        self._refresh_config()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def last_index(self) -> int:
        return len(self.log)

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else 0

    def term_at(self, index: int) -> int:
        return self.log[index - 1].term if 0 < index <= len(self.log) else 0

    @property
    def log_terms(self) -> tuple[int, ...]:
        """The terms of the log's entries (index 1 is ``log_terms[0]``)."""
        log, terms = self._terms
        if log is not self.log:
            terms = tuple(e.term for e in self.log)
            self._terms = (self.log, terms)
        return terms

    def _refresh_config(self) -> None:
        """Use the latest configuration entry in the log (thesis §4.1: committed or not)."""
        configs = [(k + 1, e) for k, e in enumerate(self.log) if e.kind == "config"]
        self.config_index = configs[-1][0] if configs else 0
        latest = configs[-1][1].command if configs else self.initial
        # Joint consensus: while C_old,new is the latest, quorums are majorities of both.
        self.voters: tuple[tuple[NodeId, ...], ...] = (
            (latest.old, latest.new) if isinstance(latest, JointConfig) else (latest,))
        self.config: tuple[NodeId, ...] = tuple(latest)
        self.old_config: tuple[NodeId, ...] = (
            tuple(configs[-2][1].command) if len(configs) > 1 else self.initial)

    @property
    def joint(self) -> JointConfig | None:
        """The latest configuration if it is a joint one, else None."""
        return JointConfig(*self.voters) if len(self.voters) == 2 else None

    def _quorum(self, ids) -> bool:
        ids = list(ids)
        return all(quorum.is_quorum(ids, c) for c in self.voters)

    def _quorum_index(self, match: Mapping[NodeId, int]) -> int:
        """The largest value that a quorum of the configuration holds in ``match``."""
        return min(quorum.committed_index(match, c) for c in self.voters)

    def _won(self) -> bool:
        return all(quorum.vote_result(self.votes, c) == quorum.WON for c in self.voters)

    def _in_lease(self) -> bool:
        """Thesis §4.2.3: this server leads, or heard from a current leader within the minimum
        election timeout, so it believes a leader is alive."""
        return self.role == LEADER or self.now - self.leader_heard < self.election_ms[0]

    def _may_campaign(self) -> bool:
        """Thesis §4.2.2: a member campaigns; so does a server that its latest configuration
        removes, for as long as it does not know that configuration committed: it may hold the
        entry the others need, and refuse them its vote. Its own vote does not count."""
        return self.id in self.config or (self.id in self.old_config
                                          and self.commit_index < self.config_index)

    def _targets(self) -> list[NodeId]:
        """Whom a leader replicates to: both configurations around the last change (so a removed
        server learns it was removed) and the learner being caught up."""
        ids = set(self.config) | set(self.old_config) | set(self.catching)
        if self.learner is not None:
            ids.add(self.learner)
        ids.discard(self.id)
        return sorted(ids)

    def status(self) -> str:
        member = "" if self.id in self.config else " (not a member)"
        return (f"{self.role} term={self.term} log={self.last_index} "
                f"commit={self.commit_index}{member}")

    def report(self) -> NodeStatus:
        """Role, ``term``, the leader it knows of (itself when leading), its log (rows of kind
        ``"command"``, ``"noop"`` or ``"config"``) and ``commit`` = ``commitIndex``, which is
        volatile: a restarted server starts again from 0 and learns it from the leader.

        ``extra``: ``voted_for`` (votedFor, None if it has not voted in this term),
        ``last_applied`` (lastApplied: always ``commit``, since a server applies an entry as soon
        as it learns it is committed), ``config`` (the member ids it uses, the latest
        configuration in its log; while that is C_old,new, every server of either) and
        ``member`` (whether it is one of them); and ``joint``, the :class:`JointConfig`, while
        the latest configuration is one.
        """
        log = tuple(LogRow(k, e.term, e.command, e.kind) for k, e in enumerate(self.log, 1))
        extra = {"voted_for": self.voted_for, "last_applied": self.last_applied,
                 "config": self.config, "member": self.id in self.config}
        if self.joint is not None:
            extra["joint"] = self.joint
        return NodeStatus(
            self.id, True, self.role, term=self.term, leader=self.leader_id, log=log,
            commit=self.commit_index, text=self.status(), extra=extra)

    def _persist_state(self, out: Output) -> None:
        if self.variant == "volatile-vote":
            out.write(term=self.term)
        else:
            out.write(term=self.term, voted_for=self.voted_for)

    def _set_log(self, out: Output, log: tuple[Entry, ...]) -> None:
        self.log = log
        out.write(log=log)
        self._refresh_config()

    # -- inputs -------------------------------------------------------------------------------
    def on_start(self, now: float) -> Output:
        return Output().set_timer("election", self.election_ms)

    def on_timer(self, now: float, name: str) -> Output:
        self.now = now
        out = Output()
        if name == "heartbeat" and self.role == LEADER:
            if self.check_quorum and now - self.elected_at >= self.election_ms[1]:
                # CheckQuorum (thesis §6.2): a leader that has not heard from a majority within an
                # election timeout steps down, so clients stop trusting a deposed leader.
                recent = [p for p, t in self.heard.items() if now - t <= self.election_ms[1]]
                if not self._quorum(recent + [self.id]):
                    out.note(f"steps down: no quorum heard in term {self.term}", tag="check-quorum",
                             value=self.term)
                    self._become_follower(out, None)
                    return out
            if self.learner is not None:
                heard = max(self.heard.get(self.learner, self.learner_since), self.learner_since)
                if now - heard >= self.election_ms[1]:
                    # Thesis §4.2.1: an unavailable new server must not stall changes for ever.
                    self._give_up_learner(out, f"no answer for {now - heard:.0f} ms")
            if self.catching:
                silent = [p for p in self.catching if now - max(
                    self.heard.get(p, self.catch_since), self.catch_since) >= self.election_ms[1]]
                if silent:
                    self._give_up_catching(out, f"no answer from {silent} for "
                                                f"{self.election_ms[1]:.0f} ms")
            self._broadcast_append(out)
            return out.set_timer("heartbeat", self.heartbeat_ms)
        if name == "election" and self.role != LEADER:
            if self._may_campaign():
                if self.pre_vote:
                    return self._start_pre_vote(out)
                return self._start_election(out)
            return out.set_timer("election", self.election_ms)
        return out

    def on_client(self, now: float, request: Any) -> Output:
        self.now = now
        out = Output()
        if isinstance(request, Campaign):
            out.reply = self.role != LEADER and self._may_campaign()
            return self._start_election(out, transfer=True) if out.reply else out
        if isinstance(request, LocalRead):
            out.reply = True
            self._serve(out, request.read_id, self.last_applied)
            return out
        if isinstance(request, ReadIndex):
            return self._read(out, request.read_id)
        if self.role != LEADER:
            out.reply = False
            return out
        if self.membership == "joint" and isinstance(request, AddServer | RemoveServer):
            request = ChangeMembership(tuple(sorted(set(self.config) | {request.node}))
                                       if isinstance(request, AddServer) else
                                       tuple(p for p in self.config if p != request.node))
        if isinstance(request, ChangeMembership):
            out.reply = self._change_joint(out, request.members)
            return out
        if isinstance(request, AddServer | RemoveServer):
            out.reply = self._change(out, request)
            return out
        self._append(out, Entry(self.term, request))
        out.reply = True
        return out

    def on_message(self, now: float, src: NodeId, msg: Message) -> Output:
        self.now = now
        out = Output()
        if isinstance(msg, PreVote):
            return self._step_pre_vote(out, src, msg)
        if isinstance(msg, PreVoteReply) and msg.granted:
            return self._step_pre_candidate(out, src, msg)
        if isinstance(msg, RequestVote):
            return self._step_request_vote(out, src, msg)
        self._adopt_term(out, msg.term)
        if isinstance(msg, AppendEntries):
            return self._step_follower(out, src, msg)
        if isinstance(msg, ReadIndexReply):
            # Confirmed by its leader whatever our term now: serve once the index is applied.
            if msg.read_id in self.forwarded:
                self.forwarded.discard(msg.read_id)
                self._serve(out, msg.read_id, msg.index)
            return out
        if msg.term < self.term:
            return out  # a stale reply
        if isinstance(msg, ReadIndexRequest):
            if self.role == LEADER:
                self._read_at_leader(out, msg.read_id, src)
            return out
        if isinstance(msg, VoteReply) and self.role == CANDIDATE:
            return self._step_candidate(out, src, msg)
        if isinstance(msg, AppendReply) and self.role == LEADER:
            self.heard[src] = now
            if msg.read > self.read_acks.get(src, 0):
                self.read_acks[src] = msg.read
                self._confirm_reads(out)
            return self._step_leader(out, src, msg)
        return out

    def _adopt_term(self, out: Output, term: int) -> None:
        """Figure 2, all servers: a higher term makes us a follower of that term."""
        if term > self.term:
            self.term, self.voted_for = term, None
            self._persist_state(out)
            if self.role != FOLLOWER:
                self._become_follower(out, None)

    # -- elections ----------------------------------------------------------------------------
    def _start_pre_vote(self, out: Output) -> Output:
        self.role = FOLLOWER  # a candidate whose election timed out asks again, term unchanged
        self.leader_id = None
        self.prevoting = True
        self.votes = {self.id: True}
        out.note(f"pre-vote for term {self.term + 1}", tag="pre-vote", value=self.term + 1)
        out.set_timer("election", self.election_ms)
        if self._won():
            return self._start_election(out)
        out.broadcast([p for p in self.config if p != self.id],
                      PreVote(self.term + 1, self.last_index, self.last_term))
        return out

    def _step_pre_vote(self, out: Output, src: NodeId, msg: PreVote) -> Output:
        # Grant if the election could succeed: a newer term, an up-to-date log, and no leader
        # heard from within the minimum election timeout (so a disruptive server is refused).
        fresh = up_to_date(msg.last_term, msg.last_index, self.last_term, self.last_index)
        grant = msg.term > self.term and fresh and not self._in_lease()
        return out.send(src, PreVoteReply(msg.term if grant else self.term, grant))

    def _step_pre_candidate(self, out: Output, src: NodeId, msg: PreVoteReply) -> Output:
        if self.prevoting and self.role == FOLLOWER and msg.term == self.term + 1:
            self.votes[src] = True
            if self._won():
                return self._start_election(out)
        return out

    def _start_election(self, out: Output, transfer: bool = False) -> Output:
        self.prevoting = False
        self.role = CANDIDATE
        self.term += 1
        self.voted_for = self.id
        self.leader_id = None
        self.votes = {self.id: True}
        self._persist_state(out)
        out.note(f"candidate for term {self.term}", tag="candidate", value=self.term)
        out.set_timer("election", self.election_ms)
        out.cancel_timer("heartbeat")
        if self._won():
            return self._become_leader(out)
        out.broadcast([p for p in self.config if p != self.id],
                      RequestVote(self.term, self.last_index, self.last_term, transfer))
        return out

    def _step_request_vote(self, out: Output, src: NodeId, msg: RequestVote) -> Output:
        if msg.term > self.term and self._in_lease() and not msg.transfer:
            # Thesis §4.2.3: a leader is alive, so this candidate is one that cannot hear it (a
            # removed server that was never told, or one cut off): neither adopt its term nor
            # vote, lest it depose a working leader. No answer either: it would be stale.
            out.note(f"ignores RequestVote of term {msg.term} from {src}: heard from a leader "
                     "within the minimum election timeout", tag="withhold", value=(msg.term, src))
            return out
        voter = Voter(self.term, self.voted_for, self.last_term, self.last_index)
        self._adopt_term(out, msg.term)
        grant = bool(self.rules.grant_vote(
            voter, VoteRequest(msg.term, src, msg.last_term, msg.last_index)))
        if grant:
            self.voted_for = src
            self._persist_state(out)
            out.set_timer("election", self.election_ms)
        return out.send(src, VoteReply(self.term, grant))

    def _step_candidate(self, out: Output, src: NodeId, msg: VoteReply) -> Output:
        # A grant stands: a duplicated, reordered refusal does not take it back.
        self.votes[src] = self.votes.get(src, False) or msg.granted
        if msg.granted and self._won():
            return self._become_leader(out)
        return out

    def _become_leader(self, out: Output) -> Output:
        self.role = LEADER
        self.leader_id = self.id
        self.learner = None
        self.elected_at = self.now
        self.heard = {}
        self.reads, self.read_round, self.read_acks = [], 0, {}
        self.catching = ()
        self.next_index = {p: self.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        out.note(f"leader of term {self.term}", tag="leader", value=(self.term, self.id, self.log))
        out.cancel_timer("election")
        out.set_timer("heartbeat", self.heartbeat_ms)
        self.term_start = self.last_index + 1
        self._append(out, Entry(self.term, None, "noop"))
        return out

    def _become_follower(self, out: Output, leader: NodeId | None) -> None:
        self.role = FOLLOWER
        self.prevoting = False
        self.leader_id = leader
        self.learner = None
        self.catching = ()
        if self.reads:
            # A leader no more cannot confirm its reads: they are dropped (the client retries).
            out.note(f"drops reads {[r[0] for r in self.reads]}: no longer leader",
                     tag="read-dropped", value=tuple(r[0] for r in self.reads))
            self.reads = []
        out.cancel_timer("heartbeat")
        out.set_timer("election", self.election_ms)

    # -- followers ----------------------------------------------------------------------------
    def _step_follower(self, out: Output, src: NodeId, msg: AppendEntries) -> Output:
        if msg.term < self.term:
            return out.send(src, AppendReply(self.term, False, 0, read=msg.read))
        if self.role != FOLLOWER or self.leader_id != src:
            self._become_follower(out, src)
        else:
            out.set_timer("election", self.election_ms)
        self.prevoting = False
        self.leader_heard = self.now
        log = as_log(self.rules.append_entries(self.log, msg.prev_index, msg.prev_term,
                                               msg.entries))
        if log is None:
            conflict_term, conflict_index = self.rules.backoff_hint(self.log, msg.prev_index)
            return out.send(src, AppendReply(self.term, False, 0, conflict_term, conflict_index,
                                             msg.read))
        if log is not self.log and log != self.log:
            kept = _common_prefix(self.log, log)
            if kept < self.last_index:
                out.note(f"truncates log after {kept}", tag="truncate", value=(self.term, kept))
            self._set_log(out, log)
        match = msg.prev_index + len(msg.entries)
        if msg.commit > self.commit_index:
            self.commit_index = max(self.commit_index, min(msg.commit, match))
            self._apply_committed(out)
        return out.send(src, AppendReply(self.term, True, match, read=msg.read))

    def _apply_committed(self, out: Output) -> None:
        """Apply the entries up to ``commit_index`` not yet applied (Figure 2, all servers)."""
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log[self.last_applied - 1]
            out.note(f"applies {self.last_applied} {entry.describe()}", tag="apply",
                     value=(self.last_applied, entry))
        if self.awaiting:
            for read_id, index in list(self.awaiting.items()):
                if index <= self.last_applied:
                    del self.awaiting[read_id]
                    self._serve(out, read_id, index)

    # -- leaders ------------------------------------------------------------------------------
    def _append(self, out: Output, entry: Entry) -> None:
        terms = self.log_terms + (entry.term,)  # a leader's log grows: extend, not recount
        self._set_log(out, self.log + (entry,))
        self._terms = (self.log, terms)
        self.match_index[self.id] = self.last_index
        self._maybe_commit(out)
        if self.role == LEADER:
            self._broadcast_append(out)

    def _send_append(self, out: Output, peer: NodeId) -> None:
        prev = min(self.next_index.get(peer, self.last_index + 1), self.last_index + 1) - 1
        entries = self.log[prev: prev + self.max_batch]
        out.send(peer, AppendEntries(self.term, prev, self.term_at(prev), entries,
                                     self.commit_index, self.read_round))
        if entries:
            # Optimistic pipelining (as etcd's replicate state): the next message carries what
            # follows; a loss shows up as a rejection with a hint, which moves next_index back.
            self.next_index[peer] = prev + len(entries) + 1

    def _broadcast_append(self, out: Output) -> None:
        for peer in self._targets():
            self._send_append(out, peer)

    def _step_leader(self, out: Output, src: NodeId, msg: AppendReply) -> Output:
        if msg.success:
            if msg.match > self.match_index.get(src, 0):
                self.match_index[src] = msg.match
            self.next_index[src] = max(self.next_index.get(src, 1), msg.match + 1)
            self._maybe_commit(out)
            if self.role != LEADER:
                return out
            if src == self.learner and self.match_index[src] >= self.round_goal:
                if self._end_round(out, src):
                    return out
            if src in self.catching and all(self.match_index.get(p, 0) >= self.catch_goal
                                            for p in self.catching):
                self._caught_up(out)
            if self.next_index[src] <= self.last_index and src in self._targets():
                self._send_append(out, src)
            return out
        if msg.conflict_index == 0:
            return out  # a rejection for a stale term; nothing to learn
        nxt = msg.conflict_index
        if msg.conflict_term:
            last_of_term = [k + 1 for k, e in enumerate(self.log) if e.term == msg.conflict_term]
            if last_of_term:
                nxt = last_of_term[-1] + 1
        self.next_index[src] = max(self.match_index.get(src, 0) + 1, min(nxt, self.last_index + 1))
        if src in self._targets():
            self._send_append(out, src)
        return out

    def _maybe_commit(self, out: Output) -> None:
        if self.role != LEADER:
            return
        match = MappingProxyType(self.match_index)
        # Joint consensus: an entry commits only with a majority of each configuration.
        n = min(self.rules.advance_commit(self.term, self.log_terms, match, self.commit_index,
                                          voters) for voters in self.voters)
        if n > self.commit_index:
            if n > self.last_index:
                raise ValueError(f"advance_commit answered {n!r}, beyond the leader's last "
                                 f"index {self.last_index}")
            self.commit_index = n
            out.note(f"commits up to {n}", tag="commit", value=(self.term, n, self.log[n - 1].term))
            self._apply_committed(out)
            if self.reads and n >= self.term_start:
                self._start_read_round(out)
            joint = self.joint
            if joint is not None and n >= self.config_index:
                # Paper §6: C_old,new is committed, so C_new alone may now decide.
                out.note(f"joint configuration {joint.describe()} committed: appends "
                         f"{list(joint.new)}", tag="joint-committed", value=joint)
                self._append(out, Entry(self.term, joint.new, "config"))
        if (self.id not in self.config and self.commit_index >= self.config_index):
            # Thesis §4.2.2: a leader removed from the configuration steps down once the entry
            # that removes it is committed.
            out.note(f"steps down: removed from the configuration in term {self.term}",
                     tag="removed", value=self.term)
            self._broadcast_append(out)  # tell the others the new commit index before leaving
            self._become_follower(out, None)

    # -- reads (thesis §6.4) ---------------------------------------------------------------------
    def _read(self, out: Output, read_id: int) -> Output:
        """A client's ReadIndex request: taken by a leader, forwarded by a follower that knows
        its leader; refused (reply False) by a server that knows no leader."""
        if self.role == LEADER:
            self._read_at_leader(out, read_id, self.id)
        elif self.leader_id is not None:
            self.forwarded.add(read_id)
            out.note(f"forwards read {read_id} to leader {self.leader_id}", tag="read-forward",
                     value=(read_id, self.leader_id))
            out.send(self.leader_id, ReadIndexRequest(self.term, read_id))
        else:
            out.reply = False
            return out
        out.reply = True
        return out

    def _read_at_leader(self, out: Output, read_id: int, origin: NodeId) -> None:
        self.reads.append([read_id, origin, None, 0])
        if self.commit_index >= self.term_start:
            self._start_read_round(out)
        else:
            # Thesis §6.4 step 1: until the no-op of this term commits, the leader does not know
            # that its commit index is the cluster's; the read waits for it.
            out.note(f"read {read_id} waits for the no-op of term {self.term} to commit",
                     tag="read-wait", value=read_id)

    def _start_read_round(self, out: Output) -> None:
        """Give the reads that have none the commit index as their read index, and start a
        heartbeat round that confirms them once a majority echoes it."""
        fresh = [r for r in self.reads if r[2] is None]
        if not fresh:
            return
        self.read_round += 1
        for read in fresh:
            read[2], read[3] = self.commit_index, self.read_round
            out.note(f"read {read[0]}: read index {self.commit_index}, round {self.read_round}",
                     tag="read-index", value=(read[0], self.commit_index))
        if self.variant == "unconfirmed-read":
            self._confirm_reads(out, self.read_round)  # the broken shortcut: no heartbeat round
            return
        self._confirm_reads(out)
        if self.reads:
            self._broadcast_append(out)

    def _confirm_reads(self, out: Output, confirmed: int | None = None) -> None:
        """Serve (or answer the follower that forwarded) every read whose round a quorum of the
        configuration has echoed in this term, the leader included."""
        if confirmed is None:
            confirmed = self._quorum_index({**self.read_acks, self.id: self.read_round})
        ready = [r for r in self.reads if r[2] is not None and r[3] <= confirmed]
        if not ready:
            return
        self.reads = [r for r in self.reads if r[2] is None or r[3] > confirmed]
        for read_id, origin, index, _ in ready:
            if origin == self.id:
                self._serve(out, read_id, index)
            else:
                out.send(origin, ReadIndexReply(self.term, read_id, index))

    def _serve(self, out: Output, read_id: int, index: int) -> None:
        """Serve read ``read_id`` now if ``index`` is applied, else once it is."""
        if self.last_applied < index:
            self.awaiting[read_id] = index
            return
        out.note(f"serves read {read_id} at index {index} (applied {self.last_applied})",
                 tag="read", value=(read_id, index, self.last_applied, self.log))

    def _end_round(self, out: Output, learner: NodeId) -> bool:
        """The learner holds the goal of its catch-up round (thesis §4.2.1). A round that took
        less than the minimum election timeout, or a learner that holds the whole log, is caught
        up: append the configuration that adds it. Otherwise start the next round, or give up
        after ``CATCH_UP_ROUNDS``. True if the learner is no longer being caught up."""
        took = self.now - self.round_start
        if took < self.election_ms[0] or self.match_index[learner] >= self.last_index:
            self.learner = None
            out.note(f"learner {learner} caught up", tag="caught-up", value=learner)
            self._append(out, Entry(self.term, tuple(sorted(self.config + (learner,))), "config"))
            return True
        if self.learner_round >= CATCH_UP_ROUNDS:
            self._give_up_learner(out, f"round {self.learner_round} took {took:.0f} ms")
            return True
        self.learner_round += 1
        self.round_start, self.round_goal = self.now, self.last_index
        out.note(f"learner {learner}: round {self.learner_round - 1} took {took:.0f} ms; round "
                 f"{self.learner_round} up to index {self.round_goal}", tag="catch-up-round",
                 value=(learner, self.learner_round))
        return False

    def _give_up_learner(self, out: Output, why: str) -> None:
        out.note(f"gives up catching up learner {self.learner}: {why}", tag="learner-abort",
                 value=self.learner)
        self.learner = None

    def _change(self, out: Output, request: AddServer | RemoveServer) -> bool:
        """Start a single-server change; False while another change is in progress."""
        if (self.config_index > self.commit_index or self.commit_index < self.term_start
                or self.learner is not None):
            return False
        if isinstance(request, AddServer):
            if request.node in self.config:
                raise ValueError(f"node {request.node} is already a member {list(self.config)}")
            self.learner = request.node
            self.learner_since = self.round_start = self.now
            self.learner_round, self.round_goal = 1, self.last_index
            self.next_index[request.node] = self.last_index + 1
            self.match_index[request.node] = 0
            out.note(f"catching up learner {request.node}", tag="learner", value=request.node)
            self._send_append(out, request.node)
            return True
        if request.node not in self.config:
            raise ValueError(f"node {request.node} is not a member {list(self.config)}")
        if len(self.config) == 1:
            raise ValueError("cannot remove the only member of the configuration")
        members = tuple(p for p in self.config if p != request.node)
        self._append(out, Entry(self.term, members, "config"))
        return True

    # -- joint consensus (paper §6, thesis §4.3) ------------------------------------------------
    def _change_joint(self, out: Output, members: tuple[NodeId, ...]) -> bool:
        """Start a change to ``members``: catch the new servers up as non-voting learners, then
        append C_old,new (``_caught_up``). False while another change is in progress."""
        new = tuple(sorted(set(members)))
        unknown = [p for p in new if p not in self.peers]
        if not new or unknown:
            raise ValueError(f"a configuration is a non-empty set of this cluster's servers "
                             f"{list(self.peers)}, got {list(members)}")
        if (self.config_index > self.commit_index or self.commit_index < self.term_start
                or self.joint is not None or self.catching or self.learner is not None):
            return False
        if new == self.config:
            raise ValueError(f"the configuration is already {list(new)}")
        self.change_to = new
        self.catching = tuple(p for p in new if p not in self.config)
        if not self.catching:
            self._caught_up(out)
            return True
        self.catch_goal, self.catch_since = self.last_index, self.now
        for p in self.catching:
            self.next_index[p] = self.last_index + 1
            self.match_index[p] = 0
        out.note(f"catching up learners {list(self.catching)} for {list(new)}", tag="learner",
                 value=self.catching)
        for p in self.catching:
            self._send_append(out, p)
        return True

    def _caught_up(self, out: Output) -> None:
        """Append the change's first entry: C_old,new, or (variant ``"direct-switch"``, the
        broken shortcut) C_new at once, whatever the change."""
        if self.catching:
            out.note(f"learners {list(self.catching)} caught up", tag="caught-up",
                     value=self.catching)
            self.catching = ()
        if self.variant == "direct-switch":
            self._append(out, Entry(self.term, self.change_to, "config"))
        else:
            self._append(out, Entry(self.term, JointConfig(self.config, self.change_to), "config"))

    def _give_up_catching(self, out: Output, why: str) -> None:
        out.note(f"gives up the change to {list(self.change_to)}: {why}", tag="learner-abort",
                 value=self.catching)
        self.catching = ()


# -- invariants ------------------------------------------------------------------------------
def election_safety(sim: RaftSimulation) -> None:
    """At most one leader per term (§5.2), from the ``leader`` notes of the whole run."""
    check_single_leader((t, n) for t, n, _ in sim.trace.values("leader"))


def log_matching(sim: RaftSimulation) -> None:
    """If two durable logs have an entry with the same index and term, they are identical up to
    it (§5.3)."""
    logs = {i: sim.storage[i].get("log", ()) for i in sim.node_ids}
    ids = sorted(logs)
    for k, a in enumerate(ids):
        for b in ids[k + 1:]:
            la, lb = logs[a], logs[b]
            n = min(len(la), len(lb))
            last_same = max((j for j in range(n) if la[j].term == lb[j].term), default=-1)
            if la[: last_same + 1] != lb[: last_same + 1]:
                raise InvariantViolation(
                    "log matching", f"nodes {a} and {b} agree on the term of entry "
                    f"{last_same + 1} but not on the entries before it")


def leader_completeness(sim: RaftSimulation) -> None:
    """An entry committed in term T is in the log of every leader of a later term (§5.4)."""
    commits = sim.trace.values("commit")
    for term, leader, log in sim.trace.values("leader"):
        for t, index, entry_term in commits:
            if t < term and (len(log) < index or log[index - 1].term != entry_term):
                raise InvariantViolation(
                    "leader completeness", f"entry {index} (term {entry_term}) was committed in "
                    f"term {t} but node {leader} became leader of term {term} without it")


def state_machine_safety(sim: RaftSimulation) -> None:
    """No two servers ever apply different entries at the same index (§5.4.3)."""
    applied: dict[int, tuple[NodeId, Entry]] = {}
    for e in sim.trace:
        if e.kind == "note" and e.tag == "apply":
            index, entry = e.value
            first = applied.setdefault(index, (e.node, entry))
            if first[1] != entry:
                raise InvariantViolation(
                    "state machine safety", f"node {first[0]} applied {first[1].describe()} at "
                    f"index {index} but node {e.node} applied {entry.describe()}")
    check_prefix_order({i: sim.committed(i) for i in sim.node_ids}, what="applied")


def leader_append_only(sim: RaftSimulation) -> None:
    """A leader never overwrites or deletes entries of its log (§5.3): no server truncates its
    log in a term in which it was the leader."""
    led = {(t, n) for t, n, _ in sim.trace.values("leader")}
    for e in sim.trace:
        if e.kind == "note" and e.tag == "truncate" and (e.value[0], e.node) in led:
            raise InvariantViolation("leader append-only",
                                     f"leader {e.node} of term {e.value[0]} truncated its log")


# -- the simulation --------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class Read:
    """A read asked of a Raft simulation (:meth:`RaftSimulation.read`); it fills in as the run
    goes on.

    Attributes
    ----------
    sim : RaftSimulation
        The simulation it was asked of.
    id : int
        The read's id, unique in the simulation (the ``read_id`` of the server's notes).
    via : int
        The server it was asked of.
    asked_at : float
        Simulated time of the request.
    linearizable : bool
        True for a ReadIndex read (thesis §6.4), False for a serializable local read.
    accepted : bool
        Whether the server took the request: False if it knew no leader to ask (a linearizable
        read through a server without a leader), and then the read never completes.
    query : callable or None
        ``query(commands)`` computes :attr:`value` from the client commands applied.
    """

    sim: RaftSimulation
    id: int
    via: NodeId
    asked_at: float
    linearizable: bool
    accepted: bool
    query: Callable[[list[Any]], Any] | None = None

    def _served(self) -> tuple[float, tuple] | None:
        return self.sim.read_served(self.id)

    @property
    def done(self) -> bool:
        """Whether the server has served the read."""
        return self._served() is not None

    @property
    def ready_at(self) -> float | None:
        """When the server served it (simulated ms), or None while it has not."""
        served = self._served()
        return None if served is None else served[0]

    @property
    def index(self) -> int | None:
        """The read index (for a local read: what the server had applied), or None."""
        served = self._served()
        return None if served is None else served[1][1]

    @property
    def applied(self) -> int | None:
        """The index the server had applied when it served the read (>= :attr:`index`)."""
        served = self._served()
        return None if served is None else served[1][2]

    def commands(self) -> list[Any]:
        """The client commands applied, in order, up to :attr:`applied`: the state the read
        saw (no-ops and configurations left out). Raises SimulationError while not served."""
        served = self._served()
        if served is None:
            raise SimulationError(f"read {self.id} through node {self.via} has not been served")
        _, (_, _, applied, log) = served
        return [e.command for e in log[:applied] if e.kind == "command"]

    @property
    def value(self) -> Any:
        """``query(commands())``, or ``commands()`` without a query."""
        commands = self.commands()
        return commands if self.query is None else self.query(commands)

    def __repr__(self) -> str:
        kind = "linearizable" if self.linearizable else "local"
        state = (f"served at {self.ready_at:g} ms, index {self.index}" if self.done
                 else "pending" if self.accepted else "refused")
        return f"Read({self.id}, {kind}, via={self.via}, asked at {self.asked_at:g} ms, {state})"


class RaftSimulation(Simulation):
    """A :class:`~zablib.sim.Simulation` of Raft servers with client-level questions."""

    variant: str = "correct"
    rules: Rules = FIGURE2
    members0: tuple[NodeId, ...] = ()
    membership: str = "single"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads_asked = 0
        self._served: dict[int, tuple[float, tuple]] = {}
        self._scanned = 0  # how much of the trace read_served has looked at

    def read(self, query: Callable[[list[Any]], Any] | None = None, *, via: NodeId,
             linearizable: bool = True) -> Read:
        """Ask server ``via`` for a read; return a :class:`Read` that fills in as the run goes.

        Linearizable (the default) is Raft's ReadIndex (thesis §6.4): no log entry; the leader
        takes its commit index as the read index (once it has committed its term's no-op),
        confirms with a heartbeat round that a majority of its configuration still follows it
        in its term, and the read is served once the serving server has applied the read index.
        Through a follower, the follower asks its leader for the read index and serves the
        read itself. A read through a deposed leader cut off with a minority, or through a
        server that knows no leader (``accepted`` False), is never served: the client times
        out and asks elsewhere. ``linearizable=False`` is a serializable read, served at once
        from what ``via`` has applied: no message, but possibly stale.

        Parameters
        ----------
        query : callable, optional
            ``query(commands)`` of the client commands applied, in order; it gives
            :attr:`Read.value` (e.g. the last value set for a key).
        via : int
            The server asked (it must be up).
        linearizable : bool
            ReadIndex (True) or a local serializable read (False).
        """
        if query is not None and not callable(query):
            raise ValueError(f"query must be a function of the applied commands, got {query!r}")
        self.reads_asked += 1
        read_id = self.reads_asked
        request = ReadIndex(read_id) if linearizable else LocalRead(read_id)
        accepted = bool(self.request(via, request))
        return Read(self, read_id, via, self.now, bool(linearizable), accepted, query)

    def read_index(self, *, via: NodeId) -> Read:
        """A linearizable ReadIndex read through ``via`` (:meth:`read` without a query): its
        :attr:`Read.index` and :attr:`Read.ready_at` say which state it may see, and when."""
        return self.read(via=via)

    def read_served(self, read_id: int) -> tuple[float, tuple] | None:
        """``(time, value)`` of the ``read`` note that served read ``read_id``, or None; the
        value is ``(read_id, read index, applied index, log)``."""
        if self._scanned < len(self.trace):
            for e in self.trace[self._scanned:]:
                if e.kind == "note" and e.tag == "read":
                    self._served.setdefault(e.value[0], (e.time, e.value))
            self._scanned = len(self.trace)
        return self._served.get(read_id)

    def _live(self) -> list[RaftServer]:
        return [n for i, n in sorted(self.nodes.items()) if self.is_up(i)]

    def leader(self) -> NodeId | None:
        """The live leader of the highest term, or None."""
        live = [n for n in self._live() if n.role == LEADER]
        return max(live, key=lambda n: n.term).id if live else None

    def submit(self, command: Any) -> bool:
        """Hand ``command`` to the leader; True if a live leader appended it."""
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, command))

    def campaign(self, node: NodeId) -> bool:
        """Make ``node`` start an election now (as if its election timer fired)."""
        return bool(self.request(node, Campaign()))

    def committed(self, node: NodeId) -> list[Any]:
        """The client commands ``node`` has applied, in order, as it knows them now (as it knew
        them when it crashed, while it is down); no-ops and configurations left out.

        Raft's commit point is volatile (Figure 2's commitIndex and lastApplied): a restarted
        server knows nothing committed until a leader tells it, and applies its log again from
        index 1, so this is empty right after a recovery although the log is on disk.
        """
        return self.status(node).committed()

    def configuration(self) -> tuple[NodeId, ...]:
        """The configuration of the leader, or else of the most up-to-date live log."""
        leader = self.leader()
        if leader is not None:
            return self.nodes[leader].config
        live = self._live() or list(self.nodes.values())
        best = max(live, key=lambda n: (n.last_term, n.last_index, -n.id))
        return best.config

    def change_pending(self) -> bool:
        """Whether the leader would refuse a membership change now because one is under way: it
        is catching a learner up, or has not committed its latest configuration. False without
        a leader."""
        leader = self.leader()
        if leader is None:
            return False
        node = self.nodes[leader]
        return (node.learner is not None or node.commit_index < node.config_index
                or bool(node.catching) or node.joint is not None)

    def joint_configuration(self) -> JointConfig | None:
        """The C_old,new that :meth:`configuration` is the union of, while it is a joint one
        (``membership="joint"``), else None."""
        leader = self.leader()
        if leader is not None:
            return self.nodes[leader].joint
        live = self._live() or list(self.nodes.values())
        return max(live, key=lambda n: (n.last_term, n.last_index, -n.id)).joint

    def change_membership(self, members: Sequence[NodeId]) -> bool:
        """Ask the leader to change the configuration to ``members``.

        With ``membership="joint"`` any change, e.g. ``{1, 2, 3}`` to ``{3, 4, 5}`` in one go
        (paper §6): the leader catches the new servers up as non-voting learners, appends
        C_old,new (from then on elections and commitment need a majority of the old
        configuration and, separately, one of the new), and once that entry is committed appends
        C_new; a leader that is not in C_new steps down once C_new is committed. With
        ``membership="single"`` only a change of one server, as :meth:`add_server` or
        :meth:`remove_server`.

        Returns False if there is no leader or a change is in progress; run the simulation for
        the change to happen (:meth:`change_pending` tells when it is over). Raises ValueError
        for an empty configuration, unknown ids, the current configuration, or a change of more
        than one server without ``membership="joint"``.
        """
        new = tuple(sorted(set(members)))
        unknown = [p for p in new if p not in self.nodes]
        if not new or unknown:
            raise ValueError(f"a configuration is a non-empty set of the nodes "
                             f"{list(self.node_ids)}, got {list(members)} (build the cluster "
                             "with spares=k to have servers to add)")
        old = self.configuration()
        if new == old:
            raise ValueError(f"the configuration is already {list(new)}")
        if self.membership != "joint":
            added, removed = set(new) - set(old), set(old) - set(new)
            if len(added) + len(removed) != 1:
                raise ValueError(f"{list(old)} -> {list(new)} changes more than one server; "
                                 "build the cluster with membership='joint' for that")
            return self.add_server(*added) if added else self.remove_server(*removed)
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, ChangeMembership(new)))

    def add_server(self, node: NodeId) -> bool:
        """Ask the leader to catch ``node`` up as a learner and then add it (thesis §4.1).

        Returns False if there is no leader or a change is in progress; run the simulation for
        the catch-up and the configuration entry to happen. Raises ValueError for a node that is
        not one of this cluster's ids (build it with ``spares=``) or that is already a member.
        """
        if node not in self.nodes:
            raise ValueError(f"unknown node {node!r}; nodes are {list(self.node_ids)} "
                             "(build the cluster with spares=k to have servers to add)")
        if node in self.configuration():
            raise ValueError(f"node {node} is already a member {list(self.configuration())}")
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, AddServer(node)))

    def remove_server(self, node: NodeId) -> bool:
        """Ask the leader to remove ``node`` (which may be the leader itself)."""
        if node not in self.configuration():
            raise ValueError(f"node {node!r} is not a member {list(self.configuration())}")
        leader = self.leader()
        return False if leader is None else bool(self.request(leader, RemoveServer(node)))


def cluster(n: int = 3, *, seed: int = 0, variant: str = "correct", spares: int = 0,
            election_ms: tuple[float, float] = ELECTION_MS, heartbeat_ms: float = HEARTBEAT_MS,
            max_batch: int = MAX_BATCH, check_quorum: bool = False, pre_vote: bool = False,
            link: LinkConfig | None = None, rules: Rules | None = None,
            membership: str = "single") -> RaftSimulation:
    """A Raft cluster of ``n`` servers (ids 1..n) plus ``spares`` idle non-members.

    Parameters
    ----------
    n : int
        Voting members: the servers of the initial configuration, at least 1.
    seed : int
        Seed of the run.
    variant : str
        ``"correct"`` or a broken variant of the module docstring.
    spares : int
        Extra servers ``n+1 .. n+spares``, outside the configuration (they do not vote) until
        ``add_server`` adds them.
    election_ms : (float, float)
        Range of the randomised election timeout.
    heartbeat_ms : float
        Leader heartbeat period.
    max_batch : int
        Most entries per AppendEntries.
    check_quorum : bool
        Leaders step down without a recently heard majority (thesis §6.2); off by default, as in
        Figure 2.
    pre_vote : bool
        Servers win a PreVote round before incrementing their term (thesis §9.6); off by default.
    link : LinkConfig, optional
        Default: uniform 1-10 ms, reordering (``fifo=False``), no loss.
    rules : Rules, optional
        Replacements for Figure 2's decisions, e.g. ``Rules(grant_vote=my_grant_vote)``; every
        server follows them. A variant that is a broken rule (``"no-up-to-date-check"``,
        ``"commit-previous-term"``) cannot be combined with ``rules`` replacing the same rule.
    membership : str
        ``"single"`` (the default): single-server changes (thesis §4.1). ``"joint"``: any change
        through a joint configuration (paper §6, thesis §4.3), with
        :meth:`RaftSimulation.change_membership`; ``add_server``/``remove_server`` then go
        through C_old,new too. Variant ``"direct-switch"`` needs ``"joint"``.
    """
    for name, value, low in (("n", n, 1), ("spares", spares, 0), ("max_batch", max_batch, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    lo, hi = election_ms
    if not 0 < lo <= hi or heartbeat_ms <= 0:
        raise ValueError("need 0 < election_ms[0] <= election_ms[1] and heartbeat_ms > 0")
    if rules is not None and not isinstance(rules, Rules):
        raise ValueError(f"rules must be a raft.Rules, got {rules!r}")
    if membership not in MEMBERSHIPS:
        raise ValueError(f"unknown membership {membership!r}; use one of {', '.join(MEMBERSHIPS)}")
    if variant == "direct-switch" and membership != "joint":
        raise ValueError("variant 'direct-switch' breaks joint consensus: use membership='joint'")
    chosen = rules_for(variant, rules)
    initial = tuple(range(1, n + 1))
    sim = RaftSimulation(
        lambda i, peers, storage: RaftServer(i, peers, storage, initial, variant, election_ms,
                                             heartbeat_ms, max_batch, bool(check_quorum),
                                             bool(pre_vote), chosen, membership),
        range(1, n + spares + 1),
        seed=seed,
        link=link or LinkConfig(delay=uniform(1.0, 10.0), fifo=False),
        invariants=[election_safety, leader_append_only, log_matching, leader_completeness,
                    state_machine_safety],
    )
    sim.variant = variant
    sim.rules = chosen
    sim.members0 = initial
    sim.membership = membership
    return sim


# -- Figure 8, replayable ----------------------------------------------------------------------
#: Election timeouts so long that only :meth:`RaftSimulation.campaign` starts elections.
QUIET_MS = (5000.0, 6000.0)
FIGURE8_PHASES = ("a", "b", "c", "d")


def _win(sim: RaftSimulation, node: NodeId, tries: int = 5) -> None:
    for _ in range(tries):
        if sim.leader() == node:
            return
        sim.campaign(node)
        sim.run_for(30)
    raise SimulationError(f"Figure 8: server {node} did not win an election")


def scenario_figure8(variant: str = "correct", phase: str = "d") -> RaftSimulation:
    """Replay Figure 8 of the Raft paper (§5.4.2) with five servers, up to the end of ``phase``.

    (a) S1 leads and replicates ``x`` to S2 only, then crashes. (b) S5 wins the next term with
    S3 and S4, appends ``y`` and crashes before sending it. (c) S1 restarts, wins a term with S2
    and S3 and copies ``x`` to S3: a majority holds ``x``, an entry of an earlier term. (d) S1
    crashes; S5, whose last entry has a higher term than ``x``, wins with S3 and S4 and
    overwrites ``x``. With ``variant="commit-previous-term"`` S1 commits ``x`` in (c) by counting
    replicas, so (d) loses a committed entry and ``sim.check()`` raises.

    Terms are one lower than the paper's: each new leader's no-op (§8) is in the log too, which
    is also why the run uses ``max_batch=1`` (S1 must send ``x`` before its no-op in (c)).
    """
    if phase not in FIGURE8_PHASES:
        raise ValueError(f"unknown phase {phase!r}; use one of {FIGURE8_PHASES}")
    sim = cluster(5, seed=0, variant=variant, election_ms=QUIET_MS, max_batch=1)
    sim.campaign(1)
    sim.run_for(30)  # S1 leads and has committed its no-op
    sim.partition({1, 2}, {3, 4, 5})
    sim.submit("x")
    sim.run_until(lambda s: len(s.nodes[2].log) == 2, what="Figure 8: S2 receiving x")
    sim.crash(1)
    if phase == "a":
        return sim
    sim.campaign(5)
    sim.run_until(lambda s: all(s.nodes[i].voted_for == 5 for i in (3, 4)),
                  what="Figure 8: votes for S5")
    sim.cut_link(5, 3)
    sim.cut_link(5, 4)
    sim.run_until(lambda s: s.leader() == 5, what="Figure 8: S5 leading")
    sim.submit("y")
    sim.crash(5)
    sim.heal()
    if phase == "b":
        return sim
    sim.recover(1)
    sim.partition({1, 2, 3}, {4}, {5})
    _win(sim, 1)
    sim.run_until(lambda s: len(s.nodes[3].log) >= 2 and s.nodes[3].log[1].command == "x",
                  what="Figure 8: S3 receiving x")
    sim.cut_link(1, 3)
    sim.run_for(30)
    if phase == "c":
        return sim
    sim.crash(1)
    sim.heal()
    sim.recover(5)
    sim.partition({1}, {2}, {3, 4, 5})
    _win(sim, 5)
    sim.run_for(200)
    return sim


# -- joint consensus against a direct switch, replayable -----------------------------------------
def _scenario_change(variant: str) -> RaftSimulation:
    sim = cluster(3, seed=0, spares=2, membership="joint", variant=variant,
                  election_ms=QUIET_MS)
    _win(sim, 3)
    sim.submit("x")
    sim.run_for(30)  # every server has x
    sim.partition({1, 2}, {3, 4, 5})
    if not sim.change_membership((3, 4, 5)):
        raise SimulationError("the change to [3, 4, 5] was refused")
    sim.run_until(lambda s: all(s.nodes[i].config_index == 3 for i in (4, 5)),
                  what="the change's first entry on servers 4 and 5")
    sim.run_for(30)  # S3 commits it if a majority of its configuration suffices
    sim.campaign(1)  # at the same instant, on both sides of the partition
    sim.campaign(4)
    sim.run_for(60)
    return sim


def scenario_direct_switch() -> RaftSimulation:
    """Why a multi-server change cannot switch straight from C_old to C_new (paper §6,
    Figure 10): two leaders in one term. Variant ``"direct-switch"`` with
    ``membership="joint"``.

    S3 leads {S1, S2, S3} and is asked for {S3, S4, S5}; a partition separates {S1, S2} from
    {S3, S4, S5}. S3 catches S4 and S5 up and appends C_new, which S3, S4 and S5 use at once
    (a server uses the latest configuration in its log) and commit. S1 and S2 never heard of
    it: for them the configuration is still C_old. S1 and S4 campaign for the same term: S2's
    vote makes S1 leader with a majority of C_old, S5's (and S3's) make S4 leader with a
    majority of C_new. ``sim.check()`` raises: two leaders in term 2. Compare
    :func:`scenario_joint`.
    """
    return _scenario_change("direct-switch")


def scenario_joint() -> RaftSimulation:
    """The schedule of :func:`scenario_direct_switch` with joint consensus (paper §6): S3
    appends C_old,new instead, which S3, S4 and S5 use at once. It cannot commit (only S3 of
    C_old holds it), and S4's election needs a majority of C_old as well as of C_new: S4 stays
    a candidate, and S1, elected by S1 and S2 with C_old, is the only leader of term 2.
    """
    return _scenario_change("correct")
