"""``utils._pytree``: flatten nested lists, tuples, namedtuples and dicts into leaves and a
spec, and back (``tree_flatten``, ``tree_unflatten``, ``tree_map``, ``tree_leaves``), as the
programs that import PyTorch's module use it. Anything else is a leaf."""
from __future__ import annotations

__all__ = ["TreeSpec", "LeafSpec", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves"]


class TreeSpec:
    """The structure of a tree: a node type, its context (dict keys, namedtuple class) and the
    specs of its children."""

    def __init__(self, type, context, children_specs):
        self.type, self.context, self.children_specs = type, context, children_specs
        self.num_leaves = sum(c.num_leaves for c in children_specs)

    def __eq__(self, other):
        return (isinstance(other, TreeSpec) and (self.type, self.context, self.children_specs)
                == (other.type, other.context, other.children_specs))

    def __repr__(self):
        return f"TreeSpec({self.type.__name__}, {self.context}, {self.children_specs})"


class LeafSpec(TreeSpec):
    def __init__(self):
        self.type, self.context, self.children_specs, self.num_leaves = None, None, [], 1

    def __repr__(self):
        return "*"


def _children(tree):
    if isinstance(tree, dict):
        keys = list(tree)
        return type(tree), keys, [tree[k] for k in keys]
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree), type(tree), list(tree)
    if type(tree) in (list, tuple):
        return type(tree), None, list(tree)
    return None


def tree_flatten(tree):
    """(leaves in order, spec)."""
    node = _children(tree)
    if node is None:
        return [tree], LeafSpec()
    typ, ctx, kids = node
    leaves, specs = [], []
    for k in kids:
        lv, sp = tree_flatten(k)
        leaves += lv
        specs.append(sp)
    return leaves, TreeSpec(typ, ctx, specs)


def tree_unflatten(leaves, treespec):
    """The tree of ``treespec`` with ``leaves`` in order."""
    leaves = list(leaves)
    if len(leaves) != treespec.num_leaves:
        raise ValueError(f"tree_unflatten: treespec has {treespec.num_leaves} leaves, got "
                         f"{len(leaves)}")
    it = iter(leaves)

    def build(spec):
        if isinstance(spec, LeafSpec):
            return next(it)
        kids = [build(c) for c in spec.children_specs]
        if issubclass(spec.type, dict):
            return spec.type(zip(spec.context, kids))
        if spec.context is not None and issubclass(spec.type, tuple):  # namedtuple
            return spec.type(*kids)
        return spec.type(kids)
    return build(treespec)


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_map(fn, tree, *rests):
    """The tree with ``fn`` applied to each leaf (with the matching leaves of ``rests``)."""
    leaves, spec = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rests]
    return tree_unflatten([fn(*xs) for xs in zip(leaves, *others)], spec)
