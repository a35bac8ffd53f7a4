"""md.einsum: values against numpy.einsum in float64 (explicit and implicit output, ellipsis
broadcasting, diagonals, size-1 broadcasting, several operands, random equations), gradients
against torch.einsum (skipped without torch), attention-style products as one matmul, and the
errors for bad equations.

Tolerances: float32 against a float64 reference (or torch's float32 with another summation order),
rtol 1e-5 and atol 1e-5 scaled by the reference's largest magnitude."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minidiff as md


def assert_close(ours, ref, what=""):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale, err_msg=what)


def arrays(shapes, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s).astype(np.float32) for s in shapes]


def check_values(equation, shapes, seed=0):
    a = arrays(shapes, seed)
    ours = md.einsum(equation, *[md.tensor(x) for x in a]).numpy()
    ref = np.einsum(equation, *[x.astype(np.float64) for x in a])
    assert_close(ours, ref, equation)


CASES = [
    # matrix and batched matrix products, the attention forms
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,kj->ik", [(3, 5), (4, 5)]),
    ("bij,bjk->bik", [(3, 2, 5), (3, 5, 4)]),
    ("bhdi,bhdj->bhij", [(2, 3, 4, 5), (2, 3, 4, 6)]),
    ("b h d n, b h e n -> b h d e", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhij,bhjd->bhid", [(2, 3, 5, 4), (2, 3, 4, 6)]),
    ("bhid,bhjd->bhji", [(2, 1, 5, 4), (2, 3, 6, 4)]),
    # permutations, reductions, outer and inner products
    ("ij->ji", [(2, 3)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("i,i->i", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("bi,bi->b", [(4, 7), (4, 7)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
    ("ab,cd->abcd", [(2, 3), (4, 5)]),
    # diagonals (repeated labels)
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iii->i", [(3, 3, 3)]),
    ("iij->ji", [(3, 3, 2)]),
    ("iji->ij", [(3, 2, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("bii->b", [(2, 3, 3)]),
    # ellipsis, with different numbers of dims under it and size-1 dims broadcasting
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),
    ("...i,...i", [(2, 1, 3), (5, 3)]),
    ("...i,...i->...", [(2, 1, 3), (3,)]),
    ("i...,i...->...", [(3, 2, 1), (3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("...->...", [(2, 3)]),
    ("...", [(2, 3)]),
    ("i...->...", [(2, 3, 4)]),
    ("...,...", [(2, 1), (3,)]),
    ("a...b,b...->...a", [(2, 3, 4), (4, 1)]),
    # labels of size 1 broadcasting against larger ones, summed or kept
    ("i,i->i", [(5,), (1,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ik,jk->ij", [(3, 1), (2, 5)]),
    ("bij,bjk->bik", [(1, 2, 5), (3, 5, 4)]),
    ("bi,bj->", [(2, 3), (1, 4)]),
    # several operands, upper and lower case, 0-d operands
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 2), (2, 4), (4, 3)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("i,i,i->i", [(4,), (4,), (4,)]),
    ("i,j,k", [(2,), (3,), (4,)]),
    ("ij,jk,ki", [(2, 3), (3, 4), (4, 2)]),
    ("Ab,bA", [(2, 3), (3, 2)]),
    ("aA,Ab->ba", [(2, 3), (3, 4)]),
    ("Ba,a", [(2, 3), (3,)]),
    ("", [()]),
    ("->", [()]),
    (",i->i", [(), (3,)]),
    (",", [(), ()]),
]


@pytest.mark.parametrize("equation, shapes", CASES, ids=[f"{e or 'empty'}-{i}" for i, (e, _) in enumerate(CASES)])
def test_values_match_numpy(equation, shapes):
    check_values(equation, shapes)


def random_case(seed: int) -> tuple[str, list[tuple[int, ...]]]:
    """A random valid equation and shapes: 1-3 operands of 0-3 labels drawn with repeats (so
    diagonals), labels of size 1 in some operands, sometimes an ellipsis of 0-2 dims per operand,
    and an implicit or a random explicit output."""
    r = np.random.default_rng(seed)
    pool = list("abcdXY")
    size = {c: int(r.integers(2, 5)) for c in pool}
    use_ellipsis = r.random() < 0.35
    ellipsis_shape = [int(n) for n in r.integers(2, 4, size=int(r.integers(1, 3)))]
    terms, shapes = [], []
    for _ in range(int(r.integers(1, 4))):
        labels = [str(c) for c in r.choice(pool, size=int(r.integers(0, 4)))]
        ones = {c for c in labels if r.random() < 0.2}  # broadcast: this operand has size 1 there
        shape = [1 if c in ones else size[c] for c in labels]
        term = "".join(labels)
        if use_ellipsis:
            k = int(r.integers(0, len(ellipsis_shape) + 1))
            under = [1 if r.random() < 0.25 else n for n in ellipsis_shape[len(ellipsis_shape) - k :]]
            pos = int(r.integers(0, len(labels) + 1))
            term, shape = term[:pos] + "..." + term[pos:], shape[:pos] + under + shape[pos:]
        terms.append(term)
        shapes.append(tuple(shape))
    if r.random() < 0.3:
        return ",".join(terms), shapes
    used = sorted(set("".join(terms)) - {"."})
    out = [str(c) for c in r.permutation(used)[: int(r.integers(0, len(used) + 1))]] if used else []
    if use_ellipsis:  # numpy wants the ellipsis in an explicit output
        out.insert(int(r.integers(0, len(out) + 1)), "...")
    return ",".join(terms) + "->" + "".join(out), shapes


@pytest.mark.parametrize("seed", range(60))
def test_random_equations_match_numpy(seed):
    equation, shapes = random_case(seed)
    check_values(equation, shapes, seed)


def test_spaces_are_ignored():
    a, b = arrays([(2, 3), (3, 4)])
    spaced = md.einsum(" i j , j k -> i k ", md.tensor(a), md.tensor(b)).numpy()
    assert_close(spaced, a.astype(np.float64) @ b)


def test_implicit_output_is_sorted_with_upper_case_first():
    (a,) = arrays([(2, 3, 4)])
    # labels c, B, a: the output is B, a, c (ASCII order), so dims (1, 2, 0) of the operand
    out = md.einsum("cBa", md.tensor(a)).numpy()
    assert out.shape == (3, 4, 2)
    np.testing.assert_array_equal(out, a.transpose(1, 2, 0))


def test_explicit_output_without_ellipsis_sums_the_ellipsis_dims():
    # torch sums the dims under '...' when the output leaves it out (numpy refuses the equation)
    a, b = arrays([(2, 3, 4), (5, 4)])
    out = md.einsum("...ij->ij", md.tensor(a)).numpy()
    assert_close(out, a.astype(np.float64).sum(0))
    out = md.einsum("...ij,...j->i", md.tensor(a), md.tensor(b[0])).numpy()
    assert_close(out, np.einsum("kij,j->i", a.astype(np.float64), b[0]))


def test_operands_as_one_list_or_tuple():
    a, b = arrays([(2, 3), (3, 4)])
    ref = a.astype(np.float64) @ b
    assert_close(md.einsum("ij,jk->ik", [md.tensor(a), md.tensor(b)]).numpy(), ref)
    assert_close(md.einsum("ij,jk", (md.tensor(a), md.tensor(b))).numpy(), ref)
    assert_close(md.einsum("ij->ji", [md.tensor(a)]).numpy(), a.T)


def test_sublist_form():
    a, b = arrays([(2, 3, 5), (3, 4)])
    ours = md.einsum(md.tensor(a), [Ellipsis, 0, 1], md.tensor(b), [0, 30], [Ellipsis, 30]).numpy()
    assert_close(ours, np.einsum(a.astype(np.float64), [Ellipsis, 0, 1], b, [0, 30], [Ellipsis, 30]))
    implicit = md.einsum(md.tensor(a), [2, 0, 1], md.tensor(b), [0, 30]).numpy()
    assert_close(implicit, np.einsum(a.astype(np.float64), [2, 0, 1], b, [0, 30]))


def test_non_contiguous_operands():
    a, b = arrays([(4, 3), (5, 4)])
    at, bt = md.tensor(a).transpose(0, 1), md.tensor(b).transpose(0, 1)  # (3, 4), (4, 5)
    assert not at.is_contiguous()
    assert_close(md.einsum("ij,jk->ik", at, bt).numpy(), a.T.astype(np.float64) @ b.T)
    assert_close(md.einsum("ji,ij->", at, md.tensor(a)).numpy(), (a.astype(np.float64) ** 2).sum())


# ---- attention-style products: one batched matmul, equal to the matmul written by hand


@pytest.fixture
def matmul_calls(monkeypatch):
    calls = []
    native = md.Tensor.__matmul__

    def counting(self, other):
        calls.append((tuple(self.shape), tuple(other.shape)))
        return native(self, other)

    monkeypatch.setattr(md.Tensor, "__matmul__", counting)
    return calls


@pytest.mark.parametrize(
    "equation, shapes",
    [
        ("bhdi,bhdj->bhij", [(2, 3, 8, 5), (2, 3, 8, 6)]),
        ("b h d n, b h e n -> b h d e", [(2, 3, 4, 7), (2, 3, 5, 7)]),
        ("bij,bjk->bik", [(3, 4, 5), (3, 5, 6)]),
        ("bhij,bhjd->bhid", [(2, 3, 5, 6), (2, 3, 6, 4)]),
    ],
)
def test_batched_products_are_one_matmul(matmul_calls, equation, shapes):
    a, b = arrays(shapes)
    out = md.einsum(equation, md.tensor(a), md.tensor(b))
    assert len(matmul_calls) == 1, matmul_calls
    assert_close(out.numpy(), np.einsum(equation, a.astype(np.float64), b))


def test_attention_scores_equal_the_handwritten_matmul():
    q, k = (md.tensor(x) for x in arrays([(2, 4, 16, 9), (2, 4, 16, 11)]))
    ours = md.einsum("bhdi,bhdj->bhij", q, k).numpy()
    ref = (q.transpose(-1, -2) @ k).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    ours = md.einsum("b h d n, b h e n -> b h d e", q, q).numpy()
    np.testing.assert_allclose(ours, (q @ q.transpose(-1, -2)).numpy(), rtol=1e-6, atol=1e-6)


# ---- gradients against torch


def check_grads(equation, shapes, seed=0):
    torch = pytest.importorskip("torch")
    a = arrays(shapes, seed)
    ours_in = [md.tensor(x, requires_grad=True) for x in a]
    theirs_in = [torch.tensor(x, requires_grad=True) for x in a]
    ours = md.einsum(equation, *ours_in)
    theirs = torch.einsum(equation, *theirs_in)
    assert_close(ours.numpy(), theirs.detach().numpy(), equation)
    upstream = np.random.default_rng(seed + 1).standard_normal(tuple(theirs.shape)).astype(np.float32)
    ours.backward(md.tensor(upstream))
    theirs.backward(torch.tensor(upstream))
    for i, (m, t) in enumerate(zip(ours_in, theirs_in)):
        assert m.grad is not None, f"{equation}: operand {i} has no gradient"
        assert_close(m.grad.numpy(), t.grad.numpy(), f"{equation}: gradient of operand {i}")


GRAD_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bhdi,bhdj->bhij", [(2, 3, 4, 5), (2, 3, 4, 6)]),
    ("b h d n, b h e n -> b h d e", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhij,bhjd->bhid", [(2, 1, 5, 4), (2, 3, 4, 6)]),
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("iij->ji", [(3, 3, 2)]),
    ("iii", [(3, 3, 3)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...i,...i", [(2, 1, 3), (5, 3)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("i,i->i", [(5,), (1,)]),
    ("ik,jk->ij", [(3, 1), (2, 5)]),
    ("bij,bjk->bik", [(1, 2, 5), (3, 5, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("i,j", [(3,), (4,)]),
    ("Ab,bA", [(2, 3), (3, 2)]),
    (",i->i", [(), (3,)]),
]


@pytest.mark.parametrize("equation, shapes", GRAD_CASES, ids=[e for e, _ in GRAD_CASES])
def test_gradients_match_torch(equation, shapes):
    check_grads(equation, shapes)


@pytest.mark.parametrize("seed", range(30))
def test_random_equation_gradients_match_torch(seed):
    equation, shapes = random_case(1000 + seed)
    check_grads(equation, shapes, seed)


# ---- devices


@pytest.mark.cuda
def test_runs_on_the_operands_device():
    if not md.cuda.is_available():
        pytest.skip("no CUDA device")
    md.backends.allow_tf32 = False
    try:
        for equation, shapes in [("bhdi,bhdj->bhij", [(2, 3, 4, 5), (2, 3, 4, 6)]), ("iij->ji", [(3, 3, 2)])]:
            a = arrays(shapes)
            cpu_in = [md.tensor(x, requires_grad=True) for x in a]
            gpu_in = [md.tensor(x, device="cuda", requires_grad=True) for x in a]
            cpu_out, gpu_out = md.einsum(equation, *cpu_in), md.einsum(equation, *gpu_in)
            assert gpu_out.is_cuda
            assert_close(gpu_out.cpu().numpy(), cpu_out.numpy(), equation)
            cpu_out.sum().backward()
            gpu_out.sum().backward()
            for c, g in zip(cpu_in, gpu_in):
                assert_close(g.grad.cpu().numpy(), c.grad.numpy(), equation)
    finally:
        md.backends.allow_tf32 = True


# ---- errors


def t(*shape):
    return md.randn(shape)


@pytest.mark.parametrize(
    "equation, operands, message",
    [
        ("ij,jk->ik", [(2, 3)], "2 input term.*1 operand"),
        ("ij->ji", [(2, 3), (3, 2)], "1 input term.*2 operand"),
        ("ij,jk->ik", [(2, 3), (4, 5)], r"'j' has size 4 in operand 1.*size 3.*\(2, 3\), \(4, 5\)"),
        ("ij->k", [(2, 3)], "'k'.*does not appear"),
        ("ij->ii", [(2, 3)], "'i' appears more than once"),
        ("i1->i", [(2, 3)], "invalid subscript '1'"),
        ("i.j", [(2, 3)], "not part of an ellipsis"),
        ("...i...", [(2, 3)], "more than one ellipsis"),
        ("i", [(2, 3)], r"shape \(2, 3\).*names 1 dims"),
        ("ijk...", [(2, 3)], r"shape \(2, 3\).*names 3 dims"),
        ("ii->i", [(2, 3)], r"'i' is repeated in operand 0.*\(2, 3\).*sizes 2 and 3"),
        ("ij->i->j", [(2, 3)], "more than one '->'"),
        ("...i,...i", [(2, 3), (4, 3)], r"dim 0 under '\.\.\.' has size 4"),
    ],
)
def test_bad_input_raises_value_error(equation, operands, message):
    with pytest.raises(ValueError, match="einsum") as info:
        md.einsum(equation, *[t(*s) for s in operands])
    text = str(info.value)
    assert re.search(message, text), text
    assert equation in text, text


def test_non_tensor_operand_raises():
    with pytest.raises(ValueError, match="einsum.*operand 1.*ndarray"):
        md.einsum("i,i", t(3), np.ones(3, np.float32))


def test_bad_sublist_raises():
    with pytest.raises(ValueError, match="einsum.*52"):
        md.einsum(t(2), [52])
