"""``einsum``: Einstein summation over tensors, built in Python from native ops (permute, reshape,
``index_select`` for diagonals, ``sum``, ``*`` and one batched ``matmul`` per pair of operands), so
its gradients come from those ops' backward functions. Semantics are torch's: explicit or implicit
output, ``...`` broadcasting, repeated labels as diagonals, size-1 dims broadcasting.
"""

from __future__ import annotations

import math

from . import _core
from ._core import Tensor

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def einsum(*args) -> Tensor:
    """Sums the product of the operands' elements over the labels that are not in the output, as
    ``torch.einsum``: ``einsum("bij,bjk->bik", a, b)``, ``einsum("ij,jk", [a, b])`` or the sublist
    form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Without ``->`` the output is the labels that appear exactly once, sorted (upper case before
    lower case), after the ``...`` dims. Labels may be any of a-z A-Z; spaces are ignored. A label
    repeated in one operand takes its diagonal; ``...`` stands for any number of dims, which
    broadcast as shapes do (aligned on the right) and are summed when an explicit output omits it.
    Operands are contracted left to right, each pair as one batched ``matmul`` (or one broadcast
    ``*`` when the pair shares no summed label), so attention-style products such as
    ``"bhdi,bhdj->bhij"`` cost one matmul.
    """
    equation, operands = _unpack_args(args)
    terms, output = _parse(equation, operands)
    _check_sizes(equation, terms, operands)

    # each operand with its repeated labels reduced to their diagonal: a list of unique labels
    ops = [_diagonal(t, labels) for t, labels in zip(operands, terms)]
    wanted = set(output)
    tensor, labels = ops[0]
    for j in range(1, len(ops)):
        later = set(wanted)
        for _, rest in ops[j + 1 :]:
            later.update(rest)
        tensor, labels = _contract(tensor, labels, *ops[j], later)
    tensor, labels = _sum_out(tensor, labels, wanted)
    return _arrange(tensor, labels, output)


# ---- parsing


def _unpack_args(args) -> tuple[str, list[Tensor]]:
    """(equation, operands) from the three call forms torch accepts."""
    if not args:
        raise ValueError("einsum(): expected an equation and operands, got no arguments")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise ValueError(f"einsum(): operand {i} of '{equation}' is a {type(t).__name__}, not a Tensor")
    return equation, operands


def _sublist_label(x, where: str) -> str:
    if x is Ellipsis:
        return "..."
    # torch numbers labels 0..51; A-Z then a-z keeps their order for the implicit output
    if isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 52:
        return chr(ord("A") + x) if x < 26 else chr(ord("a") + x - 26)
    raise ValueError(f"einsum(): sublist {where} holds {x!r}; subscripts must be integers in [0, 52) or Ellipsis")


def _sublist_equation(args) -> tuple[str, list]:
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as ``("AB,BC->AC", [a, b])``."""
    pairs = args[: len(args) // 2 * 2]
    terms = []
    for k in range(0, len(pairs), 2):
        sub = pairs[k + 1]
        if not isinstance(sub, (list, tuple)):
            raise ValueError(f"einsum(): expected a sublist after operand {k // 2}, got {type(sub).__name__}")
        terms.append("".join(_sublist_label(x, f"of operand {k // 2}") for x in sub))
    equation = ",".join(terms)
    if len(args) % 2:
        equation += "->" + "".join(_sublist_label(x, "of the output") for x in args[-1])
    return equation, list(pairs[0::2])


def _parse_term(equation: str, term: str, what: str) -> tuple[list[str], bool]:
    """A term's letters, with the marker "..." where its ellipsis is; and whether it has one."""
    labels, i, ellipsis = [], 0, False
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i : i + 3] != "...":
                raise ValueError(f"einsum(): '.' in {what} of '{equation}' that is not part of an ellipsis '...'")
            if ellipsis:
                raise ValueError(f"einsum(): more than one ellipsis '...' in {what} of '{equation}'")
            labels.append("...")
            ellipsis, i = True, i + 3
            continue
        if c not in _LETTERS:
            raise ValueError(f"einsum(): invalid subscript {c!r} in '{equation}'; subscripts must be in [a-zA-Z]")
        labels.append(c)
        i += 1
    return labels, ellipsis


