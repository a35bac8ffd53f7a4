"""Long native ops release the GIL, so Python threads (the data loader's prefetching, a UI) keep
running while the engine computes."""

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
