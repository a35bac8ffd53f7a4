"""Long native ops release the GIL, so Python threads (the data loader's prefetching, a UI) keep
running while the engine computes; the OpenMP wait policy minidiff chooses, and that the user's
wins."""

import os
import subprocess
import sys
import threading
import time

import minidiff as md


def test_native_ops_release_the_gil():
    # one long native call in a worker; the main thread must be able to run Python meanwhile
    x = md.randn(16, 64, 64, 64)
    w = md.randn(64, 64, 5, 5)  # 5x5: the im2col path, a few hundred ms on two cores
    started, done = threading.Event(), threading.Event()

    def compute():
        started.set()
        md.F.conv2d(x, w, None, 1, 2)
        done.set()

    worker = threading.Thread(target=compute)
    worker.start()
    started.wait()
    time.sleep(0.01)  # let the worker enter the native call
    t0 = time.perf_counter()
    for _ in range(10):
        time.sleep(0.001)  # each wake-up needs the GIL
    main_done_while_working = not done.is_set()
    elapsed = time.perf_counter() - t0
    worker.join()
    assert main_done_while_working, f"the main thread ran only after the native call (waited {elapsed:.3f} s)"


def test_grad_mode_is_per_thread():
    seen = {}

    def other():
        seen["other"] = md.is_grad_enabled()

    with md.no_grad():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert not md.is_grad_enabled()
    assert seen["other"] is True


def _import_env(env):
    code = "import os, minidiff; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_openmp_spin_default_and_user_settings_win():
    # minidiff sets a short OpenMP spin before its core loads, unless the user chose a wait policy
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    assert _import_env(base) == ["1000", "None"]
    assert _import_env({**base, "OMP_WAIT_POLICY": "PASSIVE"}) == ["None", "PASSIVE"]
    assert _import_env({**base, "GOMP_SPINCOUNT": "0"}) == ["0", "None"]


def test_set_num_threads_is_one_setting_for_every_thread():
    # OpenMP keeps the count per calling thread; md.set_num_threads is process-wide, as torch's
    before = md.get_num_threads()
    seen = []
    try:
        md.set_num_threads(1)
        worker = threading.Thread(target=lambda: seen.append(md.get_num_threads()))
        worker.start()
        worker.join()

        def set_three():
            md.set_num_threads(3)

        setter = threading.Thread(target=set_three)
        setter.start()
        setter.join()
        seen.append(md.get_num_threads())  # the main thread follows a setting made in another
    finally:
        md.set_num_threads(before)
    assert seen == [1, 3]


def test_switching_the_profiler_while_another_thread_runs_backward_is_safe():
    # the backward observer was a plain global swapped under a running backward: a segfault
    code = """
import threading, time, minidiff as md
stop = False
def work():
    x = md.randn(4, 4).requires_grad_(True)
    while not stop:
        y = x
        for _ in range(100):
            y = md.F.silu(y) * 1.0001
        y.sum().backward()
worker = threading.Thread(target=work)
worker.start()
t0 = time.time()
while time.time() - t0 < 2.0:
    with md.profiler.profile():
        pass
stop = True
worker.join()
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
