"""The union-find loops of clustering.py, compiled (numba): connected components, and the
greedy constrained re-clustering (links strongest first, refusing a merge that would put
two duplicate-free records, or both tokens of a separated pair, in one group). Plain
arrays in, each node's root out.

Tokens are compact ids 0..T-1 (name signatures and agency IDs that a conflict test looks
at). Token-indexed lists are CSR arrays: token t's entries are [ptr[t], ptr[t + 1]).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict


@njit(cache=True)
def _find(parent, x):
    while parent[x] != x:  # path halving
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def component_roots(n, left, right):
    """Each of n nodes' connected component, as its smallest node index, over the links
    (left[i], right[i])."""
    parent = np.arange(n)
    for i in range(len(left)):
        a = _find(parent, left[i])
        b = _find(parent, right[i])
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    roots = np.empty(n, dtype=np.int64)
    for node in range(n):
        roots[node] = _find(parent, node)
    return roots


@njit(cache=True)
def components_holding_both(labels, token_ptr, token_nodes, token_a, token_b):
    """Whether each component (by label, a node index) holds a node with token_a[i] and a
    node with token_b[i] for some pair i."""
    both = np.zeros(len(labels), dtype=np.bool_)
    for i in range(len(token_a)):
        for x in range(token_ptr[token_a[i]], token_ptr[token_a[i] + 1]):
            component = labels[token_nodes[x]]
            if both[component]:
                continue
            for y in range(token_ptr[token_b[i]], token_ptr[token_b[i] + 1]):
                if labels[token_nodes[y]] == component:
                    both[component] = True
                    break
    return both


@njit(cache=True)
def _holds(parent, group, token, token_ptr, token_nodes):
    """Whether a node holding the token is in the group."""
    for i in range(token_ptr[token], token_ptr[token + 1]):
        if _find(parent, token_nodes[i]) == group:
            return True
    return False


@njit(cache=True)
def _holds_a_bridge(parent, group, token, bridge_ptr, bridge_tokens, token_ptr, token_nodes):
    """Whether the group holds one of the token's bridges (a name it uses as given or middle
    name: one person recorded by both)."""
    for i in range(bridge_ptr[token], bridge_ptr[token + 1]):
        if _holds(parent, group, bridge_tokens[i], token_ptr, token_nodes):
            return True
    return False


@njit(cache=True)
def _conflict(
    parent,
    next_member,
    relevant_nodes,
    group_a,
    group_b,
    node_tokens,
    token_ptr,
    token_nodes,
    separated_ptr,
    separated_tokens,
    separated_given,
    bridge_ptr,
    bridge_tokens,
):
    """Whether groups a and b hold the two tokens of a separated pair; a pair separated by
    different given names only when neither token's group holds a bridge of the other."""
    if relevant_nodes[group_a] > relevant_nodes[group_b]:
        group_a, group_b = group_b, group_a
    node = group_a
    while node != -1:
        for j in range(node_tokens.shape[1]):
            x = node_tokens[node, j]
            if x < 0:
                continue
            for i in range(separated_ptr[x], separated_ptr[x + 1]):
                y = separated_tokens[i]
                if not _holds(parent, group_b, y, token_ptr, token_nodes):
                    continue
                if not separated_given[i]:
                    return True
                if not _holds_a_bridge(
                    parent, group_b, x, bridge_ptr, bridge_tokens, token_ptr, token_nodes
                ) and not _holds_a_bridge(parent, group_a, y, bridge_ptr, bridge_tokens, token_ptr, token_nodes):
                    return True
        node = next_member[node]
    return False


@njit(cache=True)
def _over_one(dup, a, b):
    """Whether groups a and b together hold more than one record of some register."""
    for j in range(dup.shape[1]):
        if dup[a, j] + dup[b, j] > 1:
            return True
    return False


@njit(cache=True)
def greedy_roots(
    edge_a,
    edge_b,
    duplicate_free,
    node_tokens,
    token_ptr,
    token_nodes,
    separated_ptr,
    separated_tokens,
    separated_given,
    bridge_ptr,
    bridge_tokens,
):
    """Each node's group root (its smallest node index) after merging along the links in
    the order given (edge_a[i], edge_b[i]: node indices), refusing a merge that would put
    more than one duplicate-free record of one register in a group or break a separated
    pair. duplicate_free: each node's records in each register (one column a register);
    node_tokens: each node's tokens (-1 for none)."""
    m = duplicate_free.shape[0]
    parent = np.arange(m)
    next_member = np.full(m, -1)  # each group's nodes, a list from its root
    last_member = np.arange(m)
    dup = duplicate_free.copy()
    version = np.zeros(m, dtype=np.int64)  # merges a group has absorbed
    relevant_nodes = np.zeros(m, dtype=np.int64)  # nodes holding a token of a separated pair
    for node in range(m):
        for j in range(node_tokens.shape[1]):
            x = node_tokens[node, j]
            if x >= 0 and separated_ptr[x + 1] > separated_ptr[x]:
                relevant_nodes[node] = 1
    # two groups refused once are refused again until either grows
    refused = Dict.empty(key_type=types.int64, value_type=types.int64)
    for e in range(len(edge_a)):
        ra = _find(parent, edge_a[e])
        rb = _find(parent, edge_b[e])
        if ra == rb or _over_one(dup, ra, rb):
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        if relevant_nodes[ra] > 0 and relevant_nodes[rb] > 0:
            key = keep * m + drop
            versions = version[keep] * (m + 1) + version[drop]
            if key in refused and refused[key] == versions:
                continue
            if _conflict(
                parent,
                next_member,
                relevant_nodes,
                ra,
                rb,
                node_tokens,
                token_ptr,
                token_nodes,
                separated_ptr,
                separated_tokens,
                separated_given,
                bridge_ptr,
                bridge_tokens,
            ):
                refused[key] = versions
                continue
        parent[drop] = keep
        dup[keep, :] += dup[drop, :]
        version[keep] += 1
        relevant_nodes[keep] += relevant_nodes[drop]
        next_member[last_member[keep]] = drop
        last_member[keep] = last_member[drop]
    roots = np.empty(m, dtype=np.int64)
    for node in range(m):
        roots[node] = _find(parent, node)
    return roots
