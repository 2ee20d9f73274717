"""One protocol per module; each has ``cluster(n, *, seed=0, **options) -> Simulation``.

A few words mean the same in every protocol:

``cluster(n)``
    ``n`` is the number of *voting members*, ids ``1..n``: the servers whose majority decides
    (Raft, ZAB), or the replicas any of which may become primary (primary-backup), or the
    players (ping-pong). Where a protocol has nodes of another kind, the parameter says so by
    its name and they get other ids: 2PC and 3PC take ``participants`` (the coordinator is node
    0, outside the count), and Raft's ``spares=k`` adds ids ``n+1 .. n+k`` that run outside the
    configuration until ``add_server`` makes them members.

``sim.status(i)``
    What node ``i`` holds now, the same :class:`~zablib.core.NodeStatus` in every protocol: its
    role, its ``term`` (Raft's term, ZAB's current epoch, primary-backup's view; None in 2PC,
    3PC and ping-pong), the ``leader`` it follows, its ``log`` as
    :class:`~zablib.core.LogRow` rows and its ``commit`` point, how many rows it knows are
    committed. A crashed node is reported as it was when it crashed, with ``up=False``.
    Pictures, panels and notebooks read nodes this way; each module's ``report()`` documents
    its ``extra`` values.

``sim.committed(i)``
    *The client commands node i has applied to its state machine, in order, as it knows them
    now; for a crashed node, as it knew them when it crashed.* It is, by definition, the
    commands among ``sim.status(i).log[:commit]``, and every protocol that has it computes it
    that way. What differs is what a protocol remembers across a crash, and each
    ``committed`` docstring says it:

    * Raft: the commit point is volatile (Figure 2's commitIndex and lastApplied), so a
      restarted server reports nothing committed until a leader tells it the commit index,
      then applies its log again from index 1. No-ops and configuration entries are left out.
    * ZAB ("delivered" in the paper's word): a server writes its delivered zxid to disk with
      every delivery, so a restarted server still knows what it delivered (except in the
      broken variant ``"volatile-commit-point"``, which forgets it and delivers again).
    * Primary-backup: there is no commit point; a replica applies a write as soon as it logs
      it, so this is its whole log (durable, but a new primary's ``Sync`` can take writes
      back: the design's flaw).
    * 2PC and 3PC decide one transaction and have no ``committed``: ``outcome()`` is their
      question (a node's durable decision).
"""