def _parse(equation: str, operands: list[Tensor]) -> tuple[list[list], list]:
    """Each operand's labels, one per dim, and the output's labels. The dims under an ellipsis get
    the integer labels 0..E-1 (E: the most dims any operand has there), aligned on the right, so
    they broadcast against each other as ordinary labels do."""
    eq = "".join(equation.split())  # torch ignores spaces
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs:
        raise ValueError(f"einsum(): '{equation}' has more than one '->'")
    raw_terms = lhs.split(",")
    if len(raw_terms) != len(operands):
        shapes = [tuple(t.shape) for t in operands]
        raise ValueError(
            f"einsum(): '{equation}' has {len(raw_terms)} input term(s) but {len(operands)} operand(s) "
            f"were given (shapes {shapes})"
        )
    parsed = [_parse_term(equation, term, f"operand {i}") for i, term in enumerate(raw_terms)]

    n_ellipsis = 0
    for i, ((labels, has_ellipsis), t) in enumerate(zip(parsed, operands)):
        letters = len(labels) - has_ellipsis
        if (t.ndim != letters) if not has_ellipsis else (t.ndim < letters):
            raise ValueError(
                f"einsum(): operand {i} of '{equation}' has shape {tuple(t.shape)} ({t.ndim} dims) but its term "
                f"'{raw_terms[i]}' names {letters} dims{'' if has_ellipsis else ' and has no ellipsis'}"
            )
        if has_ellipsis:
            n_ellipsis = max(n_ellipsis, t.ndim - letters)

    terms = []
    for (labels, _), t in zip(parsed, operands):
        expanded = []
        for a in labels:
            if a == "...":
                under = t.ndim - (len(labels) - 1)
                expanded += range(n_ellipsis - under, n_ellipsis)
            else:
                expanded.append(a)
        terms.append(expanded)

    counts: dict = {}
    for labels in terms:
        for a in labels:
            counts[a] = counts.get(a, 0) + 1
    if not arrow:
        # implicit output: the ellipsis dims, then the letters used once, sorted (A-Z before a-z)
        return terms, list(range(n_ellipsis)) + sorted(a for a, n in counts.items() if isinstance(a, str) and n == 1)

    out_labels, _ = _parse_term(equation, rhs, "the output")
    output = []
    for a in out_labels:
        if a == "...":
            output += range(n_ellipsis)
        elif a in output:
            raise ValueError(f"einsum(): output subscript {a!r} appears more than once in '{equation}'")
        elif a not in counts:
            raise ValueError(f"einsum(): output subscript {a!r} of '{equation}' does not appear in any input term")
        else:
            output.append(a)
    return terms, output


def _name(label) -> str:
    return f"subscript {label!r}" if isinstance(label, str) else f"dim {label} under '...'"


def _check_sizes(equation: str, terms: list[list], operands: list[Tensor]) -> None:
    """Sizes of one label must match or be 1 (broadcast), as in torch, except
    within one operand, where a repeated label is a diagonal and needs equal sizes."""
    sizes: dict = {}
    for i, (labels, t) in enumerate(zip(terms, operands)):
        own: dict = {}
        for a, n in zip(labels, t.shape):
            if a in own and own[a] != n:
                raise ValueError(
                    f"einsum(): {_name(a)} is repeated in operand {i} of '{equation}' (shape {tuple(t.shape)}) "
                    f"with sizes {own[a]} and {n}; a diagonal needs equal sizes"
                )
            own[a] = n
        for a, n in own.items():
            seen = sizes.get(a)
            if seen is not None and seen != n and 1 not in (seen, n):
                shapes = [tuple(o.shape) for o in operands]
                raise ValueError(
                    f"einsum(): {_name(a)} has size {n} in operand {i} of '{equation}', which does not broadcast "
                    f"with size {seen} in an earlier operand (shapes {shapes})"
                )
            sizes[a] = n if seen in (None, 1) else seen


