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


def results_and_grads(lib, out, env: dict, leaves, grad: bool = True):
    """(dtype, shape, float values) of each of ``out``'s tensors (a tensor or a tuple of them), and
    the gradients {name: (dtype, float values)} of env's ``leaves`` after backward from a fixed,
    uneven weighting of the outputs that require grad (none when ``grad`` is False). ``lib`` is
    minidiff or torch."""
    import numpy as np

    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    results, loss = [], None
    for k, o in enumerate(outs):
        results.append((str(o.dtype).removeprefix("torch."), tuple(o.shape), o.detach().float().numpy()))
        if grad and o.requires_grad:
            coef = np.cos(np.arange(o.numel()) * 0.7 + k).reshape(tuple(o.shape)).astype(np.float32)
            term = (o.float() * lib.tensor(coef)).sum()
            loss = term if loss is None else loss + term
    grads = {}
    if loss is not None:
        loss.backward()
        grads = {
            k: (str(env[k].grad.dtype).removeprefix("torch."), env[k].grad.float().numpy())
            for k in leaves
            if env[k].grad is not None
        }
    return results, grads
