#!/usr/bin/env python
"""Crash fuzzer for minidiff's native API (developer tool; not run by CI).

Enumerates every callable of ``minidiff._core`` (plus ``.functional``, ``.nn`` classes and the methods of a small
instance of each, ``.optim``), every method of ``minidiff._core.Tensor`` (dunders included), and the public
``md.*`` / ``md.F.*`` / ``md.nn.*`` names, then calls them with randomized, adversarial arguments.

Every candidate call is a one-line Python expression (so it is its own reproducer). Calls run in batches inside a
child process with a per-call timeout; when a child dies (signal / abort) or hangs, the offending call is isolated
(rerun alone, else bisected over the batch prefix) and recorded with its exact reproducer. Python exceptions are
fine, but exceptions of unexpected types, with empty messages, or bare pybind11 cast errors for well-typed calls are
recorded as "suspicious".

Usage:
    PYTHONPATH=python python tools/fuzz_native.py --seed 0 --budget-seconds 600 [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import inspect
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PRELUDE = "import minidiff as md, numpy as np; from minidiff import _core as core"

OK_EXC = {
    "ValueError",
    "TypeError",
    "IndexError",
    "RuntimeError",
    "NotImplementedError",
    "KeyError",
    "AttributeError",
    "OverflowError",
    "ZeroDivisionError",
    "MemoryError",
}

# ----------------------------------------------------------------------------------------------------------------
# Value pools: each entry is a Python expression evaluated in the child (namespace: md, np, core).
# ----------------------------------------------------------------------------------------------------------------
TENSORS = [
    "md.tensor(1.5)",
    "md.zeros(0)",
    "md.randn(3)",
    "md.zeros(2, 0, 3)",
    "md.randn(1, 1, 1, 1)",
    "md.randn(2, 3, 4, 5)",
    "md.randn(4, 4)",
    "md.randn(2, 3)",
    "md.randn(1, 4, 8, 8)",
    "md.randn(2, 4, 8)",
    "md.randn(4, 3).t()",
    "md.randn(2, 3, 4, 5).transpose(1, 3)",
    "md.randn(8)[::3]",
    "md.randn(4, 6)[:, ::2]",
    "md.randn(2, 1, 3).expand(2, 4, 3)",
    "md.randn(2, 3).to(md.bfloat16)",
    "md.randn(1, 4, 8, 8).to(md.bfloat16)",
    "md.tensor([0, 1, 2])",
    "md.tensor([-1, 5, 2**40])",
    "md.tensor([[0, 3], [1, 2]])",
    "md.tensor(3)",
    "md.tensor([float('nan'), float('inf'), -float('inf'), 0.0])",
    "md.full((2, 3), float('nan'))",
    "md.randn(2, 3, requires_grad=True)",
    "(md.randn(3) > 0)",
]
INTS_OK = ["0", "-1", "1", "2", "3", "-5"]
INTS_BAD = ["2**31", "2**62", "2**63-1", "-2**63", "2**64", "-2**31"]
FLOATS = ["float('nan')", "float('inf')", "-float('inf')", "-0.0", "1e38", "0.5", "1e-45", "-1.5"]
SHAPES = [
    "(2**31, 2**31)",
    "[2**62]",
    "(-1,)",
    "(-5, 3)",
    "(2, 3)",
    "()",
    "[]",
    "[[1, 2], [3]]",
    "[1.5, 2]",
    "['a']",
    "(0, 3)",
    "(3, -1)",
    "(2**31,)",
    "(1, 2**62)",
    "[3, 2**63-1]",
]
STRINGS = [
    "''",
    "'sum'",
    "'mean'",
    "'none'",
    "'nearest'",
    "'bilinear'",
    "'reflect'",
    "'cpu'",
    "'cuda'",
    "'cuda:9'",
    "'float32'",
    "'bfloat16'",
    "'\\x00'",
    "'a' * 1000",
]
ARRAYS = [
    "np.array([True, False])",
    "np.arange(3, dtype=np.uint8)",
    "np.zeros((2, 3))",
    "np.array([1, 'a'], dtype=object)",
    "np.zeros((2, 0), dtype=np.float32)",
    "np.float64(2.5)",
    "np.ones((3, 4), dtype=np.float32)[:, ::2]",
    "np.array(float('nan'), dtype=np.float32)",
    "np.arange(6, dtype=np.int64).reshape(2, 3)",
    "np.ones((2, 2), dtype=np.float16)",
]
MISC = [
    "None",
    "[]",
    "()",
    "[[1, 2], [3, 4]]",
    "[[1, 2], [3]]",
    "{}",
    "True",
    "False",
    "md.float32",
    "md.bfloat16",
    "md.int64",
    "slice(None, None, -1)",
    "Ellipsis",
    "object()",
    "(lambda *a, **k: None)",
    "[md.randn(2), md.randn(3)]",
    "[md.randn(2, 3), md.randn(2, 3)]",
    "[]",
    "(md.randn(2),)",
    "{'a': md.randn(2)}",
]
ANY = TENSORS + INTS_OK + INTS_BAD + FLOATS + SHAPES + STRINGS + ARRAYS + MISC
SMALL_INT_LISTS = ["[0]", "(1, 1)", "(2, 2)", "[0, 1]", "(1, 0)", "[-1, 0]", "(3,)", "(0, 0)"]

# name-based hints for un-annotated parameters
NAME_HINTS = [
    (
        r"^(input|x|other|self|tensor|weight|mask|index|a|b|t|target|src|source|value|values|query|key|end|"
        r"exponent|tensor1|tensor2|mat|mat1|mat2|vec|vec1|vec2|batch1|batch2|sample|timesteps|bias|indices|"
        r"boundaries|sorted_sequence|input1|input2|condition|y|start|weights|grad|hidden_states|model_output)$",
        "tensor",
    ),
    (
        r"^(dim|dim0|dim1|dims|axis|n|k|groups|num_groups|offset|diagonal|repeats|bins|num_classes|chunks|"
        r"split_size_or_sections|steps|high|low|num_samples|shifts|sections|padding_idx|num_inference_steps|"
        r"num_train_timesteps|seed|decimals|p_dim|out_int32|kernel_size|stride|padding|dilation|output_padding|"
        r"in_features|out_features|in_channels|out_channels|num_embeddings|embedding_dim|num_channels)$",
        "int",
    ),
    (r"^(size|shape|sizes|normalized_shape|output_size|pad|scale_factor)$", "shape"),
    (
        r"^(p|eps|alpha|beta|min|max|lr|momentum|rtol|atol|negative_slope|scale|q|weight_decay|min_val|"
        r"max_val|nan|posinf|neginf|lambd|mean|std|rate|beta1|beta2)$",
        "float",
    ),
    (r"^(mode|reduction|padding_mode|device|approximate|interpolation|side|rounding_mode|reduce|indexing)$", "str"),
    (r"^(dtype)$", "dtype"),
    (
        r"^(keepdim|inplace|requires_grad|bias|largest|sorted|descending|stable|unbiased|return_counts|"
        r"return_inverse|align_corners|right|training|affine|is_causal|upper|equal_nan)$",
        "bool",
    ),
]

CANNED = {
    "Linear": "core.nn.Linear(4, 3)",
    "Conv2d": "core.nn.Conv2d(4, 4, 3, padding=1)",
    "ConvTranspose2d": "core.nn.ConvTranspose2d(4, 4, 3)",
    "GroupNorm": "core.nn.GroupNorm(2, 4)",
    "LayerNorm": "core.nn.LayerNorm(4)",
    "Embedding": "core.nn.Embedding(10, 4)",
    "Dropout": "core.nn.Dropout(0.5)",
    "Identity": "core.nn.Identity()",
    "SiLU": "core.nn.SiLU()",
    "Attention": "core.nn.Attention(4, heads=2, dim_head=2, norm_num_groups=2)",
    "TimestepEmbedding": "core.nn.TimestepEmbedding(4, 8)",
    "Timesteps": "core.nn.Timesteps(4, True, 0.0)",
    "ModuleList": "core.nn.ModuleList([core.nn.Linear(2, 2)])",
    "Module": "core.nn.Module()",
    "UNet2DModel": (
        "core.nn.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), "
        "layers_per_block=1, down_block_types=('DownBlock2D', 'AttnDownBlock2D'), "
        "up_block_types=('AttnUpBlock2D', 'UpBlock2D'), norm_num_groups=4)"
    ),
    "Generator": "core.Generator()",
    "Device": "core.Device('cpu')",
}

# things that are slow by design, interactive, spawn processes, or write outside the cwd
SKIP_NAMES = re.compile(
    r"(^|\.)(Trainer|TrainingConfig|cli|main|pipelines|DDPMPipeline|DDIMPipeline|training|training_utils|"
    r"profiler|checkpoint|__del__|__init_subclass__|__subclasshook__|__getattribute__|__dir__|__sizeof__|"
    r"__reduce__|__reduce_ex__|__format__|__class__|__delattr__|__new__|_pybind11_conduit_v1_|register_hook|"
    r"register_forward_hook|register_forward_pre_hook|apply|backward|set_num_threads|load|save|"
    r"save_pretrained|from_pretrained|cuda_set_workspace_budget)$"
)
# set_num_threads / backward / hooks take callables or alter global state in ways that make later calls in the
# batch unattributable; they get a dedicated, isolated pass below instead.
ISOLATED = {"set_num_threads", "backward", "register_hook", "apply", "cuda_set_workspace_budget"}

TENSOR_DUNDERS_KEEP = re.compile(r"^__(?!init_subclass|subclasshook|class|dir|sizeof|reduce|format|new__|del__)\w+__$")


# ----------------------------------------------------------------------------------------------------------------
# Enumeration (parent side)
# ----------------------------------------------------------------------------------------------------------------
def _parse_pybind_doc(doc: str, name: str):
    """Return a list of overloads, each a list of (pname, annotation, has_default, kind) from a pybind docstring."""
    overloads = []
    if not doc:
        return overloads
    for line in doc.splitlines():
        line = line.strip()
        m = re.match(r"^(?:\d+\.\s*)?" + re.escape(name) + r"\((.*)\)\s*->", line)
        if not m:
            continue
        params, depth, cur = [], 0, ""
        for ch in m.group(1):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if ch == "," and depth == 0:
                params.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            params.append(cur.strip())
        out, kwonly = [], False
        for p in params:
            if p == "*":
                kwonly = True
                continue
            if p.startswith("**"):
                out.append((p[2:], "", True, "varkw"))
                continue
            if p.startswith("*"):
                out.append((p[1:], "", True, "varpos"))
                kwonly = True
                continue
            pn, _, rest = p.partition(":")
            ann, eq, _default = rest.partition("=")
            out.append((pn.strip(), ann.strip(), bool(eq), "kwonly" if kwonly else "pos"))
        overloads.append(out)
    return overloads


def _signature(obj, name):
    """Overloads as lists of (name, annotation, has_default, kind). Falls back to a permissive signature."""
    doc = getattr(obj, "__doc__", None) or ""
    ovs = _parse_pybind_doc(doc, name)
    if ovs:
        return ovs
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return [[("args", "", True, "varpos"), ("kwargs", "", True, "varkw")]]
    out = []
    kinds = {
        inspect.Parameter.VAR_POSITIONAL: "varpos",
        inspect.Parameter.VAR_KEYWORD: "varkw",
        inspect.Parameter.KEYWORD_ONLY: "kwonly",
    }
    for p in sig.parameters.values():
        ann = "" if p.annotation is inspect.Parameter.empty else str(p.annotation)
        out.append((p.name, ann, p.default is not inspect.Parameter.empty, kinds.get(p.kind, "pos")))
    return [out]


def enumerate_targets():
    """Return list of dicts: {key, prefix (expression yielding the callable), overloads, self_kind}."""
    import minidiff as md
    from minidiff import _core as core

    targets, seen = [], set()

    def add(key, prefix, obj, name, method_self=None):
        if SKIP_NAMES.search(key) or key in seen:
            return
        seen.add(key)
        ovs = _signature(obj, name)
        if method_self is not None:  # drop the explicit self parameter from pybind docstrings
            plain = inspect.isfunction(obj)  # a Python function attached as a method: its first parameter is self
            ovs = [ov[1:] if ov and (ov[0][0] == "self" or (plain and ov[0][3] == "pos")) else ov for ov in ovs]
        targets.append({"key": key, "prefix": prefix, "overloads": ovs, "self": method_self})

    def module_funcs(mod, modexpr, keyprefix, public_only):
        for n in sorted(dir(mod)):
            if n.startswith("__") or (public_only and n.startswith("_")):
                continue
            try:
                o = getattr(mod, n)
            except Exception:
                continue
            if inspect.ismodule(o) or not callable(o):
                continue
            add(f"{keyprefix}.{n}", f"{modexpr}.{n}", o, n if not isinstance(o, type) else "__init__")
            if isinstance(o, type) and o.__init__.__doc__:
                targets[-1]["overloads"] = [
                    ov[1:] if ov and ov[0][0] == "self" else ov
                    for ov in (_parse_pybind_doc(o.__init__.__doc__, "__init__") or targets[-1]["overloads"])
                ]

    module_funcs(core, "core", "core", False)
    module_funcs(core.functional, "core.functional", "core.functional", False)
    module_funcs(core.nn, "core.nn", "core.nn", False)
    module_funcs(core.optim, "core.optim", "core.optim", False)
    module_funcs(md, "md", "md", True)
    module_funcs(md.F, "md.F", "md.F", True)
    module_funcs(md.nn, "md.nn", "md.nn", True)

    # Tensor methods (receiver drawn from the tensor pool at generation time)
    for n in sorted(dir(core.Tensor)):
        if n.startswith("__") and not TENSOR_DUNDERS_KEEP.match(n):
            continue
        o = getattr(core.Tensor, n, None)
        if o is None or isinstance(o, property) or not callable(o):
            continue
        add(f"Tensor.{n}", n, o, n, method_self="tensor")

    # nn module methods on a small canned instance
    for cls_name, ctor in CANNED.items():
        cls = getattr(core.nn, cls_name, None) or getattr(core, cls_name, None)
        if cls is None:
            continue
        for n in sorted(dir(cls)):
            if n.startswith("__") and n not in ("__call__", "__getitem__", "__setitem__", "__len__", "__init__"):
                continue
            o = getattr(cls, n, None)
            if o is None or isinstance(o, property) or not callable(o):
                continue
            add(f"{cls_name}.{n}", n, o, n, method_self=ctor)
    return targets


# ----------------------------------------------------------------------------------------------------------------
# Argument generation
# ----------------------------------------------------------------------------------------------------------------
def _category(pname, ann):
    a = ann.lower()
    if "tensor" in a and "list" not in a and "sequence" not in a:
        return "tensor"
    if "supportsint" in a or a == "int":
        return "int"
    if "supportsfloat" in a or a == "float":
        return "float"
    if a == "bool":
        return "bool"
    if a == "str":
        return "str"
    if "list" in a or "sequence" in a or "tuple" in a:
        return "shape"
    for pat, cat in NAME_HINTS:
        if re.match(pat, pname):
            return cat
    return "any"


def _typed_value(rng, cat):
    """(expr, well_typed)"""
    if cat == "tensor":
        return rng.choice(TENSORS), True
    if cat == "int":
        if rng.random() < 0.3:
            return rng.choice(INTS_BAD), False
        return rng.choice(INTS_OK), True
    if cat == "float":
        return rng.choice(FLOATS + INTS_OK), True
    if cat == "bool":
        return rng.choice(["True", "False"]), True
    if cat == "str":
        return rng.choice(STRINGS), True
    if cat == "shape":
        return rng.choice(SHAPES + SMALL_INT_LISTS), False
    if cat == "dtype":
        return rng.choice(["md.float32", "md.bfloat16", "md.int64", "None", "'float64'", "np.float64"]), False
    return rng.choice(ANY), False


NO_TENSOR_ANY = [v for v in ANY if "md." not in v and "core." not in v]


def gen_call(rng, t, avoid_tensor_ints=False):
    """Draw one call. With avoid_tensor_ints, tensors are never passed where an int/shape/float is expected (the
    "multi-element Tensor used as an int segfaults" bug otherwise dominates every run)."""
    ov = rng.choice(t["overloads"]) if t["overloads"] else [("args", "", True, "varpos")]
    args, kwargs, typed = [], {}, True
    stop_optional = rng.random() < 0.5
    for pname, ann, has_default, kind in ov:
        if kind == "varpos":
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
                if rng.random() < 0.5:
                    args.append(rng.choice(INTS_OK + INTS_OK + INTS_BAD))
                else:
                    args.append(rng.choice(NO_TENSOR_ANY if avoid_tensor_ints else ANY))
            typed = False
            continue
        if kind == "varkw":
            if rng.random() < 0.4:
                k = rng.choice(["dtype", "device", "requires_grad", "dim", "keepdim", "bogus_kw", "out"])
                kwargs[k] = rng.choice(ANY)
                typed = False
            continue
        cat = _category(pname, ann)
        if has_default:
            if stop_optional and kind == "pos" and rng.random() < 0.5:
                continue
            if rng.random() < 0.5:
                continue
        if rng.random() < 0.75:
            v, ok = _typed_value(rng, cat)
        else:
            v, ok = rng.choice(ANY), False
        if avoid_tensor_ints and cat in ("int", "float", "shape", "bool", "str", "dtype") and "md." in v:
            v, ok = rng.choice(NO_TENSOR_ANY), False
        typed = typed and ok
        if kind == "kwonly" or (has_default and rng.random() < 0.4) or kwargs:
            kwargs[pname] = v
        else:
            args.append(v)
    r = rng.random()
    if r < 0.05:
        args.append(rng.choice(NO_TENSOR_ANY if avoid_tensor_ints else ANY))
        typed = False
    elif r < 0.1 and args:
        args.pop()
        typed = False
    if t["self"] == "tensor":
        recv = rng.choice(TENSORS)
        prefix = f"{recv}.{t['prefix']}"
    elif t["self"] is not None:
        prefix = f"{t['self']}.{t['prefix']}"
    else:
        prefix = t["prefix"]
    parts = list(args) + [f"{k}={v}" for k, v in kwargs.items()]
    return {"key": t["key"], "code": f"{prefix}({', '.join(parts)})", "typed": typed}


# ----------------------------------------------------------------------------------------------------------------
# Child
# ----------------------------------------------------------------------------------------------------------------
def child_main(path):
    import resource

    lim = int(os.environ.get("FUZZ_MEM_BYTES", str(6 << 30)))
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    import warnings

    warnings.simplefilter("ignore")
    ns = {}
    exec(PRELUDE, ns)
    with open(path) as f:
        calls = json.load(f)
    for i, c in enumerate(calls):
        proto.write(f"S {i}\n")
        status, etype, msg = "ok", "", ""
        try:
            r = eval(c["code"], ns)
            proto.write(f"P {i}\n")
            # touch the result so that views with bogus sizes/strides are actually read
            if isinstance(r, ns["core"].Tensor):
                if r.numel() < 10_000_000:
                    r.contiguous().tolist()
            elif isinstance(r, (list, tuple)):
                for e in r[:8]:
                    if isinstance(e, ns["core"].Tensor) and e.numel() < 10_000_000:
                        e.contiguous().tolist()
            del r
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                status = "exit"
            else:
                status = "exc"
            etype, msg = type(e).__name__, str(e)[:300]
        proto.write("R " + json.dumps([i, status, etype, msg]) + "\n")
    proto.write("END\n")
    proto.flush()
    os._exit(0)


# ----------------------------------------------------------------------------------------------------------------
# Parent: run batches, detect crashes/hangs, isolate
# ----------------------------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, timeout, workdir):
        self.timeout = timeout
        self.workdir = workdir
        self.calls_run = 0
        self.children = 0

    def run_batch(self, calls):
        """Run calls in a child. Returns (results dict idx->(status,etype,msg), failure) where failure is None or
        (idx, kind, detail, phase)."""
        path = os.path.join(self.workdir, "batch.json")
        with open(path, "w") as f:
            json.dump(calls, f)
        errpath = os.path.join(self.workdir, "stderr.txt")
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        with open(errpath, "w") as errf:
            p = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--child", path],
                stdout=subprocess.PIPE,
                stderr=errf,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        self.children += 1
        results, cur, phase, buf = {}, None, "call", b""
        deadline = time.time() + self.timeout + 20  # startup (import) allowance
        fd = p.stdout.fileno()
        failure = None
        ended = False
        while True:
            rem = deadline - time.time()
            if rem <= 0:
                failure = (cur, "hang", f"no progress for {self.timeout}s", phase)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                break
            r, _, _ = select.select([fd], [], [], min(rem, 1.0))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                rc = p.wait()
                if not ended:
                    err = open(errpath, errors="replace").read()[-600:]
                    if rc < 0:
                        kind = f"signal {signal.Signals(-rc).name}"
                    else:
                        kind = f"exit {rc}"
                    failure = (cur, kind, err.strip(), phase)
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                s = line.decode(errors="replace")
                if s.startswith("S "):
                    cur, phase = int(s[2:]), "call"
                    deadline = time.time() + self.timeout
                    self.calls_run += 1
                elif s.startswith("P "):
                    phase = "touch"
                elif s.startswith("R "):
                    i, status, et, msg = json.loads(s[2:])
                    results[i] = (status, et, msg)
                elif s == "END":
                    ended = True
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        if failure is not None and failure[0] is None:
            failure = (0, failure[1], failure[2], "startup")
        if failure is None and not ended:
            failure = (cur if cur is not None else 0, "exit", "child exited early (sys.exit / os._exit?)", phase)
        return results, failure

    def isolate(self, calls, idx):
        """Find a minimal sequence ending with calls[idx] that reproduces the failure. Returns (seq, failure)."""
        target = calls[idx]
        for attempt in range(2):
            saved = self.timeout
            if attempt == 1:  # a "hang" that finishes given 6x the time is only slow: report it as such
                self.timeout = saved * 6
            try:
                results, f = self.run_batch([target])
            finally:
                self.timeout = saved
            if f is not None and f[3] == "startup":
                return None, f
            if f is not None:
                return [target], f
            if attempt == 1 and 0 in results:
                return [target], (0, f"slow (finished within {saved * 6:.0f}s alone)", "", "call")
        # needs state from earlier calls: bisect the prefix start
        lo, hi = 0, idx  # calls[lo:idx+1] crashes (assumed); find the largest lo that still crashes
        _, f = self.run_batch(calls[: idx + 1])
        if f is None or f[0] != idx:
            return None, None
        best = f
        while hi - lo > 1:
            mid = (lo + hi) // 2
            _, f = self.run_batch(calls[mid : idx + 1])
            if f is not None and f[0] == idx - mid:
                lo, best = mid, f
            else:
                hi = mid
        seq = calls[lo : idx + 1]
        # greedily drop the other prefix calls
        j = 0
        while j < len(seq) - 1 and len(seq) > 1:
            trial = seq[:j] + seq[j + 1 :]
            _, f = self.run_batch(trial)
            if f is not None and f[0] == len(trial) - 1:
                seq, best = trial, f
            else:
                j += 1
        return seq, best


def _suspicious(call, status, etype, msg):
    if status != "exc":
        return None
    if etype not in OK_EXC:
        return f"unexpected exception type {etype}"
    if not msg.strip() or msg.strip() in ("''", '""'):
        return f"empty {etype} message"
    if call["typed"] and ("Unable to cast" in msg or "incompatible function arguments" in msg):
        return "pybind11 cast error for documented argument types"
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-seconds", type=float, default=300)
    ap.add_argument("--batch", type=int, default=300, help="calls per child process")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-call hang timeout (seconds)")
    ap.add_argument("--filter", default="", help="regex on callable keys (e.g. '^Tensor\\.')")
    ap.add_argument(
        "--avoid-tensor-ints",
        action="store_true",
        help="never pass tensors where ints/shapes are expected (to get past the known tensor-as-int segfault)",
    )
    ap.add_argument("--json", default="", help="write findings as JSON here")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.child:
        child_main(ns.child)
        return 0

    rng = random.Random(ns.seed)
    targets = enumerate_targets()
    if ns.filter:
        targets = [t for t in targets if re.search(ns.filter, t["key"])]
    print(f"[fuzz] {len(targets)} callables, seed={ns.seed}, budget={ns.budget_seconds}s", flush=True)
    workdir = tempfile.mkdtemp(prefix="fuzz_native_")
    runner = Runner(ns.timeout, workdir)
    t_end = time.time() + ns.budget_seconds
    per_key = collections.defaultdict(lambda: collections.Counter())
    crashes = {}  # (key, kind) -> finding
    suspicious = {}  # (key, reason, etype, msg-prefix) -> finding
    order = []
    startup_failures = 0
    try:
        while time.time() < t_end:
            # round-robin over a shuffled target list so that every callable gets coverage
            if not order:
                order = list(range(len(targets)))
                rng.shuffle(order)
            batch = []
            while order and len(batch) < ns.batch:
                batch.append(gen_call(rng, targets[order.pop()], ns.avoid_tensor_ints))
            pos = 0
            while pos < len(batch) and time.time() < t_end:
                sub = batch[pos:]
                results, failure = runner.run_batch(sub)
                for i, (status, et, msg) in results.items():
                    c = sub[i]
                    per_key[c["key"]][status] += 1
                    why = _suspicious(c, status, et, msg)
                    if why:
                        sk = (c["key"], why, et, re.sub(r"\d+", "N", msg[:60]))
                        if sk not in suspicious:
                            suspicious[sk] = {"key": c["key"], "why": why, "etype": et, "msg": msg, "code": c["code"]}
                if failure is None:
                    break
                idx, kind, detail, phase = failure
                if phase == "startup":  # the child could not even import minidiff (e.g. _core being relinked)
                    startup_failures += 1
                    print(f"[fuzz] child failed to start ({kind}): {detail[-160:]!r}; retrying", flush=True)
                    if startup_failures > 20:
                        raise SystemExit("[fuzz] giving up: the child cannot import minidiff")
                    time.sleep(5)
                    continue
                c = sub[idx]
                per_key[c["key"]]["CRASH"] += 1
                fk = (c["key"], kind.split(":")[0])
                if fk not in crashes:
                    print(f"[fuzz] {kind} in {c['key']}: {c['code']}  (isolating...)", flush=True)
                    seq, f2 = runner.isolate(sub, idx)
                    crashes[fk] = {
                        "key": c["key"],
                        "kind": kind,
                        "phase": phase,
                        "detail": detail[-300:],
                        "code": c["code"],
                        "repro": [s["code"] for s in seq] if seq else None,
                        "repro_kind": f2[1] if f2 else "not reproduced",
                    }
                    print(f"[fuzz]   -> reproducer: {crashes[fk]['repro']} ({crashes[fk]['repro_kind']})", flush=True)
                else:
                    crashes[fk].setdefault("count", 1)
                    crashes[fk]["count"] += 1
                pos += idx + 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # ---- summary
    print(f"\n[fuzz] calls made: {runner.calls_run}, child processes: {runner.children}")
    print(f"[fuzz] {len(crashes)} distinct crash/hang findings, {len(suspicious)} suspicious exceptions\n")
    for f in crashes.values():
        print(f"CRASH {f['key']}: {f['kind']} (phase={f['phase']}, count={f.get('count', 1)})")
        if f["repro"]:
            print(f"    {PRELUDE}")
            for line in f["repro"]:
                print(f"    {line}" + ("  # touch result: .contiguous().tolist()" if f["phase"] == "touch" else ""))
        else:
            print(f"    (not reproduced in isolation) {f['code']}")
        if f["detail"]:
            print("    stderr: " + f["detail"].replace("\n", " | ")[-200:])
    by_key = collections.defaultdict(list)
    for s in suspicious.values():
        by_key[s["key"]].append(s)
    if by_key:
        print("\nSUSPICIOUS exceptions (grouped by callable):")
    for k in sorted(by_key):
        for s in by_key[k]:
            print(f"  {k}: {s['why']}: {s['etype']}({s['msg'][:100]!r})\n      {s['code']}")
    print("\nPer-callable outcome counts (callables with crashes or suspicious exceptions first):")
    flagged = {f["key"] for f in crashes.values()} | set(by_key)
    for k in sorted(per_key, key=lambda k: (k not in flagged, k)):
        if k in flagged:
            print(f"  {k}: {dict(per_key[k])}")
    print(f"  ... {len(per_key) - len(flagged)} other callables exercised without findings")
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump(
                {
                    "seed": ns.seed,
                    "calls": runner.calls_run,
                    "crashes": list(crashes.values()),
                    "suspicious": list(suspicious.values()),
                },
                f,
                indent=1,
            )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