# ---- evaluation


def _diagonal(t: Tensor, labels: list) -> tuple[Tensor, list]:
    """The operand with each repeated label reduced to its diagonal (labels now unique): the k dims
    of a label of size n are moved last and flattened, and the diagonal is every (1 + n + ... +
    n^(k-1))-th element of them, taken with index_select (whose gradient scatters back)."""
    labels = list(labels)
    for a in dict.fromkeys(labels):
        where = [d for d, b in enumerate(labels) if b == a]
        if len(where) == 1:
            continue
        n, k = t.shape[where[0]], len(where)
        rest = [d for d in range(t.ndim) if d not in where]
        t = t.permute(*rest, *where).reshape([t.shape[d] for d in rest] + [n**k])
        step = sum(n**j for j in range(k))
        t = t.index_select(t.ndim - 1, _core.arange(0, n**k, step, device=t.device))
        labels = [labels[d] for d in rest] + [a]
    return t, labels


def _sum_out(t: Tensor, labels: list, keep: set) -> tuple[Tensor, list]:
    """Sums the dims whose labels are not in ``keep``."""
    dims = tuple(d for d, a in enumerate(labels) if a not in keep)
    if not dims:  # sum(()) would sum every dim
        return t, labels
    return t.sum(dims), [a for a in labels if a in keep]


def _arrange(t: Tensor, labels: list, order: list) -> Tensor:
    if labels == order:
        return t
    return t.permute(*[labels.index(a) for a in order])


def _contract(a: Tensor, la: list, b: Tensor, lb: list, later: set) -> tuple[Tensor, list]:
    """The product of two operands, summed over the labels they share that ``later`` (the output
    and the operands still to come) does not need. Shared labels that are kept are batch dims,
    the summed ones the inner dim of one batched matmul (size-1 batch dims broadcast in it)."""
    a, la = _sum_out(a, la, later | set(lb))
    b, lb = _sum_out(b, lb, later | set(la))
    batch = [x for x in la if x in lb and x in later]
    summed = [x for x in la if x in lb and x not in later]
    left = [x for x in la if x not in lb]
    right = [x for x in lb if x not in la]

    if not summed:  # nothing to sum: one broadcast multiply, cheaper than a matmul with inner size 1
        a = _arrange(a, la, batch + left)
        b = _arrange(b, lb, batch + right)
        # unsqueeze, not reshape: a permuted operand stays a view
        for _ in right:
            a = a.unsqueeze(a.ndim)
        for _ in left:
            b = b.unsqueeze(len(batch))
        return a * b, batch + left + right

    # a summed label of size 1 on one side only: the other side's sum over it is the whole product
    for x in summed:
        na, nb = a.shape[la.index(x)], b.shape[lb.index(x)]
        if na != nb:
            if na == 1:
                b = b.sum(lb.index(x), keepdim=True)
            else:
                a = a.sum(la.index(x), keepdim=True)

    nb_ = len(batch)
    a = _arrange(a, la, batch + left + summed)
    b = _arrange(b, lb, batch + summed + right)
    left_sizes = list(a.shape[nb_ : nb_ + len(left)])
    right_sizes = list(b.shape[nb_ + len(summed) :])
    k = math.prod(a.shape[nb_ + len(left) :])
    # (*batch, M, K) @ (*batch, K, N): batch dims stay apart so size-1 ones broadcast in the matmul
    a = _reshape(a, [*a.shape[:nb_], math.prod(left_sizes), k])
    b = _reshape(b, [*b.shape[:nb_], k, math.prod(right_sizes)])
    out = a @ b
    return _reshape(out, [*out.shape[:nb_], *left_sizes, *right_sizes]), batch + left + right


def _reshape(t: Tensor, shape: list) -> Tensor:
    # reshape copies a permuted tensor even to its own shape; matmul takes the transposed view as is
    return t if list(t.shape) == shape else t.reshape(shape)
