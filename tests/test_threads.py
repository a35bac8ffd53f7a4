"""Long native ops release the GIL, so Python threads (the data loader's prefetching, a UI) keep
running while the engine computes."""

import threading
import time

import minidiff as md


def test_native_ops_release_the_gil():
    x = md.randn(8, 32, 32, 32)
    w = md.randn(32, 32, 3, 3)
    done = threading.Event()
    ticks = 0

    def compute():
        for _ in range(40):
            md.F.conv2d(x, w, None, 1, 1)
        done.set()

    worker = threading.Thread(target=compute)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1  # pure Python: runs only while the worker does not hold the GIL
        time.sleep(0)
    worker.join()
    elapsed = time.perf_counter() - start
    assert elapsed > 0.05, "the workload is too small to tell"
    # with the GIL held for each conv, this loop would stall for the whole of each call
    assert ticks > 100, f"main thread advanced only {ticks} times in {elapsed:.2f} s"


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
