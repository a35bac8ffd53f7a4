"""Comparing results with torch's by dtype, shape and values (the dtype tests: test_bool_*)."""

import minidiff as md


def describe(r):
    """(dtype, shape, values) of a minidiff or torch tensor, recursively for tuples and lists, and
    (type name, value) for anything else; NaN prints as N, so that two descriptions compare."""
    if isinstance(r, (tuple, list)):
        return tuple(describe(v) for v in r)
    if isinstance(r, md.Tensor):
        return (r.dtype, tuple(r.shape), r.detach().numpy().tolist())
    if type(r).__module__.startswith("torch"):
        return (str(r.dtype).removeprefix("torch."), tuple(r.shape), r.detach().numpy().tolist())
    return (type(r).__name__, r)


def described(r) -> str:
    """describe(r) as text with NaN as N (NaN compares unequal to itself)."""
    return repr(describe(r)).replace("nan", "N")
