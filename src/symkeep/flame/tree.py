"""The flame graph tree: stacks merged into nodes, in preorder with siblings sorted by name.

Built with numpy one depth level at a time (a level is one ``np.unique`` over (parent, frame) pairs),
so the cost is the number of distinct stack rows times their depth in C, not in Python. Preorder
with each node's subtree end (``end``) lets a renderer skip a subtree too narrow to draw in O(1),
which is what keeps the canvas fast on big profiles. Self values are kept per (node, label set), so
the browser can filter by label without the samples; the ``--diff`` base has its own self values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symkeep.flame.stacks import Interner, StackSet

__all__ = ["FlameTree", "build_tree"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass
class FlameTree:
    interner: Interner
    frame: I32  # per node (preorder); -1 for the root
    parent: I32  # -1 for the root
    depth: I32
    end: I32  # preorder index past the node's subtree
    self_node: I32  # self values per (node, label set)
    self_ls: I32
    self_val: I64
    base_node: I32  # the --diff base's self values (empty without a base)
    base_ls: I32
    base_val: I64
    total: I64  # per node, every label set (main profile)
    base_total: I64  # per node (zeros without a base)
    sample_type: str
    unit: str
    has_base: bool

    @property
    def n(self) -> int:
        return int(len(self.frame))


def _self_entries(node: I64, ls: I32, val: I64, nls: int) -> tuple[I32, I32, I64]:
    if not len(node):
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    key = node * max(nls, 1) + ls.astype(np.int64)
    uk, inv = np.unique(key, return_inverse=True)
    acc = np.zeros(len(uk), dtype=np.int64)
    np.add.at(acc, inv, val)
    return (uk // max(nls, 1)).astype(np.int32), (uk % max(nls, 1)).astype(np.int32), acc


def build_tree(main: StackSet, base: StackSet | None = None) -> FlameTree:
    it = main.interner
    rows = main if base is None else main.concat(base)
    nmain = main.rows
    nf = max(len(it.frames), 1)
    length = rows.off[1:] - rows.off[:-1]
    node_of_row = np.zeros(rows.rows, dtype=np.int64)
    parents: list[I64] = [np.array([-1], dtype=np.int64)]
    frames: list[I64] = [np.array([-1], dtype=np.int64)]
    level_start = [0, 1]
    next_id = 1
    act = np.flatnonzero(length > 0)
    k = 0
    while len(act):
        f = rows.fr[rows.off[act] + k].astype(np.int64)
        key = node_of_row[act] * nf + f
        uniq, inv = np.unique(key, return_inverse=True)
        parents.append(uniq // nf)
        frames.append(uniq % nf)
        node_of_row[act] = next_id + inv
        next_id += len(uniq)
        level_start.append(next_id)
        k += 1
        act = act[length[act] > k]
    par = np.concatenate(parents)
    frm = np.concatenate(frames)
    n = next_id
    nls = len(it.labelsets)
    # totals and subtree sizes, bottom-up by level (nodes of a level are contiguous ids)
    s_node, s_ls, s_val = _self_entries(node_of_row[:nmain], rows.ls[:nmain], rows.val[:nmain], nls)
    b_node, b_ls, b_val = _self_entries(node_of_row[nmain:], rows.ls[nmain:], rows.val[nmain:], nls)
    total = np.zeros(n, dtype=np.int64)
    np.add.at(total, s_node, s_val)
    btotal = np.zeros(n, dtype=np.int64)
    np.add.at(btotal, b_node, b_val)
    size = np.ones(n, dtype=np.int64)
    for lv in range(len(level_start) - 2, 0, -1):
        a, b = level_start[lv], level_start[lv + 1]
        p = par[a:b]
        np.add.at(total, p, total[a:b])
        np.add.at(btotal, p, btotal[a:b])
        np.add.at(size, p, size[a:b])
    # preorder: siblings by (name, inlined, class); top-down by level
    order = sorted(range(len(it.frames)), key=lambda i: (it.frames[i].name, it.frames[i].inlined, it.frames[i].kind))
    rank = np.zeros(max(len(it.frames), 1), dtype=np.int64)
    rank[np.array(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int64)
    pre = np.zeros(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    for lv in range(1, len(level_start) - 1):
        a, b = level_start[lv], level_start[lv + 1]
        nodes = np.arange(a, b, dtype=np.int64)
        ps = par[a:b]
        o = np.lexsort((rank[frm[a:b]], ps))
        nodes, ps = nodes[o], ps[o]
        sz = size[nodes]
        cs = np.cumsum(sz) - sz
        first = np.ones(len(ps), dtype=bool)
        first[1:] = ps[1:] != ps[:-1]
        gid = np.cumsum(first) - 1
        excl = cs - cs[np.flatnonzero(first)][gid]
        pre[nodes] = pre[ps] + 1 + excl
        depth[nodes] = lv
    def perm(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        out = np.empty_like(x)
        out[pre] = x
        return out
    parent_pre = np.where(par >= 0, pre[np.maximum(par, 0)], -1)
    return FlameTree(
        interner=it,
        frame=perm(frm).astype(np.int32),
        parent=perm(parent_pre).astype(np.int32),
        depth=perm(depth).astype(np.int32),
        end=perm(pre + size).astype(np.int32),
        self_node=pre[s_node].astype(np.int32),
        self_ls=s_ls,
        self_val=s_val,
        base_node=pre[b_node].astype(np.int32),
        base_ls=b_ls,
        base_val=b_val,
        total=perm(total),
        base_total=perm(btotal),
        sample_type=main.sample_type,
        unit=main.unit,
        has_base=base is not None,
    )
