"""Every exercise grades both ways, on the real notebooks (DESIGN §6).

The reference solution scores full marks, the untouched student copy scores zero on every graded
cell, and plausible wrong answers (the mistakes a student is likely to make) lose points.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat

from zablib.grade import check_exercises

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"

#: Plausible wrong answers: case -> notebook -> {solution cell id: source}.
WRONG_ANSWERS = {
    "majority-off-by-one": {
        "01_replication.ipynb": {
            "solution-majority": "def majority(n):\n    return (n + 1) // 2\n",
        },
    },
    "majority-accepts-anything": {
        "01_replication.ipynb": {
            "solution-majority": "def majority(n):\n    return int(n) // 2 + 1\n",
        },
    },
    "lost-writes-unordered": {
        "01_replication.ipynb": {
            "solution-lost": (
                "def acknowledged_but_lost(acknowledged, new_log):\n"
                "    return sorted(set(acknowledged) - set(new_log))\n"
            ),
        },
    },
    "crash-after-the-batch-shipped": {
        "01_replication.ipynb": {
            "solution-crash-time": "def crash_time():\n    return 300.0\n",
        },
    },
    # 2PC: "nobody answered commit, so abort" is presumed abort, which only the coordinator may
    # apply; a prepared participant that does so can contradict a coordinator that committed.
    "2pc-participant-presumes-abort": {
        "02_termination.ipynb": {
            "solution-terminate-2pc": (
                "def terminate_2pc(my_state, peer_states):\n"
                "    if my_state == 'committed' or 'committed' in peer_states:\n"
                "        return 'commit'\n"
                "    return 'abort'\n"
            ),
        },
    },
    # 2PC: forgets that a peer that has not voted yet aborts when asked, and blocks needlessly.
    "2pc-waits-on-unvoted-peers": {
        "02_termination.ipynb": {
            "solution-terminate-2pc": (
                "def terminate_2pc(my_state, peer_states):\n"
                "    if my_state == 'committed' or 'committed' in peer_states:\n"
                "        return 'commit'\n"
                "    if my_state in ('aborted', 'working') or 'aborted' in peer_states:\n"
                "        return 'abort'\n"
                "    return None\n"
            ),
        },
    },
    # 3PC: commits straight away on seeing a pre-committed participant; if the new coordinator
    # then crashes mid-broadcast, an uncertain survivor aborts (the explorer finds that run).
    "3pc-commits-without-precommitting-the-others": {
        "02_termination.ipynb": {
            "solution-terminate-3pc": (
                "def terminate_3pc(states):\n"
                "    states = list(states)\n"
                "    if 'aborted' in states or 'working' in states:\n"
                "        return 'abort'\n"
                "    if 'committed' in states or 'precommitted' in states:\n"
                "        return 'commit'\n"
                "    return 'abort'\n"
            ),
        },
    },
    # 3PC: "everyone I can see voted yes, so commit": a crashed participant may have voted no.
    "3pc-all-uncertain-commits": {
        "02_termination.ipynb": {
            "solution-terminate-3pc": (
                "def terminate_3pc(states):\n"
                "    states = list(states)\n"
                "    if 'aborted' in states or 'working' in states:\n"
                "        return 'abort'\n"
                "    if 'committed' in states:\n"
                "        return 'commit'\n"
                "    return 'precommit'\n"
            ),
        },
    },
    # Explores two-phase commit instead of three-phase commit: 2PC never splits.
    "explores-2pc": {
        "03_explorer.ipynb": {
            "solution-split-run": (
                "def split_run(variant='correct', crashes=0, partitions=False):\n"
                "    model = CommitModel(twopc, 2, crashes=crashes, partitions=partitions)\n"
                "    found = explore(model).violation\n"
                "    return None if found is None else list(found.actions)\n"
            ),
        },
    },
    # Always lets the network split: the runs it returns for the crash-only settings take a
    # step ("partition ...") that those models do not offer.
    "always-partitions": {
        "03_explorer.ipynb": {
            "solution-split-run": (
                "def split_run(variant='correct', crashes=0, partitions=False):\n"
                "    model = CommitModel(threepc, 2, crashes=crashes, partitions=True, variant=variant)\n"
                "    found = explore(model).violation\n"
                "    return None if found is None else list(found.actions)\n"
            ),
        },
    },
    # Drops the last step, taking it for "the violation" rather than part of the run: the run
    # then stops one step before the split.
    "drops-the-last-step": {
        "03_explorer.ipynb": {
            "solution-split-run": (
                "def split_run(variant='correct', crashes=0, partitions=False):\n"
                "    model = CommitModel(threepc, 2, crashes=crashes, partitions=partitions,\n"
                "                        variant=variant)\n"
                "    found = explore(model).violation\n"
                "    return None if found is None else list(found.actions[:-1])\n"
            ),
        },
    },
    # Random testing instead of exhaustive search: finds a split under partition, but not the
    # shortest, and misses the wrong variant's rarer one.
    "random-walks-instead-of-explore": {
        "03_explorer.ipynb": {
            "solution-split-run": (
                "import random\n"
                "\n"
                "def split_run(variant='correct', crashes=0, partitions=False):\n"
                "    model = CommitModel(threepc, 2, crashes=crashes, partitions=partitions,\n"
                "                        variant=variant)\n"
                "    rng = random.Random(1)\n"
                "    starts = list(model.init_states())\n"
                "    for attempt in range(300):\n"
                "        state, run = rng.choice(starts), []\n"
                "        while model.agreement(state):\n"
                "            moves = list(model.actions(state))\n"
                "            if not moves:\n"
                "                break\n"
                "            label, state = rng.choice(moves)\n"
                "            run.append(label)\n"
                "        else:\n"
                "            return run\n"
                "    return None\n"
            ),
        },
    },
    # Zab votes: compares the Vote namedtuple as it comes, so the server id (its first field)
    # decides before the histories: a stale server with a high id wins.
    "votes-compare-id-first": {
        "04_zab_votes.ipynb": {
            "solution-better-vote": "def better_vote(new, current):\n    return new > current\n",
        },
    },
    # Zab votes: early ZooKeeper's (last zxid, id), ignoring the current epoch.
    "votes-ignore-current-epoch": {
        "04_zab_votes.ipynb": {
            "solution-better-vote": (
                "def better_vote(new, current):\n"
                "    return (new.zxid, new.id) > (current.zxid, current.id)\n"
            ),
        },
    },
    # Zab votes: >= adopts an equal vote, so a vote is better than itself (not a strict order).
    "votes-equal-vote-is-better": {
        "04_zab_votes.ipynb": {
            "solution-better-vote": (
                "def better_vote(new, current):\n"
                "    return (new.epoch, new.zxid, new.id) >= (current.epoch, current.zxid, current.id)\n"
            ),
        },
    },
    # Zab sync: SNAP already at diff_limit missing proposals, not above it.
    "sync-snap-at-the-limit": {
        "05_zab_sync.ipynb": {
            "solution-sync-plan": (
                "def sync_plan(leader, follower, diff_limit):\n"
                "    shared = 0\n"
                "    while shared < min(len(leader), len(follower)) and leader[shared] == follower[shared]:\n"
                "        shared += 1\n"
                "    point = leader[shared - 1] if shared else (0, 0)\n"
                "    if len(leader) - shared >= diff_limit:\n"
                "        return 'snap', point\n"
                "    return ('diff' if shared == len(follower) else 'trunc'), point\n"
            ),
        },
    },
    # Zab sync: ZooKeeper's shortcut, deciding from the follower's last zxid alone; a follower
    # ending in an epoch the leader skipped is truncated to the wrong point.
    "sync-by-last-zxid-only": {
        "05_zab_sync.ipynb": {
            "solution-sync-plan": (
                "def sync_plan(leader, follower, diff_limit):\n"
                "    last = follower[-1] if follower else (0, 0)\n"
                "    point = max([z for z in leader if z <= last], default=(0, 0))\n"
                "    if sum(1 for z in leader if z > point) > diff_limit:\n"
                "        return 'snap', point\n"
                "    return ('diff' if point == last else 'trunc'), point\n"
            ),
        },
    },
    # Zab sync: counts the missing proposals as the difference in length, forgetting that the
    # follower's extra proposals are truncated and must be replaced.
    "sync-missing-by-length": {
        "05_zab_sync.ipynb": {
            "solution-sync-plan": (
                "def sync_plan(leader, follower, diff_limit):\n"
                "    shared = 0\n"
                "    while shared < min(len(leader), len(follower)) and leader[shared] == follower[shared]:\n"
                "        shared += 1\n"
                "    point = leader[shared - 1] if shared else (0, 0)\n"
                "    if len(leader) - len(follower) > diff_limit:\n"
                "        return 'snap', point\n"
                "    return ('diff' if shared == len(follower) else 'trunc'), point\n"
            ),
        },
    },
    # Raft RequestVote without §5.4.1: any candidate of the current term gets the vote.
    "vote-without-the-up-to-date-check": {
        "06_raft_vote.ipynb": {
            "solution-grant-vote": (
                "def grant_vote(voter, request):\n"
                "    if request.term < voter.term:\n"
                "        return False\n"
                "    voted_for = voter.voted_for if request.term == voter.term else None\n"
                "    return voted_for in (None, request.candidate)\n"
            ),
        },
    },
    # Raft RequestVote: "up to date" read as "at least as long", ignoring the last term.
    "vote-longer-log-wins": {
        "06_raft_vote.ipynb": {
            "solution-grant-vote": (
                "def grant_vote(voter, request):\n"
                "    if request.term < voter.term:\n"
                "        return False\n"
                "    voted_for = voter.voted_for if request.term == voter.term else None\n"
                "    if voted_for not in (None, request.candidate):\n"
                "        return False\n"
                "    return request.last_log_index >= voter.last_log_index\n"
            ),
        },
    },
    # Raft RequestVote: forgets that a newer term clears votedFor, so it refuses needlessly.
    "vote-keeps-the-old-terms-vote": {
        "06_raft_vote.ipynb": {
            "solution-grant-vote": (
                "def grant_vote(voter, request):\n"
                "    if request.term < voter.term:\n"
                "        return False\n"
                "    if voter.voted_for not in (None, request.candidate):\n"
                "        return False\n"
                "    return ((request.last_log_term, request.last_log_index)\n"
                "            >= (voter.last_log_term, voter.last_log_index))\n"
            ),
        },
    },
    # Raft AppendEntries: cuts after prev_index even without a conflict; a reordered, older
    # request then drops entries the leader already counts as replicated.
    "append-always-truncates": {
        "07_raft_append.ipynb": {
            "solution-append-entries": (
                "def append_entries(log, prev_index, prev_term, entries):\n"
                "    if prev_index > len(log):\n"
                "        return None\n"
                "    if prev_index > 0 and log[prev_index - 1].term != prev_term:\n"
                "        return None\n"
                "    return list(log[:prev_index]) + list(entries)\n"
            ),
        },
    },
    # Raft AppendEntries: the consistency check on the length only, not on prevLogTerm.
    "append-checks-only-the-length": {
        "07_raft_append.ipynb": {
            "solution-append-entries": (
                "def append_entries(log, prev_index, prev_term, entries):\n"
                "    if prev_index > len(log):\n"
                "        return None\n"
                "    new = list(log)\n"
                "    for k, entry in enumerate(entries):\n"
                "        index = prev_index + 1 + k\n"
                "        if index <= len(new) and new[index - 1].term == entry.term:\n"
                "            continue\n"
                "        return new[: index - 1] + list(entries[k:])\n"
                "    return new\n"
            ),
        },
    },
    # Raft AppendEntries: overwrites entries in place but keeps a conflicting tail after them.
    "append-keeps-the-conflicting-tail": {
        "07_raft_append.ipynb": {
            "solution-append-entries": (
                "def append_entries(log, prev_index, prev_term, entries):\n"
                "    if prev_index > len(log):\n"
                "        return None\n"
                "    if prev_index > 0 and log[prev_index - 1].term != prev_term:\n"
                "        return None\n"
                "    return list(log[:prev_index]) + list(entries) + list(log[prev_index + len(entries):])\n"
            ),
        },
    },
    # Raft commit: Figure 8's mistake, counting replicas of an earlier term's entry (§5.4.2).
    "commit-without-the-current-term-rule": {
        "08_raft_commit.ipynb": {
            "solution-advance-commit": (
                "def advance_commit(term, log_terms, match_index, commit_index, voters):\n"
                "    for n in range(len(log_terms), commit_index, -1):\n"
                "        holders = [v for v in voters if match_index.get(v, 0) >= n]\n"
                "        if 2 * len(holders) > len(voters):\n"
                "            return n\n"
                "    return commit_index\n"
            ),
        },
    },
    # Raft commit: counts every server in matchIndex, learners being caught up included.
    "commit-counts-non-voters": {
        "08_raft_commit.ipynb": {
            "solution-advance-commit": (
                "def advance_commit(term, log_terms, match_index, commit_index, voters):\n"
                "    for n in range(len(log_terms), commit_index, -1):\n"
                "        if log_terms[n - 1] != term:\n"
                "            break\n"
                "        holders = [p for p, m in match_index.items() if m >= n]\n"
                "        if 2 * len(holders) > len(voters):\n"
                "            return n\n"
                "    return commit_index\n"
            ),
        },
    },
    # Raft commit: half of the voters taken for a majority (wrong for even configurations).
    "commit-half-is-a-majority": {
        "08_raft_commit.ipynb": {
            "solution-advance-commit": (
                "def advance_commit(term, log_terms, match_index, commit_index, voters):\n"
                "    for n in range(len(log_terms), commit_index, -1):\n"
                "        if log_terms[n - 1] != term:\n"
                "            break\n"
                "        holders = [v for v in voters if match_index.get(v, 0) >= n]\n"
                "        if 2 * len(holders) >= len(voters):\n"
                "            return n\n"
                "    return commit_index\n"
            ),
        },
    },
    # Raft commit: tries only the last entry, so a leader with entries in flight never commits.
    "commit-only-the-last-entry": {
        "08_raft_commit.ipynb": {
            "solution-advance-commit": (
                "def advance_commit(term, log_terms, match_index, commit_index, voters):\n"
                "    n = len(log_terms)\n"
                "    if n > commit_index and log_terms[n - 1] == term:\n"
                "        holders = [v for v in voters if match_index.get(v, 0) >= n]\n"
                "        if 2 * len(holders) > len(voters):\n"
                "            return n\n"
                "    return commit_index\n"
            ),
        },
    },
    # Lock waiter: takes the server's order for the queue order (ZooKeeper lists children in
    # hash-set order), so a waiter can find itself "first" while others queue before it.
    "lock-waiter-keeps-the-servers-order": {
        "09_lock_waiter.ipynb": {
            "solution-predecessor": (
                "def predecessor(children, mine):\n"
                "    i = children.index(mine)\n"
                "    return None if i == 0 else children[i - 1]\n"
            ),
        },
    },
    # Lock waiter: sorts the names, but the prefixes before the sequence numbers differ.
    "lock-waiter-sorts-by-name": {
        "09_lock_waiter.ipynb": {
            "solution-predecessor": (
                "def predecessor(children, mine):\n"
                "    order = sorted(children)\n"
                "    i = order.index(mine)\n"
                "    return None if i == 0 else order[i - 1]\n"
            ),
        },
    },
    # Lock waiter: every waiter watches the holder's node: correct, but each release wakes them
    # all (the herd effect).
    "lock-waiter-watches-the-lowest": {
        "09_lock_waiter.ipynb": {
            "solution-predecessor": (
                "def predecessor(children, mine):\n"
                "    order = sorted(children, key=lambda name: int(name[-10:]))\n"
                "    return None if order[0] == mine else order[0]\n"
            ),
        },
    },
    # Lock waiter: watches the node after its own (the direction turned round); the last one
    # has none and watches the one before.
    "lock-waiter-watches-the-successor": {
        "09_lock_waiter.ipynb": {
            "solution-predecessor": (
                "def predecessor(children, mine):\n"
                "    order = sorted(children, key=lambda name: int(name[-10:]))\n"
                "    i = order.index(mine)\n"
                "    if i == 0:\n"
                "        return None\n"
                "    return order[i + 1] if i + 1 < len(order) else order[i - 1]\n"
            ),
        },
    },
    # Lock waiter: the holder "watches" its own node instead of answering None.
    "lock-waiter-first-watches-itself": {
        "09_lock_waiter.ipynb": {
            "solution-predecessor": (
                "def predecessor(children, mine):\n"
                "    order = sorted(children, key=lambda name: int(name[-10:]))\n"
                "    i = order.index(mine)\n"
                "    return order[i - 1] if i > 0 else mine\n"
            ),
        },
    },
    # Fencing: strictly newer tokens only, so the current holder's second write bounces.
    "fencing-strictly-newer": {
        "10_fencing.ipynb": {
            "solution-accept": (
                "def accept(token, highest_seen):\n"
                "    return highest_seen is None or token > highest_seen\n"
            ),
        },
    },
    # Fencing: a resource that checks nothing (what the lock alone gives you).
    "fencing-accepts-everything": {
        "10_fencing.ipynb": {
            "solution-accept": "def accept(token, highest_seen):\n    return True\n",
        },
    },
    # Fencing: remembers the first token it saw and compares with that, not with the highest.
    "fencing-compares-with-the-first-token": {
        "10_fencing.ipynb": {
            "solution-accept": (
                "first_token = None\n"
                "\n"
                "def accept(token, highest_seen):\n"
                "    global first_token\n"
                "    if first_token is None:\n"
                "        first_token = token\n"
                "    return token >= first_token\n"
            ),
        },
    },
    # Paxos acceptor: accepts whatever ballot comes, so a lower ballot's value can be chosen
    # behind the back of the proposer it promised.
    "paxos-accepts-a-lower-ballot": {
        "11_paxos_acceptor.ipynb": {
            "solution-on-accept": (
                "def on_accept(state, accept):\n"
                "    rows = {row[0]: row for row in state.accepted}\n"
                "    rows[accept.slot] = (accept.slot, accept.ballot, accept.value)\n"
                "    accepted = tuple(rows[slot] for slot in sorted(rows))\n"
                "    return (AcceptorState(max(accept.ballot, state.promised), accepted), True,\n"
                "            ('accepted', accept.ballot, accept.slot))\n"
            ),
        },
    },
    # Paxos acceptor: accepts only a ballot above its promise, so a proposer's own phase 2 is
    # refused by the acceptors that promised it: nothing is ever chosen.
    "paxos-accepts-only-a-higher-ballot": {
        "11_paxos_acceptor.ipynb": {
            "solution-on-accept": (
                "def on_accept(state, accept):\n"
                "    if accept.ballot <= state.promised:\n"
                "        return state, False, ('nack', accept.ballot, state.promised)\n"
                "    rows = {row[0]: row for row in state.accepted}\n"
                "    rows[accept.slot] = (accept.slot, accept.ballot, accept.value)\n"
                "    accepted = tuple(rows[slot] for slot in sorted(rows))\n"
                "    return (AcceptorState(accept.ballot, accepted), True,\n"
                "            ('accepted', accept.ballot, accept.slot))\n"
            ),
        },
    },
    # Paxos acceptor: promises without reporting what it accepted, so the next proposer cannot
    # see a chosen value and proposes its own (P2c broken from the acceptor's side).
    "paxos-promise-reports-nothing": {
        "11_paxos_acceptor.ipynb": {
            "solution-on-prepare": (
                "def on_prepare(state, prepare):\n"
                "    if prepare.ballot == state.promised:\n"
                "        return state, False, None\n"
                "    if prepare.ballot < state.promised:\n"
                "        return state, False, ('nack', prepare.ballot, state.promised)\n"
                "    return (AcceptorState(prepare.ballot, state.accepted), True,\n"
                "            ('promise', prepare.ballot, ()))\n"
            ),
        },
    },
    # Paxos acceptor: promises in memory only (the "forgetful-acceptor" variant): after a
    # restart it accepts a ballot it had promised to refuse.
    "paxos-promise-not-written": {
        "11_paxos_acceptor.ipynb": {
            "solution-on-prepare": (
                "def on_prepare(state, prepare):\n"
                "    if prepare.ballot == state.promised:\n"
                "        return state, False, None\n"
                "    if prepare.ballot < state.promised:\n"
                "        return state, False, ('nack', prepare.ballot, state.promised)\n"
                "    report = tuple(row for row in state.accepted if row[0] >= prepare.first)\n"
                "    return (AcceptorState(prepare.ballot, state.accepted), False,\n"
                "            ('promise', prepare.ballot, report))\n"
            ),
        },
    },
    # Paxos acceptor: reports every slot, ignoring the Prepare's first slot: safe, but a
    # Multi-Paxos leader is sent the whole log at every election.
    "paxos-promise-reports-every-slot": {
        "11_paxos_acceptor.ipynb": {
            "solution-on-prepare": (
                "def on_prepare(state, prepare):\n"
                "    if prepare.ballot == state.promised:\n"
                "        return state, False, None\n"
                "    if prepare.ballot < state.promised:\n"
                "        return state, False, ('nack', prepare.ballot, state.promised)\n"
                "    return (AcceptorState(prepare.ballot, state.accepted), True,\n"
                "            ('promise', prepare.ballot, state.accepted))\n"
            ),
        },
    },
    # Leader's messages: forgets the observers, who are sent each committed write (Inform).
    "messages-forget-observers": {
        "12_leader_messages.ipynb": {
            "solution-leader-messages": (
                "def leader_messages(voters, observers):\n"
                "    return 2 * (voters - 1)\n"
            ),
        },
    },
    # Leader's messages: an observer taken for a follower, sent a Proposal and a Commit.
    "messages-observers-as-followers": {
        "12_leader_messages.ipynb": {
            "solution-leader-messages": (
                "def leader_messages(voters, observers):\n"
                "    return 2 * (voters - 1 + observers)\n"
            ),
        },
    },
    # Leader's messages: counts a Proposal and a Commit to the leader itself.
    "messages-count-the-leader": {
        "12_leader_messages.ipynb": {
            "solution-leader-messages": (
                "def leader_messages(voters, observers):\n"
                "    return 2 * voters + observers\n"
            ),
        },
    },
    # Crashes: counts the observers in the quorum, as if they voted.
    "commit-counts-observers": {
        "12_leader_messages.ipynb": {
            "solution-can-commit": (
                "def can_commit(voters, observers, crashed):\n"
                "    alive = [i for i in range(1, voters + observers + 1) if i not in crashed]\n"
                "    return len(alive) > (voters + observers) // 2\n"
            ),
        },
    },
    # Crashes: half of the voters taken for a majority (wrong for even ensembles).
    "commit-half-is-enough": {
        "12_leader_messages.ipynb": {
            "solution-can-commit": (
                "def can_commit(voters, observers, crashed):\n"
                "    alive = [i for i in range(1, voters + 1) if i not in crashed]\n"
                "    return 2 * len(alive) >= voters\n"
            ),
        },
    },
    # Membership: "more than one server changes" taken for the test; swapping one server for
    # another in a four-server configuration changes two and is safe.
    "change-of-two-servers-is-unsafe": {
        "13_quorum_change.ipynb": {
            "solution-disjoint-majorities": (
                "def disjoint_majorities(old, new):\n"
                "    return len(set(old) ^ set(new)) > 1\n"
            ),
        },
    },
    # Membership: the majorities must leave a server over, so 3 + 2 of five servers is missed.
    "majorities-strictly-inside-the-union": {
        "13_quorum_change.ipynb": {
            "solution-disjoint-majorities": (
                "def disjoint_majorities(old, new):\n"
                "    old, new = set(old), set(new)\n"
                "    return (len(old) // 2 + 1) + (len(new) // 2 + 1) < len(old | new)\n"
            ),
        },
    },
    # Rolling restart: ignores who has switched (splits possible at every moment of a change).
    "split-ignores-who-switched": {
        "13_quorum_change.ipynb": {
            "solution-split-possible": (
                "def split_possible(old, new, switched):\n"
                "    old, new = set(old), set(new)\n"
                "    return (len(old) // 2 + 1) + (len(new) // 2 + 1) <= len(old | new)\n"
            ),
        },
    },
    # Rolling restart: lets the switched servers count in the old majority too.
    "split-counts-switched-servers-twice": {
        "13_quorum_change.ipynb": {
            "solution-split-possible": (
                "def split_possible(old, new, switched):\n"
                "    old, new, switched = set(old), set(new), set(switched)\n"
                "    return len(old) > len(old) // 2 and len(new & switched) > len(new) // 2\n"
            ),
        },
    },
}


def _write_wrong_answers(root: Path) -> None:
    for case, notebooks in WRONG_ANSWERS.items():
        for name, answers in notebooks.items():
            nb = nbformat.read(EXERCISES / "solutions" / name, as_version=4)
            ids = {c.get("id") for c in nb.cells}
            assert set(answers) <= ids, f"{case}: no solution cell {set(answers) - ids} in {name}"
            for cell in nb.cells:
                if cell.get("id") in answers:
                    cell.source = "# solution\n" + answers[cell.id]
            (root / case).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / case / name)


def test_every_exercise_has_a_solution_and_wrong_answers() -> None:
    names = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert names, "no exercise notebooks found"
    for name in names:
        assert (EXERCISES / "solutions" / name).is_file(), f"{name} has no reference solution"
        assert any(name in nbs for nbs in WRONG_ANSWERS.values()), f"{name} has no wrong answer"


def test_every_solution_is_stored_run_from_top_to_bottom() -> None:
    """A reference solution is kept executed, its check-my-work cell included, so that a reader
    of exercises/solutions sees what each cell prints (a cell appended later and never run
    showed nothing)."""
    for path in sorted((EXERCISES / "solutions").glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        counts = [c.execution_count for c in cells]
        assert None not in counts, f"{path.name}: code cell {counts.index(None) + 1} never executed"
        assert counts == sorted(counts), f"{path.name}: cells executed out of order {counts}"


def test_solutions_full_marks_stubs_zero_wrong_answers_caught(tmp_path: Path) -> None:
    _write_wrong_answers(tmp_path)
    problems = check_exercises(EXERCISES, wrong_dir=tmp_path, timeout=60)
    assert problems == []


def test_requirements_pin_a_jupyter_front_end_and_it_runs():
    # The README's local route: `bash scripts/venv.sh`, then `.venv/bin/jupyter lab NOTEBOOK`.
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    assert "jupyterlab" in pins, "requirements.txt pins no Jupyter front end"
    jupyter = Path(sys.executable).with_name("jupyter")
    lab = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=60)
    assert lab.returncode == 0, lab.stderr
    assert lab.stdout.strip() == pins["jupyterlab"]


def test_the_readmes_local_route_opens_and_runs_an_exercise_through_jupyter_lab():
    # scripts/check_local_route.py: jupyter lab on loopback, the exercise through the contents API,
    # a notebook session's kernel, every cell over its websocket, the check-my-work table printed.
    route = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_local_route.py")],
                           capture_output=True, text=True, timeout=600)
    assert route.returncode == 0, route.stdout + route.stderr
    assert "GET /lab: the JupyterLab page is served" in route.stdout
    assert "code cell 11 [check-my-work]: ok" in route.stdout
    assert "0 of 7 points; failed: test-majority-values" in route.stdout
