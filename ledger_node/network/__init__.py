"""Replication: several ledger nodes ordered by an etcd (Raft) cluster.

One node at a time produces blocks (it holds the ``producer`` key under an etcd lease) and
commits each block to etcd with a compare-and-swap on its height; every node applies the
blocks in order, re-executing them and checking seal, roots and state commitment.
"""
